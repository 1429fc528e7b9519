#!/usr/bin/env python3
"""Hold the exclusive lock of an embedded database folder until stdin closes (test helper)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vtdb.lock import DatabaseLock  # noqa: E402


def main() -> int:
    lock = DatabaseLock(Path(sys.argv[1]), purpose="hold_lock.py (test holder)")
    lock.acquire()
    print("LOCKED", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
    lock.release()
    print("RELEASED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
