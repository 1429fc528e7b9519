"""Phase 3: embed each video's window descriptions and load them into `video_segments`.

One record per analyzed window, id `{name}_seg_{i}`; a video's segments are replaced as a
whole (delete, then add), so a re-run with fewer windows leaves nothing stale behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analyzers.schema import FIELDS, validate
from .db import Claim
from .embedders import Embedder
from .phase2 import load_phase2_analysis
from .runner import JobContext, JobResult, VideoError
from .workfiles import WorkFileError, load_phase1_data

EMBED_BATCH = 64
MAX_TRANSCRIPT_IN_METADATA = 4000


@dataclass
class SegmentRecord:
    id: str
    document: str
    metadata: dict


def segment_document(fields: dict) -> str:
    """What is embedded and searched: description + dialogue translation + keywords."""
    parts = [fields.get("description", "").strip(), fields.get("dialogue_translation", "").strip()]
    if fields.get("keywords"):
        parts.append("Keywords: " + ", ".join(fields["keywords"]))
    return "\n".join(p for p in parts if p)


def build_segments(name: str, meta: dict, analysis: dict, phase1: dict | None) -> tuple[list[SegmentRecord], list[str]]:
    """Records for every usable window, plus warnings about the windows left out."""
    windows = {int(w["index"]): w for w in (phase1 or {}).get("windows", [])}
    transcript = (phase1 or {}).get("transcript", {})
    language = transcript.get("language") or analysis.get("transcript_language") or meta.get("language") or ""
    records: list[SegmentRecord] = []
    warnings: list[str] = []
    for position, seg in enumerate(analysis["segments"]):
        if not isinstance(seg, dict):
            raise VideoError(f"{name}: Phase 2 segment #{position} is not an object; reset phase 2 for this video")
        if seg.get("status") == "failed":
            warnings.append(f"window {seg.get('segment_index')} was not analyzed ({seg.get('error', 'failed')}); not loaded")
            continue
        raw = {k: seg.get(k) for k in FIELDS}
        if isinstance(raw["description"], str) and not raw["description"].strip():
            # An empty description: the window's speech is the next best document.
            spoken = str(windows.get(seg.get("segment_index"), {}).get("text") or "").strip()
            if not spoken:
                warnings.append(f"window {seg.get('segment_index')}: empty description and no speech; not loaded")
                continue
            raw["description"] = spoken
        try:
            index = int(_number(seg, "segment_index"))
            start, end = _number(seg, "start_time"), _number(seg, "end_time")
            fields = validate(raw)
        except (KeyError, TypeError, ValueError) as exc:  # SchemaError is a ValueError
            raise VideoError(
                f"{name}: Phase 2 segment #{position} has wrong or missing fields ({exc}); "
                f"reset phase 2 for this video: python db_manager.py reset {name} --phase 2"
            ) from None
        window_text = str(windows.get(index, {}).get("text") or "")
        metadata = {
            **fields,
            "start_time": start,
            "end_time": end,
            "duration": round(end - start, 3),
            "segment_index": index,
            "video_name": name,
            "video_path": str(meta.get("video_path") or ""),
            "title": str(meta.get("title") or name),
            "language": language,
            "transcript": window_text[:MAX_TRANSCRIPT_IN_METADATA],
            "analyzer": str(seg.get("analyzer") or analysis.get("analyzer") or ""),
            "model": str(seg.get("model") or analysis.get("model") or ""),
            "prompt_version": str(seg.get("prompt_version") or ""),
            "analysis_status": str(seg.get("status") or "ok"),
        }
        records.append(SegmentRecord(f"{name}_seg_{index}", segment_document(fields), metadata))
    return records, warnings


def _number(seg: dict, key: str) -> float:
    """A numeric field of a Phase 2 segment; the error names the field (not just the bad value)."""
    if key not in seg:
        raise ValueError(f"{key} is missing")
    value = seg[key]
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None


class Phase3Job:
    phase = "db_load"

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        try:
            analysis = load_phase2_analysis(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            raise VideoError(str(exc)) from None
        try:
            phase1 = load_phase1_data(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            ctx.warn(f"Phase 1 data unavailable ({exc}); segments get no transcript text")
            phase1 = None
        records, warnings = build_segments(claim.name, claim.meta, analysis, phase1)
        for w in warnings:
            ctx.warn(w)
        if not records:
            raise VideoError(f"{claim.name}: no usable segments in the Phase 2 analysis (all windows failed or empty)")
        vectors = []
        for start in range(0, len(records), EMBED_BATCH):
            batch = records[start : start + EMBED_BATCH]
            vectors.extend(self.embedder.embed_passages([r.document for r in batch]).tolist())
            ctx.report(min(start + EMBED_BATCH, len(records)), len(records), "segments embedded")
        ctx.db.add_segments(claim.name, [r.id for r in records], vectors, [r.document for r in records], [r.metadata for r in records])
        return JobResult(count=len(records), fields={"db_embedder": self.embedder.name},
                         note=f"segments loaded ({self.embedder.name})" + (f", {len(warnings)} windows skipped" if warnings else ""))
