#!/usr/bin/env python3
"""Web app latency (issue 14: "a search request is as fast as the library's search, plus at most 10 ms").

    HF_HUB_OFFLINE=1 .venv/bin/python bench/web.py [--out bench/out/web_demo] [--rounds 5] [--warmup 2] [--json]

On the demo library (python -m vtdb.demo, then run_pipeline.py, exactly as scripts/demo.sh; built once
and cached under --out), with the real server (web_app.py --port 0, a subprocess) and the library in
another process, both on the same embedded database, it times the same ~20 queries (English and
Russian), repeated --rounds times after --warmup rounds:

  * library   ChromaDBManager(config).search(q, n_results=10), timed inside a worker process around the
              call only (the worker reads queries on stdin, so each query runs back to back in both);
  * /api/search?q=…&n=10   over one keep-alive HTTP connection, request sent to body read;
  * /?q=…     the search page with its results (cards, analyzers, HTML);
  * /         the empty search page (the form and its video list).

The library call and the HTTP requests of one query run one after the other, so load on the shared
machine shifts both alike. It checks that the API returns the same moments as the library, and prints
p50/p95, the overhead (HTTP p50 − library p50), the ratio, the median of the paired differences (API −
library for the same query back to back: the steadier figure on a loaded machine), and the load average
before and after. PASS when both overhead figures are at most 10 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from _common import bootstrap, child_env, loadavg, log, run_step  # bench/ is on sys.path (run as `python bench/web.py`)

ROOT = bootstrap()

PY = sys.executable
N_RESULTS = 10
BUDGET_MS = 10.0  # the bound on what the web layer may add
QUERIES = [
    "boil water for the spaghetti", "how much salt goes into the pasta water", "simple tomato sauce with garlic",
    "grated parmesan cheese on warm plates", "what to do with leftover pasta", "fix a flat bicycle tyre",
    "find the puncture in the inner tube", "glue a patch on the tube", "check the brakes and oil the chain",
    "tyre pressure before a long ride", "how to brew black tea", "tea with lemon honey and pancakes",
    "planting tomatoes in spring", "watering the garden in the morning",
    "заварить чёрный чай", "сколько минут настаивать чай", "зелёный чай горький", "посадить помидоры весной",
    "полить растения тёплой водой", "как сварить макароны",
]


def build_library(folder: Path) -> dict[str, Any]:
    """The demo library under `folder`, built as scripts/demo.sh builds it; reused when already built."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "built.json"
    if marker.exists() and (folder / "chroma_db").is_dir():
        return json.loads(marker.read_text())
    cfg = folder / "videos_config.json"
    took: dict[str, Any] = {}
    for step, cmd in (("demo_s", [PY, "-m", "vtdb.demo", "--config", str(cfg)]),
                      ("pipeline_s", [PY, str(ROOT / "run_pipeline.py"), "--config", str(cfg)])):
        log(f"{' '.join(cmd[1:])} …")
        try:
            seconds, _done = run_step(cmd, step, cwd=folder)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None
        took[step] = round(seconds, 1)
    took["load_after_build"] = loadavg()
    marker.write_text(json.dumps(took))
    return took


# ---------------------------------------------------------------- the library, in its own process


def worker(config: str) -> int:
    """Read {"q": …} lines, answer {"ms": …, "ids": […]} lines: the library's search, timed around the call."""
    from vtdb.store import ChromaDBManager

    db = ChromaDBManager(config)
    for line in sys.stdin:
        q = json.loads(line)["q"]
        t0 = time.perf_counter()
        moments = db.search(q, n_results=N_RESULTS)
        ms = (time.perf_counter() - t0) * 1000
        print(json.dumps({"ms": ms, "ids": [m.segment_ids for m in moments]}), flush=True)
    db.close()
    return 0


class Library:
    def __init__(self, config: Path):
        self.proc = subprocess.Popen([PY, __file__, "--worker", str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=child_env(), cwd=config.parent)

    def search(self, q: str) -> tuple[float, list]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"q": q}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the library worker died (exit {self.proc.wait()})")
        got = json.loads(line)
        return got["ms"], got["ids"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ---------------------------------------------------------------- the server


class Server:
    def __init__(self, config: Path):
        self.proc = subprocess.Popen([PY, str(ROOT / "web_app.py"), "--config", str(config), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=config.parent)
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            raise SystemExit(f"web_app.py did not print its URL: {line!r} {err[-2000:]}")
        self.port = int(match.group(1))
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)  # one keep-alive connection

    def get(self, path: str) -> tuple[float, int, bytes]:
        t0 = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        ms = (time.perf_counter() - t0) * 1000
        if response.getheader("connection", "").lower() == "close":
            raise SystemExit("the server closed the keep-alive connection")
        return ms, response.status, body

    def close(self) -> None:
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(config: Path, rounds: int, warmup: int) -> dict[str, Any]:
    library, server = Library(config), Server(config)
    times: dict[str, list[float]] = {"library": [], "api": [], "page": [], "empty": []}
    paired: list[float] = []  # API − library for the same query, run back to back: most of the load's noise cancels
    mismatches: list[str] = []
    try:
        for r in range(warmup + rounds):
            for q in QUERIES:
                quoted = urllib.parse.quote(q)
                lib_ms, lib_ids = library.search(q)
                api_ms, status, body = server.get(f"/api/search?q={quoted}&n={N_RESULTS}")
                if status != 200:
                    raise SystemExit(f"/api/search?q={q!r}: HTTP {status}: {body[:300]!r}")
                page_ms, status, page = server.get(f"/?q={quoted}")
                if status != 200 or b'class="card' not in page:
                    raise SystemExit(f"/?q={q!r}: HTTP {status}, no result card")
                empty_ms, status, _b = server.get("/")
                if r < warmup:
                    continue
                if [m["segment_ids"] for m in json.loads(body)] != lib_ids:
                    mismatches.append(q)
                for key, ms in (("library", lib_ms), ("api", api_ms), ("page", page_ms), ("empty", empty_ms)):
                    times[key].append(ms)
                paired.append(api_ms - lib_ms)
    finally:
        library.close()
        server.close()
    stats = {k: {"min": round(min(v), 2), "p50": round(statistics.median(v), 2), "p95": round(pct(v, 0.95), 2), "n": len(v)}
             for k, v in times.items()}
    overhead = stats["api"]["p50"] - stats["library"]["p50"]
    return {"stats": stats, "overhead_ms": round(overhead, 2), "ratio": round(stats["api"]["p50"] / stats["library"]["p50"], 3),
            "page_overhead_ms": round(stats["page"]["p50"] - stats["library"]["p50"], 2),
            "paired_overhead_p50_ms": round(statistics.median(paired), 2),
            "min_overhead_ms": round(stats["api"]["min"] - stats["library"]["min"], 2),
            "within_budget": overhead <= BUDGET_MS and statistics.median(paired) <= BUDGET_MS, "mismatched_queries": sorted(set(mismatches)),
            "queries": len(QUERIES), "rounds": rounds, "warmup": warmup}


def format_table(result: dict[str, Any]) -> str:
    rows = [("library search (own process)", "library"), (f"GET /api/search?n={N_RESULTS}", "api"),
            ("GET /?q=… (results page)", "page"), ("GET / (empty search page)", "empty")]
    lines = [f"{'what':34} {'min ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'n':>5}"]
    for label, key in rows:
        s = result["stats"][key]
        lines.append(f"{label:34} {s['min']:8.2f} {s['p50']:8.2f} {s['p95']:8.2f} {s['n']:5d}")
    verdict = "PASS" if result["within_budget"] else "FAIL"
    lines.append(f"overhead (API p50 − library p50): {result['overhead_ms']:.2f} ms (budget {BUDGET_MS:.0f} ms: {verdict}); "
                 f"ratio {result['ratio']:.2f}; results page adds {result['page_overhead_ms']:.2f} ms")
    lines.append(f"paired overhead (API − library, same query back to back), median: {result['paired_overhead_p50_ms']:.2f} ms; "
                 f"fastest API − fastest library: {result['min_overhead_ms']:.2f} ms")
    lines.append(f"same moments from the API as from the library: "
                 f"{'yes' if not result['mismatched_queries'] else 'NO for ' + ', '.join(result['mismatched_queries'])}")
    lines.append(f"load average before {result['load_before']}, after {result['load_after']} (cores: {os.cpu_count()})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "web_demo"), help="where the demo library is built and cached")
    ap.add_argument("--rounds", type=int, default=5, help="measured passes over the queries")
    ap.add_argument("--warmup", type=int, default=2, help="passes before measuring")
    ap.add_argument("--force", action="store_true", help="rebuild the demo library")
    ap.add_argument("--json", action="store_true", help="print the result as JSON too")
    ap.add_argument("--worker", metavar="CONFIG", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if args.rounds < 1 or args.warmup < 0:
        ap.error("--rounds must be at least 1 and --warmup at least 0")
    out = Path(args.out).resolve()
    if args.force and out.exists():
        shutil.rmtree(out)
    built = build_library(out)
    log(f"demo library at {out} ({built})")
    before = loadavg()
    result = measure(out / "videos_config.json", args.rounds, args.warmup)
    result.update(load_before=before, load_after=loadavg(), build=built)
    (out / "web_latency.json").write_text(json.dumps(result, indent=1))
    print(format_table(result))
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
