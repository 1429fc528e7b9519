"""Phase 2: describe every window of a video with an analyzer; write
{work_dir}/{name}_phase2_vllm_analysis.json atomically.

A bad answer costs one window, never the run: a window whose answer cannot be used even after
repair and one more request is recorded as failed, and the video fails only when more than
`window_failure_share` of its windows failed.
"""

from __future__ import annotations

from vtdb.analyzers import Analyzer, VideoContext, WindowInput, WindowOutcome
from vtdb.analyzers.base import EMPTY
from vtdb.atomic import atomic_write_json
from vtdb.clock import iso, now_utc
from vtdb.config import Settings
from vtdb.errors import VideoError
from vtdb.records import phase2_fields
from vtdb.runner import JobContext, JobResult
from vtdb.store import Claim
from vtdb.workfiles import Phase1Data, Phase2Analysis, WindowAnalysis, WorkFileError, phase2_analysis_path, read_phase1


def window_inputs(data: Phase1Data) -> list[WindowInput]:
    """What the analyzer gets of each Phase 1 window (with the speech of the window before it)."""
    windows = data.windows
    return [
        WindowInput(
            index=w.index,
            start_time=w.start_time,
            end_time=w.end_time,
            transcript=w.text,
            frames=[f.jpeg for f in w.frames],
            previous_transcript=windows[i - 1].text if i else "",
            translation=w.translation,
            translation_source=w.translation_source,
            on_screen_text=[line for line in w.on_screen_text if line.strip()],
            shot_cut=w.scene_change,
        )
        for i, w in enumerate(windows)
    ]


class Phase2Job:
    phase = "phase2"

    def __init__(self, settings: Settings, analyzer: Analyzer):
        self.settings = settings
        self.analyzer = analyzer

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        try:
            data = read_phase1(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            raise VideoError(str(exc)) from None
        meta = claim.meta
        video = VideoContext(
            name=claim.name,
            title=str(meta.get("title") or data.video.title or claim.name),
            description=str(meta.get("description") or data.video.description or ""),
            language=data.transcript.language or (meta.get("language") or None),
            output_language=self.settings.output_language,
            duration=data.video.duration,
        )
        windows = window_inputs(data)
        if not windows:
            raise VideoError(f"{claim.name}: Phase 1 data has no windows; reset phase 1")
        ctx.report(0, len(windows), "windows")
        # An endpoint that goes down mid-run raises a BackendUnavailable, a RunAborted: not this video's fault.
        outcomes = self.analyzer.analyze(video, windows, progress=lambda n: ctx.report(n, len(windows), "windows"))
        segments = [self._segment(w, outcome, video) for w, outcome in zip(windows, outcomes)]
        failed = [outcome for outcome in outcomes if outcome.fields is None]
        share = len(failed) / len(windows)
        if failed and share > self.settings.window_failure_share:
            raise VideoError(
                f"{len(failed)} of {len(windows)} windows failed (more than window_failure_share "
                f"{self.settings.window_failure_share:.0%}); first error: {failed[0].error}"
            )
        for outcome in failed:
            ctx.warn(f"window {outcome.index} failed: {outcome.error}")
        analysis = Phase2Analysis(claim.name, self.analyzer.name, self.analyzer.model, self.settings.output_language,
                                  video.language or "", segments, created_at=iso(now_utc()))
        atomic_write_json(phase2_analysis_path(ctx.work_dir, claim.name), analysis.to_plain())
        ok = len(windows) - len(failed)
        empty = sum(1 for s in segments if s.status == EMPTY)
        return JobResult(
            count=ok,
            fields=phase2_fields(self.analyzer.name, self.analyzer.model, len(failed)),
            note=f"windows analyzed by {self.analyzer.name}" + (f", {len(failed)} failed" if failed else "")
            + (f", {empty} with nothing in them (no speech, no text on screen)" if empty else ""),
        )

    def _segment(self, window: WindowInput, outcome: WindowOutcome, video: VideoContext) -> WindowAnalysis:
        """One window of the Phase 2 file: the analysis, or the error that cost it."""
        segment = WindowAnalysis(window.index, window.start_time, window.end_time, outcome.status, self.analyzer.name,
                                 self.analyzer.model, self.analyzer.prompt_version or "n/a", outcome.fields,
                                 notes=list(outcome.notes))
        if outcome.fields is None:
            segment.error = outcome.error
            return segment
        segment.text_language = outcome.text_language or self.settings.output_language
        translated_here = outcome.fields.get("dialogue_translation") and segment.text_language != (video.language or "")
        segment.translation_source = outcome.translation_source or ("analyzer" if translated_here else "")
        return segment
