#!/usr/bin/env python3
"""A phase worker for the concurrency tests: the real runner loop (vtdb.runner.run_phase) and the
real Store against a Chroma server, with a job that only sleeps briefly.

Every processed video appends "name claim_id pid" to a shared log (one O_APPEND write per line).
With --ready-dir/--go the worker connects first, announces itself and waits for the start signal,
so that all workers really race for the same videos.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from vtdb import events as ev  # noqa: E402
from vtdb.config import Config, build_settings  # noqa: E402
from vtdb.runner import JobContext, JobResult, RunOptions, run_phase  # noqa: E402
from vtdb.store import Claim, Store  # noqa: E402


class SleepJob:
    def __init__(self, phase: str, log: Path, low: float, high: float):
        self.phase = phase
        self.log = log
        self.low, self.high = low, high

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        time.sleep(random.uniform(self.low, self.high))
        line = f"{claim.name} {claim.claim_id} {os.getpid()}\n".encode()
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return JobResult(count=1, fields={"sleep_worker_pid": os.getpid()}, note="slept")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--phase", default="phase1")
    p.add_argument("--sleep", nargs=2, type=float, default=(0.1, 0.3), metavar=("MIN", "MAX"))
    p.add_argument("--settings", default="{}", help="JSON object of vtdb settings")
    p.add_argument("--ready-dir", default=None)
    p.add_argument("--go", default=None)
    args = p.parse_args()

    settings = build_settings({**json.loads(args.settings), "chroma_host": args.host, "chroma_port": args.port}, env={})
    db = Store(Config(path=None, settings=settings, videos=[]))
    db.connect()  # connect and open the collections before the race starts
    if args.ready_dir:
        Path(args.ready_dir, str(os.getpid())).touch()
    if args.go:
        deadline = time.monotonic() + 120
        while not Path(args.go).exists():
            if time.monotonic() > deadline:
                print("no start signal", file=sys.stderr)
                return 3
            time.sleep(0.02)
    work_dir = Path(args.work_dir)
    events = ev.EventLog(work_dir / settings.event_log)
    job = SleepJob(args.phase, Path(args.log), *args.sleep)
    summary = run_phase(job, db, work_dir, RunOptions(), Console(stderr=True, width=160), events)
    print(json.dumps({"pid": os.getpid(), "completed": summary.completed, "superseded": summary.superseded,
                      "failed": summary.failed, "skipped": summary.skipped}))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
