"""The per-video Markdown report written by Phase 4: {work_dir}/reports/{name}.md."""

from __future__ import annotations

from typing import Sequence

from vtdb.summarize import SegmentText, VideoSummary
from vtdb.timefmt import clock_span, duration


def span(start: float, end: float) -> str:
    """hh:mm:ss–hh:mm:ss, truncated like every position (vtdb.timefmt)."""
    return clock_span(start, end)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_report(name: str, title: str, meta: dict, summary: VideoSummary, segments: Sequence[SegmentText]) -> str:
    lines = [f"# {title}", ""]
    facts = [f"`{name}`", f"duration {duration(meta.get('video_duration'), 'hh:mm:ss')}", f"content type **{summary.content_type}**"]
    if meta.get("transcript_language"):
        facts.append(f"speech: {meta['transcript_language']}")
    lines += [" · ".join(facts), "", "## Summary", "", summary.summary, "", "## Chapters", ""]
    for ch in summary.chapters:
        lines.append(f"- **{span(ch['start'], ch['end'])}** {ch['title']}")
    lines += ["", "## Keywords", "", ", ".join(summary.keywords) or "(none)", "", "## Moments", "",
              "| # | time | description | keywords | type |", "|---|---|---|---|---|"]
    for seg in segments:
        lines.append(f"| {seg.index} | {span(seg.start, seg.end)} | {_cell(seg.description)} | {_cell(', '.join(seg.keywords))} | {_cell(seg.content_type)} |")
    lines += ["", f"_Summary by {summary.summarizer} ({summary.model})._", ""]
    return "\n".join(lines)
