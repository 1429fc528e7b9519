"""The per-video Markdown report written by Phase 4: {work_dir}/reports/{name}.md.

Every text from a video (title, summary, chapters, keywords, descriptions, on-screen text) has its
`&`, `<` and `>` written as entities, so that a Markdown viewer shows it literally and never runs it
as HTML (a Markdown renderer passes raw HTML through)."""

from __future__ import annotations

import html
from typing import Mapping, Sequence

from vtdb.records import Video
from vtdb.summarize import SegmentText, VideoSummary
from vtdb.timefmt import clock_span, duration


def span(start: float, end: float) -> str:
    """hh:mm:ss–hh:mm:ss, truncated like every position (vtdb.timefmt)."""
    return clock_span(start, end)


def _line(text: str) -> str:
    """One line of text from a video, whitespace collapsed, shown literally."""
    return html.escape(" ".join(str(text).split()), quote=False)


def _cell(text: str) -> str:
    return _line(text).replace("|", "\\|")


def markdown_report(name: str, title: str, meta: dict, summary: VideoSummary, segments: Sequence[SegmentText],
                    on_screen: Mapping[int, str] | None = None) -> str:
    """`on_screen`: segment index -> the text read on screen in it (segment metadata `on_screen_text`); the
    windows that have some are listed under "On screen", and the section is left out when none has."""
    lines = [f"# {_line(title)}", ""]
    video = Video.from_meta(meta)
    facts = [f"`{name}`", f"duration {duration(video.video_duration, 'hh:mm:ss')}", f"content type **{summary.content_type}**"]
    if video.transcript_language:
        facts.append(f"speech: {video.transcript_language}")
    lines += [" · ".join(facts), "", "## Summary", "", html.escape(summary.summary, quote=False), "", "## Chapters", ""]
    for ch in summary.chapters:
        lines.append(f"- **{span(ch['start'], ch['end'])}** {_line(ch['title'])}")
    lines += ["", "## Keywords", "", _line(", ".join(summary.keywords)) or "(none)", "", "## Moments", "",
              "| # | time | description | keywords | type |", "|---|---|---|---|---|"]
    for seg in segments:
        lines.append(f"| {seg.index} | {span(seg.start, seg.end)} | {_cell(seg.description)} | {_cell(', '.join(seg.keywords))} | {_cell(seg.content_type)} |")
    read = [(seg, text) for seg in segments if (text := _line((on_screen or {}).get(seg.index, "")))]
    if read:
        lines += ["", "## On screen", ""]
        lines += [f"- **{span(seg.start, seg.end)}** (#{seg.index}) {text}" for seg, text in read]
    lines += ["", f"_Summary by {summary.summarizer} ({summary.model})._", ""]
    return "\n".join(lines)
