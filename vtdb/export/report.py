"""The per-video Markdown report written by Phase 4: {work_dir}/reports/{name}.md."""

from __future__ import annotations

from typing import Sequence

from vtdb.summarize import SegmentText, VideoSummary


def hms(seconds: float) -> str:
    s = max(0, int(round(seconds)))  # never a negative time, whatever was stored
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_report(name: str, title: str, meta: dict, summary: VideoSummary, segments: Sequence[SegmentText]) -> str:
    lines = [f"# {title}", ""]
    facts = [f"`{name}`", f"duration {hms(float(meta.get('video_duration') or 0))}", f"content type **{summary.content_type}**"]
    if meta.get("transcript_language"):
        facts.append(f"speech: {meta['transcript_language']}")
    lines += [" · ".join(facts), "", "## Summary", "", summary.summary, "", "## Chapters", ""]
    for ch in summary.chapters:
        lines.append(f"- **{hms(ch['start'])}–{hms(ch['end'])}** {ch['title']}")
    lines += ["", "## Keywords", "", ", ".join(summary.keywords) or "(none)", "", "## Moments", "",
              "| # | time | description | keywords | type |", "|---|---|---|---|---|"]
    for seg in segments:
        lines.append(f"| {seg.index} | {hms(seg.start)}–{hms(seg.end)} | {_cell(seg.description)} | {_cell(', '.join(seg.keywords))} | {_cell(seg.content_type)} |")
    lines += ["", f"_Summary by {summary.summarizer} ({summary.model})._", ""]
    return "\n".join(lines)
