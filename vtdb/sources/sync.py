"""The config → video_files sync: one record per file entry and per video of each ZIM archive.

Phase 1 is the only phase that reads the config; `sync_videos` mirrors it into video_files.
"""

from __future__ import annotations

from dataclasses import dataclass

from vtdb import events as ev
from vtdb.config import Config
from vtdb.records import file_source_fields, zim_source_fields
from vtdb.sources.local import LocalFileSource
from vtdb.sources.zim import (
    ZIM_CHECKSUM_CACHE,
    ZimError,
    chapters_json,
    entry_fingerprint,
    list_zim_videos,
    subtitles_json,
    video_name,
    zim_language,
    zim_uri,
)
from vtdb.store import ChromaDBManager


@dataclass
class _Planned:
    """One video the config asks for, before it is compared with its record."""

    name: str
    location: str
    fields: dict
    fingerprint: str | None
    force: bool
    token: str
    change: str = "source file changed (size or modification time)"


def _sync_one(db: ChromaDBManager, events: ev.EventLog, plan: _Planned, existing: dict | None, dry_run: bool,
              notes: list[str], new_records: list) -> None:
    """Update one video's record (new ones are collected for one batched add); reset it for a forced
    reprocess or a changed source."""
    fields = plan.fields
    if existing is None:
        if not dry_run:  # a dry run lists it among the videos it would process
            notes.append(f"{plan.name}: new video")
        if plan.force:
            fields["force_token_applied"] = plan.token  # nothing to redo for a new video
        new_records.append((plan.name, plan.location, fields))
        return
    reason = None
    if plan.force and existing.get("force_token_applied") != plan.token:
        reason = "force_reprocess set in the config"
        fields["force_token_applied"] = plan.token
    elif existing.get("video_path") != plan.location:
        reason = f"source changed from {existing.get('video_path')}"
    elif plan.fingerprint and existing.get("source_fingerprint") and plan.fingerprint != existing.get("source_fingerprint"):
        reason = plan.change
        fields["source_fingerprint"] = plan.fingerprint  # reset once, not on every sync until done
    if dry_run:
        if reason:
            notes.append(f"{plan.name}: would reprocess ({reason})")
        return
    db.create_or_update_video_file(plan.name, plan.location, existing=existing, **fields)
    if reason:
        db.reset(plan.name, "phase1")
        events.emit(ev.VIDEO_RESET, phase="phase1", video=plan.name, reason=reason)
        notes.append(f"{plan.name}: reprocessing ({reason})")


def sync_videos(db: ChromaDBManager, config: Config, events: ev.EventLog, dry_run: bool = False,
                problems: list[str] | None = None, new_videos: list[str] | None = None) -> list[str]:
    """Mirror the config into video_files: one record per file entry and per video of each ZIM
    archive; apply force_reprocess and source changes.

    Returns notes about new videos and resets; problems with archives and their videos are
    appended to `problems`, the names of videos not in the database yet to `new_videos`. With dry_run
    nothing is written. Records are read and created in
    batches, so a no-op run over thousands of videos stays quick.
    """
    notes: list[str] = []
    problems = [] if problems is None else problems
    taken: dict[str, str] = {}
    planned: list[_Planned] = []
    for entry in config.videos:
        taken[entry.name] = f"videos[{entry.index}]"
        fields = file_source_fields(entry.display_title, entry.description, entry.language or "")
        planned.append(_Planned(entry.name, entry.path, fields, LocalFileSource(entry.path).fingerprint(),
                                entry.force_reprocess, entry.entry_token))
    for zim in config.zims:
        label = f"videos[{zim.index}] (zim {zim.zim})"
        try:
            info, videos, found = list_zim_videos(zim.zim, zim.include, zim.exclude,
                                                  checksum_cache=config.work_dir / ZIM_CHECKSUM_CACHE, remember_checksum=not dry_run)
        except ZimError as exc:
            problems.append(f"{label}: {exc}")
            continue
        problems.extend(f"{label}: {p}" for p in found)
        language = zim.language or zim_language(info.language) or ""
        for video in videos:
            name = video_name(info, video)
            if name in taken:
                problems.append(f"{label}: {video.entry}: name {name!r} is already used by {taken[name]} "
                                "(the same video id in two archives with the same file name); rename one archive or exclude the video")
                continue
            taken[name] = f"{info.path}#{video.entry}"
            fields = zim_source_fields(
                title=video.title, description=video.description or zim.description, language=language,
                license=zim.license, archive=info.path, entry=video.entry, uuid=info.uuid, zim_title=info.title,
                publisher=info.publisher, zim_language=info.language, scraper=info.scraper, date=info.date,
                layout=video.layout, youtube_id=video.youtube_id, publication_date=video.publication_date,
                chapters=chapters_json(video), subtitles=subtitles_json(video))
            planned.append(_Planned(name, zim_uri(info.path, video.entry), fields, entry_fingerprint(info.fingerprint, video.entry),
                                    zim.force_reprocess, zim.entry_token, "archive replaced (size, modification time or UUID changed)"))
    existing = db.get_many([p.name for p in planned])
    new_records: list = []
    for plan in planned:
        _sync_one(db, events, plan, existing.get(plan.name), dry_run, notes, new_records)
    if new_videos is not None:
        new_videos.extend(name for name, _location, _fields in new_records)
    if new_records and not dry_run:
        db.add_video_files(new_records)
    return notes
