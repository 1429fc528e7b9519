"""The one loop every phase runs: pick work, claim, heartbeat, process, complete or fail.

A phase supplies a PhaseJob (what to do with one claimed video); everything about selection,
stale recovery, attempts, holds, events, progress and exit codes lives here.
"""

from __future__ import annotations

import json
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from rich.console import Console

from vtdb import events as ev
from vtdb import state
from vtdb.atomic import atomic_write_text, clean_stale_temp_files
from vtdb.commandline import command
from vtdb.config import Settings
from vtdb.errors import RunAborted, VideoError
from vtdb.media.video import MediaError
from vtdb.progress import FAILED, NOTE, OK, STOPPED, WARNING, RunReporter, reporter_for
from vtdb.store import Claim, DatabaseUnavailable, Store
from vtdb.text import did_you_mean

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# The exit-code rule: 1 when a video failed *in this run* (a transient error, or a permanent one found now,
# which holds the video at once); videos held by earlier runs are skipped and listed by `vtdb
# status`, so they do not make every cron run exit 1. 2: the run stopped (usage, a service down). 130: interrupted.


@dataclass
class JobResult:
    count: int  # the phase's count field (windows created, analyzed, loaded, ...)
    fields: dict[str, Any] = field(default_factory=dict)  # extra metadata written on completion
    note: str = ""


class ClaimLost(BaseException):
    """Raised by `JobContext.report` once the heartbeat found the claim taken over (another worker's claim, a
    reset): the work is dropped at its next progress report, and the runner counts nothing and goes on with the
    next video. A BaseException, like KeyboardInterrupt, so that a job's `except Exception` cannot swallow it."""


class JobContext:
    """What a job may use while processing one video: settings, paths, progress and heartbeats."""

    def __init__(self, db: Store, settings: Settings, work_dir: Path, events: ev.EventLog, claim: Claim,
                 progress: Callable[[float, float | None, str], None]):
        self.db = db
        self.settings = settings
        self.work_dir = work_dir
        self.events = events
        self.claim = claim
        self._progress = progress
        self._fields: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.claim_lost = threading.Event()  # set by the heartbeat when another worker or a reset took the video

    def report(self, done: float, total: float | None = None, label: str = "") -> None:
        """Progress inside the video (e.g. audio seconds transcribed); raises ClaimLost once the claim is gone."""
        if self.claim_lost.is_set():
            raise ClaimLost(f"{self.claim.name}: another worker or a reset took the video over")
        self._progress(done, total, label)

    def record(self, **fields: Any) -> None:
        """Metadata to write with the next heartbeat (e.g. the probed duration, so timeouts use it)."""
        with self._lock:
            self._fields.update(fields)

    def pending_fields(self) -> dict[str, Any]:
        with self._lock:
            out, self._fields = self._fields, {}
        return out

    def warn(self, message: str) -> None:
        self.events.emit(ev.WARNING, phase=self.claim.phase, video=self.claim.name, message=message)


class PhaseJob(Protocol):
    phase: str  # a key of vtdb.state.PHASES

    def process(self, claim: Claim, ctx: JobContext) -> JobResult: ...


EXCUSED_CLAIMS_FILE = ".vtdb-excused-claims.json"


class ExcusedClaims:
    """Claim ids a run had to abandon because the database was unreachable (it could not hand them back).

    Kept in the work folder, which every worker shares; the next claim of such a video counts no abandon.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            loaded = json.loads(path.read_text())
            self._ids = {str(i) for i in loaded} if isinstance(loaded, list) else set()
        except (OSError, ValueError):
            self._ids = set()

    def __contains__(self, claim_id: object) -> bool:
        return claim_id in self._ids

    def add(self, claim_id: str) -> None:
        self._ids.add(claim_id)
        self._save()

    def forget(self, claim_id: object) -> None:
        if claim_id in self._ids:
            self._ids.discard(str(claim_id))
            self._save()

    def _save(self) -> None:
        try:
            atomic_write_text(self.path, json.dumps(sorted(self._ids)))
        except OSError:  # best effort: at worst one abandon is counted
            pass


class PlanOnly:
    """The job of a --dry-run: the runner stops before claiming, so process() is never reached."""

    def __init__(self, phase: str):
        self.phase = phase

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        raise AssertionError("a dry run never processes a video")


@dataclass
class RunOptions:
    only: Sequence[str] | None = None
    limit: int | None = None
    force: bool = False
    dry_run: bool = False
    new_videos: Sequence[str] = ()  # a dry run of Phase 1: videos the sync would add (not in the database yet)
    # Videos not to take in this run, with why (Phase 1: a source the sync could not read; already reported).
    skip: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RunSummary:
    phase: str
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)  # failed with an error retrying cannot fix (held at once)
    already_held: list[str] = field(default_factory=list)  # held by an earlier run: skipped, not a failure of this run
    retired: int = 0  # videos that left the library (skipped)
    skipped: int = 0
    superseded: list[str] = field(default_factory=list)
    interrupted: bool = False
    aborted: str = ""  # why the run stopped early (a service it depends on failed)
    planned: list[tuple[str, str]] = field(default_factory=list)  # dry run: (name, reason)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.aborted:
            return EXIT_USAGE
        return EXIT_FAILURES if self.failed else EXIT_OK


class _Heartbeat(threading.Thread):
    def __init__(self, db: Store, claim: Claim, ctx: JobContext, interval: float):
        super().__init__(daemon=True, name=f"heartbeat-{claim.name}")
        self.db, self.claim, self.ctx, self.interval = db, claim, ctx, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval) and not self.ctx.claim_lost.is_set():
            self.beat()

    def beat(self) -> None:
        try:
            if not self.db.heartbeat(self.claim, **self.ctx.pending_fields()):
                self.ctx.claim_lost.set()  # the job stops at its next progress report (ClaimLost)
        except Exception as exc:  # a missed beat is not fatal; the lease allows several
            self.ctx.warn(f"heartbeat failed: {exc}")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, (VideoError, MediaError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def has_work(db: Store, phase: str, options: RunOptions) -> bool:
    """Would run_phase take any video? (A command can skip loading models or checking endpoints when not.)"""
    return any(d.take for _m, d in db.candidates(phase, only=options.only, force=options.force))


def run_phase(
    job: PhaseJob,
    db: Store,
    work_dir: Path,
    options: RunOptions,
    console: RunReporter | Console | None = None,
    events: ev.EventLog | None = None,
) -> RunSummary:
    """Run `job` over the videos the state machine gives it: select, then claim and process each in turn."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(job, db, work_dir, options, reporter_for(console), events or ev.EventLog(work_dir / db.settings.event_log))
    candidates = db.candidates(job.phase, only=options.only, force=options.force)
    if options.only and run.refuse_unknown_names(candidates):
        return run.summary
    todo = run.select(candidates)
    if options.dry_run:
        run.summary.planned = run.plan(todo)
        return run.summary
    if options.limit is not None:
        todo = todo[: options.limit]
    run.process_all([meta["name"] for meta, _decision in todo])
    return run.summary


class _Run:
    """One run of a phase: what every step of `run_phase` shares, and the steps themselves."""

    def __init__(self, job: PhaseJob, db: Store, work_dir: Path, options: RunOptions, report: RunReporter,
                 events: ev.EventLog):
        self.job, self.db, self.work_dir, self.options, self.report, self.events = job, db, work_dir, options, report, events
        self.phase = job.phase
        self.summary = RunSummary(job.phase)

    def refuse_unknown_names(self, candidates: list[tuple[dict[str, Any], state.Decision]]) -> bool:
        """A typo in --only is a usage error: said before any work, never a silent "nothing to do". True when
        the run must stop."""
        known = {m["name"] for m, _ in candidates} | set(self.options.new_videos)
        unknown = [name for name in dict.fromkeys(self.options.only or ()) if name not in known]
        if not unknown:
            return False
        all_names = self.db.all_names()
        for name in unknown:
            self.report.line(STOPPED, f"--only {name}: no such video in the database{did_you_mean(name, all_names, n=3)}")
        self.summary.aborted = f"--only names {len(unknown)} unknown video(s)"
        return True

    def select(self, candidates: list[tuple[dict[str, Any], state.Decision]]) -> list[tuple[dict[str, Any], state.Decision]]:
        """The videos to take (in order), counting and saying why the others are skipped."""
        options, summary = self.options, self.summary
        todo = [(m, d) for m, d in candidates if d.take and m["name"] not in options.skip]
        for meta, decision in candidates:
            if decision.take and meta["name"] in options.skip:
                summary.skipped += 1
            if not decision.take:
                summary.skipped += 1
                if decision.held:
                    summary.already_held.append(meta["name"])
                if decision.kind == state.SKIP_RETIRED:
                    summary.retired += 1
                if options.only:  # asked for by name: say why not
                    self.report.line(NOTE, f"skip {meta['name']}: {decision.reason}")
        if summary.already_held and not options.only:
            # One line, not one per held video on every cron run; the status table says why each one is held.
            held = summary.already_held
            shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
            self.report.line(NOTE, f"{len(held)} held video(s) skipped ({shown}): `{command('status')}` says why, "
                                   f"`{command('release', 'NAME')}` lets one be tried again")
        return todo

    def plan(self, todo: list[tuple[dict[str, Any], state.Decision]]) -> list[tuple[str, str]]:
        """A dry run's answer: (name, why) of each video the run would take, new videos of Phase 1 included."""
        wanted = set(self.options.only or ())
        planned = [(m["name"], d.reason) for m, d in todo]
        planned += [(name, "new video") for name in self.options.new_videos if not wanted or name in wanted]
        return planned[: self.options.limit] if self.options.limit is not None else planned

    def process_all(self, names: list[str]) -> None:
        """Claim and process the videos in turn, until done, interrupted or stopped."""
        excused = ExcusedClaims(self.work_dir / EXCUSED_CLAIMS_FILE)
        for leftover in clean_stale_temp_files(self.work_dir):
            self.report.line(NOTE, f"removed leftover temp file {leftover.name} from a crashed run")
        self.events.emit(ev.PHASE_START, phase=self.phase, videos=len(names), location=self.db.location)
        if not names:
            self.events.emit(ev.PHASE_DONE, phase=self.phase, completed=0, failed=0, skipped=self.summary.skipped)
            return
        self.report.phase_started(self.phase, len(names))
        try:
            for name in names:
                if self.take(name, excused):
                    break
        finally:
            self.report.phase_finished()
        summary = self.summary
        self.events.emit(ev.PHASE_DONE, phase=self.phase, completed=len(summary.completed), failed=len(summary.failed),
                         skipped=summary.skipped, interrupted=summary.interrupted, aborted=summary.aborted)

    def take(self, name: str, excused: ExcusedClaims) -> bool:
        """Claim one video and process it; True when the run must stop."""
        claim = self.db.claim(name, self.phase, force=self.options.force, excused=excused)
        if claim is None:
            self.not_claimed(name)
            return False
        started = self.start(claim, excused)
        if started is None:
            return True  # interrupted before the work began
        ctx, beat = started
        try:
            return self.process(claim, ctx, beat)
        except DatabaseUnavailable:
            # The database stayed away longer than chroma_retry_timeout: nothing can be written now.
            # Remember the claim, so that the next run's reclaim counts no abandon against the video.
            beat.stop()
            excused.add(claim.claim_id)
            self.events.emit(ev.VIDEO_RELEASED, phase=self.phase, video=name, reason="database unreachable")
            self.report.line(STOPPED, f"run stopped: the database is unreachable; {name} will be taken up "
                             "again by the next run (no attempt counted)")
            raise
        finally:
            self.report.video_finished(name)

    def not_claimed(self, name: str) -> None:
        """The claim was refused: taken by another worker meanwhile, or now held (a failure of this run)."""
        why = self.db.decide(name, self.phase)
        self.events.emit(ev.VIDEO_SKIP, phase=self.phase, video=name, reason=why.reason)
        if why.held:
            self.summary.held.append(name)
            self.summary.failed.append(name)
            self.report.line(FAILED, f"✗ {name}: {why.reason}")
        self.report.video_finished(name)

    def start(self, claim: Claim, excused: ExcusedClaims) -> tuple[JobContext, _Heartbeat] | None:
        """Announce the claim and start its heartbeat; None when interrupted meanwhile (the video given back)."""
        name, beat = claim.name, None
        try:
            excused.forget(claim.previous_claim_id)
            if claim.reclaimed:
                self.events.emit(ev.VIDEO_STALE_RECLAIM, phase=self.phase, video=name, reason=claim.reason)
                self.report.line(WARNING, f"reclaiming {name}: {claim.reason}")
            self.events.emit(ev.VIDEO_CLAIM, phase=self.phase, video=name, reason=claim.reason, claim_id=claim.claim_id)

            def on_progress(done: float, total: float | None, label: str) -> None:
                self.report.video_progress(name, done, total, label)

            self.report.video_progress(name, 0, None, "")
            ctx = JobContext(self.db, self.db.settings, self.work_dir, self.events, claim, on_progress)
            beat = _Heartbeat(self.db, claim, ctx, self.db.settings.heartbeat_interval)
            beat.start()
            return ctx, beat
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM between the claim and the work (a signal sent as the claim is announced,
            # seen under load): the video goes back as it does from inside the work, not left "processing".
            if beat is not None:
                beat.stop()
            self.db.give_back(claim)
            self.events.emit(ev.VIDEO_RELEASED, phase=self.phase, video=name, reason="interrupted")
            self.report.line(WARNING, f"interrupted: {name} returned to pending")
            self.summary.interrupted = True
            self.report.video_finished(name)
            return None

    def process(self, claim: Claim, ctx: JobContext, beat: _Heartbeat) -> bool:
        """Process one claimed video and record the outcome; True when the run must stop."""
        name, phase = claim.name, self.phase
        try:
            result = self.job.process(claim, ctx)
        except KeyboardInterrupt:
            beat.stop()
            self.db.give_back(claim)
            self.events.emit(ev.VIDEO_RELEASED, phase=phase, video=name, reason="interrupted")
            self.report.line(WARNING, f"interrupted: {name} returned to pending")
            self.summary.interrupted = True
            return True
        except ClaimLost:
            # Taken over meanwhile: the work is dropped; the video is the new owner's, so nothing is written.
            beat.stop()
            self.events.emit(ev.VIDEO_SUPERSEDED, phase=phase, video=name,
                             reason="claim taken over or reset meanwhile; work dropped")
            self.summary.superseded.append(name)
            self.report.line(WARNING, f"{name}: another worker or a reset took it over; its work stopped, not marked")
            return False
        except DatabaseUnavailable:
            raise  # the run's fault, and nothing can be recorded: `take` handles it
        except RunAborted as exc:
            beat.stop()
            self.db.give_back(claim)
            self.events.emit(ev.VIDEO_RELEASED, phase=phase, video=name, reason=f"run aborted: {exc}")
            self.report.line(STOPPED, f"run stopped: {exc}; {name} returned to pending (no attempt counted)")
            self.summary.aborted = str(exc)
            return True
        except Exception as exc:
            beat.stop()
            self.failed(claim, exc)
            return False
        beat.stop()
        self.finished(claim, ctx, result)
        return False

    def failed(self, claim: Claim, exc: Exception) -> None:
        """Record a failed attempt: held at once when retrying cannot fix it (`state.error_kind`)."""
        name, summary = claim.name, self.summary
        message = _error_text(exc)
        kind = state.error_kind(exc)  # the rule lives in vtdb.state; here it is only applied
        held = self.db.fail(claim, message, permanent=kind == state.PERMANENT)
        self.events.emit(ev.VIDEO_ERROR, phase=self.phase, video=name, error=message, held=held, error_kind=kind,
                         traceback=None if isinstance(exc, (VideoError, MediaError)) else traceback.format_exc(limit=8))
        summary.failed.append(name)
        if held:
            summary.held.append(name)
        if kind == state.PERMANENT:
            summary.permanent.append(name)
        suffix = " (held at once: retrying cannot fix it)" if kind == state.PERMANENT and held else " (held: needs attention)" if held else ""
        self.report.line(FAILED, f"✗ {name}: {message}{suffix}")

    def finished(self, claim: Claim, ctx: JobContext, result: JobResult) -> None:
        """Mark the phase completed, unless another worker or a reset took the video over meanwhile."""
        name = claim.name
        fields = {**ctx.pending_fields(), **result.fields}
        if self.db.complete(claim, result.count, **fields):
            self.events.emit(ev.VIDEO_COMPLETE, phase=self.phase, video=name, count=result.count, note=result.note)
            self.summary.completed.append(name)
            self.report.line(OK, f"✓ {name}: {result.count} {result.note}".rstrip())
        else:
            self.events.emit(ev.VIDEO_SUPERSEDED, phase=self.phase, video=name, reason="claim taken over or reset meanwhile")
            self.summary.superseded.append(name)
            self.report.line(WARNING, f"{name}: finished, but another worker or a reset took it over; not marked")
