"""Phase 4: a whole-video summary, keywords, content type and chapters from the video's
segments; written to the video_files record (document embedded with the segment embedder, so
whole-video search works) and to a Markdown report {work_dir}/reports/{name}.md; and the video's subtitles
(WebVTT and SRT, spoken language and English) into {work_dir}/subtitles/."""

from __future__ import annotations

import json
from pathlib import Path

from vtdb.atomic import atomic_write_text
from vtdb.commandline import command
from vtdb.embedders import Embedder
from vtdb.errors import VideoError
from vtdb.formats.report import markdown_report
from vtdb.formats.subtitles import SubtitleCue, subtitle_tracks, write_subtitle_files
from vtdb.naming import check_name
from vtdb.records import json_list, keywords_of, segment_span, summary_fields
from vtdb.runner import JobContext, JobResult
from vtdb.store import Claim
from vtdb.summarize import SegmentText, Summarizer, SummaryInput, VideoSummary
from vtdb.workfiles import WorkFileError, phase1_data_path, read_phase1, report_path, subtitles_dir


def video_document(summary_text: str, keywords: list[str]) -> str:
    return summary_text + ("\nKeywords: " + ", ".join(keywords) if keywords else "")


def phase1_extras(work_dir: Path, name: str, warn=None) -> tuple[list[list[float]], dict[str, list[SubtitleCue]]]:
    """What Phase 4 takes from the video's Phase 1 pickle: the shot list [[start, end], ...] and the subtitle
    tracks; ([], {}) when there is none.

    Chapters only snap to shots and subtitles are a by-product, so anything missing (no pickle any more, a pickle
    from before shots were detected, a damaged one) costs those, never the summary.
    """
    if not phase1_data_path(work_dir, name).exists():
        return [], {}
    try:
        data = read_phase1(work_dir, name)
    except WorkFileError as exc:
        if warn is not None:
            warn(f"chapters are not snapped to shots and no subtitles are written: {exc}")
        return [], {}
    return [list(shot) for shot in data.shots or []], subtitle_tracks(data.transcript, data.shots)


def phase1_shots(work_dir: Path, name: str, warn=None) -> list[list[float]]:
    """The shot list [[start, end], ...] from the video's Phase 1 pickle; [] when there is none."""
    return phase1_extras(work_dir, name, warn)[0]


class Phase4Job:
    phase = "phase4"

    def __init__(self, summarizer: Summarizer, embedder: Embedder):
        self.summarizer = summarizer
        self.embedder = embedder

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        stored = ctx.db.segment_metadatas(claim.name)
        if not stored:
            return self._nothing_to_summarize(claim, ctx)
        spanned = [(span, m) for m in stored if (span := segment_span(m)) is not None]
        timed = sorted(spanned, key=lambda sm: sm[0])
        if len(timed) < len(stored):  # only segments loaded before Phase 3 checked its input
            ctx.warn(f"{len(stored) - len(timed)} segments have no usable time range and are left out of the summary; "
                     f"reload them: {command('reset', claim.name, '--phase', '3')}")
        if not timed:
            raise VideoError(f"{claim.name}: no segment has a usable time range; reset phase 3 and load it again")
        segments = [
            SegmentText(int(m.get("segment_index", i)), span[0], span[1],
                        str(m.get("description") or ""), keywords_of(m.get("keywords")),
                        str(m.get("content_type") or ""), bool(m.get("scene_change")), str(m.get("transcript") or ""))
            for i, (span, m) in enumerate(timed)
        ]
        meta = claim.meta
        shots, tracks = phase1_extras(ctx.work_dir, claim.name, ctx.warn)
        video = SummaryInput(claim.name, str(meta.get("title") or claim.name), str(meta.get("description") or ""),
                             str(meta.get("transcript_language") or meta.get("language") or ""), ctx.settings.output_language,
                             segments, json_list(meta.get("chapters")), shots)
        ctx.report(0, 2, "summarizing")
        summary = self.summarizer.summarize(video)
        document = video_document(summary.summary, summary.keywords)
        vector = self.embedder.embed_passages([document])[0]
        ctx.db.set_video_summary(claim.name, vector.tolist(), document, summary_fields(
            summary.summary, summary.keywords, summary.content_type, json.dumps(summary.chapters, ensure_ascii=False),
            f"{summary.summarizer}:{summary.model}"))
        on_screen = {seg.index: str(m.get("on_screen_text") or "") for seg, (_span, m) in zip(segments, timed)}
        atomic_write_text(report_path(ctx.work_dir, claim.name),
                          markdown_report(claim.name, video.title, meta, summary, segments, on_screen=on_screen))
        written = write_subtitle_files(subtitles_dir(ctx.work_dir), check_name(claim.name), tracks)
        ctx.report(2, 2, "summarizing")
        subtitles = f", subtitles {'+'.join(tracks)}" if written else ""
        return JobResult(count=len(summary.keywords),
                         note=f"keywords, {len(summary.chapters)} chapters ({summary.summarizer}){subtitles}")

    def _nothing_to_summarize(self, claim: Claim, ctx: JobContext) -> JobResult:
        """A video Phase 3 loaded no moment of (no speech and no text on screen anywhere): a summary that says so.

        Its document carries the title, so that silent videos do not all share one vector in video_files."""
        meta = claim.meta
        title = str(meta.get("title") or claim.name)
        summary = VideoSummary("No speech or text on screen was found in this video.", [], "other", [], "none", "")
        document = f"{title}\n{summary.summary}"
        ctx.db.set_video_summary(claim.name, self.embedder.embed_passages([document])[0].tolist(), document, summary_fields(
            summary.summary, [], summary.content_type, "[]", "none"))
        atomic_write_text(report_path(ctx.work_dir, claim.name), markdown_report(claim.name, title, meta, summary, [], on_screen={}))
        _shots, tracks = phase1_extras(ctx.work_dir, claim.name, ctx.warn)
        write_subtitle_files(subtitles_dir(ctx.work_dir), check_name(claim.name), tracks)
        return JobResult(count=0, note="nothing to summarize: no speech and no text on screen")
