"""The per-video, per-phase state machine: one implementation for every phase.

    pending ──claim──► processing ──complete──► completed
       ▲                   │  │
       └──fail (attempts+1)┘  └─ stale (timeout / heartbeat lease / dead owner) ─► reclaimable
    attempts ≥ max_attempts ⇒ held (skipped until forced or released)
    a permanent error (`error_kind`: unreadable media, a missing or empty entry, not a video) ⇒ held at once
    a retired record (it left the library: `retired_at` set by the sync) is taken by no phase
    a claim abandoned by a dead or hung worker counts as an *abandon*, apart from errors:
    abandons ≥ max_abandons ⇒ held; an abandon caused by a reboot of the owner's host counts not at all.
    claiming phase N resets every phase downstream of N to pending.

Everything here is pure: decisions are made from a record's metadata, the clock and the
recovery options; `vtdb.store` (its `transitions` part) applies them to Chroma. The metadata layout lives here too.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from vtdb import proc
from vtdb.clock import iso, now_utc, parse_iso
from vtdb.commandline import command
from vtdb.config import RecoveryOptions
from vtdb.errors import PermanentVideoError
from vtdb.proc import owner_alive, process_start

PENDING, PROCESSING, COMPLETED = "pending", "processing", "completed"
STATUSES = (PENDING, PROCESSING, COMPLETED)


@dataclass(frozen=True)
class PhaseInfo:
    key: str  # field prefix: phase1_status, db_load_status, ...
    number: int
    label: str  # its column in the status tables (terminal and web), its name in messages
    count_field: str
    upstream: str | None
    command: str  # `vtdb COMMAND` runs it (vtdb.commandline: also its script)


PHASES: dict[str, PhaseInfo] = {
    "phase1": PhaseInfo("phase1", 1, "P1 frames", "phase1_segments_created", None, "phase1"),
    "phase2": PhaseInfo("phase2", 2, "P2 analysis", "phase2_segments_analyzed", "phase1", "phase2"),
    "db_load": PhaseInfo("db_load", 3, "P3 load", "db_segments_loaded", "phase2", "phase3"),
    "phase4": PhaseInfo("phase4", 4, "P4 summary", "phase4_keywords_count", "db_load", "phase4"),
}
PHASE_ORDER = list(PHASES)


def phase_by_number(number: int | str) -> PhaseInfo:
    for info in PHASES.values():
        if str(info.number) == str(number) or info.key == str(number):
            return info
    raise ValueError(f"unknown phase {number!r}; use 1, 2, 3 (db load) or 4")


def downstream_of(phase: str) -> list[str]:
    return PHASE_ORDER[PHASE_ORDER.index(phase) + 1 :]


def phase_field(phase: str, name: str) -> str:
    """Metadata field name of a phase: phase_field('phase1', 'status') == 'phase1_status'."""
    return f"{phase}_{name}"


def phase_defaults(phase: str) -> dict[str, object]:
    """A phase's fields in a fresh (or reset) record. Chroma metadata cannot hold None, so empties are ''/0."""
    return {
        phase_field(phase, "status"): PENDING,
        phase_field(phase, "start_time"): "",
        phase_field(phase, "end_time"): "",
        phase_field(phase, "heartbeat"): "",
        phase_field(phase, "owner_host"): "",
        phase_field(phase, "owner_pid"): 0,
        phase_field(phase, "owner_started"): 0.0,
        phase_field(phase, "claim_id"): "",
        phase_field(phase, "attempts"): 0,
        phase_field(phase, "abandons"): 0,
        phase_field(phase, "last_error"): "",
        phase_field(phase, "held"): False,
        phase_field(phase, "hold_kind"): "",
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
        return cls(socket.gethostname(), pid, process_start(pid) or 0.0)

    def label(self) -> str:
        return f"{self.host}:{self.pid}"


def processing_timeout(meta: Mapping[str, Any], options: RecoveryOptions) -> float:
    duration = float(meta.get("video_duration") or 0.0)
    return max(options.timeout_floor, options.timeout_factor * duration)


@dataclass(frozen=True)
class Staleness:
    """Why a `processing` record is considered abandoned, and whether that counts against the video."""

    reason: str
    counts: bool = True  # False when the owner's host rebooted: nothing about the video killed it


def staleness(
    meta: Mapping[str, Any],
    phase: str,
    options: RecoveryOptions,
    now: datetime | None = None,
    host: str | None = None,
    is_alive: Callable[[int, float], bool] = owner_alive,
    boot_time: Callable[[], float] | None = None,
) -> Staleness | None:
    """Why a `processing` record is considered abandoned, or None when it is healthy (or not processing)."""
    if meta.get(phase_field(phase, "status")) != PROCESSING:
        return None
    now = now or now_utc()
    host = host or socket.gethostname()
    started = parse_iso(meta.get(phase_field(phase, "start_time")))
    same_host = meta.get(phase_field(phase, "owner_host")) == host
    boot_time = boot_time or proc.host_boot_time
    pid = int(meta.get(phase_field(phase, "owner_pid")) or 0)
    owner_started = float(meta.get(phase_field(phase, "owner_started")) or 0.0)
    if same_host and started is not None and boot_time() > started.timestamp() and not is_alive(pid, owner_started):
        # Checked first: after a reboot every claim of this host is dead, and none of it was the video's fault.
        return Staleness("this host rebooted after the claim", counts=False)
    timeout = processing_timeout(meta, options)
    if started is not None and (now - started).total_seconds() > timeout:
        return Staleness(f"timeout: processing for {(now - started).total_seconds():.0f} s > {timeout:.0f} s")
    beat = parse_iso(meta.get(phase_field(phase, "heartbeat"))) or started
    if beat is None:
        return Staleness("no start time or heartbeat recorded")
    if (now - beat).total_seconds() > options.heartbeat_lease:
        return Staleness(f"heartbeat lost: last beat {(now - beat).total_seconds():.0f} s ago > lease {options.heartbeat_lease:.0f} s")
    if same_host and not is_alive(pid, owner_started):
        return Staleness(f"owner process {pid} on {host} is dead")
    return None


def stale_reason(
    meta: Mapping[str, Any],
    phase: str,
    options: RecoveryOptions,
    now: datetime | None = None,
    host: str | None = None,
    is_alive: Callable[[int, float], bool] = owner_alive,
    boot_time: Callable[[], float] | None = None,
) -> str | None:
    """The reason text of `staleness`, or None."""
    found = staleness(meta, phase, options, now, host, is_alive, boot_time)
    return found.reason if found else None


# What a decision is, for code that must act on it (never parse the reason text).
TAKE_PENDING, TAKE_FORCED, TAKE_STALE = "pending", "forced", "stale"
SKIP_WAITING, SKIP_BUSY, SKIP_HELD, SKIP_COMPLETED, SKIP_RETIRED = "waiting", "busy", "held", "completed", "retired"
# Why a phase is held.
HOLD_ERRORS, HOLD_ABANDONS, HOLD_MANUAL, HOLD_PERMANENT = "errors", "abandons", "manual", "permanent"

# ---- errors: permanent (the file's nature: hold at once) or transient (retry) ----

PERMANENT, TRANSIENT = "permanent", "transient"


def error_kind(exc: BaseException) -> str:
    """PERMANENT or TRANSIENT: the one rule (the runner applies it). Permanent: a `PermanentVideoError`, whatever
    its message; everything else is transient. The class says it, never the words: every failure that no retry
    can fix (what the file *is*) is raised as a subclass, and code that re-raises one keeps its class."""
    return PERMANENT if isinstance(exc, PermanentVideoError) else TRANSIENT


def is_retired(meta: Mapping[str, Any]) -> bool:
    """Has the video left the library (its record kept, taken by no phase, out of search by default)?"""
    return bool(meta.get("retired_at"))


def retire_update(reason: str, now: datetime) -> dict[str, object]:
    return {"retired": True, "retired_at": iso(now), "retired_reason": reason[:500], "updated_at": iso(now)}


def unretire_update(now: datetime) -> dict[str, object]:
    return {"retired": False, "retired_at": "", "retired_reason": "", "updated_at": iso(now)}


@dataclass(frozen=True)
class Decision:
    take: bool
    reason: str
    reclaim: bool = False  # taking over a stale 'processing' record
    kind: str = ""  # one of TAKE_* / SKIP_*
    abandon_counts: bool = True  # a reclaim: does the abandoned claim count against the video?

    @property
    def held(self) -> bool:
        return self.kind == SKIP_HELD


def hold_message(meta: Mapping[str, Any], phase: str) -> str:
    kind = meta.get(phase_field(phase, "hold_kind")) or HOLD_ERRORS
    if kind == HOLD_ABANDONS:
        why = (f"held: the worker died {meta.get(phase_field(phase, 'abandons'))} times while processing it "
               f"(out of memory? a decoder crash?); last: {meta.get(phase_field(phase, 'last_error'))}")
    elif kind == HOLD_MANUAL:
        why = f"held by hand: {meta.get(phase_field(phase, 'last_error'))}"
    elif kind == HOLD_PERMANENT:
        why = f"held: retrying cannot fix it ({meta.get(phase_field(phase, 'last_error'))})"
    else:
        why = f"held after {meta.get(phase_field(phase, 'attempts'))} failed attempts (last error: {meta.get(phase_field(phase, 'last_error'))})"
    return why + f"; use --force or `{command('release', 'NAME')}`"


def decide(
    meta: Mapping[str, Any],
    phase: str,
    options: RecoveryOptions,
    force: bool = False,
    now: datetime | None = None,
    host: str | None = None,
    is_alive: Callable[[int, float], bool] = owner_alive,
    boot_time: Callable[[], float] | None = None,
) -> Decision:
    """Should this run take the video for `phase`? One rule set for every phase."""
    info = PHASES[phase]
    status = meta.get(phase_field(phase, "status"), PENDING)
    if is_retired(meta):
        # Even --force: a retired video comes back by returning to the config (the sync un-retires it).
        return Decision(False, f"retired: {meta.get('retired_reason') or 'left the library'} (since {meta.get('retired_at')})",
                        kind=SKIP_RETIRED)
    if info.upstream and meta.get(phase_field(info.upstream, "status")) != COMPLETED:
        return Decision(False, f"waiting for {info.upstream} (status {meta.get(phase_field(info.upstream, 'status'), PENDING)})",
                        kind=SKIP_WAITING)
    if status == PROCESSING:
        stale = staleness(meta, phase, options, now, host, is_alive, boot_time)
        if stale is None:
            owner = f"{meta.get(phase_field(phase, 'owner_host'))}:{meta.get(phase_field(phase, 'owner_pid'))}"
            return Decision(False, f"being processed by {owner} since {meta.get(phase_field(phase, 'start_time'))}", kind=SKIP_BUSY)
        return Decision(True, f"stale ({stale.reason})", reclaim=True, kind=TAKE_STALE, abandon_counts=stale.counts)
    if force:
        return Decision(True, "forced", kind=TAKE_FORCED)
    if meta.get(phase_field(phase, "held")):
        return Decision(False, hold_message(meta, phase), kind=SKIP_HELD)
    if status == COMPLETED:
        return Decision(False, "already completed", kind=SKIP_COMPLETED)
    return Decision(True, "pending", kind=TAKE_PENDING)


# ---- the updates each transition writes (applied by vtdb.store.transitions) ----


def claim_update(phase: str, owner: Owner, claim_id: str, now: datetime, forced: bool) -> dict[str, object]:
    ts = iso(now)
    update: dict[str, object] = {
        phase_field(phase, "status"): PROCESSING,
        phase_field(phase, "start_time"): ts,
        phase_field(phase, "end_time"): "",
        phase_field(phase, "heartbeat"): ts,
        phase_field(phase, "owner_host"): owner.host,
        phase_field(phase, "owner_pid"): owner.pid,
        phase_field(phase, "owner_started"): owner.started,
        phase_field(phase, "claim_id"): claim_id,
        "updated_at": ts,
    }
    if forced:
        update[phase_field(phase, "held")] = False
        update[phase_field(phase, "hold_kind")] = ""
        update[phase_field(phase, "attempts")] = 0
        update[phase_field(phase, "abandons")] = 0
    for later in downstream_of(phase):
        update.update(phase_defaults(later))
    return update


def complete_update(phase: str, count: int, now: datetime) -> dict[str, object]:
    ts = iso(now)
    return {
        phase_field(phase, "status"): COMPLETED,
        phase_field(phase, "end_time"): ts,
        phase_field(phase, "heartbeat"): ts,
        phase_field(phase, "claim_id"): "",
        phase_field(phase, "attempts"): 0,
        phase_field(phase, "abandons"): 0,
        phase_field(phase, "last_error"): "",
        phase_field(phase, "held"): False,
        phase_field(phase, "hold_kind"): "",
        PHASES[phase].count_field: int(count),
        "updated_at": ts,
    }


def fail_update(phase: str, meta: Mapping[str, Any], error: str, options: RecoveryOptions, now: datetime,
                permanent: bool = False) -> dict[str, object]:
    """A failed attempt: back to pending; held after max_attempts, or at once when `permanent`."""
    attempts = int(meta.get(phase_field(phase, "attempts")) or 0) + 1
    held = permanent or attempts >= options.max_attempts
    return {
        phase_field(phase, "status"): PENDING,
        phase_field(phase, "end_time"): iso(now),
        phase_field(phase, "claim_id"): "",
        phase_field(phase, "owner_pid"): 0,
        phase_field(phase, "owner_host"): "",
        phase_field(phase, "attempts"): attempts,
        phase_field(phase, "last_error"): error[:2000],
        phase_field(phase, "held"): held,
        phase_field(phase, "hold_kind"): (HOLD_PERMANENT if permanent else HOLD_ERRORS) if held else "",
        "updated_at": iso(now),
    }


def abandon_update(phase: str, meta: Mapping[str, Any], reason: str, options: RecoveryOptions) -> dict[str, object]:
    """A reclaim of a claim whose worker died or hung: counted apart from errors, held after max_abandons.

    Returns only the counting fields; the caller merges them into its claim (or writes them alone when held).
    """
    abandons = int(meta.get(phase_field(phase, "abandons")) or 0) + 1
    held = abandons >= options.max_abandons
    update: dict[str, object] = {
        phase_field(phase, "abandons"): abandons,
        phase_field(phase, "last_error"): f"previous run abandoned it: {reason}"[:2000],
    }
    if held:
        update.update({phase_field(phase, "held"): True, phase_field(phase, "hold_kind"): HOLD_ABANDONS, phase_field(phase, "status"): PENDING,
                       phase_field(phase, "claim_id"): "", phase_field(phase, "owner_pid"): 0, phase_field(phase, "owner_host"): ""})
    return update


def release_update(phase: str, now: datetime) -> dict[str, object]:
    """An interrupted run (Ctrl-C, SIGTERM) gives the video back without counting an attempt."""
    return {
        phase_field(phase, "status"): PENDING,
        phase_field(phase, "claim_id"): "",
        phase_field(phase, "owner_pid"): 0,
        phase_field(phase, "owner_host"): "",
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
