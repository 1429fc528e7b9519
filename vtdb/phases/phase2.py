"""Phase 2: describe every window of a video with an analyzer; write
{work_dir}/{name}_phase2_vllm_analysis.json atomically.

A bad answer costs one window, never the run: a window whose answer cannot be used even after
repair and one more request is recorded as failed, and the video fails only when more than
`window_failure_share` of its windows failed.
"""

from __future__ import annotations

from vtdb.analyzers import Analyzer, VideoContext, WindowInput
from vtdb.analyzers.base import EMPTY
from vtdb.atomic import atomic_write_json
from vtdb.clock import iso, now_utc
from vtdb.config import Settings
from vtdb.records import phase2_fields
from vtdb.runner import JobContext, JobResult, VideoError
from vtdb.store import Claim
from vtdb.workfiles import PHASE2_FORMAT, WorkFileError, load_phase1_data, phase2_analysis_path

PHASE2_VERSION = 1
SEGMENT_FIELDS = ("description", "dialogue_translation", "keywords", "content_type", "mood_atmosphere", "confidence", "scene_change")


def window_inputs(data: dict) -> list[WindowInput]:
    windows = data["windows"]
    out = []
    for i, w in enumerate(windows):
        out.append(
            WindowInput(
                index=int(w["index"]),
                start_time=float(w["start_time"]),
                end_time=float(w["end_time"]),
                transcript=str(w.get("text") or ""),
                frames=[f["jpeg"] for f in w.get("frames", []) if isinstance(f.get("jpeg"), bytes)],
                previous_transcript=str(windows[i - 1].get("text") or "") if i else "",
                translation=str(w.get("translation") or ""),
                translation_source=str(w.get("translation_source") or ""),
                on_screen_text=[str(line) for line in w.get("on_screen_text") or [] if str(line).strip()],
                shot_cut=w["scene_change"] if isinstance(w.get("scene_change"), bool) else None,
            )
        )
    return out


class Phase2Job:
    phase = "phase2"

    def __init__(self, settings: Settings, analyzer: Analyzer):
        self.settings = settings
        self.analyzer = analyzer

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        try:
            data = load_phase1_data(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            raise VideoError(str(exc)) from None
        meta = claim.meta
        transcript = data.get("transcript", {})
        video = VideoContext(
            name=claim.name,
            title=str(meta.get("title") or data["video"].get("title") or claim.name),
            description=str(meta.get("description") or data["video"].get("description") or ""),
            language=transcript.get("language") or (meta.get("language") or None),
            output_language=self.settings.output_language,
            duration=float(data["video"].get("duration") or 0.0),
        )
        try:
            windows = window_inputs(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise VideoError(f"{claim.name}: Phase 1 data is malformed ({type(exc).__name__}: {exc}); "
                             f"reset phase 1: python db_manager.py reset {claim.name} --phase 1") from None
        if not windows:
            raise VideoError(f"{claim.name}: Phase 1 data has no windows; reset phase 1")
        ctx.report(0, len(windows), "windows")
        # An endpoint that goes down mid-run raises a BackendUnavailable, a RunAborted: not this video's fault.
        outcomes = self.analyzer.analyze(video, windows, progress=lambda n: ctx.report(n, len(windows), "windows"))

        segments = []
        failed = []
        for w, outcome in zip(windows, outcomes):
            segment = {
                "segment_index": w.index,
                "start_time": w.start_time,
                "end_time": w.end_time,
                "status": outcome.status,
                "analyzer": self.analyzer.name,
                "model": self.analyzer.model,
                "prompt_version": self.analyzer.prompt_version or "n/a",
            }
            if outcome.fields is not None:
                segment.update({k: outcome.fields[k] for k in SEGMENT_FIELDS})
                segment["text_language"] = outcome.text_language or self.settings.output_language
                translated_here = (outcome.fields.get("dialogue_translation") and segment["text_language"] != (video.language or ""))
                segment["translation_source"] = outcome.translation_source or ("analyzer" if translated_here else "")
            else:
                failed.append(outcome)
                segment["error"] = outcome.error
            if outcome.notes:
                segment["notes"] = outcome.notes
            segments.append(segment)
        share = len(failed) / len(windows)
        if failed and share > self.settings.window_failure_share:
            raise VideoError(
                f"{len(failed)} of {len(windows)} windows failed (more than window_failure_share "
                f"{self.settings.window_failure_share:.0%}); first error: {failed[0].error}"
            )
        for outcome in failed:
            ctx.warn(f"window {outcome.index} failed: {outcome.error}")
        document = {
            "format": PHASE2_FORMAT,
            "version": PHASE2_VERSION,
            "video_name": claim.name,
            "created_at": iso(now_utc()),
            "analyzer": self.analyzer.name,
            "model": self.analyzer.model,
            "output_language": self.settings.output_language,
            "transcript_language": video.language or "",
            "windows_total": len(windows),
            "windows_failed": len(failed),
            "windows_repaired": sum(1 for s in segments if s["status"] == "repaired"),
            "segments": segments,
        }
        atomic_write_json(phase2_analysis_path(ctx.work_dir, claim.name), document)
        ok = len(windows) - len(failed)
        empty = sum(1 for s in segments if s["status"] == EMPTY)
        return JobResult(
            count=ok,
            fields=phase2_fields(self.analyzer.name, self.analyzer.model, len(failed)),
            note=f"windows analyzed by {self.analyzer.name}" + (f", {len(failed)} failed" if failed else "")
            + (f", {empty} with nothing in them (no speech, no text on screen)" if empty else ""),
        )
