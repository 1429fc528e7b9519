"""The state machine applied to video_files: decide, claim, heartbeat, complete, fail, give back, reset,
hold and release (the rules themselves are in `vtdb.state`).

Chroma has no compare-and-set, so a claim is optimistic (write, then read back the claim id) and
processing is at-least-once; every phase's output is idempotent.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Container, Mapping, Sequence

from vtdb import clock, state
from vtdb.state import COMPLETED, PHASE_ORDER, PHASES, STATUSES, Decision, Owner
from vtdb.store.videos import _clean, _Videos


@dataclass
class Claim:
    """A video taken for a phase by this run: `claim_id` is written to the record and checked on every write."""

    name: str
    phase: str
    claim_id: str
    reason: str
    reclaimed: bool
    meta: dict[str, Any] = field(default_factory=dict)
    previous_claim_id: str = ""  # the abandoned claim this one took over, if any


class _Transitions(_Videos):
    """The phase transitions of a video's record."""

    def update_video_status(self, name: str, phase: str | int, status: str, **fields: Any) -> None:
        """Low-level setter (prefer claim/complete/fail). Sets `{phase}_status` and any extra fields."""
        info = state.phase_by_number(phase)
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        self._require_meta(name)
        self._update(name, {state.phase_field(info.key, "status"): status, "updated_at": clock.iso(clock.now_utc()), **fields})

    def decide(self, name_or_meta: str | Mapping[str, Any], phase: str, force: bool = False) -> Decision:
        """This run's decision for the video (a name, or its record when the caller has it) and `phase`."""
        meta = self._require_meta(name_or_meta) if isinstance(name_or_meta, str) else name_or_meta
        return state.decide(meta, phase, self._recovery, force=force, host=self._host)

    def candidates(self, phase: str, only: Sequence[str] | None = None, force: bool = False) -> list[tuple[dict[str, Any], Decision]]:
        """Every (selected) video with this run's decision for `phase`, in name order."""
        if only:
            metas = []
            for n in dict.fromkeys(only):  # keep order, drop repeats
                meta = self._get_meta(n)
                if meta is not None:
                    meta.setdefault("name", n)
                    metas.append(meta)
        else:
            info = PHASES[phase]
            status_filter = {state.phase_field(info.upstream, "status"): COMPLETED} if info.upstream else None
            metas = self.list_videos(status_filter)
        return [(m, self.decide(m, phase, force)) for m in sorted(metas, key=lambda m: m["name"])]

    def claim(self, name: str, phase: str, force: bool = False, owner: Owner | None = None,
              excused: Container[str] = ()) -> Claim | None:
        """Take the video for `phase` if the rules allow it; None when it is not (or no longer) ours.

        `excused`: claim ids that a run handed back but could not write (the database was down), so
        their reclaim counts no abandon.
        """
        meta = self._require_meta(name)
        decision = self.decide(meta, phase, force)
        if not decision.take:
            return None
        owner = owner or Owner.current()
        previous = str(meta.get(state.phase_field(phase, "claim_id")) or "") if decision.reclaim else ""
        claim_id = state.new_claim_id()
        now = clock.now_utc()
        update = state.claim_update(phase, owner, claim_id, now, forced=force)
        if decision.reclaim and not force and decision.abandon_counts and meta.get(state.phase_field(phase, "claim_id")) not in excused:
            # The previous run died or hung on this video. That is counted apart from errors (a kill -9 or a
            # reboot is not the video's fault), but a video that keeps killing its worker (OOM, a decoder
            # crash) is held after max_abandons instead of retried forever.
            abandoned = state.abandon_update(phase, meta, decision.reason, self._recovery)
            if abandoned.get(state.phase_field(phase, "held")):
                self._update(name, {**abandoned, "updated_at": clock.iso(now)})
                return None
            update.update(abandoned)
        self._update(name, update)
        if self.is_server:
            # No compare-and-set in Chroma: let racing claimers write, then the last writer wins.
            time.sleep(random.uniform(0.05, 0.15))
            current = self._require_meta(name)
            if current.get(state.phase_field(phase, "claim_id")) != claim_id:
                return None
            meta = current
        else:
            meta.update(_clean(update))
        return Claim(name, phase, claim_id, decision.reason, decision.reclaim, meta, previous_claim_id=previous)

    def _still_owned(self, claim: Claim) -> bool:
        """Does the record still carry this claim (no other worker took the video over)?"""
        meta = self._get_meta(claim.name)
        if not meta:
            return False
        return meta.get(state.phase_field(claim.phase, "claim_id")) == claim.claim_id

    def heartbeat(self, claim: Claim, **fields: Any) -> bool:
        """Refresh the lease (and record progress fields); False when another worker took the video over."""
        if not self._still_owned(claim):
            return False
        self._update(claim.name, {state.phase_field(claim.phase, "heartbeat"): clock.iso(clock.now_utc()), **fields})
        return True

    def complete(self, claim: Claim, count: int, **fields: Any) -> bool:
        """Mark the phase completed. False (nothing written) when the claim was superseded meanwhile."""
        if not self._still_owned(claim):
            return False
        self._update(claim.name, {**state.complete_update(claim.phase, count, clock.now_utc()), **fields})
        return True

    def fail(self, claim: Claim, error: str, permanent: bool = False) -> bool:
        """Record a failed attempt and return the video to pending; True when it is now held (at once when
        `permanent`: an error retrying cannot fix, see `vtdb.state.error_kind`)."""
        meta = self._require_meta(claim.name)
        if meta.get(state.phase_field(claim.phase, "claim_id")) != claim.claim_id:
            return False
        update = state.fail_update(claim.phase, meta, error, self._recovery, clock.now_utc(), permanent=permanent)
        self._update(claim.name, update)
        return bool(update[state.phase_field(claim.phase, "held")])

    def give_back(self, claim: Claim) -> None:
        """Return an interrupted claim to pending without counting an attempt."""
        if self._still_owned(claim):
            self._update(claim.name, state.release_update(claim.phase, clock.now_utc()))

    def reset(self, name: str, phase: str | int = "phase1") -> None:
        """Reset a phase and everything downstream of it to pending (clears attempts and holds)."""
        info = state.phase_by_number(phase)
        self._require_meta(name)
        self._update(name, state.reset_update(info.key, clock.now_utc()))

    def hold(self, name: str, phase: str | int, reason: str) -> None:
        """Hold a phase by hand (skipped until released or forced); `reason` is shown as its last error."""
        info = state.phase_by_number(phase)
        self._require_meta(name)
        self._update(name, {state.phase_field(info.key, "held"): True, state.phase_field(info.key, "hold_kind"): state.HOLD_MANUAL,
                            state.phase_field(info.key, "last_error"): reason})

    def retire(self, name: str, reason: str) -> None:
        """Mark the video as having left the library (nothing is deleted: `prune` does that, when asked)."""
        self._require_meta(name)
        self._update(name, state.retire_update(reason, clock.now_utc()))

    def unretire(self, name: str) -> None:
        """The video is back in the library: clear its retirement (its work is kept)."""
        self._require_meta(name)
        self._update(name, state.unretire_update(clock.now_utc()))

    def release(self, name: str, phase: str | int | None = None) -> list[str]:
        """Release held phases (all of them, or one) so that the next run retries them."""
        meta = self._require_meta(name)
        phases = [state.phase_by_number(phase).key] if phase is not None else PHASE_ORDER
        released = [p for p in phases if meta.get(state.phase_field(p, "held"))]
        update: dict[str, Any] = {}
        for p in released:
            update.update({state.phase_field(p, "held"): False, state.phase_field(p, "hold_kind"): "", state.phase_field(p, "attempts"): 0,
                           state.phase_field(p, "abandons"): 0})
        if update:
            self._update(name, update)
        return released
