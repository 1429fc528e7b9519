"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Temp files carry host and pid in their names so that the next run can clean up the
leftovers of a crashed one (and only its own host's, when several hosts share a folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

from vtdb.proc import pid_alive

_TMP_MARK = ".vtdb-tmp"
# An optional media suffix may follow (ZIM items are extracted as name.vtdb-tmp.host.pid.hex.webm).
_TMP_PATTERN = re.compile(r"\.vtdb-tmp\.(?P<host>[^.]+)\.(?P<pid>\d+)\.[0-9a-f]+(\.\w{1,8})?$")


def _short_host() -> str:
    # At most 64 characters (Linux's HOST_NAME_MAX): vtdb.naming.MAX_NAME_BYTES leaves room for this tail.
    return (re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host")[:64]


def temp_path_for(final: Path) -> Path:
    return final.with_name(f"{final.name}{_TMP_MARK}.{_short_host()}.{os.getpid()}.{os.urandom(4).hex()}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=1))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_running(pid: int) -> bool:
    """A live process with this pid (an exited, not yet reaped zombie is not one; another user's is one)."""
    return pid_alive(pid)


def clean_stale_temp_files(folder: Path, max_age_s: float = 24 * 3600) -> list[Path]:
    """Remove temp files left by dead processes on this host (or very old ones from any host)."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    host = _short_host()
    now = time.time()
    for entry in folder.iterdir():
        match = _TMP_PATTERN.search(entry.name)
        if not match or not entry.is_file():
            continue
        same_host = match["host"] == host
        pid = int(match["pid"])
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        dead_here = same_host and pid != os.getpid() and not _pid_running(pid)
        if dead_here or age > max_age_s:
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder `new` in place of `target` (which may not exist) by renames: a reader finds
    the old folder or the new one, never a half-written one. The old one is removed afterwards."""
    new, target = Path(new), Path(target)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
