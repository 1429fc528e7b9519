"""Creator subtitles (sidecar files, embedded tracks, the config's `subtitles`, ZIM archives) parsed into cues.

pysubs2 does the parsing (SRT, WebVTT, ASS/SSA, MicroDVD). This module adds what it leaves out: a strict
check of every SRT/WebVTT timing line (pysubs2 drops a cue it cannot read without a word, which would lose
speech silently), plain text without styling, the track record (`SubtitleTrack`), language tags
("en-US", "ru-orig", "rus"), and the choice of the transcript track. Creator subtitles replace Whisper:
each cue's words get start times spread evenly over the cue.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Sequence

from vtdb.errors import VideoError
from vtdb.languages import language_of_tag

_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")

# File name endings of the text formats read here, and pysubs2's format ids for them.
FORMATS = {".srt": "srt", ".vtt": "vtt", ".ass": "ass", ".ssa": "ssa"}
# Origins in the order a track is preferred when several are in the same language: what the user named
# in the config, then files beside the video, the archive's own tracks, and last the container's.
ORIGINS = ("config", "sidecar", "archive", "embedded")


class SubtitleError(VideoError, ValueError):
    """A malformed or unreadable subtitle track (Phase 1 then falls back to Whisper for that video)."""


@dataclass
class Cue:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SubtitleTrack:
    """One creator subtitle track of a video, found but not read yet (`VideoSource.read_subtitles` reads it)."""

    language: str  # Whisper code ("ru"), "" when unknown or not named (a `video_language` track)
    origin: str  # one of ORIGINS
    location: str  # a file (config, sidecar), an archive entry, or the video file itself (embedded)
    format: str = ""  # pysubs2 format id; "" = detect from the content
    tag: str = ""  # the language tag as found ("en-US", "ru-orig", "rus")
    stream: int = -1  # embedded: the stream index in the container
    codec: str = ""  # embedded: ffprobe's codec name
    original: bool = False  # marked as the original language (yt-dlp's "-orig" automatic captions)
    video_language: bool = False  # named for no language (config code "", sidecar stem.srt): the video's
    forced: bool = False  # embedded "forced" track: only the parts in another language

    @property
    def label(self) -> str:
        """What users see, and the transcript's model field (`subtitles:{label}`)."""
        if self.origin == "embedded":
            return f"stream {self.stream} ({self.codec}{', ' + self.tag if self.tag else ''})"
        return self.location


def track_language(tag: str) -> str:
    """The Whisper code of a subtitle language tag (vtdb.languages.language_of_tag), "" if unknown."""
    return language_of_tag(tag)


def parse_timestamp(text: str) -> float:
    m = _TIME.match(text.strip())
    if not m:
        raise SubtitleError(f"bad timestamp {text!r} (expected hh:mm:ss.ttt or mm:ss.ttt)")
    hours, minutes, seconds, frac = m.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(frac.ljust(3, "0")) / 1000.0


def _decode(data: bytes | str, source: str) -> str:
    if isinstance(data, bytes):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SubtitleError(f"{source}: not UTF-8 ({exc.reason} at byte {exc.start}); "
                                "convert it (e.g. iconv -f cp1251 -t utf-8)") from None
    else:
        text = data
    # A str decoded without utf-8-sig still carries the BOM.
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def detect_format(text: str, name: str = "") -> str:
    """pysubs2's format id from the name's ending, else from the content ("" when pysubs2 should guess)."""
    for ext, fmt in FORMATS.items():
        if name.lower().endswith(ext):
            return fmt
    head = text.lstrip()[:200]
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("[Script Info]"):
        return "ass"
    return ""


def _check_timing_lines(lines: list[str], source: str) -> None:
    """Every SRT/WebVTT timing line must parse: pysubs2 would skip a bad one and lose its cue silently."""
    for i, raw in enumerate(lines):
        if "-->" not in raw:
            continue
        left, right = raw.split("-->", 1)
        right_parts = right.strip().split()
        try:
            start = parse_timestamp(left)
            end = parse_timestamp(right_parts[0] if right_parts else "")
        except SubtitleError as exc:
            raise SubtitleError(f"{source}: line {i + 1}: {exc}") from None
        if end < start:
            raise SubtitleError(f"{source}: line {i + 1}: cue ends before it starts")


def _vtt_cue_blocks(text: str) -> str:
    """Only the header and the cue blocks of a WebVTT file: pysubs2 reads WebVTT as SubRip and would take
    NOTE, STYLE and REGION blocks for the text of the cue before them."""
    blocks = re.split(r"\n[ \t]*\n", text)
    cues = [b for b in blocks[1:] if any("-->" in line for line in b.strip("\n").split("\n")[:2])]
    return "\n\n".join(["WEBVTT", *cues]) + "\n"


def _plain(text: str) -> str:
    # pysubs2's plaintext drops ASS override tags; WebVTT voice/class tags and entities are left to us.
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", text)).replace("\xa0", " ")).strip()


# An ASS override block: "{" then a backslash tag ({\i1}, {\an8}). pysubs2's plaintext drops every "{...}", which is
# right for ASS (where braces are comments) but loses real text in SRT and WebVTT ("{{7*7}}" became "}").
_OVERRIDE = re.compile(r"\{\\[^}]*\}")


def _text_of(event, fmt: str) -> str:
    if fmt not in ("srt", "vtt"):
        return event.plaintext
    return _OVERRIDE.sub("", event.text).replace(r"\h", " ").replace(r"\n", "\n").replace(r"\N", "\n")


def parse_subtitles(data: bytes | str, source: str = "subtitles", format: str = "") -> list[Cue]:
    """Cues of an SRT, WebVTT, ASS/SSA or MicroDVD track (`format` a pysubs2 id, else from `source`'s
    ending or the content); SubtitleError naming `source` (and the line) when it is malformed."""
    import pysubs2

    text = _decode(data, source)
    fmt = format or detect_format(text, source)
    lines = text.split("\n")
    if fmt == "vtt" and not text.lstrip().startswith("WEBVTT"):
        raise SubtitleError(f"{source}: not a WebVTT file (first line must be WEBVTT)")
    if fmt in ("srt", "vtt"):
        _check_timing_lines(lines, source)
    if fmt == "vtt":
        text = _vtt_cue_blocks(text)
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt or None)
    except Exception as exc:  # pysubs2 raises its own errors, ValueError, IndexError, ... on bad input
        raise SubtitleError(f"{source}: not a subtitle file that can be read ({type(exc).__name__}: {exc}); "
                            "use SRT, WebVTT or ASS/SSA") from None
    cues: list[Cue] = []
    for event in subs.events:
        if event.is_comment or getattr(event, "is_drawing", False):
            continue
        if event.end < event.start:
            raise SubtitleError(f"{source}: a cue at {event.start / 1000:.3f} s ends before it starts")
        cue_text = _plain(_text_of(event, fmt))
        if cue_text:
            cues.append(Cue(round(event.start / 1000.0, 3), round(event.end / 1000.0, 3), cue_text))
    if not cues and (subs.events or any("-->" in line for line in lines)):
        raise SubtitleError(f"{source}: cues have no text")
    cues.sort(key=lambda c: (c.start, c.end))
    return cues


def parse_vtt(data: bytes | str, source: str = "subtitles") -> list[Cue]:
    """Cues of a WebVTT file (ZIM subtitle tracks and chapters); SubtitleError when it is malformed."""
    return parse_subtitles(data, source, "vtt")


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


def _rank(track: SubtitleTrack) -> tuple:
    # Same language: by origin, full tracks before forced ones, a plain tag ("ru") before a regional or
    # automatic one ("ru-RU", "ru-orig"), then by name so that the choice is the same on every run.
    return (ORIGINS.index(track.origin) if track.origin in ORIGINS else len(ORIGINS), track.forced,
            track.tag.lower() != track.language, track.location, track.stream)


def tracks_in(tracks: Sequence[SubtitleTrack], language: str, exclude: SubtitleTrack | None = None) -> list[SubtitleTrack]:
    """The tracks in `language`, best first."""
    return sorted((t for t in tracks if t.language == language and t != exclude), key=_rank)


def pick_transcript_track(tracks: Sequence[SubtitleTrack], language: str | None) -> tuple[SubtitleTrack | None, str]:
    """The track that is the transcript, and how its language was decided ("config", "subtitles").

    Language known (the config's, or the archive's): the best track in it; a track named for no language
    (config code "", a sidecar `stem.srt`) counts as one in the video's language, and comes first. Unknown:
    such a track, else a track marked as the original language (yt-dlp's "-orig"). Anything less sure is left to the
    caller (Whisper's language detection, then `only_language`).
    """
    if language:
        config_plain = [t for t in tracks if t.video_language]
        best = sorted(config_plain, key=_rank) + tracks_in(tracks, language)
        return (best[0], "config") if best else (None, "")
    config_plain = sorted((t for t in tracks if t.video_language), key=_rank)
    if config_plain:
        return config_plain[0], "subtitles"
    original = sorted((t for t in tracks if t.original and t.language), key=_rank)
    if original:
        return original[0], "subtitles"
    return None, ""


def only_language(tracks: Sequence[SubtitleTrack]) -> str:
    """The one language all the tracks share ("" when they differ or none is known)."""
    languages = {t.language for t in tracks}
    return languages.pop() if len(languages) == 1 and "" not in languages else ""
