"""Subtitles out: WebVTT and SRT for every video, in the language spoken and in English (issue 24).

Built from Phase 1's work file: the original track from Whisper's word timestamps (or the creator subtitles it
used), the English track from its translation segments. Cues follow the usual broadcast limits: at most
MAX_CUE_SECONDS long, at most MAX_LINES lines of MAX_LINE_CHARS characters, a new cue after a pause, and no cue
across a shot cut where the words allow it. Text Whisper likely invented (segments flagged unsure) is left out.

Files are named the way yt-dlp names them (`NAME.en.vtt`, `NAME.ru.srt`), so players pick them up beside a video.
Cue text is plain text: WebVTT escapes `&`, `<` and `>` (a cue never carries markup from a source into a page),
control characters are dropped from both formats.
"""

from __future__ import annotations

import html
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from vtdb.atomic import atomic_write_text
from vtdb.languages import WHISPER_LANGUAGES
from vtdb.workfiles import SpokenWord, TimedText, TranscriptPart

MAX_CUE_SECONDS = 7.0
MAX_LINE_CHARS = 42
MAX_LINES = 2
PAUSE_SECONDS = 1.0  # a pause this long between two words starts a new cue
FORMATS = ("vtt", "srt")
UNKNOWN_LANGUAGE = "und"  # ISO 639-2 "undetermined": a track whose language Phase 1 could not tell

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SENTENCE_END = re.compile(r"[.!?…。]$")


class SubtitleError(ValueError):
    """A subtitle request that cannot be answered (no such track or format)."""


@dataclass(frozen=True)
class SubtitleCue:
    start: float
    end: float
    text: str  # one or two lines, joined with "\n"


def wrap(text: str) -> list[str] | None:
    """The text in at most MAX_LINES lines of at most MAX_LINE_CHARS characters, balanced; None when it does not fit."""
    text = " ".join(text.split())
    if len(text) <= MAX_LINE_CHARS:
        return [text] if text else []
    for width in range(math.ceil(len(text) / MAX_LINES), MAX_LINE_CHARS + 1):  # the narrowest width that fits
        lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
        if len(lines) <= MAX_LINES and all(len(line) <= MAX_LINE_CHARS for line in lines):
            return lines
    return None


def _clean(text: str) -> str:
    return " ".join(_CONTROL.sub("", text).split())


def _cue(start: float, end: float, text: str) -> SubtitleCue | None:
    lines = wrap(_clean(text))
    if not lines:
        return None
    return SubtitleCue(round(start, 3), round(max(end, start + 0.2), 3), "\n".join(lines))


def cues_from_words(words: Sequence[SpokenWord], cuts: Sequence[float] = ()) -> list[SubtitleCue]:
    """Cues from timed words: a new cue after a pause, at a sentence end once the cue has a few words, before it
    would pass the length limits, and at a shot cut."""
    cues: list[SubtitleCue] = []
    current: list[SpokenWord] = []

    def text_of(group: Sequence[SpokenWord]) -> str:
        return _clean("".join(w.word for w in group))

    def flush() -> None:
        if current:
            cue = _cue(current[0].start, current[-1].end, text_of(current))
            if cue:
                cues.append(cue)
            current.clear()

    for word in sorted((w for w in words if _clean(w.word)), key=lambda w: w.start):
        start, end = word.start, word.end
        if current:
            first, last = current[0].start, current[-1]
            previous = text_of([last])
            if (start - last.end >= PAUSE_SECONDS
                    or end - first > MAX_CUE_SECONDS
                    or wrap(text_of([*current, word])) is None
                    or any(first < cut <= start for cut in cuts)
                    or (_SENTENCE_END.search(previous) and last.end - first >= 1.5)):
                flush()
        current.append(word)
    flush()
    return cues


def cues_from_segments(segments: Iterable[TimedText]) -> list[SubtitleCue]:
    """Cues from timed segments without word times (translations, creator subtitles): a segment that passes a
    limit is cut at word boundaries into equal pieces, its time shared by characters."""
    cues: list[SubtitleCue] = []
    for segment in segments:
        if segment.unsure:
            continue
        text, start, end = _clean(segment.text), segment.start, segment.end
        if not text or end <= start:
            continue
        tokens = text.split()
        pieces = max(1, math.ceil((end - start) / MAX_CUE_SECONDS))
        while True:
            groups = _split_words(tokens, pieces)
            if all(wrap(" ".join(g)) is not None for g in groups) or pieces >= len(tokens):
                break
            pieces += 1
        total = sum(len(" ".join(g)) for g in groups)
        t = start
        for group in groups:
            piece = " ".join(group)
            t_end = end if group is groups[-1] else t + (end - start) * len(piece) / total
            for cue in [_cue(t, t_end, piece)] if wrap(piece) is not None else _force_fit(t, t_end, piece):
                if cue:
                    cues.append(cue)
            t = t_end
    return cues


def _split_words(tokens: Sequence[str], pieces: int) -> list[list[str]]:
    """`tokens` in `pieces` runs of about equal length in characters."""
    total = sum(len(t) + 1 for t in tokens)
    groups: list[list[str]] = [[]]
    done = 0
    for token in tokens:
        if groups[-1] and len(groups) < pieces and done >= total * len(groups) / pieces:
            groups.append([])
        groups[-1].append(token)
        done += len(token) + 1
    return groups


def _force_fit(start: float, end: float, text: str) -> list[SubtitleCue | None]:
    """A text with a word longer than a line: cut hard at MAX_LINE_CHARS (a URL, a run of letters)."""
    chunks = [text[i:i + MAX_LINE_CHARS] for i in range(0, len(text), MAX_LINE_CHARS)]
    step = (end - start) / len(chunks)
    return [_cue(start + k * step, start + (k + 1) * step, chunk) for k, chunk in enumerate(chunks)]


def subtitle_tracks(transcript: TranscriptPart, shots: Sequence[tuple[float, float]] | None = None
                    ) -> dict[str, list[SubtitleCue]]:
    """A video's subtitle tracks from its Phase 1 data (`Phase1Data.transcript` and `.shots`): {language: cues},
    the language spoken first, then the translation (English) when there is one. A track with no cue is left
    out; with shots, no cue runs across a cut where the words allow it."""
    cuts = sorted(start for start, _end in (shots or [])[1:])
    unsure = [(s.start, s.end) for s in transcript.segments if s.unsure]
    words = [w for w in transcript.words if not any(a <= w.start < b for a, b in unsure)]
    original = cues_from_words(words, cuts) if words else cues_from_segments(transcript.segments)
    tracks: dict[str, list[SubtitleCue]] = {}
    if original:
        tracks[transcript.language or UNKNOWN_LANGUAGE] = original
    translation = transcript.translation
    english = cues_from_segments(translation.segments) if translation is not None else []
    if english and translation is not None and translation.language and translation.language not in tracks:
        tracks[translation.language] = english
    return tracks


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_webvtt(cues: Sequence[SubtitleCue]) -> str:
    """A WebVTT file. Cue text is escaped (&, <, >): a browser shows it as text, never as markup."""
    out = ["WEBVTT", ""]
    for number, cue in enumerate(cues, 1):
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out += [str(number), f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}", text, ""]
    return "\n".join(out)


def to_srt(cues: Sequence[SubtitleCue]) -> str:
    """A SubRip file (no markup of its own: the text as spoken; "-->" inside a cue is written "->")."""
    out = []
    for number, cue in enumerate(cues, 1):
        out += [str(number), f"{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}", cue.text.replace("-->", "->"), ""]
    return "\n".join(out)


WRITERS = {"vtt": to_webvtt, "srt": to_srt}


def render(cues: Sequence[SubtitleCue], fmt: str) -> str:
    if fmt not in WRITERS:
        raise SubtitleError(f"unknown subtitle format {fmt!r}: use one of {', '.join(FORMATS)}")
    return WRITERS[fmt](cues)


def subtitle_file_name(name: str, language: str, fmt: str) -> str:
    """yt-dlp's naming: NAME.LANG.FORMAT (players look for it beside NAME.mp4)."""
    return f"{name}.{language}.{fmt}"


def existing_subtitle_files(folder: Path, name: str) -> list[Path]:
    """The subtitle files of video `name` in `folder` (NAME.LANG.vtt|srt; a video "a.en" never matches "a")."""
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(name) + r"\.[a-z]{2,3}\.(" + "|".join(FORMATS) + ")")
    return sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_file())


def write_subtitle_files(folder: Path, name: str, tracks: Mapping[str, Sequence[SubtitleCue]],
                         formats: Sequence[str] = FORMATS) -> list[Path]:
    """Every track in every format into `folder` (atomic writes), and the video's files of tracks it no longer
    has removed (a reprocessed video that lost its translation); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    keep = {subtitle_file_name(name, language, fmt) for language in tracks for fmt in formats}
    for stale in existing_subtitle_files(folder, name):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)
    written = []
    for language, cues in tracks.items():
        for fmt in formats:
            path = folder / subtitle_file_name(name, language, fmt)
            atomic_write_text(path, render(cues, fmt))
            written.append(path)
    return written


def track_label(language: str, original: bool) -> str:
    """What a player's subtitle menu shows: "German (original)", "English"."""
    name = WHISPER_LANGUAGES.get(language, "unknown language" if language == UNKNOWN_LANGUAGE else language).title()
    return f"{name} (original)" if original else name


def track_elements(languages: Sequence[str], src_of: Callable[[str], str], default_language: str = "en") -> str:
    """<track> elements for a <video>: one per language (the first is the spoken one), `default_language` shown
    at start. `src_of(language)` gives each WebVTT file's address; every attribute is escaped."""
    e = html.escape
    out = []
    for k, language in enumerate(languages):
        default = " default" if language == default_language else ""
        out.append(f'<track kind="subtitles" srclang="{e(language)}" label="{e(track_label(language, k == 0))}" '
                   f'src="{e(src_of(language))}"{default}>')
    return "".join(out)
