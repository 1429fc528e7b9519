"""Shot detection and frame sampling: one sequential pass (vtdb.media.shots.scan_video: shots and
the sampled frames from the same decoding) against two passes (shots, then OpenCV seeking with
vtdb.media.video.extract_frames), on a talk-style 720p video made here (a cut every ~20-40 s
between lavfi sources, a crossfade in the middle).

    python bench/shots.py [--minutes 10] [--size 1280x720]

Prints one JSON object per measurement (with the load average: this machine is shared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import loadavg, log  # noqa: E402

from vtdb.media import shots  # noqa: E402
from vtdb.media.video import extract_frames, probe  # noqa: E402
from vtdb.media.windows import frame_times, plan_windows  # noqa: E402

# Cheap to generate (mandelbrot at 720p takes minutes); still pictures with some motion, like slides and a presenter.
SOURCES = ["testsrc2", "smptehdbars", "gradients=speed=0.02:c0=0x203060:c1=0xd0a040:seed=1", "rgbtestsrc", "testsrc", "pal100bars", "yuvtestsrc"]


def make_talk_video(path: Path, minutes: float, size: str) -> tuple[list[float], tuple[float, float]]:
    """Segments of 20-40 s joined by hard cuts, one 1 s crossfade; returns (cut times, fade span)."""
    total = minutes * 60.0
    lengths: list[float] = []
    k = 0
    while sum(lengths) < total:
        lengths.append(min(20.0 + (k * 7) % 21, total - sum(lengths)))
        k += 1
    lengths = [x for x in lengths if x >= 2.0]
    args: list[str] = []
    for i, seconds in enumerate(lengths):
        name, _, opts = SOURCES[i % len(SOURCES)].partition("=")
        args += ["-t", f"{seconds + (1.0 if i == len(lengths) // 2 else 0.0)}", "-f", "lavfi", "-i",
                 f"{name}=s={size}:r=25" + (f":{opts}" if opts else "")]
    norm = "format=yuv420p,setsar=1,fps=25,settb=1/25"
    fade_at = len(lengths) // 2  # segment fade_at crossfades into the next one
    parts = [f"[{i}:v]{norm}[s{i}]" for i in range(len(lengths))]
    head = "".join(f"[s{i}]" for i in range(fade_at + 1))
    tail = "".join(f"[s{i}]" for i in range(fade_at + 1, len(lengths)))
    parts.append(f"{head}concat=n={fade_at + 1}:v=1:a=0,settb=1/25[h]")
    parts.append(f"{tail}concat=n={len(lengths) - fade_at - 1}:v=1:a=0,settb=1/25[t]")
    head_len = sum(lengths[: fade_at + 1]) + 1.0
    parts.append(f"[h][t]xfade=transition=fade:duration=1:offset={head_len - 1.0}[v]")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *args, "-filter_complex", ";".join(parts), "-map", "[v]",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-y", str(path)], check=True)
    cuts = []
    t = 0.0
    for i, seconds in enumerate(lengths[:-1]):
        t += seconds + (1.0 if i == fade_at else 0.0)
        if i == fade_at:
            t -= 1.0  # the crossfade overlaps the two segments by 1 s
            continue
        cuts.append(round(t, 3))
    return cuts, (head_len - 1.0, head_len)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames-per-window", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "talk.mp4"
        t0 = time.perf_counter()
        cuts, fade = make_talk_video(video, args.minutes, args.size)
        info = probe(video)
        log(f"made {args.minutes} min {args.size} in {time.perf_counter() - t0:.1f} s; {len(cuts)} cuts, fade {fade}; load {loadavg()}")
        spans = plan_windows(info.duration, 50.0, 15.0, 5.0)
        times = [t for span in spans for t in frame_times(span, args.frames_per_window)]

        t0 = time.perf_counter()
        seek_frames = extract_frames(video, times, duration=info.duration, fps=info.fps)
        seek_s = time.perf_counter() - t0
        results = {}
        for det in ("adaptive", "content"):
            t0 = time.perf_counter()
            only = shots.scan_video(video, (), detector=det)
            results[det] = (only, time.perf_counter() - t0)
        t0 = time.perf_counter()
        one = shots.scan_video(video, times, margin=0.3)
        one_s = time.perf_counter() - t0
        found = [tr.time for tr in one.transitions]
        truth = cuts + [(fade[0] + fade[1]) / 2]
        hits = sum(any(abs(f - c) <= 0.2 for f in found) for c in cuts)
        fade_reports = sum(fade[0] - 0.3 <= f <= fade[1] + 0.3 for f in found)
        for det, (res, secs) in results.items():
            print(json.dumps({"measure": "detect_only", "detector": det, "seconds": round(secs, 2), "frames_decoded": res.frames_decoded,
                              "ms_per_decoded_frame": round(1000 * secs / max(1, res.frames_decoded), 2),
                              "boundaries": len(res.transitions), "true_boundaries": len(truth)}), flush=True)
        print(json.dumps({
            "measure": "one_pass_vs_seek", "video_s": round(info.duration, 1), "size": args.size, "samples": len(times),
            "seek_extract_frames_s": round(seek_s, 2), "seek_ms_per_frame": round(1000 * seek_s / len(times), 1),
            "two_pass_total_s": round(seek_s + results["adaptive"][1], 2),
            "one_pass_shots_and_frames_s": round(one_s, 2),
            "cuts_found_within_0_2s": f"{hits}/{len(cuts)}", "fade_reports": fade_reports,
            "false_boundaries": len(found) - hits - fade_reports,
            "frames_moved_off_transitions": sum(f.time != t for f, t in zip(one.frames, times)),
            "seek_frames": len(seek_frames), "load": loadavg(),
        }), flush=True)


if __name__ == "__main__":
    main()
