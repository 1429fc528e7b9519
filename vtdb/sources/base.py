"""Where a video's bytes come from: the VideoSource interface and the SOURCES registry.

A source kind is one module: a VideoSource subclass registered with `@SOURCES.register("kind")`, its config
entries (a `vtdb.config.EntryKind` in `ENTRY_KINDS`) and their planner (`planner`, vtdb.sources.plan).
Every caller goes through it: the sync plans its entries, Phase 1 takes a fingerprint and a local file, the
web player reads byte ranges (`open_bytes`), the export links or extracts the file and names the archive
item a pack's app serves. Kinds: "file" (vtdb.sources.local) and "zim", a video item inside a Kiwix/openZIM
archive (vtdb.sources.zim_entry). `source_for` builds the source of a video_files record.

Creator subtitles: `subtitle_tracks` lists a video's tracks (the config's `subtitles`, the source's own
from `side_tracks`, the container's text streams) and `read_subtitles` reads one; sources override
`side_tracks` only (files beside a local video, the tracks an archive lists).
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Hashable, Iterator, Mapping, TypeVar

from vtdb.errors import PermanentVideoError, Registry, VtdbError
from vtdb.media.video import MediaError
from vtdb.sources.plan import EntryPlanner
from vtdb.sources.subtitles import FORMATS, SubtitleError, SubtitleTrack, track_language

Note = Callable[[str], None]
T = TypeVar("T")


def _ignore(_message: str) -> None:
    pass


class NoEntriesError(VtdbError, LookupError):
    """The source has no items besides the video itself (only archives carry subtitles and the like)."""


class UnknownSourceKind(MediaError, PermanentVideoError):
    """The record names a source kind this version cannot read (written by a newer one?): the video's fault, and
    retrying with this version cannot fix it, so it is held at once."""


class SourceUnavailable(VtdbError, LookupError):
    """The video's bytes cannot be read now (a missing file, a replaced archive); the message says so to a user."""


@dataclass
class SourceBytes:
    """A video's bytes as a player reads them: their size, a version that changes with them, a range reader."""

    size: int
    version: str
    read: Callable[[int, int], Iterator[bytes]]  # (first, last) inclusive -> chunks


class OpenHandles:
    """What sources keep open between reads (an archive, the last items read), shared by threads: per space
    the `keep` most recent, each under a version (a replaced file gets a new one and is opened again)."""

    def __init__(self) -> None:
        self._spaces: dict[str, dict[Hashable, tuple[Hashable, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, space: str, key: Hashable, version: Hashable, opener: Callable[[], T], keep: int = 8) -> T:
        with self._lock:
            held = self._spaces.setdefault(space, {})
            found = held.pop(key, None)
            if found is None or found[0] != version:
                found = (version, opener())
            held[key] = found  # most recent last
            while len(held) > keep:
                del held[next(iter(held))]
            return found[1]


class VideoSource:
    """The interface. `fingerprint` and `open_local` (Phase 1) and `planner` (the sync) are required; the rest
    has defaults that fit a source whose bytes are not a plain local file. `read_entry` is optional: a source
    that can read side items (subtitle tracks inside an archive) sets `has_entries = True`."""

    kind: ClassVar[str]
    scheme: ClassVar[str] = ""  # a location starting with it is of this kind ("zim://"); "" for plain paths
    planner: ClassVar[type[EntryPlanner]]  # plans the kind's config entries at the sync
    location: str  # what users see: a path or an archive URI
    has_entries: bool = False

    def __init__(self, location: str):
        self.location = location

    def fingerprint(self) -> str | None:
        """Changes when the content changes; None when the source cannot be read right now."""
        raise NotImplementedError

    def open_local(self, work_dir: Path) -> contextlib.AbstractContextManager[Path]:
        """A local file path with the video, valid inside the `with` block."""
        raise NotImplementedError

    def local_file(self) -> Path | None:
        """The video's own file when it is a plain local file (linked into a pack, played by mpv), else None."""
        return None

    def missing(self) -> str:
        """Why the video's bytes are not there now ("its file … is missing"), or "" when they are."""
        return ""

    def file_suffix(self) -> str:
        """The extension its bytes have as a file (".mp4"), or "" when its name says none."""
        return Path(self.location).suffix

    def archive_item(self) -> tuple[str, str] | None:
        """(archive path, item path) for a video that is an item of an archive an app can serve, else None."""
        return None

    def play_hint(self) -> str:
        """What to tell a user who wants to play it outside vtdb when there is no local file to name."""
        return f"{self.location} is not a local file: play it in the web app (vtdb serve)"

    def open_bytes(self, handles: OpenHandles) -> SourceBytes:
        """Its bytes for a player (SourceUnavailable when they cannot be read now); `handles` keeps what is
        worth keeping open between requests."""
        raise SourceUnavailable(f"the web app cannot play a {self.kind!r} source")

    def read_entry(self, entry: str) -> bytes:
        """The bytes of another item of the same source (a subtitle track); NoEntriesError by default."""
        raise NoEntriesError(f"{self.location}: a {self.kind} source has no entries to read ({entry!r})")

    def subtitle_tracks(self, local_path: Path, meta: Mapping[str, object], note: Note = _ignore,
                        embedded: bool = True) -> list[SubtitleTrack]:
        """Every creator subtitle track of the video (optional: the default serves every source): the
        config's `subtitles` (the record's `config_subtitles`), the source's own (`side_tracks`), and
        the text streams inside `local_path` unless `embedded` is False. `note` hears what was skipped."""
        tracks = config_tracks(meta, note) + self.side_tracks(meta, note)
        if embedded:
            tracks += embedded_tracks(local_path, note)
        return tracks

    def side_tracks(self, meta: Mapping[str, object], note: Note = _ignore) -> list[SubtitleTrack]:
        """The source's own tracks: for a source with entries, those its record lists (`subtitles`, JSON
        [{code, entry}], written by the sync of a ZIM archive)."""
        if not self.has_entries:
            return []
        try:
            listed = json.loads(str(meta.get("subtitles") or "[]"))
        except ValueError:
            note(f"{self.location}: the record's subtitle list is not JSON; ignored")
            return []
        return [SubtitleTrack(track_language(str(t.get("code", ""))), "archive", str(t["entry"]), "vtt", tag=str(t.get("code", "")))
                for t in listed if isinstance(t, dict) and t.get("entry")]

    def read_subtitles(self, track: SubtitleTrack) -> bytes:
        """The bytes of one track from `subtitle_tracks` (SubtitleError when it cannot be read)."""
        if track.origin == "archive":
            return self.read_entry(track.location)
        if track.origin == "embedded":
            from vtdb.media.subtitle_tracks import extract_stream

            try:
                return extract_stream(Path(track.location), track.stream, track.format)
            except MediaError as exc:
                raise SubtitleError(str(exc)) from None
        try:
            return Path(track.location).read_bytes()
        except OSError as exc:
            raise SubtitleError(f"{track.location}: cannot read the subtitle file ({exc.strerror or exc})") from None


def config_tracks(meta: Mapping[str, object], note: Note = _ignore) -> list[SubtitleTrack]:
    """The tracks the config names for this video (the record's `config_subtitles`, JSON [{code, path}];
    code "" = the video's language)."""
    try:
        listed = json.loads(str(meta.get("config_subtitles") or "[]"))
    except ValueError:
        note("the record's config_subtitles is not JSON; ignored (re-run phase 1 to sync the config)")
        return []
    tracks = []
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict) or not item.get("path"):
            continue
        code, path = str(item.get("code") or ""), str(item["path"])
        fmt = FORMATS.get(Path(path).suffix.lower(), "")
        tracks.append(SubtitleTrack(track_language(code), "config", path, fmt, tag=code, video_language=not code))
    return tracks


def embedded_tracks(local_path: Path, note: Note = _ignore) -> list[SubtitleTrack]:
    """The text subtitle streams inside the video file; image streams (PGS, DVD) are noted and skipped."""
    from vtdb.media.subtitle_tracks import subtitle_streams

    try:
        streams = subtitle_streams(local_path)
    except MediaError as exc:
        note(f"{exc}; embedded subtitles ignored")
        return []
    tracks = []
    for s in streams:
        if s.is_image or not s.format:
            kind = "an image subtitle track (it would need OCR)" if s.is_image else "a subtitle codec that cannot be read as text"
            note(f"embedded subtitle stream {s.index} ({s.codec}{', ' + s.language if s.language else ''}) skipped: {kind}")
            continue
        tracks.append(SubtitleTrack(track_language(s.language), "embedded", str(local_path), s.format, tag=s.language,
                                    stream=s.index, codec=s.codec, forced=s.forced))
    return tracks


SOURCES: Registry[type[VideoSource]] = Registry("source kind", error=UnknownSourceKind)


def source_at(location: str, kind: str = "") -> VideoSource:
    """The source at `location`: of `kind` when given, else the kind whose scheme starts it, else a file."""
    if not kind:
        kind = next((k for k in SOURCES.names() if SOURCES.get(k).scheme and location.startswith(SOURCES.get(k).scheme)),
                    "file")
    if kind not in SOURCES:
        raise UnknownSourceKind(f"unknown source kind {kind!r} for {location}")
    return SOURCES.get(kind)(location)


def source_for(meta: Mapping[str, object]) -> VideoSource:
    """The source of a video_files record (`source_kind`, `video_path`)."""
    return source_at(str(meta.get("video_path") or ""), str(meta.get("source_kind") or ""))
