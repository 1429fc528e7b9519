"""Video names become file names and database ids: validate them strictly."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from vtdb.errors import VtdbError

# Letters/digits of any script, plus a few separators. No path separators, no leading dot.
_SAFE_NAME = re.compile(r"^[\w][\w.\- ]*$", re.UNICODE)
MAX_NAME_LENGTH = 120


class UnsafeNameError(VtdbError, ValueError):
    pass


def check_name(name: object) -> str:
    """Return `name` if it is safe to use as a file name and an id, else raise UnsafeNameError."""
    if not isinstance(name, str):
        raise UnsafeNameError(f"must be a string, got {type(name).__name__}")
    if not name.strip():
        raise UnsafeNameError("is empty")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise UnsafeNameError(f"{name!r} contains control characters")
    if "/" in name or "\\" in name:
        raise UnsafeNameError(f"{name!r} contains a path separator; use letters, digits, '-', '_' or '.'")
    if ".." in name:
        raise UnsafeNameError(f"{name!r} contains '..'")
    if name != name.strip():
        raise UnsafeNameError(f"{name!r} has leading or trailing spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeNameError(f"is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}")
    if not _SAFE_NAME.match(name):
        raise UnsafeNameError(
            f"{name!r} may only contain letters, digits, spaces, '-', '_' and '.', and must not start with '.' or '-'"
        )
    return name


def sanitize_name(raw: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Turn an arbitrary string (a title, an archive entry) into a safe name."""
    text = unicodedata.normalize("NFKC", raw)
    text = re.sub(r"[^\w.\-]+", "_", text, flags=re.UNICODE)
    text = re.sub(r"\.{2,}", ".", text).strip("._- ")
    return (text or "video")[:max_length]


def path_inside(base: Path, candidate: Path) -> Path:
    """Resolve `candidate` and make sure it stays inside `base` (no traversal, no symlink escape)."""
    base_resolved = base.resolve()
    resolved = candidate.resolve()
    if resolved != base_resolved and base_resolved not in resolved.parents:
        raise UnsafeNameError(f"{candidate} is outside {base_resolved}")
    return resolved
