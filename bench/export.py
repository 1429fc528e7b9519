#!/usr/bin/env python3
"""Benchmark: export_clippy on N synthetic segments (default 10,000) against bare all-mpnet-base-v2
`encode` of the same document contents, in one run.

    .venv/bin/python bench/export.py [--segments 10000] [--out bench/out]

Prints the export's wall time, the part spent embedding, the rest (reading Chroma, building and
writing the JSON files and pages), and the ratio export / bare encode.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vtdb.config import parse_config  # noqa: E402
from vtdb.embedders import load_embedder  # noqa: E402
from vtdb.export.clippy import ExportOptions, build_docs, export  # noqa: E402
from vtdb.store import Store  # noqa: E402

WORDS = ("pasta water salt boil sauce garlic tomato basil bicycle tyre puncture patch brake chain oil garden tomato "
         "seedling compost water fishing rod hook lake bread dough oven flour yeast knead bake tea kettle leaves "
         "bandage wound pressure first aid car wheel jack bolt spare").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def build(db: Store, segments: int, per_video: int = 100) -> list[dict]:
    rng = random.Random(0)
    videos = []
    for v in range(segments // per_video):
        name = f"video_{v:04d}"
        db.create_or_update_video_file(name, f"/videos/{name}.mp4", title=f"Synthetic video {v}", summary=sentence(rng, 40),
                                       updated_at="2026-01-01T00:00:00+00:00")
        metas, ids = [], []
        for i in range(per_video):
            start = i * 35.0
            metas.append({"description": sentence(rng, 25) + " " + sentence(rng, 15), "dialogue_translation": sentence(rng, 60),
                          "keywords": [rng.choice(WORDS) for _ in range(5)], "content_type": rng.choice(["cooking", "repair", "other"]),
                          "start_time": start, "end_time": start + 50.0, "segment_index": i, "title": f"Synthetic video {v}",
                          "video_path": f"/videos/{name}.mp4", "transcript": sentence(rng, 80), "language": "en"})
            ids.append(f"{name}_seg_{i}")
        vec = [1.0] + [0.0] * 383
        db.add_segments(name, ids, [vec] * len(ids), ["doc"] * len(ids), metas)
        videos.append(db.get_video_status(name))
    return videos


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--segments", type=int, default=10_000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vtdb-bench-export-") as tmp:
        config = parse_config({"settings": {"work_dir": f"{tmp}/data", "chroma_dir": f"{tmp}/db"}, "videos": []}, None, env={})
        db = Store(config)
        t0 = time.perf_counter()
        videos = build(db, args.segments)
        build_s = time.perf_counter() - t0

        def segments_of(name: str) -> list[dict]:
            return [m or {} for m in db.get_segments(where={"video_name": name}, include=["metadatas"])["metadatas"]]

        embedder = load_embedder("all-mpnet-base-v2")
        embedder.embed_passages(["warm up"])
        model = embedder._model

        def fits(text: str) -> bool:  # as export_clippy.py: the model must read the whole document
            return len(model.tokenizer(text)["input_ids"]) <= model.max_seq_length

        docs = build_docs("bench", videos, segments_of, "", fits)
        contents = [d.content for d in docs]

        t0 = time.perf_counter()
        embedder.embed_passages(contents)
        bare_s = time.perf_counter() - t0

        embed_s = 0.0

        def timed_embed(texts):
            nonlocal embed_s
            t = time.perf_counter()
            vectors = embedder.embed_passages(texts)
            embed_s += time.perf_counter() - t
            return vectors

        opts = ExportOptions(source_id="bench", name="bench", license="CC0", out=Path(tmp) / "export")
        t0 = time.perf_counter()
        export(opts, videos, segments_of, lambda name: "", timed_embed, log=lambda m: None, fits=fits)
        export_s = time.perf_counter() - t0
        size_mb = sum(f.stat().st_size for f in (Path(tmp) / "export" / "bench").rglob("*") if f.is_file()) / 1e6
    result = {"segments": len(docs), "videos": len(videos), "build_db_s": round(build_s, 1), "bare_encode_s": round(bare_s, 1),
              "export_s": round(export_s, 1), "export_embedding_s": round(embed_s, 1), "export_other_s": round(export_s - embed_s, 1),
              "ratio_export_to_bare_encode": round(export_s / bare_s, 3), "embedding_share": round(embed_s / export_s, 3),
              "output_mb": round(size_mb, 1), "docs_per_s": round(len(docs) / export_s, 1), "loadavg": os.getloadavg()}
    print(f"export of {result['segments']} segments from {result['videos']} videos (all-mpnet-base-v2, 2 cores)")
    print(f"  bare encode of the same contents      {result['bare_encode_s']:8.1f} s")
    print(f"  export_clippy end to end              {result['export_s']:8.1f} s   ({result['docs_per_s']} docs/s, {result['output_mb']} MB written)")
    print(f"    of which embedding                  {result['export_embedding_s']:8.1f} s   ({result['embedding_share']:.0%}: embedding dominates)")
    print(f"    reading Chroma, JSON, pages         {result['export_other_s']:8.1f} s")
    print(f"  ratio export / bare encode            {result['ratio_export_to_bare_encode']:8.3f}")
    (out / f"export_{result['segments']}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
