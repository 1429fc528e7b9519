"""Recovery that never blames a video for what was not its fault (issue #9): abandoned claims counted
apart from errors, reboots not counted at all, structured decisions (no reason-text parsing), a run that
stops (exit 2, no attempt) when a model cannot load, `--only` typos, and a Chroma server going away
mid-run. Real embedded Chroma, a real `chroma run` server, real subprocess runs of the CLIs."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from helpers.jobs import BehaviourJob
from rich.console import Console

from conftest import PY, ROOT, free_port, run_cli, write_config
from vtdb import events as ev
from vtdb import proc, state
from vtdb.clock import iso, now_utc
from vtdb.config import Config, Settings, load_config
from vtdb.embedders import EmbedderLoadError, load_embedder
from vtdb.errors import PermanentVideoError, RunAborted
from vtdb.media.video import MediaError, PermanentMediaError
from vtdb.runner import EXCUSED_CLAIMS_FILE, EXIT_OK, EXIT_USAGE, JobResult, RunOptions, run_phase
from vtdb.sources.zim import ZimEntryEmpty, ZimEntryMissing
from vtdb.state import COMPLETED, PENDING, PROCESSING, Owner, decide
from vtdb.store import Claim, DatabaseUnavailable, Store

PHASE1 = "phase1_whisper_frames.py"


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout.strip())


@pytest.fixture
def make_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def make(**settings) -> Store:
        return Store(Config(path=None, settings=Settings(**settings, chroma_dir=str(tmp_path / "db")), videos=[]))

    return make


def _abandon(db: Store, name: str, phase: str = "phase1") -> None:
    """Leave the video 'processing' by a process of this host that has died (what kill -9 leaves)."""
    claim = db.claim(name, phase, owner=Owner(socket.gethostname(), _dead_pid(), 0.0))
    assert claim is not None, db.decide(name, phase)




def _run(db, job, work_dir, **options):
    buf = io.StringIO()
    summary = run_phase(job, db, work_dir, RunOptions(**options), Console(file=buf, width=200))
    return summary, " ".join(buf.getvalue().split())


# ---------------------------------------------------------------- abandons, reboots, structured decisions


def test_abandoned_claims_count_apart_from_errors_and_hold_only_after_max_abandons(make_db):
    db = make_db(max_attempts=2, max_abandons=3)
    db.create_or_update_video_file("a", "/videos/a.mp4")
    for expected in (1, 2):
        _abandon(db, "a")
        decision = db.decide("a", "phase1")
        assert decision.take and decision.reclaim and decision.kind == state.TAKE_STALE and decision.abandon_counts
        claim = db.claim("a", "phase1")
        assert claim is not None and claim.reclaimed
        meta = db.get_video_status("a")
        # An abandon is not an error: attempts stay 0, so max_attempts=2 errors are still allowed.
        assert (meta["phase1_abandons"], meta["phase1_attempts"], meta["phase1_held"]) == (expected, 0, False)
        assert "previous run abandoned it" in meta["phase1_last_error"] and "dead" in meta["phase1_last_error"]
        db.give_back(claim)
    _abandon(db, "a")
    assert db.claim("a", "phase1") is None  # the third abandon reaches max_abandons: held
    meta = db.get_video_status("a")
    assert meta["phase1_held"] and meta["phase1_hold_kind"] == state.HOLD_ABANDONS and meta["phase1_status"] == PENDING
    decision = db.decide("a", "phase1")
    assert decision.held and decision.kind == state.SKIP_HELD
    assert "the worker died 3 times while processing it (out of memory? a decoder crash?)" in decision.reason
    assert "release" in decision.reason
    # release clears both counters; completing does too.
    assert db.release("a") == ["phase1"]
    meta = db.get_video_status("a")
    assert (meta["phase1_abandons"], meta["phase1_attempts"], meta["phase1_held"], meta["phase1_hold_kind"]) == (0, 0, False, "")
    _abandon(db, "a")
    claim = db.claim("a", "phase1")
    assert db.complete(claim, 1)
    assert db.get_video_status("a")["phase1_abandons"] == 0


def test_errors_still_hold_after_max_attempts_with_their_own_message(make_db):
    db = make_db(max_attempts=2, max_abandons=5)
    db.create_or_update_video_file("a", "/videos/a.mp4")
    assert db.fail(db.claim("a", "phase1"), "boom 1") is False
    assert db.fail(db.claim("a", "phase1"), "boom 2") is True
    decision = db.decide("a", "phase1")
    assert decision.held and "held after 2 failed attempts (last error: boom 2)" in decision.reason
    assert db.get_video_status("a")["phase1_hold_kind"] == state.HOLD_ERRORS


# ---------------------------------------------------------------- permanent and transient errors


@pytest.mark.parametrize("exc, kind", [
    (PermanentVideoError("x.mp4: whatever the words"), state.PERMANENT),
    (PermanentMediaError("/v/x.mp4: not a readable video file (ffprobe: Invalid data found when processing input)"), state.PERMANENT),
    (PermanentMediaError("/v/x.mp4: file is empty (0 bytes); a copy or download may have failed"), state.PERMANENT),
    (ZimEntryEmpty("zim:///a.zim#videos/x/video.mp4: video item is empty (0 bytes)"), state.PERMANENT),
    (ZimEntryMissing("/a.zim: entry 'videos/x.mp4' is not in the archive (was the archive replaced?)"), state.PERMANENT),
    (MediaError("/v/x.mp4: not a readable video file (ffprobe: Invalid data found when processing input)"), state.TRANSIENT),  # the class decides
    (MediaError("/v/x.mp4: ffprobe timed out; the file may be on a stalled mount"), state.TRANSIENT),
    (MediaError("/v/x.mp4: file not found (check the path in videos_config.json)"), state.TRANSIENT),  # unmounted?
    (OSError(28, "No space left on device"), state.TRANSIENT),
    (TimeoutError("read timed out"), state.TRANSIENT),
    (RuntimeError("not a readable video file"), state.TRANSIENT),  # words alone do not make it permanent
])
def test_error_kind_is_decided_in_one_place(exc, kind):
    assert state.error_kind(exc) == kind


def test_a_permanent_error_holds_at_once_and_later_runs_exit_0(make_db, tmp_path):
    db = make_db(max_attempts=5)
    for name in ("bad", "flaky", "good"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")

    def behaviour(claim, ctx):
        if claim.name == "bad":
            raise PermanentMediaError(f"/videos/{claim.name}.mp4: not a readable video file (ffprobe: moov atom not found)")
        if claim.name == "flaky":
            raise OSError(28, "No space left on device")
        return JobResult(1)

    first, out = _run(db, BehaviourJob(behaviour), tmp_path)
    assert first.exit_code == 1 and sorted(first.failed) == ["bad", "flaky"]
    assert first.permanent == ["bad"] and first.held == ["bad"] and "held at once" in out
    bad = db.get_video_status("bad")
    assert (bad["phase1_held"], bad["phase1_hold_kind"], bad["phase1_attempts"]) == (True, state.HOLD_PERMANENT, 1)
    assert "retrying cannot fix it" in db.decide("bad", "phase1").reason and "release" in db.decide("bad", "phase1").reason
    flaky = db.get_video_status("flaky")
    assert (flaky["phase1_held"], flaky["phase1_attempts"]) == (False, 1)  # transient: retried as before
    events = ev.read_events(tmp_path / "events.jsonl")
    kinds = {e["video"]: e["error_kind"] for e in events if e["event"] == ev.VIDEO_ERROR}
    assert kinds == {"bad": state.PERMANENT, "flaky": state.TRANSIENT}

    # The transient one recovers; the held one is skipped: the run exits 0 (the hold is listed, not failed again).
    second, _out = _run(db, BehaviourJob(lambda claim, ctx: JobResult(1)), tmp_path)
    assert second.exit_code == 0 and second.completed == ["flaky"] and second.already_held == ["bad"]
    # --force and release still retry it.
    forced, _out = _run(db, BehaviourJob(lambda claim, ctx: JobResult(1)), tmp_path, only=["bad"], force=True)
    assert forced.completed == ["bad"] and db.get_video_status("bad")["phase1_held"] is False


def test_a_retired_video_is_taken_by_no_phase_even_forced(make_db):
    db = make_db()
    db.create_or_update_video_file("gone", "/videos/gone.mp4")
    db.retire("gone", "removed from videos_config.json (was /videos/gone.mp4)")
    for force in (False, True):
        decision = db.decide("gone", "phase1", force=force)
        assert not decision.take and decision.kind == state.SKIP_RETIRED and "removed from videos_config.json" in decision.reason
    assert db.retired_names() == {"gone"}
    db.unretire("gone")
    assert db.decide("gone", "phase1").take and db.retired_names() == set()


def test_retired_names_ignores_records_that_predate_retirement(make_db):
    # Chroma's $ne matches records that lack the key: a record written before `retired` existed is not retired.
    db = make_db()
    db.create_or_update_video_file("old", "/videos/old.mp4")
    db._files.update(ids=["old"], metadatas=[{"retired": None, "retired_at": None, "retired_reason": None}])
    assert "retired" not in db.get_video_status("old")
    assert db.retired_names() == set()


def test_an_abandon_caused_by_a_reboot_counts_nothing(make_db, monkeypatch):
    db = make_db(max_abandons=1)  # a single counted abandon would hold the video
    db.create_or_update_video_file("a", "/videos/a.mp4")
    _abandon(db, "a")
    monkeypatch.setattr(proc, "host_boot_time", lambda: time.time() + 1)  # the host booted after the claim
    decision = db.decide("a", "phase1")
    assert decision.take and decision.reclaim and not decision.abandon_counts
    assert "rebooted" in decision.reason
    claim = db.claim("a", "phase1")
    assert claim is not None
    meta = db.get_video_status("a")
    assert (meta["phase1_abandons"], meta["phase1_attempts"], meta["phase1_held"]) == (0, 0, False)
    db.give_back(claim)
    # Without the reboot, the same dead owner counts (and with max_abandons=1 holds).
    monkeypatch.setattr(proc, "host_boot_time", lambda: 0.0)
    _abandon(db, "a")
    assert db.claim("a", "phase1") is None and db.decide("a", "phase1").held


def test_reboot_rule_needs_a_dead_owner_on_this_host():
    s = Settings()
    now = now_utc()
    meta = {"phase1_status": PROCESSING, "phase1_owner_host": "h1", "phase1_owner_pid": 10, "phase1_owner_started": 1.0,
            "phase1_start_time": iso(now - timedelta(seconds=30)), "phase1_heartbeat": iso(now - timedelta(seconds=5))}
    booted_after = lambda: now.timestamp() - 10  # noqa: E731
    dead, alive = (lambda p, st: False), (lambda p, st: True)
    assert not decide(meta, "phase1", s, now=now, host="h1", is_alive=dead, boot_time=booted_after).abandon_counts
    assert decide(meta, "phase1", s, now=now, host="h1", is_alive=alive, boot_time=booted_after).kind == state.SKIP_BUSY
    # Another host's claim: its reboot is not visible here; a healthy lease means busy.
    assert decide(meta, "phase1", s, now=now, host="h2", is_alive=dead, boot_time=booted_after).kind == state.SKIP_BUSY
    booted_before = lambda: now.timestamp() - 3600  # noqa: E731
    d = decide(meta, "phase1", s, now=now, host="h1", is_alive=dead, boot_time=booted_before)
    assert d.reclaim and d.abandon_counts and "dead" in d.reason


def test_a_claim_lost_to_a_host_named_sheldon_is_not_a_hold(make_db, tmp_path):
    """The runner used to look for the substring 'held' in the reason: 'being processed by sheldon:…'."""
    db = make_db()
    for name in ("a", "b"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")

    def behaviour(claim, ctx):
        if claim.name == "a":  # meanwhile a worker on host 'sheldon' takes b
            assert ctx.db.claim("b", "phase1", owner=Owner("sheldon", 4242, 1.0)) is not None
        return JobResult(count=1)

    summary, out = _run(db, BehaviourJob(behaviour), tmp_path / "work")
    assert summary.completed == ["a"]
    assert summary.held == [] and summary.failed == [] and summary.exit_code == EXIT_OK, out
    assert db.decide("b", "phase1").kind == state.SKIP_BUSY


def test_a_worker_whose_claim_is_taken_over_stops_at_its_next_progress_report(make_db, tmp_path):
    """The heartbeat finds the claim gone; the job's next ctx.report raises ClaimLost: the work stops there, nothing
    is written for the video (no completion, no attempt, the new owner's claim untouched), the run goes on."""
    db = make_db(heartbeat_interval=0.05, heartbeat_lease=30)
    for name in ("a", "b"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")
    windows = 2000  # 0.01 s each: ~20 s of work, were it not stopped
    reported: dict[str, int] = {}
    taken: list[Claim] = []

    def behaviour(claim, ctx):
        if claim.name == "b":
            return JobResult(count=1)
        for i in range(windows):
            ctx.report(i, windows, "windows")
            reported[claim.name] = i + 1
            if i == 5:  # another worker, whose lease is shorter than our beats, finds "a" stale and reclaims it
                impatient = make_db(heartbeat_interval=0.001, heartbeat_lease=0.002)
                for _try in range(500):  # until it reads the record between two of our beats
                    other = impatient.claim("a", "phase1", owner=Owner("sheldon", 4242, 1.0))
                    if other is not None:
                        taken.append(other)
                        break
                    time.sleep(0.001)
                assert taken, "the other worker never found the claim stale"
            time.sleep(0.01)
        return JobResult(count=windows, fields={"phase1_note": "should never be written for a"})

    t0 = time.monotonic()
    summary, out = _run(db, BehaviourJob(behaviour), tmp_path / "work")
    assert time.monotonic() - t0 < 10, "the work went on after the claim was lost"
    assert 6 <= reported["a"] < windows // 2, reported
    assert summary.superseded == ["a"] and summary.completed == ["b"] and summary.failed == [], out
    assert summary.exit_code == EXIT_OK and "its work stopped, not marked" in out, out
    record = db.get_video_status("a")
    assert record["phase1_status"] == PROCESSING and record["phase1_claim_id"] == taken[0].claim_id
    assert int(record.get("phase1_attempts") or 0) == 0 and not record.get("phase1_note")
    events = ev.read_events(tmp_path / "work" / db.settings.event_log)
    assert [e["event"] for e in events if e.get("video") == "a"][-1] == ev.VIDEO_SUPERSEDED
    assert db.get_video_status("b")["phase1_status"] == COMPLETED  # the run went on with the next video


# ---------------------------------------------------------------- --only and --dry-run


def test_only_with_an_unknown_name_is_a_usage_error_before_any_work(make_db, tmp_path):
    db = make_db()
    for name in ("kitchen", "garden"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")
    ran: list[str] = []
    job = BehaviourJob(lambda claim, ctx: ran.append(claim.name) or JobResult(count=1))
    summary, out = _run(db, job, tmp_path / "work", only=["kitchen", "kitchn"])
    assert summary.exit_code == EXIT_USAGE and ran == []
    assert "--only kitchn: no such video in the database; did you mean 'kitchen'?" in out
    summary, out = _run(db, job, tmp_path / "work", only=["kitchen"])
    assert summary.exit_code == EXIT_OK and ran == ["kitchen"]


def test_dry_run_plans_the_new_videos_a_sync_would_add(make_db, tmp_path):
    db = make_db()
    db.create_or_update_video_file("old", "/videos/old.mp4")
    summary, _ = _run(db, BehaviourJob(lambda c, x: JobResult(count=1)), tmp_path / "work", dry_run=True, new_videos=["new1", "new2"])
    assert summary.planned == [("old", "pending"), ("new1", "new video"), ("new2", "new video")]
    summary, _ = _run(db, BehaviourJob(lambda c, x: JobResult(count=1)), tmp_path / "work", dry_run=True, new_videos=["new1"],
                      only=["new1"])
    assert summary.planned == [("new1", "new video")] and summary.exit_code == EXIT_OK


# ---------------------------------------------------------------- a model that cannot load stops the run


def test_an_embedder_that_cannot_load_stops_the_run_without_blaming_videos(make_db, tmp_path):
    bad = tmp_path / "broken-model"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"hidden_size": 384, "model_type": "bert"}))
    (bad / "model.safetensors").write_bytes(b"not a model")
    db = make_db(max_attempts=1)
    for name in ("a", "b"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")

    def behaviour(claim, ctx):
        load_embedder(str(bad)).embed_passages(["x"])
        return JobResult(count=1)

    summary, out = _run(db, BehaviourJob(behaviour), tmp_path / "work")
    assert summary.exit_code == EXIT_USAGE and summary.aborted and summary.failed == []
    assert "cannot load sentence-transformers model" in out and "no attempt counted" in out
    for name in ("a", "b"):
        meta = db.get_video_status(name)
        assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_held"]) == (PENDING, 0, False)
    with pytest.raises(EmbedderLoadError) as err:
        load_embedder(str(bad))
    assert isinstance(err.value, RunAborted)


def test_a_whisper_model_that_cannot_load_stops_phase1_with_exit_2(silent_video, en_video, tmp_path):
    broken = tmp_path / "broken-whisper"
    broken.mkdir()
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        (broken / name).write_text("{}")
    (broken / "model.bin").write_bytes(b"\0" * 1024)
    cfg = write_config(tmp_path, [{"name": "speech", "path": str(en_video), "language": "en"},
                                  {"name": "speech2", "path": str(en_video), "language": "en"}],
                       whisper_model=str(broken), max_attempts=1)
    for _ in range(2):  # cron runs again: still nothing held
        proc = run_cli(PHASE1, "--config", str(cfg), cwd=tmp_path, timeout=300)
        out = " ".join((proc.stdout + proc.stderr).split())
        assert proc.returncode == EXIT_USAGE, out[-3000:]
        assert "Traceback" not in out
        assert "cannot load Whisper model" in out and "no attempt counted" in out
    db = Store(load_config(cfg))
    for name in ("speech", "speech2"):
        meta = db.get_video_status(name)
        assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_held"]) == (PENDING, 0, False), meta


# ---------------------------------------------------------------- the Chroma server going away


class ChromaServer:
    """A real `chroma run` that the test can stop and start again on the same port and data folder."""

    def __init__(self, folder: Path):
        self.exe = Path(PY).parent / "chroma"
        self.path, self.port = folder / "server_db", free_port()
        self.log = folder / "chroma_server.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import chromadb

        out = open(self.log, "a")
        self.proc = subprocess.Popen([str(self.exe), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT,
                                     env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
        out.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("chroma server did not start: " + self.log.read_text()[-2000:]) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    srv = ChromaServer(tmp_path)
    srv.start()
    yield srv
    srv.stop()


def test_a_short_server_outage_is_ridden_out_with_one_line(server, tmp_path):
    settings = Settings(chroma_host="127.0.0.1", chroma_port=server.port, chroma_retry_timeout=60)
    db = Store(Config(path=None, settings=settings, videos=[]))
    notices: list[str] = []
    db.on_notice = notices.append
    for name in ("a", "b", "c"):
        db.create_or_update_video_file(name, f"/videos/{name}.mp4")

    def behaviour(claim, ctx):
        if claim.name == "a":
            server.stop()
            threading.Timer(4.0, server.start).start()
        return JobResult(count=1)

    t0 = time.monotonic()
    summary, out = _run(db, BehaviourJob(behaviour), tmp_path / "work")
    assert summary.completed == ["a", "b", "c"] and summary.exit_code == EXIT_OK, out
    assert time.monotonic() - t0 >= 3.5  # it really waited for the server
    assert len([n for n in notices if "unreachable" in n]) == 1 and len([n for n in notices if "is back" in n]) == 1, notices
    assert all(db.get_video_status(n)["phase1_status"] == COMPLETED for n in ("a", "b", "c"))


def test_a_long_outage_stops_phase1_with_exit_2_and_costs_the_video_nothing(server, en_video, silent_video, tmp_path):
    cfg = write_config(tmp_path, [{"name": "a_speech", "path": str(en_video), "language": "en"},
                                  {"name": "b_silent", "path": str(silent_video)}],
                       chroma_host="127.0.0.1", chroma_port=server.port, chroma_retry_timeout=3,
                       ocr="off")  # on-screen text plays no part in an outage; tesseract only made the rerun longer
    work_dir = tmp_path / "data"
    log = tmp_path / "run1.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([PY, str(ROOT / PHASE1), "--config", str(cfg)], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 120
        while not [e for e in ev.read_events(work_dir / "events.jsonl") if e["event"] == ev.VIDEO_CLAIM]:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        server.stop()  # Whisper is busy with a_speech for several seconds: the outage hits mid-video
        code = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = " ".join(log.read_text().split())
    assert code == EXIT_USAGE, text[-3000:]
    assert "Traceback" not in text and "httpx" not in text, text[-3000:]
    assert text.count("is unreachable; retrying for up to 3 s") == 1, text[-3000:]
    assert "the database is unreachable; a_speech will be taken up again by the next run (no attempt counted)" in text
    assert "database error" in text and "Nothing was lost" in text
    excused = json.loads((work_dir / EXCUSED_CLAIMS_FILE).read_text())
    assert len(excused) == 1

    server.start()
    second = run_cli(PHASE1, "--config", str(cfg), cwd=tmp_path, timeout=300)
    assert second.returncode == EXIT_OK, (second.stdout + second.stderr)[-3000:]
    db = Store(load_config(cfg))
    for name in ("a_speech", "b_silent"):
        meta = db.get_video_status(name)
        assert meta["phase1_status"] == COMPLETED and meta["phase1_attempts"] == 0 and meta["phase1_abandons"] == 0, meta
    assert json.loads((work_dir / EXCUSED_CLAIMS_FILE).read_text()) == []


def test_the_store_raises_database_unavailable_after_the_retry_timeout(server):
    settings = Settings(chroma_host="127.0.0.1", chroma_port=server.port, chroma_retry_timeout=1.5)
    db = Store(Config(path=None, settings=settings, videos=[]))
    db.on_notice = lambda message: None
    db.create_or_update_video_file("a", "/videos/a.mp4")
    server.stop()
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="for more than 2 s"):
        db.list_videos()
    assert 1.4 <= time.monotonic() - t0 < 15


def test_sigterm_to_run_pipeline_hands_the_video_back(en_video, tmp_path):
    """run_pipeline.py passes SIGTERM on to the phase running, which gives its video back (no attempt, no
    abandon), and exits 130 without a traceback."""
    cfg = write_config(tmp_path, [{"name": "speech", "path": str(en_video), "language": "en"}])
    work_dir = tmp_path / "data"
    log = tmp_path / "pipeline.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([PY, str(ROOT / "run_pipeline.py"), "--config", str(cfg)], cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 120
        while not [e for e in ev.read_events(work_dir / "events.jsonl") if e["event"] == ev.VIDEO_CLAIM]:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert code == 130, text[-3000:]
    assert "Traceback" not in text
    meta = Store(load_config(cfg)).get_video_status("speech")
    assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_abandons"]) == (PENDING, 0, 0), meta
    assert [e for e in ev.read_events(work_dir / "events.jsonl") if e["event"] == ev.VIDEO_RELEASED]
