"""An exclusive lock on an embedded database folder.

Chroma's PersistentClient is not process-safe, so one phase run owns the folder at a time.
A second run finds the lock held, says who holds it and exits 0 (cron-friendly), or waits.
The lock is an flock(): the kernel releases it when the holder dies, even on kill -9.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from vtdb.clock import iso, now_utc
from vtdb.errors import VtdbError

LOCK_NAME = ".vtdb.lock"


class LockHeld(VtdbError):
    def __init__(self, path: Path, holder: dict[str, Any]):
        self.path = path
        self.holder = holder
        who = holder.get("command") or "another run"
        super().__init__(
            f"the database {path.parent} is in use by {who} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
            f"since {holder.get('since', '?')}); exiting. Use --wait to wait for it, or a Chroma server "
            "(chroma_host) to run phases concurrently."
        )


class DatabaseLock:
    def __init__(self, folder: Path, purpose: str = ""):
        self.path = Path(folder) / LOCK_NAME
        self.purpose = purpose or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))
        self._fd: int | None = None

    def read_holder(self) -> dict[str, Any]:
        try:
            holder = json.loads(self.path.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def acquire(self, wait: bool = False, timeout: float | None = None, poll: float = 0.5) -> "DatabaseLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (deadline is not None and time.monotonic() > deadline):
                    holder = self.read_holder()
                    os.close(fd)
                    raise LockHeld(self.path, holder) from None
                time.sleep(poll)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.purpose, "since": iso(now_utc())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "DatabaseLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
