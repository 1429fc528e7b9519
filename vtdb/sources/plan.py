"""What a source kind gives the config → video_files sync (vtdb.sources.sync): the videos its config entries
stand for (`EntryPlanner.plan`), and why a record of its kind that no entry asked for left the library
(`EntryPlanner.departed`). One planner per kind per sync: it may remember what it read (the archives listed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from vtdb import events as ev
from vtdb.config import SourceEntry
from vtdb.sources.fingerprint import FingerprintCache

# Why a video was retired (the start of `retired_reason`; the rest names the file or archive).
LEFT_CONFIG = "removed from videos_config.json"


@dataclass
class PlannedVideo:
    """One video the config asks for, before it is compared with its record."""

    name: str
    location: str  # the record's video_path: what `source_for` reads back
    fields: dict[str, Any]  # the record's descriptive fields, source_kind included
    fingerprint: str | None  # size + mtime (+ UUID): what Phase 1 records as source_fingerprint
    force: bool
    token: str
    change: str = "source file changed"  # how a changed fingerprint is said
    content: str | None = None  # the content fingerprint; None when the bytes cannot be read now
    missing: str = ""  # the video is gone for good: the retirement reason
    subtitles: str = ""  # what its subtitle files hold (vtdb.sources.local): an edit reprocesses it


@dataclass
class SyncContext:
    """What every planner of one sync shares, and what it reports back."""

    work_dir: Path
    events: ev.EventLog
    fingerprints: FingerprintCache  # content fingerprints, cached in the work folder
    dry_run: bool = False
    unsure: bool = False  # the config has an entry it could not read, naming no video: it may name any record
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # name -> why: its record is kept as it is
    undecided: int = 0  # records not in the config that `unsure` kept from retiring
    taken: dict[str, str] = field(default_factory=dict)  # video name -> the entry or item that has it

    def claim(self, name: str, where: str) -> str | None:
        """Take a video name for `where` (a record with it is not retired); None, or who already has it."""
        holder = self.taken.get(name)
        if holder is None:
            self.taken[name] = where
        return holder


class EntryPlanner:
    """Plans one source kind's config entries for one sync. The default fits a kind whose entries each name
    their videos: a record of it that no entry planned has left the config."""

    def __init__(self, sync: SyncContext):
        self.sync = sync

    def plan(self, entry: SourceEntry) -> list[PlannedVideo]:
        """The videos `entry` stands for, each name claimed with `self.sync.claim` (a name claimed is kept from
        retiring even when its video is skipped this time); problems and notes go to `self.sync`."""
        raise NotImplementedError

    def departed(self, record: Mapping[str, object]) -> str | None:
        """Why a record of this kind that no entry planned left the library (the retirement reason), or None to
        keep it as it is this time (nothing can be decided now)."""
        if self.sync.unsure:
            self.sync.undecided += 1
            return None
        return f"{LEFT_CONFIG} (was {record.get('video_path', '')})"
