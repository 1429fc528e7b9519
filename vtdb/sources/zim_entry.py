"""A video item inside a Kiwix/openZIM archive (the archive itself is read by vtdb.sources.zim), and the
planning of the config's "zim" entries: each stands for every (included) video of its archive."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from vtdb import events as ev
from vtdb.config import SourceEntry, ZimEntry
from vtdb.media.video import MediaError
from vtdb.records import Video, zim_source_fields
from vtdb.sources.base import SOURCES, OpenHandles, SourceBytes, SourceUnavailable, VideoSource
from vtdb.sources.local import CHUNK
from vtdb.sources.plan import EntryPlanner, PlannedVideo, SyncContext
from vtdb.sources.zim import (
    ZIM_CHECKSUM_CACHE,
    ZimError,
    chapters_json,
    entry_fingerprint,
    list_zim_videos,
    parse_zim_uri,
    subtitles_json,
    video_name,
    zim_language,
    zim_uri,
)

# Why a video was retired (the start of `retired_reason`; the rest names the archive).
LEFT_ARCHIVE = "no longer in its archive"
EXCLUDED = "excluded by the config's include/exclude patterns"
ARCHIVE_LEFT_CONFIG = "its archive is no longer in videos_config.json"


class ZimPlanner(EntryPlanner):
    """The sync's view of the config's archives: each is listed once; a video missing from an archive listed in
    full left it; nothing is decided about the videos of an archive that could not be read."""

    def __init__(self, sync: SyncContext):
        super().__init__(sync)
        self.read_archives: set[str] = set()
        self.failed_archives: set[str] = set()
        self.configured_archives: set[str] = set()
        self.excluded: dict[str, str] = {}  # name -> archive

    def plan(self, entry: SourceEntry) -> list[PlannedVideo]:
        assert isinstance(entry, ZimEntry)
        sync = self.sync
        label = f"videos[{entry.index}] (zim {entry.zim})"
        self.configured_archives.add(str(Path(entry.zim).resolve()))
        left_out: list = []
        odd: list[str] = []
        try:
            info, videos, found = list_zim_videos(entry.zim, entry.include, entry.exclude,
                                                  checksum_cache=sync.work_dir / ZIM_CHECKSUM_CACHE,
                                                  remember_checksum=not sync.dry_run, fingerprints=sync.fingerprints,
                                                  excluded=left_out, warnings=odd)
        except ZimError as exc:
            sync.problems.append(f"{label}: {exc}")
            self.failed_archives.add(str(Path(entry.zim).resolve()))
            return []
        self.read_archives.add(info.path)
        for warning in odd:  # readable, only odd: said, never a failure
            sync.notes.append(f"{label}: warning: {warning}")
            if not sync.dry_run:
                sync.events.emit(ev.WARNING, phase="phase1", video=f"(zim {info.path})", message=warning)
        sync.problems.extend(f"{label}: {p}" for p in found)
        self.excluded.update((video_name(info, v), info.path) for v in left_out)
        language = entry.language or zim_language(info.language) or ""
        planned = []
        for video in videos:
            name = video_name(info, video)
            holder = sync.claim(name, f"{info.path}#{video.entry}")
            if holder is not None:
                sync.problems.append(f"{label}: {video.entry}: name {name!r} is already used by {holder} (the same "
                                     "video id in two archives with the same file name); rename one archive or exclude the video")
                continue
            fields = zim_source_fields(
                title=video.title, description=video.description or entry.description, language=language,
                license=entry.license, archive=info.path, entry=video.entry, uuid=info.uuid, zim_title=info.title,
                publisher=info.publisher, zim_language=info.language, scraper=info.scraper, date=info.date,
                layout=video.layout, youtube_id=video.youtube_id, publication_date=video.publication_date,
                chapters=chapters_json(video), subtitles=subtitles_json(video))
            planned.append(PlannedVideo(name, zim_uri(info.path, video.entry), fields,
                                        entry_fingerprint(info.fingerprint, video.entry), entry.force_reprocess,
                                        entry.entry_token, "archive replaced (size, modification time or UUID changed)",
                                        content=video.content_fingerprint or None))
        return planned

    def departed(self, record: Mapping[str, object]) -> str | None:
        video = Video.from_meta(record)
        archive, name = video.zim_archive, video.name
        if archive in self.failed_archives:
            return None
        if name in self.excluded:
            return f"{EXCLUDED} ({archive})"
        if archive in self.read_archives:
            return f"{LEFT_ARCHIVE} ({archive}#{record.get('zim_entry', '')})"
        if archive in self.configured_archives:
            return None  # configured but neither read nor failed (should not happen): decide nothing
        if self.sync.unsure:
            self.sync.undecided += 1
            return None
        return f"{ARCHIVE_LEFT_CONFIG} ({archive})"


@SOURCES.register("zim")
class ZimEntrySource(VideoSource):
    """One video item inside a ZIM archive, streamed to a temp file in work_dir while Phase 1 runs;
    its other items (subtitle tracks) are readable with `read_entry`."""

    kind = "zim"
    scheme = "zim://"
    planner = ZimPlanner
    has_entries = True

    def __init__(self, uri: str):
        super().__init__(uri)
        self.archive, self.entry = parse_zim_uri(uri)

    def fingerprint(self) -> str | None:
        from vtdb.sources.zim import archive_fingerprint

        fp = archive_fingerprint(self.archive)
        return entry_fingerprint(fp, self.entry) if fp else None

    @contextlib.contextmanager
    def open_local(self, work_dir: Path) -> Iterator[Path]:
        from vtdb.sources.zim import extract_to, remove_quietly

        # A ZimError (ZimEntryMissing, ZimArchiveCorrupt, ...) goes up as it is: its class says whether retrying helps.
        path = extract_to(self.archive, self.entry, Path(work_dir))
        try:
            yield path
        except MediaError as exc:
            # Name the archive item, not the temp file (which is gone once this block ends). The same exception goes
            # on, so its class (PermanentMediaError: held at once) and fields (TruncatedMediaError's) are kept.
            text = str(exc)
            if str(path) in text:
                exc.args = (text.replace(str(path), self.location),)
            raise
        finally:
            remove_quietly(path)

    def missing(self) -> str:
        return "" if Path(self.archive).is_file() else f"its archive {self.archive} is missing"

    def file_suffix(self) -> str:
        return Path(self.entry).suffix

    def archive_item(self) -> tuple[str, str]:
        return self.archive, self.entry

    def play_hint(self) -> str:
        return f"{self.location} is inside a ZIM archive: open it in Kiwix"

    def open_bytes(self, handles: OpenHandles) -> SourceBytes:
        """The item's bytes. libzim's binding hands out an item only whole, so the archive stays open and the last
        two items read stay in memory (`handles`): a player's many Range requests for one video cost one read."""
        archive = self._open_archive(handles)
        try:
            item = archive.get_entry_by_path(self.entry).get_item()
        except Exception:  # noqa: BLE001 - KeyError for a missing entry, RuntimeError for a broken one
            raise SourceUnavailable("the video's item is not in its ZIM archive any more") from None
        size = int(item.size)
        version = "z%x-%s" % (size, hashlib.sha1(f"{self.archive}#{self.entry}#{archive.uuid}".encode()).hexdigest()[:12])

        def read(first: int, last: int) -> Iterator[bytes]:
            view: memoryview = handles.get("zim item", (self.archive, self.entry), version, lambda: item.content, keep=2)
            for at in range(first, last + 1, CHUNK):
                yield bytes(view[at : min(at + CHUNK, last + 1)])

        return SourceBytes(size, version, read)

    def _open_archive(self, handles: OpenHandles) -> Any:
        from libzim.reader import Archive

        try:
            st = os.stat(self.archive)
        except OSError:
            raise SourceUnavailable("the ZIM archive of this video is missing on the server") from None

        def open_it() -> Any:
            try:
                return Archive(self.archive)
            except Exception:  # noqa: BLE001 - libzim raises RuntimeError and friends for a bad file
                raise SourceUnavailable("the ZIM archive of this video cannot be opened (corrupt or replaced)") from None

        return handles.get("zim archive", self.archive, (st.st_size, st.st_mtime_ns), open_it)

    def read_entry(self, entry: str) -> bytes:
        from vtdb.sources.zim import open_archive, read_entry

        with open_archive(self.archive) as archive:
            return read_entry(archive, entry)
