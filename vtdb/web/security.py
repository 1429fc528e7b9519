"""The web app's guards (no web framework in here beyond the request it reads): the security headers of
every response, the Host check against DNS rebinding, the same-origin check of a request that changes
something, and the session that carries an action form's CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from starlette.requests import Request

    from vtdb.web.state import WebOptions

CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
# On every response, errors included. "same-origin": the app's own forms send their Origin (with "no-referrer"
# a browser sends `Origin: null` on a POST, and the origin check could not tell them from a foreign page).
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "vtdb_session"


def host_name(value: str) -> str:
    """The host of a Host header or a URL's netloc, lower case, without the port, the IPv6 brackets or a
    final dot: "[::1]:8765" -> "::1", "LocalHost.:80" -> "localhost"."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value[:-1] if value.endswith(".") else value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Which Host headers the server answers (a guard against DNS rebinding: a foreign page whose name was made
    to resolve to this machine sends its own name, and is refused). The loopback names, the --host value and
    --allowed-host names; listening on every interface (0.0.0.0, ::), also this machine's own name and any
    address written as an IP (a browser's origin is then that address, which no foreign page can have)."""

    def __init__(self, options: "WebOptions"):
        bind = host_name(options.host)
        self.wildcard = bind in WILDCARD_HOSTS
        names = {*LOOPBACK_HOSTS, *(host_name(h) for h in options.allowed_hosts)}
        if not self.wildcard:
            names.add(bind)
        else:
            for own in (socket.gethostname(), socket.getfqdn()):
                if own:
                    names.add(host_name(own))
        self.names = frozenset(n for n in names if n)

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        if not name:
            return False
        return name in self.names or (self.wildcard and _is_ip(name))

    def shown(self) -> str:
        listed = sorted(f"[{n}]" if ":" in n else n for n in self.names)
        return ", ".join(listed) + (" and any IP address" if self.wildcard else "")


def same_origin(request: "Request") -> bool:
    """Does a state-changing request come from a page of this server? Its Origin header (every browser sends one
    with a POST), or without one its Referer, must be http://<the Host it was sent to>. `Origin: null` (a sandboxed
    frame, a redirect through another site) is not."""
    host = request.headers.get("host", "").strip().lower()
    origin = request.headers.get("origin")
    if origin is None:
        origin = request.headers.get("referer")
        if origin is None:
            return False
    parts = urlsplit(origin.strip())
    return parts.scheme.lower() in ("http", "https") and bool(host) and parts.netloc.lower() == host


def session_of(request: "Request") -> tuple[str, bool]:
    """(the browser's session id, whether it is new and must be set as a cookie)."""
    session = request.cookies.get(SESSION_COOKIE, "")
    if len(session) == 43 and session.replace("-", "").replace("_", "").isalnum():
        return session, False
    return secrets.token_urlsafe(32), True


def csrf_token(secret: bytes, session: str) -> str:
    """The action forms' token of one session: only this server (which holds `secret`) can make it."""
    return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()[:40]
