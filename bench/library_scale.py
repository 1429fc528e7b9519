#!/usr/bin/env python3
"""A library of N tiny real videos grown through the phases, and what a cron run, status, the web app
and the first search cost at each size (issue 31, "A library of 100,000 videos").

    nice -n 19 .venv/bin/python bench/library_scale.py [--sizes 1000,10000] [--batch 1000] [--repeat 3]
                        [--polls 10] [--out bench/out/library_scale] [--fresh] [--label TEXT]

One short real clip (4 s of ffmpeg's testsrc with a tone, 160x90, made once) is re-muxed for every video
(`ffmpeg -c copy -metadata title=...`, a different title per copy) into OUT/library/videos/, with a
sidecar subtitle file beside it (`clipNNNNNN.srt`, a different text per copy: the transcript, so
Whisper never runs). OUT/library/videos_config.json lists them (language en, `ocr` and `shots` off,
the transcript analyzer and the extractive summarizer). The library grows in place: for each size of
--sizes (ascending) the videos it lacks are made and added to the config --batch at a time, each batch
processed by one `run_pipeline.py` (as a cron run would, spread over as many runs as it takes), so
10,000 reuses the first 1,000. A later invocation continues the same library (--fresh starts anew).

At each size, every CLI runs as a user runs it, in a fresh child process, with its wall time and peak RSS
(the kernel's high-water mark; bench/_common.measure_child) and the load averages before and after it:

  first_search   `test_search.py -q ...` right after the runs that added the videos (the keyword index
                 catches up then), and the next search (the same query, again in a fresh process);
  noop_pipeline  `run_pipeline.py` with everything completed, --repeat times (median; max RSS too);
                 its output (stdout and stderr together, as cron mails or logs it) in bytes per run;
  status         `db_manager.py status`, --repeat times (median);
  web            `web_app.py --port 0` with one status tab open: /status (the first page waits for the read
                 at start), then /status/table --polls times, each 3 s after the last answer (as the page
                 polls): their median and max, the server's CPU share over them, and its peak RSS (VmHWM)
                 after serving them.

Building (files and pipeline runs, per video) is reported too, so that a 10,000 or 100,000 run can be
planned. Results go to OUT/results.json (one entry per size, appended across invocations, with --label and
the commit measured) and a table is printed with the load before and after every row (all load averages are
in the JSON). Not a test: on 2 shared cores the pipeline took 3 s a video at load 1.6 and 11 s at load 8.

The tree is shared and changes under a running benchmark: to measure a commit, run it from a copy
(`git archive HEAD | tar -x -C /tmp/head`, then the .venv's python on /tmp/head/bench/library_scale.py
with --out here).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import bootstrap, child_env, loadavg, log, measure_child  # bench/ is on sys.path

ROOT = bootstrap()
PY = sys.executable
CLIP_SECONDS = 4
QUERY = "lantern harbour"  # words every sidecar text holds (see sidecar_text)
# Words the sidecar texts are made of: each video gets three of them (words_of).
WORDS = ("apple", "river", "copper", "meadow", "violin", "granite", "falcon", "saffron", "orbit", "willow",
         "compass", "thunder", "velvet", "pepper", "glacier", "walnut", "ember", "quartz", "canyon", "maple",
         "ribbon", "cobalt", "harvest", "pebble", "signal", "tundra", "marble", "beacon", "fossil", "lagoon",
         "prism", "timber")
CHILD_TIMEOUT_S = 6 * 3600.0
POLL_S = 3.0  # the status page's refresh: its next request goes this long after the last answer


# ---------------------------------------------------------------- the library on disk


def video_name(i: int) -> str:
    return f"clip{i:06d}"


def words_of(i: int) -> list[str]:
    """Three words of WORDS for video i: the digits of a multiplicative hash of i (neighbours differ)."""
    mixed, out = (i * 2654435761) % 2**32, []
    for _ in range(3):
        mixed, digit = divmod(mixed, len(WORDS))
        out.append(WORDS[digit])
    return out


def sidecar_text(i: int) -> str:
    """An SRT of two cues over the clip: its own words (a video's three) and the shared query words."""
    a, b, c = words_of(i)
    return (f"1\n00:00:00,000 --> 00:00:02,000\nClip number {i}: the {a} and the {b} near the lantern harbour.\n\n"
            f"2\n00:00:02,000 --> 00:00:{CLIP_SECONDS:02d},000\nThen the {c} returns to the harbour at dusk.\n")


def make_master(folder: Path) -> Path:
    """(once) The real clip every video copies: H.264 + AAC, testsrc with a 440 Hz tone."""
    master = folder / "master.mp4"
    if not master.exists():
        partial = folder / "master.partial.mp4"
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=10",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", str(CLIP_SECONDS),
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "32k",
                        "-shortest", str(partial)], check=True)
        os.replace(partial, master)
    return master


def make_videos(master: Path, videos: Path, start: int, stop: int) -> None:
    """Videos start..stop-1: the master re-muxed with its own title, and its sidecar subtitles."""
    videos.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        target = videos / f"{video_name(i)}.mp4"
        (videos / f"{video_name(i)}.srt").write_text(sidecar_text(i), encoding="utf-8")
        if target.exists():
            continue
        partial = videos / f"{video_name(i)}.partial.mp4"
        title = f"Library clip {i}: {' '.join(words_of(i))}"
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(master), "-map", "0", "-c", "copy",
                        "-metadata", f"title={title}", str(partial)], check=True)
        os.replace(partial, target)


def write_config(library: Path, count: int) -> Path:
    """videos_config.json listing videos 0..count-1 (written whole, then renamed: a run never reads half of it)."""
    config = library / "videos_config.json"
    settings = {"work_dir": "data", "chroma_dir": "chroma", "ocr": "off", "shots": "off",
                "analyzer": "transcript", "summarizer": "extractive"}
    entries = [{"name": video_name(i), "path": f"videos/{video_name(i)}.mp4", "language": "en"} for i in range(count)]
    partial = library / "videos_config.partial.json"
    partial.write_text(json.dumps({"settings": settings, "videos": entries}, indent=1), encoding="utf-8")
    os.replace(partial, config)
    return config


def completed_count(library: Path, config: Path) -> tuple[int, int]:
    """(videos with every phase completed, records) from `db_manager.py status --json`."""
    proc = subprocess.run([PY, str(ROOT / "db_manager.py"), "--config", str(config), "status", "--json"], cwd=library,
                          env=child_env(), capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"db_manager.py status --json exited {proc.returncode}: {proc.stderr[-2000:]}")
    records = json.loads(proc.stdout)
    statuses = [{k: v for k, v in r.items() if k.endswith("_status")} for r in records]
    done = sum(1 for s in statuses if s and all(v == "completed" for v in s.values()))
    return done, len(records)


# ---------------------------------------------------------------- measurements (each a fresh child process)


def child(cmd: list[str], library: Path, log_path: Path) -> dict[str, Any]:
    load = loadavg()
    run = measure_child(cmd, library, child_env(), log_path, None, CHILD_TIMEOUT_S)
    out = {"wall_s": round(run["wall_s"], 2), "peak_rss_mb": round(run["peak_rss_mb_wait4"], 1),
           "cpu_s": round(run["cpu_user_s"] + run["cpu_sys_s"], 2), "rc": run["rc"],
           "log_bytes": log_path.stat().st_size, "load": load, "load_after": loadavg()}
    if run["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd[1:3])} exited {run['rc']}: {log_path.read_text(errors='replace')[-3000:]}")
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
            "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs), 1),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "log_bytes": int(statistics.median(r["log_bytes"] for r in runs)),
            "load": runs[0]["load"], "load_after": runs[-1]["load_after"], "runs": runs}


def search(library: Path, config: Path, logs: Path, label: str) -> dict[str, Any]:
    run = child([PY, str(ROOT / "test_search.py"), "--config", str(config), "--query", QUERY, "--json", "-n", "5"],
                library, logs / f"search_{label}.log")
    text = (logs / f"search_{label}.log").read_text(errors="replace")
    run["found"] = len(re.findall(r'"video_name"', text))
    # What the keyword index did first, when it says so ("updating the lexical index (N ...)").
    run["index_note"] = "; ".join(sorted(set(re.findall(r"(?:building|updating) the lexical index[^\n]*", text))))
    return run


def peak_rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def web(library: Path, config: Path, logs: Path, polls: int) -> dict[str, Any]:
    """The web app with one status tab open: /status, then /status/table `polls` times, each POLL_S after the
    last answer (as the page polls); the server's CPU share over the polling and its peak RSS at the end."""
    import psutil

    load = loadavg()
    err_path = logs / "web_app.stderr.log"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([PY, str(ROOT / "web_app.py"), "--config", str(config), "--port", "0"],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=child_env(), cwd=library)
    try:
        assert proc.stdout
        t0 = time.perf_counter()
        line = proc.stdout.readline()
        started_s = time.perf_counter() - t0
        match = re.search(r"http://[^:/]+:(\d+)/", line)
        if not match:
            proc.wait(timeout=30)
            raise RuntimeError(f"web_app.py did not print its URL: {line!r} {err_path.read_text(errors='replace')[-2000:]}")
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=CHILD_TIMEOUT_S)

        def get(path: str) -> tuple[float, int]:
            t = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
            return time.perf_counter() - t, len(body)

        status_s, status_bytes = get("/status")
        server = psutil.Process(proc.pid)
        cpu0, wall0 = sum(server.cpu_times()[:2]), time.perf_counter()
        table = []
        for _ in range(polls):
            table.append(get("/status/table"))
            time.sleep(POLL_S)
        cpu_share = (sum(server.cpu_times()[:2]) - cpu0) / (time.perf_counter() - wall0)
        peak = peak_rss_of(proc.pid)
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    times = [t for t, _ in table]
    return {"started_s": round(started_s, 2), "status_page_s": round(status_s, 3), "status_page_bytes": status_bytes,
            "status_table_s": round(statistics.median(times), 3), "status_table_s_max": round(max(times), 3),
            "status_table_s_all": [round(t, 3) for t in times], "status_table_bytes": table[-1][1],
            "tab_cpu_share": round(cpu_share, 3), "peak_rss_mb": round(peak, 1), "load": load, "load_after": loadavg()}


# ---------------------------------------------------------------- growing and measuring


def grow(library: Path, master: Path, state: dict[str, Any], size: int, batch: int, logs: Path) -> dict[str, Any]:
    """Bring the library to `size` videos, every one through the phases: files, then config batches and runs
    (after each, library/state.json says how many the config lists: an interrupted growth goes on from there)."""
    have = state["videos"]
    t0 = time.perf_counter()
    make_videos(master, library / "videos", have, size)
    make_s = time.perf_counter() - t0
    runs = []
    count = have
    while count < size:
        count = min(size, count + batch)
        config = write_config(library, count)
        log(f"  run_pipeline.py over {count} videos ({count - state['videos']} new)")
        run = child([PY, str(ROOT / "run_pipeline.py"), "--config", str(config)], library, logs / f"grow_{count}.log")
        run["videos"] = count
        runs.append(run)
        state["videos"] = count
        (library / "state.json").write_text(json.dumps(state))
    config = write_config(library, size)
    done, records = completed_count(library, config)
    if done != size or records != size:
        raise RuntimeError(f"after the runs {done} of {records} records are completed (expected {size}); "
                           f"see {logs}/grow_*.log")
    added = size - have
    run_s = sum(r["wall_s"] for r in runs)
    return {"added": added, "make_files_s": round(make_s, 2), "make_files_s_per_video": round(make_s / added, 4) if added else None,
            "pipeline_runs": runs, "pipeline_s": round(run_s, 2),
            "pipeline_s_per_video": round(run_s / added, 3) if added else None}


def measure_size(library: Path, size: int, repeat: int, polls: int, logs: Path, grown: dict[str, Any]) -> dict[str, Any]:
    config = library / "videos_config.json"
    result: dict[str, Any] = {"videos": size, "build": grown}
    # The first search straight after the runs that added videos: nothing else may search before it.
    result["first_search"] = search(library, config, logs, "first")
    result["next_search"] = search(library, config, logs, "next")
    result["noop_pipeline"] = summary([child([PY, str(ROOT / "run_pipeline.py"), "--config", str(config)], library,
                                             logs / f"noop_{k}.log") for k in range(repeat)])
    result["status"] = summary([child([PY, str(ROOT / "db_manager.py"), "--config", str(config), "status"], library,
                                      logs / f"status_{k}.log") for k in range(repeat)])
    result["web"] = web(library, config, logs, polls)
    return result


def format_rows(result: dict[str, Any]) -> list[str]:
    """The issue's rows for one size, each with the 1-minute load before -> after it."""
    n, b = result["videos"], result["build"]
    noop, status, w = result["noop_pipeline"], result["status"], result["web"]
    first, nxt = result["first_search"], result["next_search"]
    rows = [
        ("no-op run_pipeline.py: wall / peak RSS",
         f"{noop['wall_s']:.1f} s / {noop['peak_rss_mb']:.0f} MB (max {noop['peak_rss_mb_max']:.0f})", noop),
        ("db_manager.py status: wall / peak RSS", f"{status['wall_s']:.1f} s / {status['peak_rss_mb']:.0f} MB", status),
        ("web app peak RSS (after /status and the polls)", f"{w['peak_rss_mb']:.0f} MB", w),
        ("/status/table polled every 3 s: median / max", f"{w['status_table_s']:.2f} / {w['status_table_s_max']:.2f} s "
         f"({w['tab_cpu_share']:.0%} of a core)", w),
        (f"first search after the runs that added {b['added']}", f"{first['wall_s']:.1f} s / {first['peak_rss_mb']:.0f} MB",
         first),
        ("next search", f"{nxt['wall_s']:.1f} s / {nxt['peak_rss_mb']:.0f} MB", nxt),
        ("cron log per no-op run (stdout+stderr)", f"{noop['log_bytes'] / 1024:.1f} KB", noop),
    ]
    if b["pipeline_runs"]:
        runs = b["pipeline_runs"]
        rows.append((f"building {b['added']}: files / pipeline per video",
                     f"{b['make_files_s_per_video'] * 1000:.0f} ms / {b['pipeline_s_per_video']:.2f} s "
                     f"({len(runs)} runs, {b['pipeline_s']:.0f} s)", {"load": runs[0]["load"], "load_after": runs[-1]["load_after"]}))

    def load(row: dict[str, Any]) -> str:
        before, after = row.get("load") or ["?"], row.get("load_after") or ["?"]
        return f"load {before[0]} -> {after[0]}"

    return [f"== {n} videos =="] + [f"  {label:<48} {value:<38} {load(row)}" for label, value, row in rows]


def code_version() -> str | None:
    """The commit the measured code is at, with a note when vtdb/ has uncommitted changes (None outside git)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "vtdb"], capture_output=True,
                               text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + (" + uncommitted changes in vtdb/" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000", help="library sizes to measure, ascending (comma-separated)")
    ap.add_argument("--batch", type=int, default=1000, help="videos added to the config per run_pipeline.py run")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each no-op/status/table measurement (median)")
    ap.add_argument("--polls", type=int, default=10, help="/status/table requests of the open status tab (3 s apart)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "library_scale"))
    ap.add_argument("--fresh", action="store_true", help="delete the library made by an earlier invocation first")
    ap.add_argument("--label", default="", help="what code is measured (kept with the results: before/after a change)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if sizes != sorted(sizes) or not sizes or sizes[0] < 1 or min(args.batch, args.repeat, args.polls) < 1:
        ap.error("--sizes: positive and ascending; --batch, --repeat and --polls: at least 1")

    out = Path(args.out).resolve()
    library = out / "library"
    if args.fresh and library.exists():
        import shutil

        shutil.rmtree(library)
    library.mkdir(parents=True, exist_ok=True)
    state_path = library / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"videos": 0}
    if sizes[0] < state["videos"]:
        ap.error(f"the library already holds {state['videos']} videos: ask for sizes from there on, or --fresh")
    master = make_master(out)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    for size in sizes:
        logs = out / "logs" / str(size)
        logs.mkdir(parents=True, exist_ok=True)
        log(f"{size} videos: growing from {state['videos']} (load {loadavg()})")
        grown = grow(library, master, state, size, args.batch, logs)
        log(f"{size} videos: measuring")
        result = measure_size(library, size, args.repeat, args.polls, logs, grown)
        result.update(at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), label=args.label, code=code_version())
        results.append(result)
        results_path.write_text(json.dumps(results, indent=1))
        print("\n".join(format_rows(result)), flush=True)
    log(f"results: {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
