#!/usr/bin/env python3
"""Phase 1 benchmark.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/phase1.py [--long-minutes 10] [--short-minutes 4] [--quick]

By default, the issue-11 study (speed_main): real speech from tests/data/speech/en over an ffmpeg test
pattern. Baseline: bare sequential faster-whisper (WhisperModel.transcribe, default options, language en)
on the long video's audio, transcription only (cached beside the video; --fresh-baseline re-measures it).
Then Phase 1 end to end through the CLI: the long video with whisper_batch_size auto, the short one with
auto and with 0; WER of each against transcripts.tsv, the pickle's timings, CPU time, peak RSS. Ratios:
auto / baseline on the long video (goal <= 0.45), auto / batch 0 on the short one (goal <= 0.7).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/phase1.py --espeak [--minutes 10] [--out bench/out] [--repeat 1]

The issue-2 study. On a generated 1280x720 video with real espeak-ng English speech (cached in the out folder), in one run:

  (a) bare faster-whisper over the whole audio: the same WhisperModel (FasterWhisperTranscriber's own
      loader: bundled 'base', cpu/int8 via pick_device, cpu_threads) and the same transcribe() options as
      Phase 1 (word timestamps, VAD, beam size from settings, condition_on_previous_text=False, language);
  (b) the naive approach: each 50 s / 15 s-overlap window's audio slice transcribed separately (same model);
  (c) Phase 1 end to end through the real CLI (phase1_whisper_frames.py --config, fresh work/chroma dirs):
      wall time, the pickle's own timings (transcribe_s, frames_s), pickle size, MB per hour, peak RSS;
  (d) a no-op re-run over 1,000 completed videos (real tiny files; records created with
      Store.create_or_update_video_file and marked completed with update_video_status, carrying the
      files' source fingerprints so that sync_videos leaves them alone; the database is built once and kept
      as a template that each run copies into a fresh folder): wall time of the CLI (median of 3), the
      Python start-up/import cost, and an in-process breakdown (sync_videos, run_phase).

The Whisper model is loaded once for (a) and (b); its load time is excluded from both (it is reported).
Audio decoding is done once and also excluded from (a) and (b) (reported). Phase 1's wall time (c)
includes everything: interpreter start-up, imports, database, probe, audio decode, model load,
transcription, frames, pickle. Results go to stdout and to <out>/phase1_<minutes>min.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (  # bench/ is on sys.path (run as `python bench/phase1.py`)
    SAMPLE_RATE,
    loadavg,
    log,
    measure_child,
    norm_words,
    speech_audio,
    speech_video,
    wer,
    write_wav,
)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

PY = sys.executable
PHASE1_CLI = ROOT / "phase1_whisper_frames.py"

# Targets from the issue.
TARGET_C_OVER_A = 1.25
TARGET_MB_PER_HOUR = 60.0
TARGET_NOOP_S = 5.0  # "a few seconds"

# Varied English paragraphs (about 20-30 s each when spoken at 125 wpm). The English demo scenes are
# appended; topics loop with a "Part N." prefix when a long video needs more.
PARAGRAPHS = [
    "Welcome to this long recording about everyday science. We will talk about weather, cooking, "
    "machines, animals and history, one topic after another, so that every part of the video sounds different.",
    "Clouds form when warm air rises and cools. The water vapour condenses into tiny droplets around specks of dust. "
    "When the droplets grow heavy enough, they fall as rain, and in winter they may fall as snow or hail.",
    "A steam engine turns heat into motion. Coal burns under a boiler, the water boils, and the steam pushes a piston "
    "back and forth. A crank changes that movement into the turning of a wheel, which once pulled trains across whole continents.",
    "Honey bees live in colonies of many thousands. The queen lays eggs, the workers collect nectar and pollen, "
    "and the drones wait for the summer. A bee that finds good flowers dances to tell the others where to fly.",
    "To bake bread you need flour, water, salt and yeast. Knead the dough for ten minutes until it is smooth and elastic, "
    "let it rise in a warm place for an hour, shape a loaf and bake it in a hot oven until the crust is brown.",
    "The Roman empire built roads from stone and gravel that still exist today. Soldiers and merchants travelled on them, "
    "and milestones told them how far they were from the city. Many modern highways follow the same old routes.",
    "A computer stores everything as numbers. Letters, pictures and sounds become long sequences of ones and zeros. "
    "The processor reads these numbers from memory, adds and compares them billions of times every second, and writes the results back.",
    "Mountains are made when the plates of the earth push against each other. Over millions of years the rock folds and rises. "
    "Wind, ice and rivers wear the peaks down again, carrying sand and stones into the valleys and out to the sea.",
    "Running is one of the simplest ways to stay healthy. Start slowly, with short distances and comfortable shoes. "
    "Drink water, rest between training days, and increase your distance by no more than a tenth every week.",
    "The moon has no light of its own. It reflects the light of the sun, and as it travels around the earth we see "
    "different parts of it lit. That is why it changes from a thin crescent to a full bright circle and back in about a month.",
    "Old libraries kept books chained to their shelves because every copy was written by hand and cost a fortune. "
    "The printing press changed that. Suddenly books were cheap, and reading spread from monks and scholars to ordinary families.",
    "Electric cars use batteries instead of fuel tanks. The motor is quiet and has few moving parts. Charging at home overnight "
    "is cheap, but long journeys still need planning, because fast chargers are not yet found on every road.",
    "Octopuses are clever animals. They can open jars, squeeze through tiny holes and change the colour of their skin in a moment. "
    "Each of the eight arms has its own cluster of nerves and can taste whatever it touches.",
    "Coffee beans are the seeds of a red fruit that grows on bushes in warm hills. The seeds are dried, roasted and ground. "
    "Light roasts taste fruity and sharp, while dark roasts taste bitter, smoky and strong.",
    "A lighthouse warns ships away from rocks. Its lamp turns behind large glass lenses, and each lighthouse flashes in its own "
    "pattern, so sailors at night can tell exactly which coast they are looking at.",
    "Gardeners say that good soil is alive. Worms dig tunnels that bring air to the roots, fungi carry water and food, "
    "and fallen leaves slowly turn into dark rich earth that feeds the next year of plants.",
]

# Scene pictures. Real footage at 768 px gives JPEGs of roughly 40-90 KB; flat test patterns give 5-25 KB,
# which would flatter the pickle size. So, where scikit-learn's two sample photos are installed (they ship
# in its wheel), half the scenes slowly zoom or pan over a real photo; the rest are ffmpeg test sources
# (mandelbrot is left out: far too slow to render at 720p; life is rendered small and scaled up, which
# keeps it detailed without a pathological bitrate).
SYNTHETIC_SOURCES = (
    "testsrc2=size={w}x{h}:rate={fps}",
    "life=size=320x180:rate={fps}:mold=10:ratio=0.3:death_color=#202060:life_color=#e0c040,scale={w}:{h}:flags=neighbor,setsar=1",
    "smptehdbars=size={w}x{h}:rate={fps}",
    "rgbtestsrc=size={w}x{h}:rate={fps}",
    "testsrc=size={w}x{h}:rate={fps}",
    "color=c=0x2e7d32:size={w}x{h}:rate={fps}",
)
PHOTO_SOURCES = (
    # slow zoom into the middle / slow pan from left to right
    "movie={img},scale=1920:-2,zoompan=z='min(zoom+0.0007,1.4)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1000000:s={w}x{h}:fps={fps},setsar=1",
    "movie={img},scale=1920:-2,zoompan=z='1.25':x='(iw-iw/zoom)*mod(on,1500)/1500':y='ih/2-(ih/zoom/2)':d=1000000:s={w}x{h}:fps={fps},setsar=1",
)


def sample_photos() -> list[str]:
    try:
        import importlib.util

        spec = importlib.util.find_spec("sklearn")
    except Exception:
        return []
    if not spec or not spec.origin:
        return []
    folder = Path(spec.origin).parent / "datasets" / "images"
    photos = [str(folder / n) for n in ("china.jpg", "flower.jpg") if (folder / n).is_file()]
    # the path goes into a filtergraph: refuse characters that would need escaping there
    return [p for p in photos if not re.search(r"[:,;'\[\]=\\{}]", p)]


def scene_sources() -> tuple[list[str], str]:
    photos = sample_photos()
    if not photos:
        return list(SYNTHETIC_SOURCES), "synthetic ffmpeg test sources"
    mixed = []
    for i, synthetic in enumerate(SYNTHETIC_SOURCES):
        photo = PHOTO_SOURCES[i % len(PHOTO_SOURCES)].replace("{img}", photos[i % len(photos)])
        mixed += [photo, synthetic]
    return mixed, "half real photos (sklearn samples) with zoom/pan, half ffmpeg test sources"


VIDEO_NAME = "bench_video"


# ---------------------------------------------------------------- helpers


def run_with_peak_rss(cmd: list[str], cwd: Path, env: dict, stdout_path: Path, stderr_path: Path,
                      timeout: float) -> dict:
    """Run a child, return wall time, exit code and peak RSS (kernel high-water mark via wait4, and polled)."""
    return measure_child(cmd, cwd, env, stdout_path, stderr_path, timeout)


def child_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "COLUMNS": "160",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


# ---------------------------------------------------------------- the video


def ensure_video(out_dir: Path, minutes: float, size: tuple[int, int], fps: int, pause: float) -> dict:
    """Generate (once) a video of exactly `minutes` with spoken paragraphs over changing scenes."""
    from vtdb.demo import DEMO_VIDEOS, Scene, make_video, speak

    w, h = size
    target = round(minutes * 60.0, 3)
    stem = f"video_{minutes:g}min_{w}x{h}_{fps}fps"
    path = out_dir / f"{stem}.mp4"
    sidecar = out_dir / f"{stem}.json"
    sources, sources_label = scene_sources()
    params = {"minutes": minutes, "size": [w, h], "fps": fps, "pause": pause, "sources": sources_label, "version": 3}
    if path.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text())
        if meta.get("params") == params:
            meta["cached"] = True
            log(f"video: cached {path}")
            return meta

    texts = list(PARAGRAPHS) + [s.text for v in DEMO_VIDEOS if v.language == "en" for s in v.scenes]
    log(f"video: generating {target:.0f} s at {w}x{h}, {fps} fps (one-time; cached in {out_dir}) …")
    t0 = time.perf_counter()
    scenes: list = []
    spoken: list[str] = []
    total = 0.0
    with tempfile.TemporaryDirectory(prefix="vtdb-bench-") as tmp:
        i = 0
        while True:
            text = texts[i % len(texts)]
            if i >= len(texts):
                text = f"Part {i // len(texts) + 1}. {text}"
            seconds = speak(text, "en-us", Path(tmp) / "probe.wav") + pause
            if total + seconds > target:
                break
            scenes.append(Scene(text, source=sources[i % len(sources)]))
            spoken.append(text)
            total += round(seconds, 3)
            i += 1
    tail = round(target - total, 3)
    if tail > 0.05:  # a silent outro over one more scene makes the length exact
        scenes.append(Scene("", source=sources[len(scenes) % len(sources)], seconds=tail))
    tmp_path = out_dir / f"{stem}.partial.mp4"
    out_dir.mkdir(parents=True, exist_ok=True)
    make_video(tmp_path, scenes, voice="en-us", size=size, fps=fps, pause=pause)
    os.replace(tmp_path, path)
    gen_s = time.perf_counter() - t0
    meta = {
        "params": params,
        "path": str(path),
        "scenes": len(scenes),
        "spoken_paragraphs": len(spoken),
        "silent_tail_s": max(tail, 0.0),
        "pictures": sources_label,
        "reference_text": " ".join(spoken),
        "generate_s": round(gen_s, 1),
    }
    sidecar.write_text(json.dumps(meta, indent=1))
    meta["cached"] = False
    log(f"video: done in {gen_s:.0f} s ({path.stat().st_size / 1e6:.1f} MB)")
    return meta


def write_config(folder: Path, videos: list[dict], **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "videos_config.json"
    settings = {"work_dir": str(folder / "data"), "chroma_dir": str(folder / "chroma_db"), **extra}
    path.write_text(json.dumps({"settings": settings, "videos": videos}, indent=1))
    return path


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------- (a) and (b)


def bench_whisper(video_path: Path, config_path: Path, language: str, repeat: int, between=None) -> dict:
    """(a) and (b), `repeat` times; `between(r)` runs after each repetition (Phase 1, so that the runs interleave)."""
    import resource

    from vtdb.config import load_config
    from vtdb.media.transcribe import SAMPLE_RATE, FasterWhisperTranscriber, pick_device
    from vtdb.media.video import decode_audio, probe
    from vtdb.media.windows import plan_windows

    settings = load_config(config_path).settings  # the very settings Phase 1 runs with
    transcriber = FasterWhisperTranscriber(settings)
    t0 = time.perf_counter()
    model = transcriber._load()  # same WhisperModel(...) arguments as Phase 1
    load_s = time.perf_counter() - t0
    device, compute_type = pick_device(settings.whisper_device, settings.whisper_compute_type)
    batched = transcriber._batched

    peak_after_load_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t0 = time.perf_counter()
    audio = decode_audio(video_path)
    decode_s = time.perf_counter() - t0
    duration = probe(video_path).duration
    options = dict(
        language=language,
        word_timestamps=True,
        beam_size=settings.whisper_beam_size,
        condition_on_previous_text=False,
    )

    def transcribe(samples) -> tuple[list, list]:
        if batched is not None:
            segs, _ = batched.transcribe(samples, batch_size=settings.whisper_batch_size, **options)
        else:
            segs, _ = model.transcribe(samples, vad_filter=settings.vad_filter, **options)
        seg_list, words = [], []
        for seg in segs:  # the generator does the work
            seg_list.append(seg)
            words.extend(seg.words or [])
        return seg_list, words

    spans = plan_windows(duration, settings.window_length, settings.window_overlap, settings.window_min_tail)
    a_runs, b_runs, a_cpu, b_cpu = [], [], [], []
    a_words: list = []
    b_words_total = 0
    for r in range(repeat):
        log(f"(a) bare faster-whisper over the whole audio ({duration:.0f} s), run {r + 1}/{repeat} …")
        t0, c0 = time.perf_counter(), time.process_time()
        _, a_words = transcribe(audio)
        a_runs.append(time.perf_counter() - t0)
        a_cpu.append(time.process_time() - c0)
        if r == 0:
            peak_after_a_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        log(f"    {a_runs[-1]:.1f} s, {len(a_words)} words")

        log(f"(b) naive: {len(spans)} windows of {settings.window_length:g} s / {settings.window_overlap:g} s overlap, "
            f"each transcribed separately, run {r + 1}/{repeat} …")
        t0, c0 = time.perf_counter(), time.process_time()
        b_words_total = 0
        for span in spans:
            piece = audio[int(round(span.start * SAMPLE_RATE)): int(round(span.end * SAMPLE_RATE))]
            _, words = transcribe(piece)
            b_words_total += len(words)
        b_runs.append(time.perf_counter() - t0)
        b_cpu.append(time.process_time() - c0)
        log(f"    {b_runs[-1]:.1f} s, {b_words_total} words (overlaps counted twice)")
        if between is not None:
            between(r)

    return {
        "model": settings.whisper_model,
        "device": device,
        "compute_type": compute_type,
        "cpu_threads": settings.whisper_cpu_threads or (os.cpu_count() or 1),
        "beam_size": settings.whisper_beam_size,
        "vad_filter": settings.vad_filter,
        "batched": batched is not None,
        "language": language,
        "model_load_s": load_s,
        "bench_peak_rss_after_model_load_mb": peak_after_load_mb,
        "bench_peak_rss_after_a_mb": peak_after_a_mb,
        "audio_decode_s": decode_s,
        "audio_s": duration,
        "a_runs_s": a_runs,
        "a_s": min(a_runs),
        "a_cpu_s": min(a_cpu),
        "a_words": len(a_words),
        "a_text": "".join(w.word for w in a_words).strip(),
        "b_runs_s": b_runs,
        "b_s": min(b_runs),
        "b_cpu_s": min(b_cpu),
        "b_windows": len(spans),
        "b_words_with_overlap": b_words_total,
    }


# ---------------------------------------------------------------- (c)


def bench_phase1(out_dir: Path, video_path: Path, language: str, run: int | str, **extra) -> dict:
    from vtdb.workfiles import load_phase1_data, phase1_data_path

    folder = fresh_dir(out_dir / ("run_c" + re.sub(r"[^a-z0-9]+", "_", str(run).lower())))
    config = write_config(folder, [{"name": VIDEO_NAME, "path": str(video_path), "language": language}], **extra)
    log(f"(c) Phase 1 end to end: phase1_whisper_frames.py --config {config} ({run if isinstance(run, str) else 'run %d' % (run + 1)}) …")
    load_before = loadavg()
    res = run_with_peak_rss([PY, str(PHASE1_CLI), "--config", str(config)], ROOT, child_env(),
                            folder / "stdout.txt", folder / "stderr.txt", timeout=3600)
    res["loadavg_before"] = load_before
    res["loadavg_after"] = loadavg()
    res["config"] = str(config)
    if res["rc"] != 0:
        tail = (folder / "stderr.txt").read_text(errors="replace")[-3000:]
        raise SystemExit(f"Phase 1 failed with exit code {res['rc']}:\n{tail}")
    data = load_phase1_data(folder / "data", VIDEO_NAME)
    pkl = phase1_data_path(folder / "data", VIDEO_NAME)
    frames = [fr for w in data["windows"] for fr in w["frames"]]
    jpeg_bytes = sum(len(fr["jpeg"]) for fr in frames)
    duration = float(data["video"]["duration"])
    size_mb = pkl.stat().st_size / 1e6
    res.update(
        {
            "timings": data["timings"],
            "transcribe_s": float(data["timings"].get("transcribe_s", 0.0)),
            "frames_s": float(data["timings"].get("frames_s", 0.0)),
            "windows": len(data["windows"]),
            "frames": len(frames),
            "jpeg_kb_per_frame": jpeg_bytes / max(1, len(frames)) / 1e3,
            "jpeg_mb": jpeg_bytes / 1e6,
            "words": len(data["transcript"]["words"]),
            "text": data["transcript"]["text"],
            "pickle_path": str(pkl),
            "pickle_mb": size_mb,
            "duration_s": duration,
            "mb_per_hour": size_mb / (duration / 3600.0),
        }
    )
    log(f"    {res['wall_s']:.1f} s wall, pickle {size_mb:.1f} MB, peak RSS {res['peak_rss_mb_wait4']:.0f} MB")
    return res


# ---------------------------------------------------------------- (d)


def make_tiny_videos(folder: Path, count: int) -> list[Path]:
    """`count` real (tiny) MP4 files: one 1-second 64x64 video with audio, copied."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"v{i:04d}.mp4" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    seed = folder / "seed.mp4"
    if not seed.exists():
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc2=size=64x64:rate=10:duration=1", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(seed)],
                       check=True, capture_output=True)
    for p in paths:
        if not p.exists():
            shutil.copyfile(seed, p)
    return paths


def setup_noop_db(config_path: str) -> None:
    """(child process) Create every configured video's record and mark it completed for phase 1."""
    from vtdb import clock, state
    from vtdb.cli import open_database
    from vtdb.config import load_config
    from vtdb.sources.local import LocalFileSource

    t0 = time.perf_counter()
    config = load_config(config_path)
    n = 0
    with open_database(config, purpose="bench/phase1.py setup") as db:
        for entry in config.videos:
            fingerprint = LocalFileSource(entry.path).fingerprint() or ""
            # The same descriptive fields sync_videos writes, so the no-op run finds nothing to change.
            db.create_or_update_video_file(
                entry.name, entry.path, source_kind="file", title=entry.display_title,
                description=entry.description, language=entry.language or "", source_fingerprint=fingerprint,
            )
            # The fields a real completion writes (state.complete_update), set with the documented low-level
            # setter: one read and one write per video instead of claim + complete's two and two.
            done = state.complete_update("phase1", 1, clock.now_utc())
            done.pop("phase1_status")
            db.update_video_status(entry.name, "phase1", state.COMPLETED, **done, video_duration=1.0, width=64,
                                   height=64, fps=10.0, total_segments=1, has_audio=True, source_fingerprint=fingerprint)
            n += 1
        completed = len(db.list_videos({"phase1_status": "completed"}))
    print(json.dumps({"marked": n, "completed": completed, "setup_s": time.perf_counter() - t0}))


def profile_noop(config_path: str) -> None:
    """(child process) The CLI's steps for a no-op run, timed one by one after the imports."""
    t_start = time.perf_counter()
    import chromadb  # noqa: F401  (imported lazily by the CLI; counted as start-up here)

    import phase1_whisper_frames  # noqa: F401
    from vtdb import events as ev
    from vtdb.cli import load_or_exit, open_database, work_dir_of
    from vtdb.phases.phase1 import Phase1Job
    from vtdb.runner import RunOptions, run_phase
    from vtdb.sources.sync import sync_videos

    t_imports = time.perf_counter()
    config = load_or_exit(config_path, need_videos=True)
    work_dir = work_dir_of(config)
    events = ev.EventLog(work_dir / config.settings.event_log)
    t_config = time.perf_counter()
    with open_database(config, purpose="bench/phase1.py profile") as db:
        db.connect()  # open the client and the collections
        t_open = time.perf_counter()
        notes = sync_videos(db, config, events).notes
        t_sync = time.perf_counter()
        summary = run_phase(Phase1Job(config.settings.whisper, config.settings.frames), db, work_dir, RunOptions())
        t_run = time.perf_counter()
    print(json.dumps({
        "imports_s": t_imports - t_start,
        "load_config_s": t_config - t_imports,
        "open_db_s": t_open - t_config,
        "sync_videos_s": t_sync - t_open,
        "run_phase_s": t_run - t_sync,
        "after_imports_s": t_run - t_imports,
        "sync_notes": len(notes),
        "completed": len(summary.completed),
        "skipped": summary.skipped,
        "failed": len(summary.failed),
    }))


def bench_noop(out_dir: Path, count: int, runs: int, rebuild: bool = False) -> dict:
    folder = out_dir / "noop"
    log(f"(d) no-op re-run: {count} tiny real video files …")
    paths = make_tiny_videos(folder / "videos", count)
    run_dir = fresh_dir(folder / "run")
    config = write_config(run_dir, [{"name": p.stem, "path": str(p), "language": "en"} for p in paths])
    env = child_env()
    # Building the 1,000 completed records costs minutes (one Chroma write per call), so the result is kept
    # as a template and copied into a fresh folder on later runs. The template is rebuilt when the files'
    # fingerprints or the code that defines the records changes (or with --rebuild-noop).
    from vtdb.sources.local import LocalFileSource

    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.stem}\0{p}\0{LocalFileSource(p).fingerprint()}\n".encode())
    for module in ("db.py", "state.py", "phase1.py", "config.py", "embedders.py"):
        h.update((ROOT / "vtdb" / module).read_bytes())
    key = h.hexdigest()
    template = folder / f"template_chroma_db_{count}"
    template_key = folder / f"template_key_{count}.txt"
    chroma_dir = run_dir / "chroma_db"
    t0 = time.perf_counter()
    if not rebuild and template.is_dir() and template_key.exists() and template_key.read_text() == key:
        shutil.copytree(template, chroma_dir)
        setup = {"from_template": True, "wall_s": time.perf_counter() - t0}
        log(f"    fresh embedded db copied from the cached template of {count} completed records ({setup['wall_s']:.1f} s)")
    else:
        log(f"    marking {count} records completed (Store.create_or_update_video_file + update_video_status, "
            "fresh embedded db; cached as a template for later runs) …")
        proc = subprocess.run([PY, __file__, "--_setup-noop", str(config)], cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"no-op setup failed:\n{proc.stderr[-3000:]}")
        setup = json.loads(proc.stdout.strip().splitlines()[-1])
        setup["from_template"] = False
        setup["wall_s"] = time.perf_counter() - t0
        log(f"    setup {setup['wall_s']:.1f} s, {setup['completed']} completed")
        if template.exists():
            shutil.rmtree(template)
        shutil.copytree(chroma_dir, template)
        template_key.write_text(key)

    cli_runs = []
    for r in range(runs):
        res = run_with_peak_rss([PY, str(PHASE1_CLI), "--config", str(config)], ROOT, env,
                                run_dir / f"noop{r}.stdout.txt", run_dir / f"noop{r}.stderr.txt", timeout=600)
        text = (run_dir / f"noop{r}.stderr.txt").read_text(errors="replace") + (run_dir / f"noop{r}.stdout.txt").read_text(errors="replace")
        match = re.search(r"phase1: (\d+) completed, (\d+) failed.*?(\d+) skipped", text)
        res["summary_line"] = match.group(0) if match else text.strip().splitlines()[-1:]
        res["processed"] = int(match.group(1)) if match else None
        res["skipped"] = int(match.group(3)) if match else None
        cli_runs.append(res)
        log(f"    CLI no-op run {r + 1}/{runs}: {res['wall_s']:.2f} s (rc {res['rc']}, {res['summary_line']})")

    startup = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", "import chromadb, phase1_whisper_frames"], cwd=ROOT, env=env, check=True, capture_output=True)
        startup.append(time.perf_counter() - t0)
    log(f"    interpreter + imports (python -c 'import chromadb, phase1_whisper_frames'): {statistics.median(startup):.2f} s")

    proc = subprocess.run([PY, __file__, "--_profile-noop", str(config)], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"no-op profile failed:\n{proc.stderr[-3000:]}")
    profile = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"    in-process: sync_videos {profile['sync_videos_s']:.2f} s, run_phase {profile['run_phase_s']:.2f} s")

    walls = [r["wall_s"] for r in cli_runs]
    return {
        "videos": count,
        "setup": setup,
        "cli_runs": cli_runs,
        "cli_wall_s": walls,
        "cli_wall_median_s": statistics.median(walls),
        "startup_runs_s": startup,
        "startup_median_s": statistics.median(startup),
        "excl_startup_s": statistics.median(walls) - statistics.median(startup),
        "profile": profile,
        "all_skipped": all(r["processed"] == 0 and r["skipped"] == count and r["rc"] == 0 for r in cli_runs),
    }


# ---------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(res: dict) -> str:
    v, w, c, d = res["video"], res["whisper"], res["phase1"], res.get("noop")
    a, b, cw = w["a_s"], w["b_s"], c["wall_s"]
    dur = w["audio_s"]
    lines: list[str] = []
    add = lines.append
    rule = "-" * 100

    def row(label: str, value: str, note: str = "") -> None:
        add(f"  {label:<52} {value:>14}   {note}".rstrip())

    add(rule)
    add(f"Phase 1 benchmark  ({res['started_at']}, {res['host']['cpus']} CPUs, Python {res['host']['python']}, "
        f"load avg at start {res['host']['loadavg_start']}, at end {res['host']['loadavg_end']})")
    add(f"Video: {v['duration_s']:.1f} s ({v['duration_s'] / 60:.2f} min), {v['width']}x{v['height']}, {v['fps']:g} fps, "
        f"{v['file_mb']:.1f} MB, {v['scenes']} scenes, {v['reference_words']} words spoken (espeak-ng en-us)"
        + (", cached" if v["cached"] else f", generated in {v['generate_s']:.0f} s"))
    add(f"       pictures: {v['pictures']}")
    add(f"Whisper: {w['model']} on {w['device']}/{w['compute_type']}, {w['cpu_threads']} threads, beam {w['beam_size']}, "
        f"VAD {w['vad_filter']}, word timestamps, condition_on_previous_text=False, language {w['language']!r}"
        + (", batched" if w["batched"] else ""))
    add(rule)
    row("model load (once; excluded from a and b)", f"{w['model_load_s']:.2f} s")
    row("audio decode (once; excluded from a and b)", f"{w['audio_decode_s']:.2f} s")
    runs = lambda xs: "" if len(xs) < 2 else "runs " + ", ".join(f"{x:.1f}" for x in xs)  # noqa: E731
    row("(a) bare faster-whisper, whole audio", f"{a:.1f} s",
        f"RTF {a / dur:.3f}; CPU {w['a_cpu_s']:.0f} s; {w['a_words']} words; WER vs script {res['a_wer']:.3f} {runs(w['a_runs_s'])}")
    row(f"(b) naive: {w['b_windows']} windows transcribed separately", f"{b:.1f} s",
        f"RTF {b / dur:.3f}; CPU {w['b_cpu_s']:.0f} s; {w['b_words_with_overlap']} words incl. overlaps {runs(w['b_runs_s'])}")
    row("(c) Phase 1 CLI end to end (wall)", f"{cw:.1f} s",
        f"RTF {cw / dur:.3f}; CPU {c['cpu_user_s'] + c['cpu_sys_s']:.0f} s; {c['words']} words; WER vs script {res['c_wer']:.3f}"
        + ("" if len(c.get("all_wall_s", [])) < 2 else " " + runs(c["all_wall_s"])))
    other = cw - c["transcribe_s"] - c["frames_s"]
    row("    transcribe_s (decode + model load + ASR)", f"{c['transcribe_s']:.1f} s", "from the pickle's timings")
    row(f"    frames_s ({c['frames']} frames, {c['windows']} windows)", f"{c['frames_s']:.1f} s",
        f"{1000 * c['frames_s'] / max(1, c['frames']):.0f} ms/frame")
    row("    rest (start-up, imports, db, probe, windows, pickle)", f"{other:.1f} s")
    row("    pickle size", f"{c['pickle_mb']:.2f} MB",
        f"JPEGs {c['jpeg_mb']:.2f} MB, {c['jpeg_kb_per_frame']:.1f} KB/frame avg")
    row("    pickle per hour of video", f"{c['mb_per_hour']:.1f} MB/h",
        f"budget at 60 MB/h: {60e3 / (c['frames'] * 3600 / c['duration_s']):.0f} KB/frame")
    row("    peak RSS of the Phase 1 process", f"{c['peak_rss_mb_wait4']:.0f} MB",
        f"kernel high-water (wait4); polled {c['peak_rss_mb_polled']:.0f} MB")
    row("    cf. this process: peak RSS after model load / after (a)",
        f"{w['bench_peak_rss_after_model_load_mb']:.0f} / {w['bench_peak_rss_after_a_mb']:.0f} MB",
        "same model + whole-audio transcription, no frames")
    if d:
        row(f"(d) no-op re-run, {d['videos']} completed videos (CLI wall)", f"{d['cli_wall_median_s']:.2f} s",
            "median of " + ", ".join(f"{x:.2f}" for x in d["cli_wall_s"]) + (" — all skipped" if d["all_skipped"] else " — NOT all skipped!"))
        row("    interpreter + imports (chromadb, phase1 CLI)", f"{d['startup_median_s']:.2f} s", "python -c 'import …', median")
        row("    excluding start-up (CLI wall - import baseline)", f"{d['excl_startup_s']:.2f} s")
        p = d["profile"]
        row("    in-process after imports (config, db, sync, run)", f"{p['after_imports_s']:.2f} s", "one run, timed inside")
        row("    in-process: open db", f"{p['open_db_s']:.2f} s")
        row("    in-process: sync_videos (config -> records)", f"{p['sync_videos_s']:.2f} s")
        row("    in-process: run_phase (candidates, skip all)", f"{p['run_phase_s']:.2f} s")
        if d["setup"].get("from_template"):
            row("    (setup: fresh db copied from cached template)", f"{d['setup']['wall_s']:.1f} s")
        else:
            row(f"    (setup: create + mark {d['videos']} completed, one-time)", f"{d['setup']['wall_s']:.1f} s",
                "create_or_update_video_file + update_video_status per video")
    add(rule)
    add("Targets")
    t = res["targets"]
    add(f"  {'c / a  (<= 1.25)':<40} {t['c_over_a']:>8.2f}   {verdict(t['c_over_a'] <= TARGET_C_OVER_A)}"
        f"   (c / (a + audio decode) = {t['c_over_a_decode']:.2f}; Phase 1's transcribe_s / a = {t['c_transcribe_over_a']:.2f};"
        f" CPU time c / a = {t['c_cpu_over_a_cpu']:.2f})")
    add(f"  {'c < b':<40} {cw:>6.1f} < {b:.1f}   {verdict(cw < b)}   (b / a = {b / a:.2f}; c / b = {cw / b:.2f}; CPU time c / b = {t['c_cpu_over_b_cpu']:.2f})")
    add(f"  {'pickle MB per hour (<= 60)':<40} {c['mb_per_hour']:>8.1f}   {verdict(c['mb_per_hour'] <= TARGET_MB_PER_HOUR)}")
    if d:
        label = f"no-op over {d['videos']} videos (<= {TARGET_NOOP_S:g} s)"
        add(f"  {label:<40} {d['cli_wall_median_s']:>8.2f}   "
            f"{verdict(d['cli_wall_median_s'] <= TARGET_NOOP_S and d['all_skipped'])}   "
            f"(excluding start-up {d['excl_startup_s']:.2f} s)")
    add(rule)
    add("Notes: wall clock on a shared machine (other jobs may run meanwhile; see load averages). (a) and (b) exclude")
    add("model load and audio decode; (c) includes everything a user waits for. With --repeat N the minimum is used.")
    return "\n".join(lines)


# ---------------------------------------------------------------- issue 11: batched Whisper, end to end

TARGET_AUTO_OVER_BARE = 0.45  # Phase 1 (batch auto), 10-min video / bare sequential faster-whisper
TARGET_AUTO_OVER_SEQ = 0.7  # Phase 1 (batch auto) / Phase 1 (batch 0), 4-min video


def bare_sequential(video_path: Path, reference: list[str]) -> dict:
    """The seed plan's way: WhisperModel.transcribe with its default options (VAD on, conditioned on previous
    text, beam 5) plus word timestamps, language en; the same WhisperModel arguments as Phase 1. Model load
    and audio decode are excluded (reported): the baseline is the transcription alone."""
    from vtdb.config import build_settings
    from vtdb.media.transcribe import FasterWhisperTranscriber
    from vtdb.media.video import decode_audio

    transcriber = FasterWhisperTranscriber(build_settings({}, env={}))
    t0 = time.perf_counter()
    model = transcriber.whisper_model()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    audio = decode_audio(video_path)
    decode_s = time.perf_counter() - t0
    log(f"bare sequential faster-whisper on {len(audio) / 16000:.0f} s of audio (load {loadavg()}) …")
    cpu0, t0 = time.process_time(), time.perf_counter()
    segments, _ = model.transcribe(audio, language="en", word_timestamps=True)
    text = " ".join(seg.text for seg in segments)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    out = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "model_load_s": round(load_s, 2),
           "decode_s": round(decode_s, 2), "wer": round(wer(reference, norm_words(text)), 4),
           "words": len(norm_words(text)), "loadavg": loadavg(), "model_kwargs": transcriber.model_kwargs}
    log(f"    {wall:.1f} s wall, {cpu:.1f} s CPU, WER {out['wer']:.3f}")
    return out


def phase1_row(out_dir: Path, video_path: Path, reference: list[str], label: str, **settings) -> dict:
    run = bench_phase1(out_dir, video_path, "en", label, **settings)
    cpu = run["cpu_user_s"] + run["cpu_sys_s"]
    t = run["timings"]
    row = {"how": label, "settings": settings, "wall_s": round(run["wall_s"], 2), "cpu_s": round(cpu, 2),
           "wer": round(wer(reference, norm_words(run["text"])), 4), "words": run["words"],
           "peak_rss_mb": round(run["peak_rss_mb_wait4"]), "timings": t,
           "outside_whisper_s": round(run["wall_s"] - float(t.get("transcribe_s", 0.0)), 2),
           "loadavg": [run["loadavg_before"], run["loadavg_after"]]}
    log(f"    {label}: WER {row['wer']:.3f}, CPU {cpu:.1f} s, timings {t}")
    return row


def speed_main(args) -> int:
    out_dir = Path(args.out).resolve()
    long_min, short_min = (2.0, 1.0) if args.quick else (args.long_minutes, args.short_minutes)
    long_video, long_ref = speech_video(out_dir, long_min)
    short_video, short_ref = speech_video(out_dir, short_min)
    long_ref_w, short_ref_w = norm_words(long_ref), norm_words(short_ref)
    res: dict = {"started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(),
                 "loadavg_start": loadavg(), "long_minutes": long_min, "short_minutes": short_min}
    log(f"videos: {long_video.name}, {short_video.name} (real speech over testsrc2); load {loadavg()}")
    # The baseline is the slowest part: kept beside the video and reused unless --fresh-baseline.
    cached = out_dir / f"{long_video.stem}.bare_sequential.json"
    if cached.exists() and not args.fresh_baseline:
        res["bare_long"] = {**json.loads(cached.read_text()), "cached": True}
        log(f"bare sequential: cached {cached} ({res['bare_long']['wall_s']} s wall, load then {res['bare_long']['loadavg']})")
    else:
        res["bare_long"] = bare_sequential(long_video, long_ref_w)
        cached.write_text(json.dumps(res["bare_long"]))
    rows = [phase1_row(out_dir, long_video, long_ref_w, f"{long_min:g} min, batch auto")]
    # The same without the picture work of issue 15 (OCR, and shots' full sequential decode): what the Whisper
    # side of Phase 1 costs alone, frames taken by seeking as before.
    picture_off = phase1_row(out_dir, long_video, long_ref_w, f"{long_min:g} min, batch auto, ocr off, shots off",
                             ocr="off", shots="off")
    rows.append(phase1_row(out_dir, short_video, short_ref_w, f"{short_min:g} min, batch auto"))
    rows.append(phase1_row(out_dir, short_video, short_ref_w, f"{short_min:g} min, batch 0", whisper_batch_size="0"))
    for threads in args.threads:
        rows.append(phase1_row(out_dir, short_video, short_ref_w, f"{short_min:g} min, batch auto, {threads} Whisper thread(s)",
                               whisper_cpu_threads=threads))
    rows.append(picture_off)
    res["phase1"] = rows
    res["loadavg_end"] = loadavg()
    bare = res["bare_long"]
    auto_long, auto_short, seq_short = rows[0], rows[1], rows[2]
    res["ratios"] = {
        "auto_long_over_bare": round(auto_long["wall_s"] / bare["wall_s"], 3),
        "auto_long_over_bare_cpu": round(auto_long["cpu_s"] / bare["cpu_s"], 3),
        "auto_short_over_batch0": round(auto_short["wall_s"] / seq_short["wall_s"], 3),
        "auto_short_over_batch0_cpu": round(auto_short["cpu_s"] / seq_short["cpu_s"], 3),
        "picture_off_long_over_bare": round(picture_off["wall_s"] / bare["wall_s"], 3),
    }
    r = res["ratios"]
    lines = [f"Phase 1 with batched Whisper (real speech over testsrc2 1280x720; {os.cpu_count()} CPUs; "
             f"load average {res['loadavg_start']} -> {res['loadavg_end']})", "",
             "| how | wall s | CPU s | WER | words | peak RSS MB | decode s | transcribe s | frames s | wall outside Whisper s |",
             "|---|---|---|---|---|---|---|---|---|---|",
             f"| bare sequential faster-whisper, {long_min:g} min (transcription only) | {bare['wall_s']:.1f} | {bare['cpu_s']:.1f} "
             f"| {bare['wer']:.3f} | {bare['words']} | | {bare['decode_s']:.1f} | {bare['wall_s']:.1f} | | |"]
    for row in rows:
        t = row["timings"]
        lines.append(f"| Phase 1 end to end, {row['how']} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {row['wer']:.3f} "
                     f"| {row['words']} | {row['peak_rss_mb']} | {t.get('decode_s', 0):.1f} | {t.get('transcribe_s', 0):.1f} "
                     f"| {t.get('frames_s', 0):.1f} | {row['outside_whisper_s']:.1f} |")
    lines += ["",
              f"Phase 1 auto / bare sequential, {long_min:g} min: {r['auto_long_over_bare']:.2f} wall "
              f"(CPU {r['auto_long_over_bare_cpu']:.2f}); goal <= {TARGET_AUTO_OVER_BARE} "
              f"{verdict(r['auto_long_over_bare'] <= TARGET_AUTO_OVER_BARE)}; WER {auto_long['wer']:.3f} vs {bare['wer']:.3f} "
              f"{verdict(auto_long['wer'] <= bare['wer'])}",
              f"Phase 1 auto / Phase 1 batch 0, {short_min:g} min: {r['auto_short_over_batch0']:.2f} wall "
              f"(CPU {r['auto_short_over_batch0_cpu']:.2f}); goal <= {TARGET_AUTO_OVER_SEQ} "
              f"{verdict(r['auto_short_over_batch0'] <= TARGET_AUTO_OVER_SEQ)}; WER {auto_short['wer']:.3f} vs {seq_short['wer']:.3f} "
              f"{verdict(auto_short['wer'] <= seq_short['wer'])}",
              f"Phase 1 auto without OCR and shots / bare sequential, {long_min:g} min: {r['picture_off_long_over_bare']:.2f} wall "
              f"{verdict(r['picture_off_long_over_bare'] <= TARGET_AUTO_OVER_BARE)}",
              "(transcribe s includes the model load; frames run in a thread beside Whisper; CPU s is the whole process)"]
    table = "\n".join(lines)
    print()
    print(table)
    stem = f"phase1_speed_{long_min:g}_{short_min:g}min"
    (out_dir / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str))
    (out_dir / f"{stem}.txt").write_text(table + "\n")
    print(f"\nresults: {out_dir / stem}.json")
    return 0


# ---------------------------------------------------------------- issue 15: what OCR and shots cost

SLIDE_COLOURS = ["0x1f2a44", "0xf4f1e8", "0x12372a", "0x3b1f2b", "0xe8eef4", "0x2b2b2b"]
SLIDE_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def slides_video(out_dir: Path, minutes: float, size: str = "1280x720", fps: int = 25) -> Path:
    """(cached) A talk-style H.264/AAC video: real speech over slides (a title and three bullet lines of text,
    changed by a hard cut every 20-40 s) with a small moving 'presenter' inset in a corner."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"slides_{minutes:g}min_{size}_{fps}fps"
    video = out_dir / f"{stem}.mp4"
    if video.exists():
        return video
    samples, _ = speech_audio(minutes * 60.0, skip=40)
    total = len(samples) / SAMPLE_RATE
    wav = out_dir / f"{stem}.wav"
    write_wav(wav, samples)
    words = " ".join(PARAGRAPHS).replace(",", "").replace(".", "").replace("'", "").split()
    lengths: list[float] = []
    while sum(lengths) < total:
        lengths.append(min(20.0 + (len(lengths) * 7) % 21, total - sum(lengths)))
    w, h = (int(x) for x in size.split("x"))
    inputs: list[str] = []
    graph: list[str] = []
    for i, seconds in enumerate(lengths):
        colour = SLIDE_COLOURS[i % len(SLIDE_COLOURS)]
        ink = "black" if colour in ("0xf4f1e8", "0xe8eef4") else "white"
        chunk = words[(i * 17) % max(1, len(words) - 20):][:16]
        lines = [f"Part {i + 1} {' '.join(chunk[:3]).title()}"] + [" ".join(chunk[3 + 4 * k: 7 + 4 * k]) for k in range(3)]
        draw = ",".join(f"drawtext=fontfile={SLIDE_FONT}:text='{line}':fontcolor={ink}:fontsize={56 if k == 0 else 36}:x=80:y={90 + k * 110}"
                        for k, line in enumerate(lines))
        inputs += ["-f", "lavfi", "-t", f"{seconds:.3f}", "-i", f"color=c={colour}:s={size}:r={fps}"]
        graph.append(f"[{i}:v]{draw},setsar=1[s{i}]")
    n = len(lengths)
    graph.append("".join(f"[s{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[slides]")
    graph.append(f"testsrc2=s=192x108:r={fps}[cam]")  # the presenter's camera: always moving
    graph.append(f"[slides][cam]overlay=x={w - 192 - 24}:y={h - 108 - 24}:shortest=1[v]")
    partial = out_dir / f"{stem}.partial.mp4"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *inputs, "-i", str(wav), "-filter_complex", ";".join(graph),
                    "-map", "[v]", "-map", f"{n}:a", "-t", f"{total:.3f}", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", str(partial)], check=True)
    os.replace(partial, video)
    return video


def ocr_cost_main(args) -> int:
    """Phase 1 on the talk-style video with OCR and shots off, then on (same Whisper settings): the CPU they
    add (goal <= 30 %), OCR time per frame read, the share of frames skipped as unchanged, the frame pass."""
    out_dir = Path(args.out).resolve()
    minutes = 2.0 if args.quick else args.long_minutes
    video = slides_video(out_dir, minutes)
    log(f"talk-style video: {video.name}; load {loadavg()}")
    rows = {}
    for label, extra in (("off", {"ocr": "off", "shots": "off"}), ("on", {"ocr": "on", "shots": "on"})):
        run = bench_phase1(out_dir, video, "en", f"slides {minutes:g} min, ocr+shots {label}", **extra)
        rows[label] = {"wall_s": round(run["wall_s"], 2), "cpu_s": round(run["cpu_user_s"] + run["cpu_sys_s"], 2),
                       "timings": run["timings"], "frames": run["frames"], "loadavg": [run["loadavg_before"], run["loadavg_after"]]}
        log(f"    ocr+shots {label}: CPU {rows[label]['cpu_s']:.1f} s, timings {run['timings']}")
    off, on = rows["off"], rows["on"]
    added = on["cpu_s"] / off["cpu_s"] - 1.0
    t = on["timings"]
    res = {"minutes": minutes, "rows": rows, "added_cpu_share": round(added, 3)}
    table = "\n".join([
        f"OCR and shots on a talk-style {minutes:g}-minute 1280x720 video ({os.cpu_count()} CPUs; load {loadavg()})", "",
        "| Phase 1 | wall s | CPU s | frames s (beside Whisper) | OCR s | frames read / skipped |", "|---|---|---|---|---|---|",
        f"| ocr off, shots off (frames by seeking) | {off['wall_s']:.1f} | {off['cpu_s']:.1f} | {off['timings'].get('frames_s', 0):.1f} | | |",
        f"| ocr on, shots on (one sequential pass) | {on['wall_s']:.1f} | {on['cpu_s']:.1f} | {t.get('frames_s', 0):.1f} "
        f"| {t.get('ocr_s', 0):.1f} | {t.get('ocr_read', '?')} / {t.get('ocr_skipped', '?')} |", "",
        f"OCR + shots add {100 * added:.0f} % CPU (goal <= 30 %) {verdict(added <= 0.30)}; OCR {t.get('ocr_s_per_read', 0):.2f} s "
        f"per frame read, {100 * float(t.get('ocr_skipped', 0)) / max(1, float(t.get('ocr_frames', 0))):.0f} % of frames skipped as unchanged"])
    print()
    print(table)
    stem = f"phase1_ocr_cost_{minutes:g}min"
    (out_dir / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str))
    (out_dir / f"{stem}.txt").write_text(table + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the generated video (default 10)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"), help="output folder (cached video, runs, JSON)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=1, help="repeat (a), (b) and (c), interleaved; the minimum is reported")
    parser.add_argument("--noop-videos", type=int, default=1000, help="videos in the no-op re-run (0 skips (d))")
    parser.add_argument("--noop-runs", type=int, default=3, help="timed no-op CLI runs (median reported)")
    parser.add_argument("--rebuild-noop", action="store_true", help="rebuild the cached 1,000-record database template")
    parser.add_argument("--_setup-noop", dest="setup_noop", help=argparse.SUPPRESS)
    parser.add_argument("--_profile-noop", dest="profile_noop", help=argparse.SUPPRESS)
    parser.add_argument("--espeak", action="store_true",
                        help="the issue-2 study instead: espeak video, (a) bare Phase 1 options, (b) per window, (d) no-op")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="issue-11 study: the long video (default 10)")
    parser.add_argument("--short-minutes", type=float, default=4.0, help="issue-11 study: the short video (default 4)")
    parser.add_argument("--threads", type=int, nargs="*", default=[],
                        help="issue-11 study: extra short-video rows with these whisper_cpu_threads")
    parser.add_argument("--quick", action="store_true", help="issue-11 study on 2 and 1 minutes (a smoke run)")
    parser.add_argument("--ocr-cost", action="store_true",
                        help="issue-15 study: Phase 1 on a talk-style --long-minutes video with OCR and shots off, then on")
    parser.add_argument("--fresh-baseline", action="store_true", help="issue-11 study: re-measure the cached bare baseline")
    args = parser.parse_args()
    if args.setup_noop:
        setup_noop_db(args.setup_noop)
        return 0
    if args.profile_noop:
        profile_noop(args.profile_noop)
        return 0
    if args.ocr_cost:
        return ocr_cost_main(args)
    if not args.espeak:
        return speed_main(args)

    from vtdb.media.video import probe

    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    res: dict = {
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
                 "loadavg_start": loadavg()},
        "args": vars(args),
    }
    language = "en"
    vmeta = ensure_video(out_dir, args.minutes, (args.width, args.height), args.fps, pause=2.0)
    video_path = Path(vmeta["path"])
    info = probe(video_path)
    res["video"] = {
        "path": str(video_path), "duration_s": info.duration, "width": info.width, "height": info.height, "fps": info.fps,
        "file_mb": video_path.stat().st_size / 1e6, "scenes": vmeta["scenes"], "cached": vmeta["cached"],
        "generate_s": vmeta["generate_s"], "pictures": vmeta.get("pictures", "?"), "reference_words": len(norm_words(vmeta["reference_text"])),
    }

    # The config (c) runs with; (a)/(b) read their settings from an identical one.
    settings_config = write_config(fresh_dir(out_dir / "settings_probe"),
                                   [{"name": VIDEO_NAME, "path": str(video_path), "language": language}])
    phase1_runs: list[dict] = []
    whisper = bench_whisper(video_path, settings_config, language, max(1, args.repeat),
                            between=lambda r: phase1_runs.append(bench_phase1(out_dir, video_path, language, r)))
    phase1 = min(phase1_runs, key=lambda r: r["wall_s"])
    if len(phase1_runs) > 1:
        phase1["all_wall_s"] = [r["wall_s"] for r in phase1_runs]
    res["whisper"] = whisper
    res["phase1"] = phase1
    reference = norm_words(vmeta["reference_text"])
    res["a_wer"] = wer(reference, norm_words(whisper["a_text"]))
    res["c_wer"] = wer(reference, norm_words(phase1["text"]))
    if args.noop_videos > 0:
        res["noop"] = bench_noop(out_dir, args.noop_videos, max(1, args.noop_runs), args.rebuild_noop)
    res["host"]["loadavg_end"] = loadavg()

    a, b, cw = whisper["a_s"], whisper["b_s"], phase1["wall_s"]
    res["targets"] = {
        "c_over_a": cw / a,
        "c_over_a_target": TARGET_C_OVER_A,
        "c_over_a_pass": cw / a <= TARGET_C_OVER_A,
        "c_over_a_decode": cw / (a + whisper["audio_decode_s"]),
        "c_transcribe_over_a": phase1["transcribe_s"] / a,
        "c_cpu_over_a_cpu": (phase1["cpu_user_s"] + phase1["cpu_sys_s"]) / whisper["a_cpu_s"],
        "c_cpu_over_b_cpu": (phase1["cpu_user_s"] + phase1["cpu_sys_s"]) / whisper["b_cpu_s"],
        "c_lt_b": cw < b,
        "b_over_a": b / a,
        "mb_per_hour": phase1["mb_per_hour"],
        "mb_per_hour_target": TARGET_MB_PER_HOUR,
        "mb_per_hour_pass": phase1["mb_per_hour"] <= TARGET_MB_PER_HOUR,
    }
    if "noop" in res:
        res["targets"].update({
            "noop_s": res["noop"]["cli_wall_median_s"],
            "noop_target_s": TARGET_NOOP_S,
            "noop_pass": res["noop"]["cli_wall_median_s"] <= TARGET_NOOP_S and res["noop"]["all_skipped"],
            "noop_excl_startup_s": res["noop"]["excl_startup_s"],
        })
    table = report(res)
    print()
    print(table)
    # Keep the JSON readable: transcripts are long, keep only their first words.
    whisper["a_text"] = whisper["a_text"][:300]
    phase1["text"] = phase1["text"][:300]
    json_path = out_dir / f"phase1_{args.minutes:g}min.json"
    json_path.write_text(json.dumps(res, indent=1, default=str))
    (out_dir / f"phase1_{args.minutes:g}min.txt").write_text(table + "\n")
    print(f"\nresults: {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
