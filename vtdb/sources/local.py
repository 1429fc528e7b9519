"""A video that is a local file, and the subtitle files beside it."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator, Mapping

from vtdb.media.video import check_readable
from vtdb.sources.base import SOURCES, Note, VideoSource, _ignore
from vtdb.sources.subtitles import FORMATS, SubtitleTrack, track_language

# The part between the video's stem and the ending in yt-dlp's naming ("Title [id].en-US.vtt"): a language
# tag with optional subtags ("ru", "en-US", "ru-orig", "zh-Hans", YouTube's "en-nP7-2PuUl7o").
_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,12})*$")


def sidecar_tracks(video: Path, note: Note = _ignore) -> list[SubtitleTrack]:
    """Subtitle files next to `video`: `stem.srt|.vtt|.ass|.ssa` (in the video's language) and
    `stem.<lang>.<ext>` (yt-dlp's naming). A middle part that is not a known language is noted and skipped."""
    stem = video.stem
    try:
        siblings = sorted(p for p in video.parent.iterdir() if p.name.startswith(stem + ".") and p != video)
    except OSError:
        return []
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


@SOURCES.register("file")
class LocalFileSource(VideoSource):
    kind = "file"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.location = str(self.path)

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

    def side_tracks(self, meta: Mapping[str, object], note: Note = _ignore) -> list[SubtitleTrack]:
        return sidecar_tracks(self.path, note)
