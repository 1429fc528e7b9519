"""Crash recovery (kill -9 in the middle of a Phase 1 video), the embedded-database lock, and every
state-machine transition applied through the Store on a real embedded Chroma database."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
import speech_check as speech
from rich.console import Console

from conftest import EN_SCENES, PY, ROOT, run_cli, write_config
from vtdb import events as ev
from vtdb.atomic import clean_stale_temp_files, temp_path_for
from vtdb.clock import iso, now_utc, parse_iso
from vtdb.commandline import command
from vtdb.config import Config, Settings, load_config
from vtdb.lock import DatabaseLock, LockHeld
from vtdb.proc import owner_alive
from vtdb.runner import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, JobContext, JobResult, RunOptions, run_phase
from vtdb.sources.sync import sync_videos
from vtdb.state import COMPLETED, PENDING, PHASE_ORDER, PROCESSING, Owner, decide, stale_reason
from vtdb.store import Claim, Store
from vtdb.workfiles import load_phase1_data, phase1_data_path

PHASE1 = "phase1_whisper_frames.py"
HOLD_LOCK = ROOT / "tests" / "helpers" / "hold_lock.py"
TMP_MARK = ".vtdb-tmp"
# The Phase 1 runs here are about crashes and the lock; on-screen text (OCR) plays no part in them, and
# tesseract on every frame made each run several seconds longer.
NO_OCR = {"ocr": "off"}


# ---------------------------------------------------------------- helpers


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def _dead_pid() -> int:
    """A pid whose process has exited and been reaped (dead on this host)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(proc.stdout.strip())
    assert not psutil.pid_exists(pid)
    return pid


def _events(work_dir: Path) -> list[dict]:
    return ev.read_events(work_dir / "events.jsonl")


def _wait_for_event(work_dir: Path, proc: subprocess.Popen, event: str, timeout: float, log: Path) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in _events(work_dir):
            if e["event"] == event and e["pid"] == proc.pid:
                return e
        if proc.poll() is not None:
            pytest.fail(f"process exited ({proc.returncode}) before {event}: {log.read_text()[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {event} within {timeout} s: {log.read_text()[-3000:]}")


def _flat(text: str) -> str:
    """Rich wraps long lines: compare with whitespace collapsed."""
    return " ".join(text.split())


def _temp_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if TMP_MARK in p.name}


def _wait_zombie(child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "child did not exit"
        time.sleep(0.02)


def _record(db: Store, name: str) -> dict:
    meta = db.get_video_status(name)
    assert meta is not None, name
    return meta


# ---------------------------------------------------------------- crash


def test_kill_9_mid_video_then_next_run_finishes_it(en_video, tmp_path):
    cfg = write_config(tmp_path, [{"name": "speech", "path": str(en_video), "language": "en"}], **NO_OCR)
    work_dir, chroma_dir = tmp_path / "data", tmp_path / "chroma_db"
    log = tmp_path / "first_run.log"
    with open(log, "w") as out:
        first = subprocess.Popen([PY, str(ROOT / PHASE1), "--config", str(cfg)], cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        claim = _wait_for_event(work_dir, first, ev.VIDEO_CLAIM, 120, log)
        assert claim["video"] == "speech"
        # While it runs, the phase run owns the embedded database folder.
        with pytest.raises(LockHeld) as held:
            DatabaseLock(chroma_dir).acquire()
        assert held.value.holder["pid"] == first.pid
        time.sleep(0.3)  # into probing/decoding/transcribing (the whole video takes several seconds)
        assert first.poll() is None, "phase 1 finished before the test could kill it: " + log.read_text()[-2000:]
        os.kill(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert not [e for e in _events(work_dir) if e["event"] == ev.VIDEO_COMPLETE]
    assert not phase1_data_path(work_dir, "speech").exists()
    # flock dies with its holder, even on kill -9.
    DatabaseLock(chroma_dir).acquire().release()

    # The record was left 'processing' by a dead owner on this host: stale right away (lease and timeout are minutes).
    db = Store(load_config(cfg))
    meta = db.get_video_status("speech")
    assert meta["phase1_status"] == PROCESSING
    assert meta["phase1_owner_pid"] == first.pid and meta["phase1_owner_host"] == socket.gethostname()
    assert "dead" in db.video_flags(meta).stale["phase1"]

    # Leftover temp files: a crashed process's (removed), a live process's (kept), another host's young one
    # (kept: its owner may be alive there) and another host's ancient one (removed).
    final = phase1_data_path(work_dir, "speech")
    live_name = temp_path_for(final).name  # carries this (live) test process's pid
    assert re.search(rf"\.vtdb-tmp\.[^.]+\.{os.getpid()}\.[0-9a-f]+$", live_name), live_name
    dead_name = live_name.replace(f".{os.getpid()}.", f".{_dead_pid()}.")
    crashed_first = live_name.replace(f".{os.getpid()}.", f".{first.pid}.")
    other_young = re.sub(r"\.vtdb-tmp\.[^.]+\.", ".vtdb-tmp.otherhost.", dead_name)
    other_old = other_young.replace("speech_", "old_")
    for name in (live_name, dead_name, crashed_first, other_young, other_old):
        (work_dir / name).write_bytes(b"half a pickle")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(work_dir / other_old, (two_days_ago, two_days_ago))

    second = run_cli(PHASE1, "--config", str(cfg), cwd=tmp_path, timeout=300)
    output = _flat(second.stdout + second.stderr)
    assert second.returncode == 0, output[-3000:]
    assert "reclaiming speech" in output

    events = [e for e in _events(work_dir) if e["pid"] != first.pid]
    reclaim = [e for e in events if e["event"] == ev.VIDEO_STALE_RECLAIM]
    assert len(reclaim) == 1 and reclaim[0]["video"] == "speech", reclaim
    assert f"owner process {first.pid}" in reclaim[0]["reason"] and "dead" in reclaim[0]["reason"]
    done = [e for e in events if e["event"] == ev.VIDEO_COMPLETE]
    assert len(done) == 1 and done[0]["video"] == "speech" and done[0]["pid"] == reclaim[0]["pid"]
    assert not [e for e in events if e["event"] == ev.VIDEO_ERROR]

    assert _temp_files(work_dir) == {live_name, other_young}, "the run left (or wrongly removed) temp files"
    assert _temp_files(tmp_path) == set()

    data = load_phase1_data(work_dir, "speech")
    assert data["video"]["name"] == "speech" and len(data["windows"]) >= 1
    # Transcribed: timed words, at least half of the script's words (not one exact word: speech_check).
    speech.assert_word_timings(data["transcript"]["words"], data["video"]["duration"])
    script = " ".join(scene.text for scene in EN_SCENES)
    assert speech.heard(script, data["transcript"]["text"]) >= 0.5, data["transcript"]["text"]
    assert all(fr["jpeg"][:2] == b"\xff\xd8" for w in data["windows"] for fr in w["frames"])

    final_db = Store(load_config(cfg))
    meta = final_db.get_video_status("speech")
    assert meta["phase1_status"] == COMPLETED
    assert meta["phase1_segments_created"] == len(data["windows"])
    assert meta["phase1_owner_pid"] == reclaim[0]["pid"]
    assert final_db.video_flags(meta).as_dict() == {"stale": {}, "held": []}
    assert not (chroma_dir / ".vtdb.lock").read_text(), "lock file still names a holder after the run"


def test_clean_stale_temp_files_only_touches_dead_or_ancient(tmp_path):
    final = tmp_path / "v_phase1_data.pkl"
    mine = temp_path_for(final)
    dead = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{_dead_pid()}."))
    unrelated = tmp_path / "notes.vtdb-tmp.txt"  # not our pattern
    for p in (mine, dead, unrelated):
        p.write_bytes(b"x")
    removed = clean_stale_temp_files(tmp_path)
    assert removed == [dead]
    assert mine.exists() and unrelated.exists() and not dead.exists()
    # A writer that has exited but is not reaped yet (zombie) is dead: its temp file goes too.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        _wait_zombie(child)
        zombie = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{child.pid}."))
        zombie.write_bytes(b"x")
        assert clean_stale_temp_files(tmp_path) == [zombie]
    finally:
        child.wait()
    assert mine.exists()


# ---------------------------------------------------------------- embedded lock


def test_embedded_lock_second_run_exits_then_waits(silent_video, tmp_path):
    chroma_dir = tmp_path / "chroma [main]"  # brackets: the message must show the real folder
    other = tmp_path / "quiet copy.mp4"
    shutil.copy(silent_video, other)
    first_entry = {"name": "quiet", "path": str(silent_video)}
    cfg = write_config(tmp_path, [first_entry], chroma_dir=str(chroma_dir), **NO_OCR)
    work_dir = tmp_path / "data"
    r = run_cli(PHASE1, "--config", str(cfg), cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]

    holder = subprocess.Popen([PY, str(HOLD_LOCK), str(chroma_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        cfg = write_config(tmp_path, [first_entry, {"name": "quiet2", "path": str(other)}], chroma_dir=str(chroma_dir), **NO_OCR)
        before = _events(work_dir)
        t0 = time.monotonic()
        blocked = run_cli(PHASE1, "--config", str(cfg), cwd=tmp_path, timeout=120)
        took = time.monotonic() - t0
        out = _flat(blocked.stdout + blocked.stderr)
        assert blocked.returncode == 0, out
        assert took < 30, f"the second run did not exit at once ({took:.1f} s)"
        assert f"pid {holder.pid}" in out, out
        assert "hold_lock.py (test holder)" in out, out
        assert str(chroma_dir) in out, out
        assert "--wait" in out
        assert _events(work_dir) == before, "a run without the lock wrote events (so it did work)"

        # --wait: blocks while the lock is held, then proceeds and does the work that is left.
        wait_log = tmp_path / "wait_run.log"
        with open(wait_log, "w") as fh:
            waiter = subprocess.Popen([PY, str(ROOT / PHASE1), "--config", str(cfg), "--wait"], cwd=tmp_path, env=_env(),
                                      stdout=fh, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "waiting for the lock" not in wait_log.read_text():
                assert waiter.poll() is None, f"--wait run exited while the lock was held: {wait_log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, wait_log.read_text()
                time.sleep(0.05)
            assert str(chroma_dir) in _flat(wait_log.read_text())
            time.sleep(0.5)
            assert waiter.poll() is None, "--wait run did not wait"
            assert _events(work_dir) == before
        except BaseException:
            waiter.kill()
            raise
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
        assert waiter.wait(timeout=180) == 0, wait_log.read_text()[-3000:]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()

    new = [e for e in _events(work_dir) if e not in before]
    assert {e["pid"] for e in new} == {waiter.pid}
    assert [(e["event"], e.get("video")) for e in new if e["event"] in (ev.VIDEO_CLAIM, ev.VIDEO_COMPLETE)] == [
        (ev.VIDEO_CLAIM, "quiet2"), (ev.VIDEO_COMPLETE, "quiet2")]

    # Nothing corrupted: every record readable with the right statuses, both pickles load, the lock is free.
    db = Store(load_config(cfg))
    records = {m["name"]: m for m in db.list_videos()}
    assert sorted(records) == ["quiet", "quiet2"]
    for name, meta in records.items():
        assert meta["phase1_status"] == COMPLETED and meta["phase2_status"] == PENDING, name
        data = load_phase1_data(work_dir, name)
        assert meta["phase1_segments_created"] == len(data["windows"]) >= 1
        assert data["video"]["has_audio"] is False
    DatabaseLock(chroma_dir).acquire().release()


def test_lock_in_process_semantics(tmp_path):
    first = DatabaseLock(tmp_path, purpose="first holder").acquire()
    try:
        with pytest.raises(LockHeld) as exc:
            DatabaseLock(tmp_path).acquire()
        assert exc.value.holder["pid"] == os.getpid() and exc.value.holder["command"] == "first holder"
        t0 = time.monotonic()
        with pytest.raises(LockHeld):
            DatabaseLock(tmp_path).acquire(wait=True, timeout=0.3, poll=0.05)
        assert 0.25 < time.monotonic() - t0 < 5
    finally:
        first.release()
    again = DatabaseLock(tmp_path).acquire()
    again.release()


# ---------------------------------------------------------------- state machine on an embedded database


@pytest.fixture
def make_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray ./videos_config.json

    def make(**settings) -> Store:
        return Store(Config(path=None, settings=Settings(**settings, chroma_dir=str(tmp_path / "db")), videos=[]))

    return make


def _complete(db: Store, name: str, phase: str, count: int = 2, **fields) -> None:
    claim = db.claim(name, phase, force=True)
    assert claim is not None, (name, phase, db.decide(name, phase))
    assert db.complete(claim, count, **fields)


def _age(db: Store, name: str, phase: str, seconds: float) -> None:
    """Move a processing record's start and heartbeat into the past."""
    past = iso(now_utc() - timedelta(seconds=seconds))
    db.update_video_status(name, phase, PROCESSING, **{f"{phase}_start_time": past, f"{phase}_heartbeat": past})


def test_claim_then_complete(make_db):
    db = make_db()
    db.create_or_update_video_file("a", "/videos/a.mp4", video_duration=40.0)
    meta = _record(db, "a")
    assert all(meta[f"{p}_status"] == PENDING for p in PHASE_ORDER)
    assert parse_iso(meta["created_at"]).tzinfo is not None

    assert db.claim("a", "phase2") is None  # upstream not completed
    assert "waiting for phase1" in db.decide("a", "phase2").reason

    claim = db.claim("a", "phase1")
    assert isinstance(claim, Claim) and claim.reason == "pending" and not claim.reclaimed
    meta = _record(db, "a")
    me = Owner.current()
    assert meta["phase1_status"] == PROCESSING and meta["phase1_claim_id"] == claim.claim_id
    assert (meta["phase1_owner_host"], meta["phase1_owner_pid"]) == (me.host, me.pid)
    assert abs(meta["phase1_owner_started"] - me.started) < 1
    for key in ("phase1_start_time", "phase1_heartbeat"):
        assert abs((now_utc() - parse_iso(meta[key])).total_seconds()) < 10
    # A healthy claim is nobody else's to take, not even forced.
    assert db.claim("a", "phase1") is None
    assert db.claim("a", "phase1", force=True) is None
    assert db.decide("a", "phase1").reason.startswith("being processed by")

    assert db.complete(claim, 3, total_segments=3)
    meta = _record(db, "a")
    assert meta["phase1_status"] == COMPLETED and meta["phase1_segments_created"] == 3 and meta["total_segments"] == 3
    assert meta["phase1_claim_id"] == "" and meta["phase1_end_time"] and meta["phase1_attempts"] == 0
    assert meta["phase2_status"] == PENDING
    assert db.decide("a", "phase1").reason == "already completed"
    assert db.claim("a", "phase1") is None
    assert db.decide("a", "phase2").take
    assert db.list_videos({"phase1_status": COMPLETED, "phase2_status": [PENDING, PROCESSING]})[0]["name"] == "a"
    forced = db.claim("a", "phase1", force=True)
    assert forced is not None and forced.reason == "forced"


def test_fail_counts_attempts_holds_then_release_or_force(make_db):
    db = make_db(max_attempts=2)
    db.create_or_update_video_file("a", "/videos/a.mp4")
    c1 = db.claim("a", "phase1")
    assert db.fail(c1, "boom 1") is False
    meta = _record(db, "a")
    assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_last_error"], meta["phase1_held"]) == (PENDING, 1, "boom 1", False)
    assert meta["phase1_claim_id"] == "" and meta["phase1_owner_pid"] == 0

    c2 = db.claim("a", "phase1")
    assert c2 is not None and c2.reason == "pending"
    assert db.fail(c2, "boom 2") is True  # attempts reached max_attempts: held
    meta = db.get_video_status("a")
    assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_held"]) == (PENDING, 2, True)
    assert db.video_flags(meta).held == ["phase1"]
    decision = db.decide("a", "phase1")
    assert not decision.take and "held after 2 failed attempts" in decision.reason and "boom 2" in decision.reason
    assert db.claim("a", "phase1") is None
    assert [d.take for _, d in db.candidates("phase1")] == [False]

    assert db.release("a") == ["phase1"]
    meta = _record(db, "a")
    assert meta["phase1_held"] is False and meta["phase1_attempts"] == 0
    assert db.release("a") == []
    c3 = db.claim("a", "phase1")
    assert c3 is not None
    db.fail(c3, "boom 3")
    assert db.fail(db.claim("a", "phase1"), "boom 4") is True

    forced = db.claim("a", "phase1", force=True)  # --force takes a held video and starts counting afresh
    assert forced is not None
    meta = _record(db, "a")
    assert meta["phase1_held"] is False and meta["phase1_attempts"] == 0
    assert db.complete(forced, 1)
    meta = _record(db, "a")
    assert meta["phase1_status"] == COMPLETED and meta["phase1_last_error"] == "" and meta["phase1_held"] is False


class _Job:
    phase = "phase1"

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.calls: list[str] = []

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        self.calls.append(claim.name)
        return self.behaviour(claim, ctx)


def _raise(exc):
    def behaviour(claim, ctx):
        raise exc
    return behaviour


def _run(db, job, tmp_path, **options):
    buf = io.StringIO()
    summary = run_phase(job, db, tmp_path / "work", RunOptions(**options), Console(file=buf, width=200))
    return summary, _flat(buf.getvalue())


def test_runner_fail_hold_skip_force_and_interrupt(make_db, tmp_path):
    db = make_db(max_attempts=2)
    for name in ("a", "b", "c"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")
    bad = _Job(_raise(RuntimeError("decoder exploded")))

    summary, _ = _run(db, bad, tmp_path, only=["a"])
    assert summary.failed == ["a"] and summary.held == [] and summary.exit_code == EXIT_FAILURES
    summary, out = _run(db, bad, tmp_path, only=["a"])
    assert summary.held == ["a"] and "held" in out
    meta = _record(db, "a")
    assert meta["phase1_attempts"] == 2 and meta["phase1_held"] and "RuntimeError: decoder exploded" in meta["phase1_last_error"]
    errors = [e for e in _events(tmp_path / "work") if e["event"] == ev.VIDEO_ERROR]
    assert len(errors) == 2 and errors[-1]["held"] is True and "decoder exploded" in errors[-1]["traceback"]

    summary, out = _run(db, bad, tmp_path, only=["a"])  # held: skipped, not tried, exit 0
    assert bad.calls == ["a", "a"] and summary.skipped == 1 and summary.exit_code == EXIT_OK
    assert "skip a: held after 2 failed attempts" in out

    good = _Job(lambda claim, ctx: JobResult(count=4))
    summary, _ = _run(db, good, tmp_path, only=["a"], force=True)
    assert summary.completed == ["a"]
    meta = _record(db, "a")
    assert meta["phase1_status"] == COMPLETED and meta["phase1_segments_created"] == 4 and not meta["phase1_held"]

    # Ctrl-C / SIGTERM inside a video: given back without counting an attempt, and the run stops there.
    interrupted = _Job(_raise(KeyboardInterrupt()))
    summary, out = _run(db, interrupted, tmp_path)
    assert summary.interrupted and summary.exit_code == EXIT_INTERRUPTED and interrupted.calls == ["b"]
    meta = _record(db, "b")
    assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_claim_id"], meta["phase1_owner_pid"]) == (PENDING, 0, "", 0)
    assert _record(db, "c")["phase1_status"] == PENDING
    released = [e for e in _events(tmp_path / "work") if e["event"] == ev.VIDEO_RELEASED]
    assert [e["video"] for e in released] == ["b"]

    summary, _ = _run(db, good, tmp_path)
    assert summary.completed == ["b", "c"] and summary.skipped == 1


def test_an_interrupt_as_the_claim_is_announced_gives_the_video_back(make_db, tmp_path):
    """A SIGTERM sent when the claim event appears (as tests/test_recovery.py does to run_pipeline.py) can land
    before the work starts: the video goes back to pending all the same, no attempt counted."""

    class InterruptedAtClaim(ev.EventLog):
        def emit(self, event, **fields):
            record = super().emit(event, **fields)
            if event == ev.VIDEO_CLAIM:
                raise KeyboardInterrupt  # where the signal handler raises: right after the event is written
            return record

    db = make_db()
    db.create_or_update_video_file("a", "/videos/a.mp4")
    job = _Job(lambda claim, ctx: JobResult(count=1))
    try:
        summary = run_phase(job, db, tmp_path / "work", RunOptions(), Console(file=io.StringIO(), width=200),
                            events=InterruptedAtClaim(tmp_path / "work" / "events.jsonl"))
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped run_phase: the video was left processing")
    assert summary.interrupted and summary.exit_code == EXIT_INTERRUPTED and job.calls == []
    meta = _record(db, "a")
    assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_claim_id"]) == (PENDING, 0, "")
    assert [e["reason"] for e in _events(tmp_path / "work") if e["event"] == ev.VIDEO_RELEASED] == ["interrupted"]


def test_held_videos_are_one_line_per_run_unless_asked_for_by_name(make_db, tmp_path):
    db = make_db(max_attempts=1)
    for name in ("a", "b", "c"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")
    _run(db, _Job(_raise(RuntimeError("decoder exploded"))), tmp_path, only=["a"])
    _run(db, _Job(_raise(RuntimeError("decoder exploded"))), tmp_path, only=["b"])
    summary, out = _run(db, _Job(lambda claim, ctx: JobResult(count=1)), tmp_path)
    assert summary.completed == ["c"] and summary.already_held == ["a", "b"] and summary.exit_code == EXIT_OK
    assert "skip a:" not in out and "skip b:" not in out
    assert "2 held video(s) skipped (a, b)" in out and command("release", "NAME") in out  # as this process started


def test_runner_survives_error_messages_that_look_like_markup(make_db, tmp_path):
    """An error text is data: brackets in it (paths, lists) must neither crash the run nor vanish."""
    db = make_db()
    for name in ("a", "b"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")

    def behaviour(claim, ctx):
        if claim.name == "a":
            raise RuntimeError("cannot read [/media/old videos/a.mp4] (tried [bold] and [red]x[/red])")
        return JobResult(count=1, note="[/done]")

    summary, out = _run(db, _Job(behaviour), tmp_path)
    assert summary.failed == ["a"] and summary.completed == ["b"]
    assert "cannot read [/media/old videos/a.mp4] (tried [bold] and [red]x[/red])" in out
    assert "[/done]" in out


def test_runner_heartbeats_while_processing(make_db, tmp_path):
    db = make_db(heartbeat_interval=0.05, heartbeat_lease=10)
    db.create_or_update_video_file("a", "/videos/a.mp4")
    seen: dict = {}

    def slow(claim, ctx):
        ctx.record(video_duration=12.5)  # written by the next heartbeat, so timeouts use the real duration
        first_beat = claim.meta["phase1_heartbeat"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.05)
            meta = _record(db, "a")
            if meta["phase1_heartbeat"] > first_beat and meta["video_duration"] == 12.5:
                seen.update(meta)
                break
        return JobResult(count=1)

    summary, _ = _run(db, _Job(slow), tmp_path)
    assert summary.completed == ["a"]
    assert seen, "no heartbeat reached the database while the job ran"
    assert seen["phase1_status"] == PROCESSING
    assert _record(db, "a")["phase1_status"] == COMPLETED


def test_give_back_counts_no_attempt(make_db):
    db = make_db()
    db.create_or_update_video_file("a", "/videos/a.mp4")
    claim = db.claim("a", "phase1")
    db.give_back(claim)
    meta = _record(db, "a")
    assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_claim_id"], meta["phase1_owner_pid"]) == (PENDING, 0, "", 0)
    assert db.decide("a", "phase1").take
    newer = db.claim("a", "phase1")
    before = _record(db, "a")
    db.give_back(claim)  # an old claim gives back nothing
    assert _record(db, "a") == before
    assert db.complete(newer, 1)


def test_reset_resets_downstream(make_db):
    db = make_db()
    db.create_or_update_video_file("a", "/videos/a.mp4")
    for phase in PHASE_ORDER:
        _complete(db, "a", phase, count=5)
    db.hold("a", "4", "manual hold")
    assert all(_record(db, "a")[f"{p}_status"] == COMPLETED for p in PHASE_ORDER)

    db.reset("a", 2)
    meta = _record(db, "a")
    assert meta["phase1_status"] == COMPLETED and meta["phase1_segments_created"] == 5
    for p in ("phase2", "db_load", "phase4"):
        assert meta[f"{p}_status"] == PENDING and meta[f"{p}_attempts"] == 0 and meta[f"{p}_held"] is False, p
    assert meta["phase2_segments_analyzed"] == 0 and meta["db_segments_loaded"] == 0
    assert not db.decide("a", "db_load").take and db.decide("a", "phase2").take

    db.reset("a", "3")  # phase 3 is db_load
    assert _record(db, "a")["phase2_status"] == PENDING
    db.reset("a", "phase1")
    assert all(_record(db, "a")[f"{p}_status"] == PENDING for p in PHASE_ORDER)
    with pytest.raises(ValueError):
        db.reset("a", 7)
    with pytest.raises(KeyError):
        db.reset("nope", 1)


def test_claiming_phase1_resets_downstream(make_db):
    db = make_db()
    db.create_or_update_video_file("a", "/videos/a.mp4")
    for phase in PHASE_ORDER:
        _complete(db, "a", phase)
    claim = db.claim("a", "phase1", force=True)
    meta = _record(db, "a")
    assert meta["phase1_status"] == PROCESSING
    for p in ("phase2", "db_load", "phase4"):
        assert meta[f"{p}_status"] == PENDING, p
    assert meta["phase4_keywords_count"] == 0
    assert not db.decide("a", "phase2").take  # waits for the new phase 1
    assert db.complete(claim, 1)
    # Claiming a later phase leaves the earlier ones alone.
    _complete(db, "a", "phase2")
    db.claim("a", "db_load")
    meta = _record(db, "a")
    assert (meta["phase1_status"], meta["phase2_status"], meta["db_load_status"]) == (COMPLETED, COMPLETED, PROCESSING)


def test_superseded_claim_writes_nothing(make_db):
    db = make_db()
    db.create_or_update_video_file("a", "/videos/a.mp4", video_duration=60.0)
    old = db.claim("a", "phase1")
    db.reset("a", 1)  # e.g. `db_manager.py reset a --phase 1` while the run is busy
    before = _record(db, "a")
    assert db.complete(old, 9) is False
    assert db.heartbeat(old) is False
    assert db.fail(old, "late error") is False
    db.give_back(old)
    assert _record(db, "a") == before

    # Taken over after a lost heartbeat by another owner: the first owner's late completion is dropped.
    first = db.claim("a", "phase1")
    _age(db, "a", "phase1", 400)  # > lease 300 s, < timeout floor 900 s
    other = Owner("another-host", 4242, 0.0)
    second = db.claim("a", "phase1", owner=other)
    assert second is not None and second.reclaimed and "heartbeat lost" in second.reason
    before = _record(db, "a")
    assert before["phase1_owner_host"] == "another-host"
    assert db.complete(first, 9) is False and db.heartbeat(first) is False and db.fail(first, "x") is False
    assert _record(db, "a") == before
    assert db.complete(second, 2)
    assert _record(db, "a")["phase1_segments_created"] == 2


def test_heartbeat_refreshes_lease(make_db):
    db = make_db()
    db.create_or_update_video_file("a", "/videos/a.mp4")
    claim = db.claim("a", "phase1")
    start = _record(db, "a")["phase1_start_time"]
    old = iso(now_utc() - timedelta(seconds=200))
    db.update_video_status("a", 1, PROCESSING, phase1_heartbeat=old)
    assert db.heartbeat(claim, video_duration=33.5)
    meta = _record(db, "a")
    beat = parse_iso(meta["phase1_heartbeat"])
    assert beat > parse_iso(old) and abs((now_utc() - beat).total_seconds()) < 10
    assert meta["video_duration"] == 33.5
    assert meta["phase1_status"] == PROCESSING and meta["phase1_start_time"] == start
    # Lost heartbeat, then refreshed: stale, then healthy again.
    _age(db, "a", "phase1", 400)
    assert "heartbeat lost" in db.video_flags(db.get_video_status("a")).stale["phase1"]
    db.update_video_status("a", 1, PROCESSING, phase1_start_time=start)
    assert db.heartbeat(claim)
    assert db.video_flags(db.get_video_status("a")).stale == {}


def test_stale_reason_timeout_heartbeat_dead_owner():
    s = Settings(timeout_factor=2.0, timeout_floor=900, heartbeat_lease=300)
    now = now_utc()

    def rec(start_ago, beat_ago=None, host="h1", pid=100, duration=0.0, status=PROCESSING):
        m = {"phase1_status": status, "phase1_owner_host": host, "phase1_owner_pid": pid, "phase1_owner_started": 5.0,
             "video_duration": duration, "phase1_start_time": iso(now - timedelta(seconds=start_ago))}
        if beat_ago is not None:
            m["phase1_heartbeat"] = iso(now - timedelta(seconds=beat_ago))
        return m

    alive = lambda pid, started: True  # noqa: E731
    dead = lambda pid, started: False  # noqa: E731
    kw = dict(now=now, host="h1")
    assert stale_reason(rec(10, 5), "phase1", s, is_alive=alive, **kw) is None
    assert stale_reason(rec(10, 5, status=PENDING), "phase1", s, is_alive=dead, **kw) is None
    assert stale_reason(rec(10, 5, status=COMPLETED), "phase1", s, is_alive=dead, **kw) is None
    # Timeout: the floor protects short videos; long videos get factor x duration.
    assert stale_reason(rec(850, 1, duration=20), "phase1", s, is_alive=alive, **kw) is None
    assert stale_reason(rec(950, 1, duration=20), "phase1", s, is_alive=alive, **kw).startswith("timeout")
    assert stale_reason(rec(1900, 1, duration=1000), "phase1", s, is_alive=alive, **kw) is None
    assert stale_reason(rec(2100, 1, duration=1000), "phase1", s, is_alive=alive, **kw).startswith("timeout")
    # Heartbeat lease (a missing heartbeat falls back to the start time).
    assert stale_reason(rec(400, 299), "phase1", s, is_alive=alive, **kw) is None
    assert stale_reason(rec(400, 301), "phase1", s, is_alive=alive, **kw).startswith("heartbeat lost")
    assert stale_reason(rec(301), "phase1", s, is_alive=alive, **kw).startswith("heartbeat lost")
    assert "no start time" in stale_reason({"phase1_status": PROCESSING}, "phase1", s, is_alive=alive, **kw)
    # Dead owner: only checked on the owner's own host.
    seen = []
    assert "owner process 100 on h1 is dead" == stale_reason(rec(10, 5), "phase1", s, is_alive=lambda p, st: seen.append((p, st)) or False, **kw)
    assert seen == [(100, 5.0)]
    assert stale_reason(rec(10, 5, host="h2"), "phase1", s, is_alive=dead, **kw) is None
    # decide() turns a stale record into a reclaim, and a healthy one into a skip.
    d = decide(rec(10, 5), "phase1", s, is_alive=dead, **kw)
    assert d.take and d.reclaim and "dead" in d.reason
    d = decide(rec(10, 5), "phase1", s, is_alive=alive, **kw)
    assert not d.take and "being processed by h1:100" in d.reason
    # Other phases use the same rules with their own fields.
    m = {"phase1_status": COMPLETED, "phase2_status": PROCESSING, "phase2_owner_host": "h1", "phase2_owner_pid": 7,
         "phase2_start_time": iso(now), "phase2_heartbeat": iso(now)}
    assert decide(m, "phase2", s, is_alive=dead, **kw).reclaim


def test_owner_alive_with_real_processes():
    me = psutil.Process(os.getpid())
    assert owner_alive(me.pid, me.create_time())
    assert owner_alive(me.pid, 0.0)  # no start time recorded: the pid decides
    assert not owner_alive(me.pid, me.create_time() - 3600)  # same pid, another process: reused pid
    assert not owner_alive(_dead_pid(), 0.0)
    assert not owner_alive(0, 0.0)
    # A process that has exited but is not reaped yet (a zombie) is dead too.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        _wait_zombie(child)
        started = psutil.Process(child.pid).create_time()
        assert not owner_alive(child.pid, started)
        meta = {"phase1_status": PROCESSING, "phase1_owner_host": socket.gethostname(), "phase1_owner_pid": child.pid,
                "phase1_owner_started": started, "phase1_start_time": iso(now_utc()), "phase1_heartbeat": iso(now_utc())}
        assert "dead" in stale_reason(meta, "phase1", Settings())
    finally:
        child.wait()
    assert "dead" in stale_reason(meta, "phase1", Settings())


def _sync(cfg: Path, events: ev.EventLog) -> tuple[Store, list[str]]:
    config = load_config(cfg)
    db = Store(config)
    return db, sync_videos(db, config, events).notes


def _complete_phase1_like_phase1(db: Store, name: str, path: Path) -> None:
    from vtdb.sources.local import LocalFileSource

    _complete(db, name, "phase1", count=2, source_fingerprint=LocalFileSource(path).fingerprint())
    _complete(db, name, "phase2", count=2)


def test_force_reprocess_applies_once_per_config_change(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    video = tmp_path / "a.mp4"
    video.write_bytes(b"not really a video, only fingerprinted")
    events = ev.EventLog(tmp_path / "events.jsonl")
    entry = {"name": "a", "path": str(video)}
    cfg = write_config(tmp_path, [entry])
    db, notes = _sync(cfg, events)
    assert notes == ["a: new video"]
    _complete_phase1_like_phase1(db, "a", video)

    cfg = write_config(tmp_path, [{**entry, "force_reprocess": True}])
    db, notes = _sync(cfg, events)
    assert len(notes) == 1 and "reprocessing (force_reprocess" in notes[0]
    meta = _record(db, "a")
    assert meta["phase1_status"] == PENDING and meta["phase2_status"] == PENDING and meta["force_token_applied"]
    _complete_phase1_like_phase1(db, "a", video)
    for _ in range(2):  # same entry, still force_reprocess: true -> not again
        db, notes = _sync(cfg, events)
        assert notes == []
        assert _record(db, "a")["phase1_status"] == COMPLETED

    # Another change of the entry while force_reprocess stays true: once more.
    cfg = write_config(tmp_path, [{**entry, "force_reprocess": True, "description": "edited"}])
    db, notes = _sync(cfg, events)
    assert len(notes) == 1 and _record(db, "a")["phase1_status"] == PENDING and _record(db, "a")["description"] == "edited"
    resets = [e for e in ev.read_events(tmp_path / "events.jsonl") if e["event"] == ev.VIDEO_RESET]
    assert len(resets) == 2

    # A new video listed with force_reprocess: true is processed once, not again on every run.
    new_entry = {"name": "b", "path": str(video), "force_reprocess": True}
    cfg = write_config(tmp_path, [{**entry, "force_reprocess": True, "description": "edited"}, new_entry])
    db, notes = _sync(cfg, events)
    assert notes == ["b: new video"]
    _complete_phase1_like_phase1(db, "b", video)
    db, notes = _sync(cfg, events)
    assert notes == [] and _record(db, "b")["phase1_status"] == COMPLETED


def test_changed_source_file_resets_phase1_and_downstream(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    video = tmp_path / "a.mp4"
    video.write_bytes(b"version one")
    events = ev.EventLog(tmp_path / "events.jsonl")
    cfg = write_config(tmp_path, [{"name": "a", "path": str(video)}])
    db, _ = _sync(cfg, events)
    _complete_phase1_like_phase1(db, "a", video)
    db, notes = _sync(cfg, events)
    assert notes == []  # unchanged file: nothing to redo

    stamp = video.stat().st_mtime + 10
    os.utime(video, (stamp, stamp))  # touched, same bytes: the content fingerprint says nothing changed
    db, notes = _sync(cfg, events)
    assert notes == [] and _record(db, "a")["phase1_status"] == "completed"
    video.write_bytes(b"version 1.1")  # same size, other bytes
    db, notes = _sync(cfg, events)
    assert len(notes) == 1 and "source file changed" in notes[0]
    meta = _record(db, "a")
    assert (meta["phase1_status"], meta["phase2_status"], meta["db_load_status"], meta["phase4_status"]) == (PENDING,) * 4
    _complete_phase1_like_phase1(db, "a", video)

    video.write_bytes(b"version two, longer")  # modified content
    db, notes = _sync(cfg, events)
    assert len(notes) == 1 and "source file changed" in notes[0]
    assert _record(db, "a")["phase1_status"] == PENDING
    reset_events = [e for e in ev.read_events(tmp_path / "events.jsonl") if e["event"] == ev.VIDEO_RESET]
    assert len(reset_events) == 2 and all("source file changed" in e["reason"] for e in reset_events)
