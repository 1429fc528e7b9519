"""The config → video_files sync: one record per file entry and per video of each ZIM archive.

Phase 1 is the only phase that reads the config; `sync_videos` mirrors it into video_files:

- a new video gets a record (all phases pending);
- `force_reprocess`, or changed bytes (the content fingerprint, vtdb.sources.fingerprint), reset it;
- a video whose path changed but whose bytes did not (a moved folder, a moved archive) keeps all its
  work: only its path is updated (VIDEO_MOVED);
- a video that left the library (out of the config, no longer in its archive, its file gone for good)
  is *retired*: marked with the reason and the time, taken by no phase, left out of search and export;
  nothing is deleted (`db_manager.py prune` does that, when asked). Coming back un-retires it, without
  reprocessing when its bytes are the same (VIDEO_RESTORED).
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from vtdb import clock, state
from vtdb import events as ev
from vtdb.config import Config
from vtdb.records import file_source_fields, zim_source_fields
from vtdb.sources.fingerprint import CACHE_FILE, FingerprintCache
from vtdb.sources.local import _LANG_TAG, LocalFileSource
from vtdb.sources.subtitles import FORMATS
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
from vtdb.store import Store

# Why a video was retired (the start of `retired_reason`; the rest names the file or archive).
LEFT_CONFIG = "removed from videos_config.json"
LEFT_ARCHIVE = "no longer in its archive"
EXCLUDED = "excluded by the config's include/exclude patterns"
ARCHIVE_LEFT_CONFIG = "its archive is no longer in videos_config.json"
FILE_GONE = "source file missing"


@dataclass
class _Planned:
    """One video the config asks for, before it is compared with its record."""

    name: str
    location: str
    fields: dict
    fingerprint: str | None  # size + mtime (+ UUID): what Phase 1 records as source_fingerprint
    force: bool
    token: str
    change: str = "source file changed"
    content: str | None = None  # the content fingerprint; None when the bytes cannot be read now
    missing: str = ""  # the file is gone for good: the retirement reason
    notes: list[str] = field(default_factory=list)
    subtitles: str = ""  # size + mtime of its subtitle files (sidecars, the config's): an edit reprocesses it


class UnreadableSource(Exception):
    """A video whose file cannot be looked at now (permission denied, a dangling symbolic link, an I/O error):
    a problem of that video, said in words; its record is kept as it is and the other videos go on."""


def _blocked_folder(path: Path) -> Path | None:
    """The first folder on the way to `path` that this user cannot enter (no execute permission)."""
    for folder in reversed(path.parents):
        if folder.is_dir() and not os.access(folder, os.X_OK):
            return folder
    return None


def _file_missing(path: str) -> tuple[bool, str]:
    """(gone for good, note): a missing file whose folder is there is gone; a missing folder may be an
    unmounted drive, so nothing is decided then. UnreadableSource when the file cannot be looked at:
    a folder on the way that this user may not read, a symbolic link whose target is gone, an I/O error."""
    p = Path(path)
    try:
        os.stat(p)
        return False, ""
    except FileNotFoundError:
        pass
    except PermissionError:
        folder = _blocked_folder(p)
        where = f"the folder {folder} cannot be entered" if folder else "the file cannot be looked at"
        user = _user()
        raise UnreadableSource(f"{path}: permission denied: {where} by this user ({user}); give {user} read access "
                               "(e.g. chmod o+rx on the folder) or run the phase as a user who can read it") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableSource(f"{path}: a loop of symbolic links; fix the link or the path in videos_config.json") from None
        raise UnreadableSource(f"{path}: cannot be looked at ({exc.strerror or exc}); a failing disk or a network "
                               "share that went away? Check it, then run again") from None
    if os.path.islink(p):
        target = os.readlink(p)
        raise UnreadableSource(f"{path} is a symbolic link to {target}, which does not exist (a moved file, or a drive "
                               "or share that is not mounted?); mount it or fix the link or the path in videos_config.json")
    try:
        parent_is_dir = p.parent.is_dir()
    except OSError:
        parent_is_dir = False
    if parent_is_dir:
        return True, ""
    for folder in p.parents:
        if os.path.islink(folder) and not folder.exists():
            return False, (f"{path} is missing: its folder {folder} is a symbolic link to {os.readlink(folder)}, which "
                           "does not exist (an unmounted drive?); its record is kept as it is")
    return False, (f"{path} is missing and so is its folder (an unmounted drive?); its record is kept as it is and "
                   "it is not processed until the folder is back")


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return f"uid {os.geteuid()}" if hasattr(os, "geteuid") else "this user"


class _Folders:
    """Folder listings, read once per sync (10,000 videos in one folder must not mean 10,000 listings)."""

    def __init__(self) -> None:
        self._names: dict[Path, list[str]] = {}

    def names(self, folder: Path) -> list[str]:
        if folder not in self._names:
            try:
                self._names[folder] = sorted(os.listdir(folder))
            except OSError:
                self._names[folder] = []
        return self._names[folder]


def subtitles_fingerprint(video: Path, configured: dict[str, str], folders: _Folders) -> str:
    """What a video's subtitle files hold: the sidecars beside it (stem.srt, stem.ru.vtt, the names
    vtdb.sources.local reads) and those the config names, by name and content. "" when it has none.

    Content, not modification time: a library copied or moved to another disk gets new mtimes, and must keep
    its work (subtitle files are small: hashing them costs less than the stat of the video)."""
    stem = video.stem
    paths = [video.parent / n for n in folders.names(video.parent)
             if n.startswith(stem + ".") and n != video.name and Path(n).suffix.lower() in FORMATS
             and (n[len(stem) + 1:-len(Path(n).suffix)] == "" or _LANG_TAG.match(n[len(stem) + 1:-len(Path(n).suffix)]))]
    paths += [Path(p) for p in configured.values()]
    parts = []
    for path in sorted(set(paths)):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except OSError:
            parts.append(f"{path.name}:missing")
            continue
        parts.append(f"{path.name}:{digest}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16] if parts else ""


def _sync_one(db: Store, events: ev.EventLog, plan: _Planned, existing: dict | None, dry_run: bool,
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
    retired = state.is_retired(existing)
    if plan.missing:
        if not retired:
            _retire(db, events, plan.name, plan.missing, dry_run, notes, flips)
        return  # nothing else to compare: the bytes are not there
    old_content = str(existing.get("content_fingerprint") or "")
    same_content = bool(plan.content and old_content and plan.content == old_content)
    old_path = existing.get("video_path")
    reason = None
    moved = False
    if plan.force and existing.get("force_token_applied") != plan.token:
        reason = "force_reprocess set in the config"
        fields["force_token_applied"] = plan.token
    elif old_path != plan.location:
        if same_content:
            moved = True  # the same bytes at a new path: keep every phase's work
        else:
            reason = f"source changed from {old_path}"
    elif plan.fingerprint and existing.get("source_fingerprint") and plan.fingerprint != existing.get("source_fingerprint"):
        if not same_content:
            reason = plan.change + (" (its content fingerprint differs)" if old_content and plan.content else "")
    old_subtitles = existing.get("subtitles_fingerprint")
    if reason is None and old_subtitles is not None and plan.subtitles != old_subtitles:
        reason = "its subtitle files changed (edited, added or removed)"
    if reason is None and "audio_track" in fields and str(existing.get("audio_track") or "") != fields["audio_track"]:
        reason = f"its audio_track changed to {fields['audio_track'] or 'automatic'}"
    if plan.fingerprint and existing.get("source_fingerprint"):
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
        events.emit(ev.VIDEO_RESTORED, video=plan.name, was=existing.get("retired_reason"), reprocess=bool(reason))
        notes.append(f"{plan.name}: back in the library" + ("" if reason else " (same content: its work is kept)"))
    if reason:
        db.reset(plan.name, "phase1")
        events.emit(ev.VIDEO_RESET, phase="phase1", video=plan.name, reason=reason)
        notes.append(f"{plan.name}: reprocessing ({reason})")


def _retire(db: Store, events: ev.EventLog, name: str, reason: str, dry_run: bool, notes: list[str],
            flips: list[str]) -> None:
    if dry_run:
        notes.append(f"{name}: would retire ({reason})")
        return
    db.retire(name, reason)
    flips.append(name)
    events.emit(ev.VIDEO_RETIRED, video=name, reason=reason)
    notes.append(f"{name}: retired ({reason}); its segments leave search and export; `db_manager.py prune` deletes it")


def sync_videos(db: Store, config: Config, events: ev.EventLog, dry_run: bool = False,
                problems: list[str] | None = None, new_videos: list[str] | None = None,
                unreadable: dict[str, str] | None = None) -> list[str]:
    """Mirror the config into video_files: one record per file entry and per video of each ZIM
    archive; apply force_reprocess, changed and moved sources; retire the videos that left.

    Returns notes about new, moved, reset, retired and restored videos; problems with archives and their
    videos are appended to `problems` (also each video whose file cannot be looked at: permission denied, a
    dangling symbolic link; those go into `unreadable`, name -> why, and keep their records as they are), the
    names of videos not in the database yet to `new_videos`. Each distinct file is looked at once. With
    dry_run nothing is written. Records are read and created in batches, so a no-op run over thousands of
    videos stays quick; content fingerprints are cached in the work folder.
    """
    notes: list[str] = []
    problems = [] if problems is None else problems
    taken: dict[str, str] = {}
    planned: list[_Planned] = []
    cache = FingerprintCache(Path(config.work_dir) / CACHE_FILE)
    unreadable = {} if unreadable is None else unreadable
    looked: dict[str, tuple[bool, str, str | None, str | None]] = {}  # each distinct file is looked at once
    folders = _Folders()
    for entry in config.videos:
        taken[entry.name] = f"videos[{entry.index}]"
        fields = file_source_fields(entry.display_title, entry.description, entry.language or "", entry.subtitles,
                                    entry.audio_track)
        if entry.path not in looked:
            try:
                gone, note = _file_missing(entry.path)
            except UnreadableSource as exc:
                problems.append(f"videos[{entry.index}] ({entry.name}): {exc} — this video is skipped")
                unreadable[entry.name] = str(exc)
                continue
            looked[entry.path] = (gone, note, LocalFileSource(entry.path).fingerprint(), cache.file(entry.path))
        gone, note, fingerprint, content = looked[entry.path]
        if note:  # its folder is missing too (an unmounted drive): said, kept, and not taken this run
            notes.append(f"{entry.name}: {note}")
            unreadable[entry.name] = note
        subtitles = subtitles_fingerprint(Path(entry.path), entry.subtitles, folders)
        fields["subtitles_fingerprint"] = subtitles
        planned.append(_Planned(entry.name, entry.path, fields, fingerprint,
                                entry.force_reprocess, entry.entry_token, content=content,
                                missing=f"{FILE_GONE}: {entry.path}" if gone else "", subtitles=subtitles))
    read_archives: set[str] = set()  # archives listed in full this sync: their missing videos left them
    failed_archives: set[str] = set()  # archives that could not be read: nothing about their videos is decided
    excluded: dict[str, str] = {}  # name -> archive
    for zim in config.zims:
        label = f"videos[{zim.index}] (zim {zim.zim})"
        left_out: list = []
        odd: list[str] = []
        try:
            info, videos, found = list_zim_videos(zim.zim, zim.include, zim.exclude,
                                                  checksum_cache=config.work_dir / ZIM_CHECKSUM_CACHE, remember_checksum=not dry_run,
                                                  fingerprints=cache, excluded=left_out, warnings=odd)
        except ZimError as exc:
            problems.append(f"{label}: {exc}")
            failed_archives.add(str(Path(zim.zim).resolve()))
            continue
        read_archives.add(info.path)
        for warning in odd:  # readable, only odd: said, never a failure
            notes.append(f"{label}: warning: {warning}")
            if not dry_run:
                events.emit(ev.WARNING, phase="phase1", video=f"(zim {info.path})", message=warning)
        problems.extend(f"{label}: {p}" for p in found)
        excluded.update((video_name(info, v), info.path) for v in left_out)
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
                                    zim.force_reprocess, zim.entry_token, "archive replaced (size, modification time or UUID changed)",
                                    content=video.content_fingerprint or None))
    if not dry_run:
        cache.save()
    records = {m["name"]: m for m in db.list_videos()}
    new_records: list = []
    flips: list[str] = []  # retired or restored by this sync
    for plan in planned:
        _sync_one(db, events, plan, records.get(plan.name), dry_run, notes, new_records, flips)
    _retire_departed(db, events, config, records, set(taken), read_archives, failed_archives, excluded, dry_run, notes, flips)
    if flips and not dry_run:
        # Search hosts learn of retirements through the segments revision (they re-read `retired`).
        db.bump_segments_revision()
    if new_videos is not None:
        new_videos.extend(name for name, _location, _fields in new_records)
    if new_records and not dry_run:
        db.add_video_files(new_records)
    return notes


def _retire_departed(db: Store, events: ev.EventLog, config: Config, records: dict[str, dict], planned: set[str],
                     read_archives: set[str], failed_archives: set[str], excluded: dict[str, str], dry_run: bool,
                     notes: list[str], flips: list[str]) -> None:
    """Retire the records the config no longer asks for (never while the config has an entry it could not
    read: that entry may be the one that names them)."""
    unsure = any(p.name is None for p in config.invalid_entries)
    invalid_names = {p.name for p in config.invalid_entries if p.name}
    configured_archives = {str(Path(z.zim).resolve()) for z in config.zims}
    skipped = 0
    for name, meta in records.items():
        if name in planned or state.is_retired(meta) or name in invalid_names:
            continue
        if meta.get("source_kind") == "zim":
            archive = str(meta.get("zim_archive") or "")
            if archive in failed_archives:
                continue
            if name in excluded:
                reason = f"{EXCLUDED} ({archive})"
            elif archive in read_archives:
                reason = f"{LEFT_ARCHIVE} ({archive}#{meta.get('zim_entry', '')})"
            elif archive in configured_archives:
                continue  # configured but neither read nor failed (should not happen): decide nothing
            elif unsure:
                skipped += 1
                continue
            else:
                reason = f"{ARCHIVE_LEFT_CONFIG} ({archive})"
        else:
            if unsure:
                skipped += 1
                continue
            reason = f"{LEFT_CONFIG} (was {meta.get('video_path', '')})"
        _retire(db, events, name, reason, dry_run, notes, flips)
    if skipped:
        notes.append(f"{skipped} video(s) are not in the config, but it has entries it could not read: "
                     "none of them is retired until those entries are fixed")
