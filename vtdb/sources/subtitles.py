"""WebVTT subtitles (creator subtitles and chapters from ZIM archives) parsed into cues.

Creator subtitles replace Whisper: each cue's words get start times spread evenly over the
cue, so windows can take words by timestamp exactly as they do with Whisper's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vtdb.errors import VideoError

_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")
_TAG = re.compile(r"<[^>]*>")


class SubtitleError(VideoError, ValueError):
    """A malformed WebVTT track (Phase 1 then falls back to Whisper for that video)."""


@dataclass
class Cue:
    start: float
    end: float
    text: str


def parse_timestamp(text: str) -> float:
    m = _TIME.match(text.strip())
    if not m:
        raise SubtitleError(f"bad timestamp {text!r} (expected hh:mm:ss.ttt or mm:ss.ttt)")
    hours, minutes, seconds, frac = m.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(frac.ljust(3, "0")) / 1000.0


def parse_vtt(data: bytes | str, source: str = "subtitles") -> list[Cue]:
    """Cues of a WebVTT file; SubtitleError (naming `source` and the line) when it is malformed."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SubtitleError(f"{source}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    else:
        text = data
    text = text.lstrip("\ufeff")  # a str decoded without utf-8-sig still carries the BOM
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].strip().startswith("WEBVTT"):
        raise SubtitleError(f"{source}: not a WebVTT file (first line must be WEBVTT)")
    cues: list[Cue] = []
    i = 1
    while i < len(lines):
        line = lines[i].strip()
        if "-->" not in line:
            i += 1
            continue
        left, right = line.split("-->", 1)
        try:
            start = parse_timestamp(left)
            end = parse_timestamp(right.strip().split()[0] if right.strip() else "")
        except SubtitleError as exc:
            raise SubtitleError(f"{source}: line {i + 1}: {exc}") from None
        if end < start:
            raise SubtitleError(f"{source}: line {i + 1}: cue ends before it starts")
        i += 1
        body = []
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        cue_text = " ".join(_TAG.sub("", b) for b in body).strip()
        cue_text = re.sub(r"\s+", " ", cue_text.replace("&nbsp;", " ").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
        if cue_text:
            cues.append(Cue(round(start, 3), round(end, 3), cue_text))
    if not cues and any("-->" in line for line in lines):
        raise SubtitleError(f"{source}: cues have no text")
    return cues


def cue_words(cues: list[Cue]) -> list[dict]:
    """Words with start/end times spread evenly over each cue (subtitles carry no word timing)."""
    words: list[dict] = []
    for cue in cues:
        parts = cue.text.split()
        span = max(cue.end - cue.start, 0.001) / len(parts)
        for k, part in enumerate(parts):
            start = cue.start + k * span
            words.append({"start": round(start, 3), "end": round(start + span, 3), "word": (" " if words else "") + part, "probability": 1.0})
    return words
