"""The config → video_files sync: one record per file entry and per video of each ZIM archive.

Phase 1 is the only phase that reads the config; `sync_videos` mirrors it into video_files:

- a new video gets a record (all phases pending);
- `force_reprocess`, or changed bytes (the content fingerprint, vtdb.sources.fingerprint), reset it;
- a video whose path changed but whose bytes did not (a moved folder, a moved archive) keeps all its
  work: only its path is updated (VIDEO_MOVED);
- a video that left the library (out of the config, no longer in its archive, its file gone for good)
  is *retired*: marked with the reason and the time, taken by no phase, left out of search and export;
  nothing is deleted (`vtdb prune` does that, when asked). Coming back un-retires it, without
  reprocessing when its bytes are the same (VIDEO_RESTORED).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vtdb import clock, state
from vtdb import events as ev
from vtdb.commandline import command
from vtdb.config import Config
from vtdb.records import Video
from vtdb.sources.base import SOURCES
from vtdb.sources.fingerprint import CACHE_FILE, FingerprintCache
from vtdb.sources.plan import EntryPlanner, PlannedVideo, SyncContext
from vtdb.store import Store


@dataclass
class SyncResult:
    """What a sync did and found. `notes`: new, moved, reset, retired and restored videos; `problems`: entries and
    archives that could not be read, videos skipped; `new_videos`: names not in the database before;
    `unreadable`: name -> why, for videos whose file cannot be looked at now (their records are kept as they are,
    and the phase skips them)."""

    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    new_videos: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


def _sync_one(db: Store, events: ev.EventLog, plan: PlannedVideo, existing: dict | None, dry_run: bool,
              notes: list[str], new_records: list, flips: list[str]) -> None:
    """Update one video's record (new ones are collected for one batched add); reset it for a forced
    reprocess or changed bytes; keep its work when only its path changed; retire or restore it."""
    fields = plan.fields
    if plan.content:
        fields["content_fingerprint"] = plan.content
    if existing is None:
        if not dry_run:  # a dry run lists it among the videos it would process
            notes.append(f"{plan.name}: new video")
        if plan.force:
            fields["force_token_applied"] = plan.token  # nothing to redo for a new video
        new_records.append((plan.name, plan.location, fields))
        return
    video = Video.from_meta(existing)
    retired = video.retired
    if plan.missing:
        if not retired:
            _retire(db, events, plan.name, plan.missing, dry_run, notes, flips)
        return  # nothing else to compare: the bytes are not there
    old_path = video.video_path
    reason, moved = _change(plan, video, existing)
    if plan.force and video.force_token_applied != plan.token:
        fields["force_token_applied"] = plan.token
    if plan.fingerprint and video.source_fingerprint:
        # Same bytes at a new path or mtime, or a reset below: record it once, not on every sync.
        fields["source_fingerprint"] = plan.fingerprint
    if retired:
        fields.update(state.unretire_update(clock.now_utc()))
    if dry_run:
        if reason:
            notes.append(f"{plan.name}: would reprocess ({reason})")
        elif moved:
            notes.append(f"{plan.name}: would update its path (moved from {old_path}; same content)")
        if retired:
            notes.append(f"{plan.name}: would restore (back in the library{', same content' if not reason else ''})")
        return
    db.create_or_update_video_file(plan.name, plan.location, existing=existing, **fields)
    if moved:
        db.update_segment_paths(plan.name, plan.location)
        events.emit(ev.VIDEO_MOVED, video=plan.name, old_path=old_path, new_path=plan.location, fingerprint=plan.content)
        notes.append(f"{plan.name}: moved from {old_path} to {plan.location} (same content: its work is kept)")
    if retired:
        flips.append(plan.name)
        events.emit(ev.VIDEO_RESTORED, video=plan.name, was=video.retired_reason, reprocess=bool(reason))
        notes.append(f"{plan.name}: back in the library" + ("" if reason else " (same content: its work is kept)"))
    if reason:
        db.reset(plan.name, "phase1")
        events.emit(ev.VIDEO_RESET, phase="phase1", video=plan.name, reason=reason)
        notes.append(f"{plan.name}: reprocessing ({reason})")


def _change(plan: PlannedVideo, video: Video, existing: dict) -> tuple[str | None, bool]:
    """(why the video must be reprocessed or None, whether only its path changed) against its record: a forced
    reprocess, other bytes at its path or a new one, changed subtitle files or audio track. The same bytes at
    a new path (a moved folder or archive) keep every phase's work."""
    old_content = video.content_fingerprint
    same_content = bool(plan.content and old_content and plan.content == old_content)
    old_path = video.video_path
    reason = None
    moved = False
    if plan.force and video.force_token_applied != plan.token:
        reason = "force_reprocess set in the config"
    elif old_path != plan.location:
        if same_content:
            moved = True
        else:
            reason = f"source changed from {old_path}"
    elif plan.fingerprint and video.source_fingerprint and plan.fingerprint != video.source_fingerprint:
        if not same_content:
            reason = plan.change + (" (its content fingerprint differs)" if old_content and plan.content else "")
    old_subtitles = existing.get("subtitles_fingerprint")  # absent (None) on records from before it: no change
    if reason is None and old_subtitles is not None and plan.subtitles != old_subtitles:
        reason = "its subtitle files changed (edited, added or removed)"
    track = plan.fields.get("audio_track")
    if reason is None and track is not None and video.audio_track != track:
        reason = f"its audio_track changed to {track or 'automatic'}"
    return reason, moved


def _retire(db: Store, events: ev.EventLog, name: str, reason: str, dry_run: bool, notes: list[str],
            flips: list[str]) -> None:
    if dry_run:
        notes.append(f"{name}: would retire ({reason})")
        return
    db.retire(name, reason)
    flips.append(name)
    events.emit(ev.VIDEO_RETIRED, video=name, reason=reason)
    notes.append(f"{name}: retired ({reason}); its segments leave search and export; `{command('prune')}` deletes it")


def sync_videos(db: Store, config: Config, events: ev.EventLog, dry_run: bool = False) -> SyncResult:
    """Mirror the config into video_files: each source kind (vtdb.sources.SOURCES) plans the videos its entries
    stand for (one record per file entry, per video of each ZIM archive); apply force_reprocess, changed and
    moved sources; retire the videos that left.

    With dry_run nothing is written. Records are read and created in batches, so a no-op run over thousands
    of videos stays quick; content fingerprints are cached in the work folder.
    """
    sync = SyncContext(Path(config.work_dir), events, FingerprintCache(Path(config.work_dir) / CACHE_FILE), dry_run,
                       unsure=any(p.name is None for p in config.invalid_entries))
    planners: dict[str, EntryPlanner] = {kind: SOURCES.get(kind).planner(sync) for kind in SOURCES.names()}
    planned: list[PlannedVideo] = []
    for kind, planner in planners.items():  # the kinds in registration order: files claim their names first
        for entry in config.entries:
            if entry.kind == kind:
                planned += planner.plan(entry)
    if not dry_run:
        sync.fingerprints.save()
    records = {m["name"]: m for m in db.list_videos()}
    new_records: list = []
    flips: list[str] = []  # retired or restored by this sync
    for plan in planned:
        _sync_one(db, events, plan, records.get(plan.name), dry_run, sync.notes, new_records, flips)
    _retire_departed(db, events, config, records, sync, planners, flips)
    if flips and not dry_run:
        # Search hosts learn of retirements through the segments revision (they re-read `retired`).
        db.bump_segments_revision()
    if new_records and not dry_run:
        db.add_video_files(new_records)
    return SyncResult(sync.notes, sync.problems, [name for name, _location, _fields in new_records], sync.unreadable)


def _retire_departed(db: Store, events: ev.EventLog, config: Config, records: dict[str, dict],
                     sync: SyncContext, planners: dict[str, EntryPlanner], flips: list[str]) -> None:
    """Retire the records the config no longer asks for, each as its kind's planner decides (never while the
    config has an entry it could not read: that entry may be the one that names them)."""
    invalid_names = {p.name for p in config.invalid_entries if p.name}
    for name, meta in records.items():
        if name in sync.taken or state.is_retired(meta) or name in invalid_names:
            continue
        # A kind this version lacks is judged as any entry that names its video: it left the config.
        planner = planners.get(str(meta.get("source_kind") or "file")) or EntryPlanner(sync)
        reason = planner.departed(meta)
        if reason:
            _retire(db, events, name, reason, sync.dry_run, sync.notes, flips)
    if sync.undecided:
        sync.notes.append(f"{sync.undecided} video(s) are not in the config, but it has entries it could not read: "
                          "none of them is retired until those entries are fixed")
