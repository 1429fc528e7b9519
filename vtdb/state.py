"""The per-video, per-phase state machine: one implementation for every phase.

    pending ──claim──► processing ──complete──► completed
       ▲                   │  │
       └──fail (attempts+1)┘  └─ stale (timeout / heartbeat lease / dead owner) ─► reclaimable
    attempts ≥ max_attempts ⇒ held (skipped until forced or released)
    claiming phase N resets every phase downstream of N to pending.

Everything here is pure: decisions are made from a record's metadata, the clock and the
settings; `vtdb.db` applies them to Chroma. The metadata layout lives here too.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping

import psutil

from .config import Settings

PENDING, PROCESSING, COMPLETED = "pending", "processing", "completed"
STATUSES = (PENDING, PROCESSING, COMPLETED)


@dataclass(frozen=True)
class PhaseInfo:
    key: str  # field prefix: phase1_status, db_load_status, ...
    number: int
    label: str
    count_field: str
    upstream: str | None


PHASES: dict[str, PhaseInfo] = {
    "phase1": PhaseInfo("phase1", 1, "transcribe + frames", "phase1_segments_created", None),
    "phase2": PhaseInfo("phase2", 2, "window analysis", "phase2_segments_analyzed", "phase1"),
    "db_load": PhaseInfo("db_load", 3, "load segments", "db_segments_loaded", "phase2"),
    "phase4": PhaseInfo("phase4", 4, "summary", "phase4_keywords_count", "db_load"),
}
PHASE_ORDER = list(PHASES)


def phase_by_number(number: int | str) -> PhaseInfo:
    for info in PHASES.values():
        if str(info.number) == str(number) or info.key == str(number):
            return info
    raise ValueError(f"unknown phase {number!r}; use 1, 2, 3 (db load) or 4")


def downstream_of(phase: str) -> list[str]:
    return PHASE_ORDER[PHASE_ORDER.index(phase) + 1 :]


def f(phase: str, name: str) -> str:
    """Metadata field name of a phase: f('phase1', 'status') == 'phase1_status'."""
    return f"{phase}_{name}"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def phase_defaults(phase: str) -> dict[str, object]:
    """A phase's fields in a fresh (or reset) record. Chroma metadata cannot hold None, so empties are ''/0."""
    return {
        f(phase, "status"): PENDING,
        f(phase, "start_time"): "",
        f(phase, "end_time"): "",
        f(phase, "heartbeat"): "",
        f(phase, "owner_host"): "",
        f(phase, "owner_pid"): 0,
        f(phase, "owner_started"): 0.0,
        f(phase, "claim_id"): "",
        f(phase, "attempts"): 0,
        f(phase, "last_error"): "",
        f(phase, "held"): False,
        PHASES[phase].count_field: 0,
    }


def all_phase_defaults() -> dict[str, object]:
    out: dict[str, object] = {}
    for phase in PHASE_ORDER:
        out.update(phase_defaults(phase))
    return out


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: float  # process create time: tells a live owner from a reused pid

    @classmethod
    def current(cls) -> "Owner":
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _process_start(pid) or 0.0)

    def label(self) -> str:
        return f"{self.host}:{self.pid}"


def _process_start(pid: int) -> float | None:
    """Start time of a running process; None when there is none (an exited, unreaped zombie counts as gone)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.Error, OSError):
        return None


def owner_alive(pid: int, started: float) -> bool:
    """Is process `pid` (started at `started`) still running on this host?"""
    if pid <= 0:
        return False
    actual = _process_start(pid)
    if actual is None:
        return False
    # A different start time means the pid was reused by another process.
    return not started or abs(actual - started) < 2.0


def processing_timeout(meta: Mapping[str, object], settings: Settings) -> float:
    duration = float(meta.get("video_duration") or 0.0)
    return max(settings.timeout_floor, settings.timeout_factor * duration)


def stale_reason(
    meta: Mapping[str, object],
    phase: str,
    settings: Settings,
    now: datetime | None = None,
    host: str | None = None,
    is_alive: Callable[[int, float], bool] = owner_alive,
) -> str | None:
    """Why a `processing` record is considered abandoned, or None when it is healthy (or not processing)."""
    if meta.get(f(phase, "status")) != PROCESSING:
        return None
    now = now or now_utc()
    host = host or socket.gethostname()
    started = parse_iso(meta.get(f(phase, "start_time")))
    timeout = processing_timeout(meta, settings)
    if started is not None and (now - started).total_seconds() > timeout:
        return f"timeout: processing for {(now - started).total_seconds():.0f} s > {timeout:.0f} s"
    beat = parse_iso(meta.get(f(phase, "heartbeat"))) or started
    if beat is None:
        return "no start time or heartbeat recorded"
    if (now - beat).total_seconds() > settings.heartbeat_lease:
        return f"heartbeat lost: last beat {(now - beat).total_seconds():.0f} s ago > lease {settings.heartbeat_lease:.0f} s"
    if meta.get(f(phase, "owner_host")) == host:
        pid = int(meta.get(f(phase, "owner_pid")) or 0)
        if not is_alive(pid, float(meta.get(f(phase, "owner_started")) or 0.0)):
            return f"owner process {pid} on {host} is dead"
    return None


@dataclass(frozen=True)
class Decision:
    take: bool
    reason: str
    reclaim: bool = False  # taking over a stale 'processing' record


def decide(
    meta: Mapping[str, object],
    phase: str,
    settings: Settings,
    force: bool = False,
    now: datetime | None = None,
    host: str | None = None,
    is_alive: Callable[[int, float], bool] = owner_alive,
) -> Decision:
    """Should this run take the video for `phase`? One rule set for every phase."""
    info = PHASES[phase]
    status = meta.get(f(phase, "status"), PENDING)
    if info.upstream and meta.get(f(info.upstream, "status")) != COMPLETED:
        return Decision(False, f"waiting for {info.upstream} (status {meta.get(f(info.upstream, 'status'), PENDING)})")
    if status == PROCESSING:
        why = stale_reason(meta, phase, settings, now, host, is_alive)
        if why is None:
            owner = f"{meta.get(f(phase, 'owner_host'))}:{meta.get(f(phase, 'owner_pid'))}"
            return Decision(False, f"being processed by {owner} since {meta.get(f(phase, 'start_time'))}")
        return Decision(True, f"stale ({why})", reclaim=True)
    if force:
        return Decision(True, "forced")
    if meta.get(f(phase, "held")):
        return Decision(
            False,
            f"held after {meta.get(f(phase, 'attempts'))} failed attempts (last error: {meta.get(f(phase, 'last_error'))}); "
            "use --force or `db_manager.py release NAME`",
        )
    if status == COMPLETED:
        return Decision(False, "already completed")
    return Decision(True, "pending")


# ---- the updates each transition writes (applied by vtdb.db) ----


def claim_update(phase: str, owner: Owner, claim_id: str, now: datetime, forced: bool) -> dict[str, object]:
    ts = iso(now)
    update: dict[str, object] = {
        f(phase, "status"): PROCESSING,
        f(phase, "start_time"): ts,
        f(phase, "end_time"): "",
        f(phase, "heartbeat"): ts,
        f(phase, "owner_host"): owner.host,
        f(phase, "owner_pid"): owner.pid,
        f(phase, "owner_started"): owner.started,
        f(phase, "claim_id"): claim_id,
        "updated_at": ts,
    }
    if forced:
        update[f(phase, "held")] = False
        update[f(phase, "attempts")] = 0
    for later in downstream_of(phase):
        update.update(phase_defaults(later))
    return update


def complete_update(phase: str, count: int, now: datetime) -> dict[str, object]:
    ts = iso(now)
    return {
        f(phase, "status"): COMPLETED,
        f(phase, "end_time"): ts,
        f(phase, "heartbeat"): ts,
        f(phase, "claim_id"): "",
        f(phase, "attempts"): 0,
        f(phase, "last_error"): "",
        f(phase, "held"): False,
        PHASES[phase].count_field: int(count),
        "updated_at": ts,
    }


def fail_update(phase: str, meta: Mapping[str, object], error: str, settings: Settings, now: datetime) -> dict[str, object]:
    attempts = int(meta.get(f(phase, "attempts")) or 0) + 1
    return {
        f(phase, "status"): PENDING,
        f(phase, "end_time"): iso(now),
        f(phase, "claim_id"): "",
        f(phase, "owner_pid"): 0,
        f(phase, "owner_host"): "",
        f(phase, "attempts"): attempts,
        f(phase, "last_error"): error[:2000],
        f(phase, "held"): attempts >= settings.max_attempts,
        "updated_at": iso(now),
    }


def release_update(phase: str, now: datetime) -> dict[str, object]:
    """An interrupted run (Ctrl-C, SIGTERM) gives the video back without counting an attempt."""
    return {
        f(phase, "status"): PENDING,
        f(phase, "claim_id"): "",
        f(phase, "owner_pid"): 0,
        f(phase, "owner_host"): "",
        "updated_at": iso(now),
    }


def reset_update(phase: str, now: datetime) -> dict[str, object]:
    """Reset `phase` and everything downstream of it to pending, clearing attempts and holds."""
    update: dict[str, object] = {"updated_at": iso(now)}
    for p in [phase, *downstream_of(phase)]:
        update.update(phase_defaults(p))
    return update


def new_claim_id() -> str:
    return uuid.uuid4().hex
