"""Subtitle streams inside a container (MKV, MP4, WebM): listed with ffprobe, text ones extracted with ffmpeg.

Text codecs (SubRip, mov_text, WebVTT, ASS/SSA) are extracted as SRT, WebVTT or ASS; image codecs
(PGS, DVD, DVB) would need OCR and are reported as skipped.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vtdb.media.video import MediaError

# ffprobe codec name -> the format ffmpeg writes it out as (and pysubs2 reads back).
TEXT_CODECS = {"subrip": "srt", "srt": "srt", "mov_text": "srt", "text": "srt", "webvtt": "vtt", "ass": "ass", "ssa": "ass"}
IMAGE_CODECS = {"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub", "dvb_teletext"}
_MUXER = {"srt": "srt", "vtt": "webvtt", "ass": "ass"}
EXTRACT_TIMEOUT = 600.0  # ffmpeg demuxes the whole file to collect one stream's packets


class SubtitleStreamError(MediaError):
    """A subtitle stream that ffprobe or ffmpeg cannot read (the video itself may be fine)."""


@dataclass(frozen=True)
class SubtitleStream:
    index: int  # the stream index in the container (ffmpeg's -map 0:N)
    codec: str
    language: str = ""  # the container's tag as written ("rus", "en", "und" → "")
    title: str = ""
    default: bool = False
    forced: bool = False

    @property
    def format(self) -> str:
        """The text format it is extracted as, "" for image or unknown codecs."""
        return TEXT_CODECS.get(self.codec, "")

    @property
    def is_image(self) -> bool:
        return self.codec in IMAGE_CODECS


def subtitle_streams(path: Path) -> list[SubtitleStream]:
    """The subtitle streams of a media file, in container order."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "s", "-show_entries",
           "stream=index,codec_name:stream_tags=language,title:stream_disposition=default,forced", "-of", "json", str(path)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SubtitleStreamError(f"{path}: cannot list subtitle streams ({exc})") from None
    if out.returncode != 0:
        raise SubtitleStreamError(f"{path}: ffprobe cannot list subtitle streams: {out.stderr.strip()[-300:]}")
    try:
        streams = json.loads(out.stdout or "{}").get("streams") or []
    except ValueError:
        raise SubtitleStreamError(f"{path}: ffprobe's stream list is not JSON") from None
    found = []
    for s in streams:
        tags = s.get("tags") or {}
        disposition = s.get("disposition") or {}
        language = str(tags.get("language") or "")
        found.append(SubtitleStream(int(s.get("index", -1)), str(s.get("codec_name") or "unknown"),
                                    "" if language.lower() == "und" else language, str(tags.get("title") or ""),
                                    bool(disposition.get("default")), bool(disposition.get("forced"))))
    return found


def extract_stream(path: Path, stream: SubtitleStream | int, fmt: str = "srt") -> bytes:
    """One text subtitle stream as a file in `fmt` ("srt", "vtt" or "ass"), as bytes."""
    index = stream.index if isinstance(stream, SubtitleStream) else int(stream)
    if fmt not in _MUXER:
        raise SubtitleStreamError(f"{path}: stream {index}: cannot extract as {fmt!r}")
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", f"0:{index}", "-f", _MUXER[fmt], "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=EXTRACT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SubtitleStreamError(f"{path}: stream {index}: extraction failed ({exc})") from None
    if out.returncode != 0:
        raise SubtitleStreamError(f"{path}: stream {index}: ffmpeg cannot extract it: "
                                  f"{out.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    return out.stdout
