"""Concurrency on a real Chroma server (`chroma run` on 127.0.0.1, fixture chroma_server).

Four worker processes run the real runner loop (vtdb.runner.run_phase) with a job that only
sleeps, racing for 20 videos. Chroma has no compare-and-set, so processing is at-least-once:
duplicates are counted and printed; a lost video (not completed, or never processed) fails.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import PY, ROOT
from vtdb import events as ev
from vtdb.clock import iso, now_utc
from vtdb.config import Config, Settings
from vtdb.state import COMPLETED, PROCESSING
from vtdb.store import Store

WORKER = ROOT / "tests" / "helpers" / "sleep_worker.py"
N_VIDEOS = 20
N_WORKERS = 4


def _server_db(host: str, port: int) -> Store:
    return Store(Config(path=None, settings=Settings(chroma_host=host, chroma_port=port), videos=[]))


def _dead_pid() -> int:
    """The pid of a process that has finished and been reaped."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout.strip())


def _start_worker(tmp_path: Path, host: str, port: int, work_dir: Path, log: Path, idx: int, extra: list[str]) -> subprocess.Popen:
    out = open(tmp_path / f"worker{idx}.out", "w")
    err = open(tmp_path / f"worker{idx}.err", "w")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160"}
    return subprocess.Popen(
        [PY, str(WORKER), "--host", host, "--port", str(port), "--work-dir", str(work_dir), "--log", str(log), *extra],
        cwd=tmp_path, env=env, stdout=out, stderr=err,
    )


def _wait_all(procs: list[subprocess.Popen], tmp_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for i, proc in enumerate(procs):
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail(f"worker {i} did not finish: " + (tmp_path / f"worker{i}.err").read_text()[-3000:])


def test_four_workers_twenty_videos_at_least_once(chroma_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray ./videos_config.json
    host, port = chroma_server
    db = _server_db(host, port)
    names = [f"clip{i:02d}" for i in range(N_VIDEOS)]
    for name in names:
        db.create_or_update_video_file(name, f"/nonexistent/{name}.mp4", video_duration=1.0)
    assert len(db.all_names()) == N_VIDEOS
    assert all(m["phase1_status"] == "pending" for m in db.list_videos())

    work_dir = tmp_path / "work"
    log = tmp_path / "processed.log"
    ready, go = tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    settings = json.dumps({"heartbeat_interval": 0.1, "heartbeat_lease": 30})
    procs = [
        _start_worker(tmp_path, host, port, work_dir, log, i,
                      ["--ready-dir", str(ready), "--go", str(go), "--sleep", "0.1", "0.3", "--settings", settings])
        for i in range(N_WORKERS)
    ]
    # Start line: every worker has connected; then they all race for the same videos.
    deadline = time.monotonic() + 90
    while len(list(ready.iterdir())) < N_WORKERS:
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            pytest.fail("workers did not get ready: " + "\n".join((tmp_path / f"worker{i}.err").read_text()[-1500:] for i in range(N_WORKERS)))
        time.sleep(0.05)
    t0 = time.monotonic()
    go.touch()
    _wait_all(procs, tmp_path)
    elapsed = time.monotonic() - t0
    for i, proc in enumerate(procs):
        assert proc.returncode == 0, f"worker {i} exit {proc.returncode}: " + (tmp_path / f"worker{i}.err").read_text()[-3000:]

    # Every video ends completed: none lost, none stuck in processing.
    records = {m["name"]: m for m in db.list_videos()}
    assert sorted(records) == names
    not_done = {n: (m["phase1_status"], m["phase1_claim_id"]) for n, m in records.items() if m["phase1_status"] != COMPLETED}
    assert not not_done, f"videos not completed: {not_done}"
    for name, meta in records.items():
        assert meta["phase1_segments_created"] == 1, name
        assert meta["phase1_attempts"] == 0 and meta["phase1_last_error"] == "" and not meta["phase1_held"], name
        assert meta["sleep_worker_pid"] in {p.pid for p in procs}, name

    # Every video was really processed (the job ran), by one of our workers, under a claim.
    lines = [line.split() for line in log.read_text().splitlines() if line.strip()]
    assert all(len(parts) == 3 for parts in lines), lines
    per_video = collections.Counter(parts[0] for parts in lines)
    assert set(per_video) == set(names), f"never processed: {set(names) - set(per_video)}"
    worker_pids = {str(p.pid) for p in procs}
    assert {parts[2] for parts in lines} <= worker_pids
    # A claim id is processed at most once (a claim is one worker's).
    claim_ids = collections.Counter(parts[1] for parts in lines)
    assert max(claim_ids.values()) == 1

    # The work was shared: the race was real, not one worker doing everything.
    busy = collections.Counter(parts[2] for parts in lines)
    assert len(busy) >= 2, f"only one worker processed videos: {busy}"

    events = ev.read_events(work_dir / "events.jsonl")
    completes = collections.Counter(e["video"] for e in events if e["event"] == ev.VIDEO_COMPLETE)
    assert set(completes) == set(names)
    assert not [e for e in events if e["event"] in (ev.VIDEO_ERROR, ev.VIDEO_STALE_RECLAIM)]
    # The final record's claim was completed by a worker that logged VIDEO_COMPLETE for it.
    for name, meta in records.items():
        assert any(e["event"] == ev.VIDEO_COMPLETE and e["video"] == name and e["pid"] == meta["sleep_worker_pid"] for e in events), name

    duplicates = {n: c for n, c in per_video.items() if c > 1}
    skips = sum(1 for e in events if e["event"] == ev.VIDEO_SKIP)
    superseded = sum(1 for e in events if e["event"] == ev.VIDEO_SUPERSEDED)
    print(
        f"\n[concurrency] {N_WORKERS} workers, {N_VIDEOS} videos in {elapsed:.1f} s: "
        f"{len(lines)} runs of the job, {len(duplicates)} video(s) processed more than once {duplicates or ''}; "
        f"{skips} lost claim races (VIDEO_SKIP), {superseded} superseded completions; per worker {dict(busy)}"
    )


def test_stale_processing_records_are_reclaimed(chroma_server, tmp_path, monkeypatch):
    """Dead owner on this host, lost heartbeat, timeout: reclaimed (and logged). Healthy owners: left alone."""
    monkeypatch.chdir(tmp_path)
    host, port = chroma_server
    db = _server_db(host, port)
    here = socket.gethostname()
    now = now_utc()
    fresh = iso(now)
    import psutil

    me = psutil.Process(os.getpid())
    setups = {
        # name: (owner host, owner pid, owner start, start_time, heartbeat) ; default lease 300 s, timeout floor 900 s
        "dead_owner": (here, _dead_pid(), 0.0, fresh, fresh),
        "lost_heartbeat": ("another-host", 4242, 0.0, iso(now - timedelta(seconds=600)), iso(now - timedelta(seconds=400))),
        "timed_out": ("another-host", 4243, 0.0, iso(now - timedelta(seconds=1000)), fresh),
        "healthy_here": (here, me.pid, me.create_time(), fresh, fresh),
        "healthy_elsewhere": ("another-host", 4244, 0.0, iso(now - timedelta(seconds=100)), fresh),
    }
    for name, (o_host, pid, started, start, beat) in setups.items():
        db.create_or_update_video_file(name, f"/nonexistent/{name}.mp4", video_duration=30.0)
        db.update_video_status(
            name, "phase1", PROCESSING, phase1_owner_host=o_host, phase1_owner_pid=pid, phase1_owner_started=started,
            phase1_start_time=start, phase1_heartbeat=beat, phase1_claim_id=f"old-{name}",
        )
        # downstream of a processing phase 1 is pending anyway; make one completed to see the claim reset it
    db.update_video_status("dead_owner", "phase2", COMPLETED)

    flags = {n: db.video_flags(db.get_video_status(n)).stale for n in setups}
    assert "dead" in flags["dead_owner"]["phase1"]
    assert "heartbeat lost" in flags["lost_heartbeat"]["phase1"]
    assert "timeout" in flags["timed_out"]["phase1"]
    assert flags["healthy_here"] == {} and flags["healthy_elsewhere"] == {}

    work_dir = tmp_path / "work"
    log = tmp_path / "processed.log"
    proc = _start_worker(tmp_path, host, port, work_dir, log, 0, ["--sleep", "0.05", "0.1"])
    _wait_all([proc], tmp_path)
    assert proc.returncode == 0, (tmp_path / "worker0.err").read_text()[-3000:]

    events = ev.read_events(work_dir / "events.jsonl")
    reclaims = {e["video"]: e for e in events if e["event"] == ev.VIDEO_STALE_RECLAIM}
    assert set(reclaims) == {"dead_owner", "lost_heartbeat", "timed_out"}
    assert all(e["pid"] == proc.pid and e["phase"] == "phase1" for e in reclaims.values())
    assert f"owner process {setups['dead_owner'][1]}" in reclaims["dead_owner"]["reason"]
    assert "dead" in reclaims["dead_owner"]["reason"]
    assert "heartbeat lost" in reclaims["lost_heartbeat"]["reason"]
    assert "timeout" in reclaims["timed_out"]["reason"]

    processed = sorted(line.split()[0] for line in log.read_text().splitlines())
    assert processed == ["dead_owner", "lost_heartbeat", "timed_out"]
    for name in ("dead_owner", "lost_heartbeat", "timed_out"):
        meta = db.get_video_status(name)
        assert meta["phase1_status"] == COMPLETED, name
        assert meta["phase1_owner_pid"] == proc.pid, name
        assert db.video_flags(meta).stale == {}
    assert db.get_video_status("dead_owner")["phase2_status"] == "pending"  # re-running phase 1 resets downstream
    for name in ("healthy_here", "healthy_elsewhere"):
        meta = db.get_video_status(name)
        assert meta["phase1_status"] == PROCESSING and meta["phase1_claim_id"] == f"old-{name}", name
    skipped = {e["video"] for e in events if e["event"] == ev.VIDEO_SKIP}
    assert not skipped & {"dead_owner", "lost_heartbeat", "timed_out"}
