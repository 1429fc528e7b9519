"""JSONL event log: one line per event, appended by every phase (several processes may append)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from vtdb.clock import iso, now_utc

PHASE_START = "PHASE_START"
VIDEO_CLAIM = "VIDEO_CLAIM"
VIDEO_SKIP = "VIDEO_SKIP"
VIDEO_STALE_RECLAIM = "VIDEO_STALE_RECLAIM"
VIDEO_COMPLETE = "VIDEO_COMPLETE"
VIDEO_ERROR = "VIDEO_ERROR"
VIDEO_RELEASED = "VIDEO_RELEASED"
VIDEO_SUPERSEDED = "VIDEO_SUPERSEDED"
VIDEO_RESET = "VIDEO_RESET"
VIDEO_RETIRED = "VIDEO_RETIRED"  # left the library (config, archive or disk); record and work kept
VIDEO_RESTORED = "VIDEO_RESTORED"  # back in the library
VIDEO_MOVED = "VIDEO_MOVED"  # same bytes at a new path: only the path changed
WARNING = "WARNING"
PHASE_DONE = "PHASE_DONE"


class EventLog:
    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self._host = socket.gethostname()

    def emit(self, event: str, **fields: object) -> dict[str, Any]:
        record = {"ts": iso(now_utc()), "event": event, "host": self._host, "pid": os.getpid(), **fields}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
            # One write() on an O_APPEND descriptor: lines from concurrent processes do not interleave.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return record


# How much of the log's end `read_events(path, last=n)` reads: ~1,000 events, so it costs the same whatever the
# length of the log (the web status page reads the tail on every refresh).
TAIL_BYTES = 256 * 1024


def read_events(path: Path, last: int | None = None, since: int = 0) -> list[dict[str, Any]]:
    """The events of the log, oldest first; with `last`, only the last ones, read from its end (the log only
    grows); with `since`, those appended after that byte offset (the whole log when it is shorter now: it was
    replaced). A line that is not a whole event (a crash mid-write, the cut at the start of the tail) is skipped."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = since if since <= size else 0
            if last is not None:
                start = max(start, size - TAIL_BYTES)
            fh.seek(start)
            lines = fh.read().splitlines()
    except OSError:
        return []
    if last is not None:
        lines = lines[-last:] if last > 0 else []
    out: list[dict[str, Any]] = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out
