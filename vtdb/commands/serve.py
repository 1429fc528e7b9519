"""The web app: search moments, play them at the right second, find more like them, watch the pipeline.

    python web_app.py [--config PATH] [--host 127.0.0.1] [--port 8765] [--allow-actions] [--allowed-host NAME ...]
    vtdb serve ...

Read-only unless --allow-actions: it opens the database without the phase lock, so it runs beside
cron runs (embedded database) or against a Chroma server (chroma_host). It answers only requests sent
to 127.0.0.1, localhost, [::1], the --host value and the --allowed-host names (421 for any other Host
header: a guard against DNS rebinding). Exit codes: 0 stopped, 2 bad config/usage, the port taken,
or no database yet.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from rich.markup import escape

from vtdb.cli import EXIT_OK, EXIT_USAGE, check_database_dir, console, guarded_main, load_or_exit, setup_logging
from vtdb.commandline import command, prog
from vtdb.config import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a TCP port (0-65535; 0 = any free port), got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (0-65535; 0 = any free port), got {value}")
    return value


def allowed_host(text: str) -> str:
    """An --allowed-host value: a host name or an IP address, without a scheme, port or path."""
    value = text.strip()
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if not value or len(value) > 253 or not all(
            0 < len(label) <= 63 and label.isascii() and label.replace("-", "").replace("_", "").isalnum() for label in labels):
        raise argparse.ArgumentTypeError(f"give a host name or an IP address the browser uses (e.g. myserver.lan or "
                                         f"192.168.1.20), without http:// or a port; got {text!r}")
    return value.lower()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed: a taken port is one clear line, and --port 0
    prints the port it got."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: cannot be resolved ({exc.strerror})") from None
    family, _type, _proto, _name, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                          "choose another --port (0 picks a free one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog("serve"), description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=None, help="path to videos_config.json (default: ./videos_config.json)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}; anything "
                        "else exposes the library to the network and prints a warning)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--allow-actions", action="store_true",
                        help="allow reset and release from the status page (POST with a per-session CSRF token)")
    parser.add_argument("--allowed-host", action="append", type=allowed_host, default=[], metavar="NAME",
                        help="another host name or address the browser may use to reach the server (repeatable); the "
                        "server answers only 127.0.0.1, localhost, [::1] and the --host value otherwise (DNS rebinding)")
    parser.add_argument("--refresh", type=float, default=3.0, metavar="SECONDS", help="status dashboard refresh (default 3)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and the access log")
    return parser


def _warn_if_exposed(host: str, allow_actions: bool) -> None:
    if is_loopback(host):
        return
    console.print(f"[bold yellow]warning:[/] listening on {escape(host)}: anyone who can reach this machine "
                  "can search the library and watch its videos (there is no login); use the default 127.0.0.1 "
                  "unless that is what you want")
    if allow_actions:
        console.print("[bold yellow]warning:[/] --allow-actions on a network address: anyone on the network who "
                      "can reach this machine can reset and release videos (there is no login; the CSRF token only "
                      "stops other web sites, not people who open the status page)")


def run(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 0.5 <= args.refresh <= 3600:
        parser.error("argument --refresh: give 0.5 to 3600 seconds")
    setup_logging(args.verbose)
    config = load_or_exit(args.config, need_videos=False)
    if not config.settings.chroma_host:
        check_database_dir(config, writable=False)
        if not config.chroma_dir.is_dir():
            raise ConfigError(f"settings.chroma_dir: no database at {config.chroma_dir} yet; run the phases first "
                              f"({command('phase1')} …) or point --config at the library's config")

    import uvicorn

    from vtdb.web.app import WebOptions, create_app

    app = create_app(config, WebOptions(allow_actions=args.allow_actions, refresh_seconds=args.refresh, host=args.host,
                                        allowed_hosts=tuple(args.allowed_host)))
    _warn_if_exposed(args.host, args.allow_actions)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    state = app.state.web
    mode = "actions allowed (reset, release)" if args.allow_actions else "read-only"
    print(f"Video Tagging DB web app: http://{shown}:{port}/  ({state.db.location}; {mode})", flush=True)
    # Requests hand the GIL on sooner (every 1 ms instead of 5) while a thread reads every record for the status page:
    # /api/health then answers in milliseconds, not tens of them.
    sys.setswitchinterval(0.001)
    state.status.warm()  # the status page's records, read before anyone asks (seconds for 10,000 videos)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info" if args.verbose else "warning",
                                           access_log=args.verbose, server_header=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        state.db.close()
    return EXIT_OK


def main(argv: list[str] | None = None) -> None:
    guarded_main(lambda: run(argv))


__all__ = ["EXIT_OK", "EXIT_USAGE", "main", "run"]
