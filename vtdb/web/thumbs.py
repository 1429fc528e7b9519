"""Small cached thumbnails of the Phase 1 frames, the windows' texts and the subtitles, for the web pages.

A video's Phase 1 file (vtdb.workfiles) is read (with the plain-data unpickler) once per version of
that file: every frame becomes a small JPEG, the windows' times, speech and translation go into
`windows.json`, each subtitle track into `{lang}.vtt` (vtdb.formats.subtitles), and for an audio-only
file its cover picture, if it has one, into `cover.jpg` (`media.json` says which), all under
`{work_dir}/web_cache/{name}/{version}/`. Requests read only those
files; the video is never decoded and the pickle never read again until Phase 1 rewrites it. A
read-only work folder keeps the thumbnails in memory instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vtdb.formats.subtitles import subtitle_tracks, to_webvtt
from vtdb.naming import check_name
from vtdb.workfiles import WorkFileError, phase1_data_path, read_phase1

THUMB_WIDTH = 160
THUMB_QUALITY = 70
COVER_WIDTH = 320  # an audio-only file's cover picture, where the video page would show its player


@dataclass
class Window:
    """One Phase 1 window as the video page shows it."""

    index: int
    start: float
    end: float
    text: str
    translation: str
    frames: int  # how many thumbnails it has


@dataclass
class VideoThumbs:
    version: str
    windows: list[Window]
    folder: Path | None  # None: kept in memory (read-only work folder)
    memory: dict[str, bytes]

    subtitle_languages: list[str] = field(default_factory=list)  # the spoken language first, then English
    has_video: bool = True  # False: an audio-only file (no frames; maybe a cover picture)
    has_cover: bool = False  # an audio-only file's cover picture is in cover.jpg

    def _file(self, name: str) -> bytes | None:
        if self.folder is None:
            return self.memory.get(name)
        try:
            return (self.folder / name).read_bytes()
        except OSError:
            return None

    def thumb(self, window: int, frame: int) -> bytes | None:
        return self._file(f"w{int(window)}_f{int(frame)}.jpg")

    def cover(self) -> bytes | None:
        """The audio-only file's cover picture (a JPEG at most COVER_WIDTH wide), or None when it has none."""
        return self._file("cover.jpg") if self.has_cover else None

    def subtitles(self, language: str) -> bytes | None:
        """A subtitle track as WebVTT (UTF-8), or None when the video has none in `language`."""
        return self._file(f"{language}.vtt") if language in self.subtitle_languages else None


def _small_jpeg(jpeg: bytes, max_width: int = THUMB_WIDTH) -> bytes | None:
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None  # a broken frame: the strip shows a gap, the page still works
    height, width = image.shape[:2]
    if width > max_width:
        image = cv2.resize(image, (max_width, max(1, round(height * max_width / width))), interpolation=cv2.INTER_AREA)
    ok, out = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), THUMB_QUALITY])
    return out.tobytes() if ok else None


class ThumbCache:
    """Thumbnails and windows per video, made once per version of its Phase 1 file."""

    def __init__(self, work_dir: Path, cache_dir: Path | None = None):
        self.work_dir = Path(work_dir)
        self.cache_dir = Path(cache_dir) if cache_dir else self.work_dir / "web_cache"
        self._videos: dict[str, VideoThumbs] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _version(self, name: str) -> tuple[Path, str] | None:
        path = phase1_data_path(self.work_dir, name)
        try:
            st = path.stat()
        except OSError:
            return None
        return path, f"{st.st_size:x}-{st.st_mtime_ns:x}"

    def get(self, name: str) -> VideoThumbs | None:
        """The video's thumbnails and windows; None when it has no (readable) Phase 1 data."""
        check_name(name)  # a registered name, but never let one reach a path unchecked
        found = self._version(name)
        if found is None:
            return None
        _path, version = found
        cached = self._videos.get(name)
        if cached is not None and cached.version == version:
            return cached
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one request builds, the others wait for it
            cached = self._videos.get(name)
            if cached is None or cached.version != version:
                cached = self._load_or_build(name, version)
                if cached is not None:
                    self._videos[name] = cached
            return cached

    def _load_or_build(self, name: str, version: str) -> VideoThumbs | None:
        folder = self.cache_dir / name / version
        cached = _load(folder, version)
        if cached is not None:
            return cached
        made = self._build(name, version)
        return self._store(name, made, folder) if made is not None else None

    def _build(self, name: str, version: str) -> VideoThumbs | None:
        """The thumbnails, windows, subtitle tracks and cover picture made from the Phase 1 file, in memory; None
        when it cannot be read."""
        try:
            data = read_phase1(self.work_dir, name)
        except WorkFileError:
            return None
        windows: list[Window] = []
        files: dict[str, bytes] = {}
        for window in data.windows:
            made = 0
            for frame in window.frames:
                small = _small_jpeg(frame.jpeg)
                if small is not None:
                    files[f"w{window.index}_f{made}.jpg"] = small
                    made += 1
            windows.append(Window(window.index, window.start_time, window.end_time, window.text, window.translation, made))
        tracks = subtitle_tracks(data.transcript, data.shots)
        for language, cues in tracks.items():
            files[f"{language}.vtt"] = to_webvtt(cues).encode("utf-8")
        has_video, cover = data.video.has_video, data.video.cover
        small_cover = _small_jpeg(cover.jpeg, COVER_WIDTH) if not has_video and cover is not None else None
        if small_cover is not None:
            files["cover.jpg"] = small_cover
        return VideoThumbs(version, windows, None, files, list(tracks), has_video, small_cover is not None)

    def _store(self, name: str, made: VideoThumbs, folder: Path) -> VideoThumbs:
        """`made` written to its cache folder (older versions of the video's folder removed); kept in memory when
        the folder cannot be written (a read-only work folder)."""
        # Written into a temp folder renamed into place: a half-written cache is never read (no fsync per file).
        temp = folder.with_name(f".{made.version}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            temp.mkdir(parents=True, exist_ok=True)
            for file_name, content in made.memory.items():
                (temp / file_name).write_bytes(content)
            (temp / "windows.json").write_text(json.dumps([w.__dict__ for w in made.windows], ensure_ascii=False),
                                               encoding="utf-8")
            (temp / "subtitles.json").write_text(json.dumps(made.subtitle_languages), encoding="utf-8")
            (temp / "media.json").write_text(json.dumps({"has_video": made.has_video, "cover": made.has_cover}),
                                             encoding="utf-8")
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
            os.replace(temp, folder)
            for old in (self.cache_dir / name).iterdir():
                if old.name != made.version and not old.name.endswith(".tmp"):
                    shutil.rmtree(old, ignore_errors=True)  # an older version of the Phase 1 file
            return dataclasses.replace(made, folder=folder, memory={})
        except OSError:
            shutil.rmtree(temp, ignore_errors=True)
            return made


def _load(folder: Path, version: str) -> VideoThumbs | None:
    """The cache folder made before for this version; None when there is none or it is damaged (then rebuilt)."""
    index = folder / "windows.json"
    if not index.is_file():
        return None
    try:
        stored = [Window(**w) for w in json.loads(index.read_text(encoding="utf-8"))]
        languages = json.loads((folder / "subtitles.json").read_text(encoding="utf-8"))
        # A cache made before audio-only files has no media.json: rebuilt once, so that it says.
        media = json.loads((folder / "media.json").read_text(encoding="utf-8"))
        return VideoThumbs(version, stored, folder, {}, [str(x) for x in languages],
                           media.get("has_video") is not False, bool(media.get("cover")))
    except (OSError, ValueError, TypeError):
        return None
