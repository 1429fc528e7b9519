#!/usr/bin/env python3
"""Phase 1's memory on long files (issue 25, "bounded memory"): peak RSS must not grow with the duration.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/long_audio.py [--hours 1 10] [--out bench/out] [--keep DIR]
        [--setting shots=off] [--code DIR]

For each duration, a video is built in a temporary folder (or DIR with --keep, reused when there): 64x36 at 1 fps
(a plain grey frame: a video, so frames, shots and OCR run too) with Opus audio at 24 kb/s that is mostly quiet
noise, with a few bursts of real speech (three utterances of tests/data/speech/en each) at set times. The audio
is generated a minute at a time and piped into ffmpeg, so the bench never holds the hours in memory either.
Phase 1 then runs as users run it, in a fresh process: `phase1_whisper_frames.py --config videos_config.json`
with default settings (language not set: detected; --setting adds one), offline; --code runs another checkout
(an older commit unpacked with `git archive`). Recorded: the peak RSS of that process (kernel high-water mark
from wait4; also the polled sum over its process tree, ffmpeg included), wall and CPU time, the pickle's own
timings (decode, transcribe, frames, OCR), the words heard, the machine's load. Written to
<out>/long_audio[_CODE][_KEY-VALUE].json; the table goes to stdout. Goal: <= 1.5 GB peak RSS for 10 h.

Measured 2026-12-07 on 2 cores shared with other work (load averages 2-13: wall times are stretched; CPU and RSS
are the figures to compare; frames s without shot detection is OpenCV seeking to each frame), the videos of
this script (1 h: 10 MB, 10 h: 97 MB):

    | code, settings             | hours | peak RSS MB | wall s | CPU s | decode s | frames s | OCR s |
    |----------------------------|-------|-------------|--------|-------|----------|----------|-------|
    | this (audio on disk)       | 1     | 868         | 158    | 45    | 16.7     | 4.0      | 0.0   |
    | this (audio on disk)       | 10    | 1299        | 756    | 342   | 172.3    | 81.5     | 0.0   |
    | this, shots=off            | 1     | 865         | 60     | 52    | 8.6      | 27.2     | 0.0   |
    | this, shots=off            | 10    | 887         | 443    | 437   | 74.9     | 192.9    | 0.0   |
    | before (23e1f92, whole)    | 1     | 1372        | 143    | 47    | 18.6     | 2.7      | 0.0   |

After the shot pass kept only the thumbnails it compares and released alternate frames early (same day, load
3-6): 1 h 879 MB, 10 h **891 MB** (10 h / 1 h 1.01), CPU 40 s and 307 s.

Before that, 10 h / 1 h peak RSS: 1.50 with shot detection, 1.03 without (the audio's part no longer grows). What still
grows with the duration is the shot detection's fade thumbnails (vtdb/media/shots.py keeps a 64x36 float32
thumbnail of every analysed frame until the end: 9 KB each; this 1 fps video has 36,000 in 10 h, about 390 MB
measured alone; a 25 fps video is analysed at 12 fps, 12x that). The code before kept the whole audio as
float32 (230 MB an hour) and ran VAD over all of it at once; its 10 h run was not made (the array alone is
2.3 GB, and Silero makes two more copies of what it gets). OCR: 0 s (all 6,174 frames of 10 h blank, not read).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (  # bench/ is on sys.path (run as `python bench/long_audio.py`)
    SAMPLE_RATE,
    bootstrap,
    child_env,
    loadavg,
    log,
    measure_child,
    norm_words,
    speech_dir,
    speech_rows,
)

ROOT = bootstrap()
PHASE1_CLI = ROOT / "phase1_whisper_frames.py"
VIDEO_NAME = "long_audio"
NOISE_RMS = 0.002  # about -54 dBFS: a quiet room, not digital silence
BURST_UTTERANCES = 3
GOAL_MB = 1536.0


def burst_times(seconds: float) -> list[float]:
    """Where the speech bursts start: near the start, the middle and the end, and once an hour in between."""
    hours = int(seconds // 3600)
    times = {60.0, seconds / 2, seconds - 120.0} | {h * 3600.0 + 900.0 for h in range(hours)}
    return sorted(t for t in times if 0 <= t < seconds - 60.0)


def build_video(path: Path, seconds: float) -> dict:
    """The test video (see the module docstring); returns what was put in it."""
    import numpy as np
    from faster_whisper.audio import decode_audio

    rows = speech_rows("en")
    bursts = burst_times(seconds)
    texts: list[str] = []
    clips: list[tuple[int, np.ndarray]] = []  # (start sample, samples): a few seconds each, fine to hold
    for k, start in enumerate(bursts):
        at = int(start * SAMPLE_RATE)
        for j in range(BURST_UTTERANCES):
            name, text = rows[(k * BURST_UTTERANCES + j) % len(rows)]
            clip = decode_audio(str(speech_dir("en") / name), sampling_rate=SAMPLE_RATE)
            clips.append((at, clip))
            texts.append(text)
            at += len(clip) + int(0.8 * SAMPLE_RATE)
    total = int(seconds * SAMPLE_RATE)
    partial = path.with_suffix(".partial" + path.suffix)
    cmd = ["ffmpeg", "-nostdin", "-y", "-v", "error",
           "-f", "lavfi", "-i", "color=c=gray:s=64x36:r=1",
           "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
           "-t", f"{seconds:.3f}", "-map", "0:v", "-map", "1:a",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "600", "-pix_fmt", "yuv420p",
           "-c:a", "libopus", "-b:a", "24k", str(partial)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    rng = np.random.default_rng(25)
    minute = 60 * SAMPLE_RATE
    for a in range(0, total, minute):
        b = min(a + minute, total)
        block = rng.normal(0.0, NOISE_RMS, b - a).astype(np.float32)
        for at, clip in clips:
            lo, hi = max(a, at), min(b, at + len(clip))
            if lo < hi:
                block[lo - a: hi - a] += clip[lo - at: hi - at]
        proc.stdin.write((np.clip(block, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"ffmpeg could not build {path}")
    os.replace(partial, path)
    return {"bursts_s": bursts, "reference": " ".join(texts), "build_s": round(time.perf_counter() - t0, 1),
            "size_mb": round(path.stat().st_size / 1e6, 1)}


def run_with_peak_rss(cmd: list[str], cwd: Path, env: dict, log_path: Path, timeout: float) -> dict:
    """Run a child to its end: wall time, exit code, CPU time and peak RSS (its own kernel high-water mark via
    wait4, and the sum over its process tree polled every 0.2 s)."""
    res = measure_child(cmd, cwd, env, log_path, None, timeout, tree=True, poll_s=0.2)
    return {"rc": res["rc"], "wall_s": round(res["wall_s"], 1), "peak_rss_mb": round(res["peak_rss_mb_wait4"]),
            "peak_tree_rss_mb_polled": round(res["peak_rss_mb_polled"]), "cpu_user_s": round(res["cpu_user_s"], 1),
            "cpu_sys_s": round(res["cpu_sys_s"], 1)}


def run_phase1(video: Path, folder: Path, code: Path, settings: dict) -> dict:
    from vtdb.workfiles import load_phase1_data

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    config = folder / "videos_config.json"
    config.write_text(json.dumps({"settings": {"work_dir": str(folder / "data"), "chroma_dir": str(folder / "chroma_db"),
                                               **settings},
                                  "videos": [{"name": VIDEO_NAME, "path": str(video)}]}, indent=1))
    load_before = loadavg()
    res = run_with_peak_rss([sys.executable, str(code / PHASE1_CLI.name), "--config", str(config)], code,
                            child_env(PYTHONPATH=str(code)), folder / "phase1.log", timeout=6 * 3600)
    res["loadavg_before"], res["loadavg_after"] = load_before, loadavg()
    if res["rc"] != 0:
        raise SystemExit(f"Phase 1 exited {res['rc']}:\n{(folder / 'phase1.log').read_text(errors='replace')[-3000:]}")
    data = load_phase1_data(folder / "data", VIDEO_NAME)
    res["timings"] = data["timings"]
    res["duration_s"] = float(data["video"]["duration"])
    res["windows"] = len(data["windows"])
    res["words"] = norm_words(data["transcript"]["text"])
    res["language"] = data["transcript"]["language"]
    leftovers = [p.name for p in (folder / "data").rglob(".audio-*")]
    if leftovers:
        raise SystemExit(f"scratch audio left behind: {leftovers}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--keep", type=Path, help="build the videos here and keep them (reused when present)")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="run Phase 1 of this checkout (e.g. an older commit unpacked with git archive), this one's "
                             "venv; the results go to long_audio_<folder name>.json")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a videos_config.json setting for the runs (e.g. shots=off); named in the JSON's file name")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.setting)
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="vtdb-long-audio-"))
    videos = args.keep or scratch
    videos.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for hours in args.hours:
            video = videos / f"long_{hours:g}h.mkv"
            sidecar = video.with_suffix(".json")
            if video.exists() and sidecar.exists():
                built = json.loads(sidecar.read_text())
            else:
                log(f"building a {hours:g} h video …")
                built = build_video(video, hours * 3600.0)
                sidecar.write_text(json.dumps(built))
                log(f"    {built['size_mb']} MB in {built['build_s']} s")
            log(f"Phase 1 on {hours:g} h …")
            res = run_phase1(video, scratch / f"run_{hours:g}h", args.code.resolve(), settings)
            reference = norm_words(built["reference"])
            res.update(hours=hours, video_mb=built["size_mb"], bursts_s=built["bursts_s"],
                       reference_words=len(reference), words_heard=len(res["words"]),
                       reference_words_heard=len(set(reference) & set(res.pop("words"))) / max(1, len(set(reference))))
            t = res["timings"]
            log(f"    peak RSS {res['peak_rss_mb']} MB (tree {res['peak_tree_rss_mb_polled']} MB), wall {res['wall_s']} s, "
                f"CPU {res['cpu_user_s'] + res['cpu_sys_s']:.0f} s, decode {t.get('decode_s')} s, "
                f"transcribe {t.get('transcribe_s')} s, frames {t.get('frames_s')} s, OCR {t.get('ocr_s')} s, "
                f"load {res['loadavg_before']} -> {res['loadavg_after']}")
            results.append(res)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("| hours | peak RSS MB | tree RSS MB | wall s | CPU s | decode s | transcribe s | frames s | OCR s | words | load before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        t = r["timings"]
        print(f"| {r['hours']:g} | {r['peak_rss_mb']} | {r['peak_tree_rss_mb_polled']} | {r['wall_s']} | "
              f"{r['cpu_user_s'] + r['cpu_sys_s']:.0f} | {t.get('decode_s')} | {t.get('transcribe_s')} | {t.get('frames_s')} | "
              f"{t.get('ocr_s')} | {r['words_heard']}/{r['reference_words']} | {r['loadavg_before']} / {r['loadavg_after']} |")
    summary: dict = {"goal_peak_rss_mb": GOAL_MB, "code": str(args.code), "settings": settings, "runs": results, "machine": platform.platform(),
                     "cpus": os.cpu_count()}
    if len(results) >= 2:
        summary["peak_rss_ratio_longest_over_shortest"] = round(results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"], 3)
        print(f"peak RSS {results[-1]['hours']:g} h / {results[0]['hours']:g} h: {summary['peak_rss_ratio_longest_over_shortest']}")
    name = "_".join(["long_audio", *([] if args.code.resolve() == ROOT else [args.code.resolve().name]),
                     *(f"{k}-{v}" for k, v in sorted(settings.items()))])
    out = args.out / f"{name}.json"
    out.write_text(json.dumps(summary, indent=1))
    log(f"written {out}")


if __name__ == "__main__":
    main()
