"""A video that is a local file, and the subtitle files beside it; its config entries ("path") are planned
here for the sync: looked at once per file, a file gone for good retired, one that cannot be looked at kept."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterator, Mapping

from vtdb.commandline import command
from vtdb.config import SourceEntry, VideoEntry
from vtdb.media.video import check_readable
from vtdb.records import file_source_fields
from vtdb.sources.base import SOURCES, Note, OpenHandles, SourceBytes, SourceUnavailable, VideoSource, _ignore
from vtdb.sources.plan import EntryPlanner, PlannedVideo, SyncContext
from vtdb.sources.subtitles import FORMATS, SubtitleTrack, track_language

# Why a video was retired (the start of `retired_reason`).
FILE_GONE = "source file missing"
CHUNK = 256 * 1024  # what one read of a byte range takes

# The part between the video's stem and the ending in yt-dlp's naming ("Title [id].en-US.vtt"): a language
# tag with optional subtags ("ru", "en-US", "ru-orig", "zh-Hans", YouTube's "en-nP7-2PuUl7o").
_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,12})*$")


class FolderListings:
    """Folder listings for finding the files beside a video, each folder read once while it is unchanged: N videos
    in one folder cost one listing, not N (a per-video listing made a run quadratic in the folder's size).

    A listing is kept with the folder's identity and times (device, inode, mtime_ns, ctime_ns), which change when
    a name is added, removed or renamed: a folder changed since it was read is read again, in this run or the
    next. A folder changed in the last RACY_NS (a file system's coarse clock could give a later change the same
    time) is not kept but read again at the next look (a folder being written to costs a listing per video for
    those seconds only). At most `size` folders are kept (None: all), the least recently used dropped."""

    RACY_NS = 2_000_000_000

    def __init__(self, size: int | None = 16) -> None:
        self.size = size
        self._kept: OrderedDict[Path, tuple[tuple[int, int, int, int], dict[str, list[str]]]] = OrderedDict()
        self._lock = threading.Lock()  # LISTINGS serves every thread of the process

    def siblings(self, video: Path) -> list[str]:
        """The names in the video's folder that start with its stem and a dot, other than the video's own, in
        the folder's order; [] when the folder cannot be read."""
        folder, stem = video.parent, video.stem
        return [n for n in self._by_stem(folder).get(stem, []) if n != video.name]

    def _by_stem(self, folder: Path) -> dict[str, list[str]]:
        try:
            st = os.stat(folder)
        except OSError:
            return {}
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            kept = self._kept.get(folder)
            if kept is not None and kept[0] == key:
                self._kept.move_to_end(folder)
                return kept[1]
        now = time.time_ns()
        try:
            names = os.listdir(folder)
        except OSError:
            return {}
        by_stem: dict[str, list[str]] = {}
        for name in names:  # "a.b.ru.srt" under "a", "a.b" and "a.b.ru": a lookup is one dict read
            dot = name.find(".")
            while dot != -1:
                by_stem.setdefault(name[:dot], []).append(name)
                dot = name.find(".", dot + 1)
        with self._lock:
            self._kept.pop(folder, None)
            if now - max(st.st_mtime_ns, st.st_ctime_ns) > self.RACY_NS:
                self._kept[folder] = (key, by_stem)
                while self.size is not None and len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return by_stem


# The listings of this process (Phase 1 looks up each video's sidecars): kept while their folders are unchanged.
LISTINGS = FolderListings()


def sidecar_tracks(video: Path, note: Note = _ignore, listings: FolderListings | None = None) -> list[SubtitleTrack]:
    """Subtitle files next to `video`: `stem.srt|.vtt|.ass|.ssa` (in the video's language) and
    `stem.<lang>.<ext>` (yt-dlp's naming). A middle part that is not a known language is noted and skipped.
    The folder's listing comes from `listings` (this process's LISTINGS by default)."""
    stem = video.stem
    siblings = sorted(video.parent / n for n in (LISTINGS if listings is None else listings).siblings(video))
    tracks = []
    for path in siblings:
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None or not path.is_file():
            continue
        middle = path.name[len(stem) + 1 : -len(path.suffix)]
        if not middle:
            tracks.append(SubtitleTrack("", "sidecar", str(path), fmt, video_language=True))
            continue
        language = track_language(middle) if _LANG_TAG.match(middle) else ""
        if not language:
            note(f"subtitle file {path.name}: {middle!r} is not a language tag (expected e.g. "
                 f"{stem}.ru{path.suffix}); ignored")
            continue
        tracks.append(SubtitleTrack(language, "sidecar", str(path), fmt, tag=middle,
                                    original=middle.lower().replace("_", "-").endswith("-orig")))
    return tracks



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


def subtitles_fingerprint(video: Path, configured: dict[str, str], folders: FolderListings) -> str:
    """What a video's subtitle files hold: the sidecars beside it (stem.srt, stem.ru.vtt, the names
    vtdb.sources.local reads) and those the config names, by name and content. "" when it has none.

    Content, not modification time: a library copied or moved to another disk gets new mtimes, and must keep
    its work (subtitle files are small: hashing them costs less than the stat of the video)."""
    stem = video.stem
    paths = [video.parent / n for n in folders.siblings(video)
             if Path(n).suffix.lower() in FORMATS
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


class FilePlanner(EntryPlanner):
    """The sync's view of the config's video files: each distinct file is looked at once; its content
    fingerprint comes from the cache in the work folder; its subtitle files count as its content."""

    def __init__(self, sync: SyncContext):
        super().__init__(sync)
        self._looked: dict[str, tuple[bool, str, str | None, str | None]] = {}
        self._folders = FolderListings(size=None)  # every folder of the config listed once in a sync

    def plan(self, entry: SourceEntry) -> list[PlannedVideo]:
        assert isinstance(entry, VideoEntry)
        sync = self.sync
        sync.claim(entry.name, f"videos[{entry.index}]")  # the config's names are unique (vtdb.config)
        fields = file_source_fields(entry.display_title, entry.description, entry.language or "", entry.subtitles,
                                    entry.audio_track)
        if entry.path not in self._looked:
            try:
                gone, note = _file_missing(entry.path)
            except UnreadableSource as exc:
                sync.problems.append(f"videos[{entry.index}] ({entry.name}): {exc} — this video is skipped")
                sync.unreadable[entry.name] = str(exc)
                return []
            self._looked[entry.path] = (gone, note, LocalFileSource(entry.path).fingerprint(),
                                        sync.fingerprints.file(entry.path))
        gone, note, fingerprint, content = self._looked[entry.path]
        if note:  # its folder is missing too (an unmounted drive): said, kept, and not taken this run
            sync.notes.append(f"{entry.name}: {note}")
            sync.unreadable[entry.name] = note
        subtitles = subtitles_fingerprint(Path(entry.path), entry.subtitles, self._folders)
        fields["subtitles_fingerprint"] = subtitles
        return [PlannedVideo(entry.name, entry.path, fields, fingerprint, entry.force_reprocess, entry.entry_token,
                             content=content, missing=f"{FILE_GONE}: {entry.path}" if gone else "", subtitles=subtitles)]


@SOURCES.register("file")
class LocalFileSource(VideoSource):
    kind = "file"
    planner = FilePlanner

    def __init__(self, path: str | Path):
        self.path = Path(path)
        super().__init__(str(self.path))

    def fingerprint(self) -> str | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return f"file:size={st.st_size}:mtime_ns={st.st_mtime_ns}"

    @contextlib.contextmanager
    def open_local(self, work_dir: Path) -> Iterator[Path]:
        check_readable(self.path)
        yield self.path

    def local_file(self) -> Path:
        return self.path

    def missing(self) -> str:
        return "" if self.path.is_file() else f"its file {self.path} is missing"

    def play_hint(self) -> str:
        return ""  # a local file: played where it is

    def open_bytes(self, handles: OpenHandles) -> SourceBytes:
        p = self.path
        try:
            st = p.stat()
        except OSError:
            raise SourceUnavailable("the video file is missing or unreadable on the server; check the path in "
                                    f"videos_config.json and run {command('phase1')}") from None
        if not p.is_file() or not os.access(p, os.R_OK):
            raise SourceUnavailable("the video's path is not a readable file on the server")
        return SourceBytes(st.st_size, f"f{st.st_size:x}-{st.st_mtime_ns:x}", file_reader(p))

    def side_tracks(self, meta: Mapping[str, object], note: Note = _ignore) -> list[SubtitleTrack]:
        return sidecar_tracks(self.path, note)


def file_reader(path: Path, offset: int = 0) -> Callable[[int, int], Iterator[bytes]]:
    """Reads byte ranges of `path` (from `offset`), a chunk at a time; a file that shrank meanwhile gives a short
    read, never other bytes."""

    def read(first: int, last: int) -> Iterator[bytes]:
        with open(path, "rb") as fh:
            fh.seek(offset + first)
            left = last - first + 1
            while left > 0:
                data = fh.read(min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data

    return read
