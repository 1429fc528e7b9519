#!/usr/bin/env python3
"""Listing and syncing a huge ZIM archive (issue 16, "ZIM at any size").

    .venv/bin/python bench/zim_scale.py [--entries 1000000] [--videos 20] [--out bench/out/zim_scale]

Writes (once; reused when present) a youtube2zim-v3 archive holding --videos small video items plus
--entries small non-video entries (what a zimit archive looks like to a lister), and a generic one (no
per-video JSON: every entry's mimetype is looked at). Then, each in a fresh process so that peak RSS
belongs to one measurement:

  list      `list_zim_videos` (with content fingerprints): wall time, peak RSS over the process's RSS
            after its imports;
  sync      `sync_videos` of a config naming the archive into a fresh embedded Chroma (what Phase 1's
            sync does): time and peak RSS; a second, no-op sync (cached checksum and fingerprints);
  old_dict  for comparison, what the previous code did first: a dict of every entry (path -> Entry).

Figures go to OUT/results.json and are printed with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(HERE)]

from _common import loadavg, log  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's peak across fork + exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(path: Path, entries: int, videos: int, generic: bool) -> float:
    from zim_factory import write_zim, youtube2zim_v3_items

    def items():
        if generic:
            for i in range(videos):
                yield (f"media/clip{i:04d}.mp4", "video/mp4", bytes([i % 256]) * 4096, f"Clip {i}")
        else:
            yield from youtube2zim_v3_items([{"id": f"benchVid{i:03d}", "title": f"Video {i}", "media": bytes([i % 256]) * 4096}
                                             for i in range(videos)])
        for i in range(entries):
            yield (f"warc/page{i:08d}.txt", "text/plain", f"page {i}", "")

    start = time.perf_counter()
    write_zim(path, items())
    return time.perf_counter() - start


def measure(kind: str, archive: Path, work: Path) -> dict:
    """Runs in a child process (see main)."""
    import vtdb.sources.zim as zim
    from vtdb.sources.fingerprint import FingerprintCache

    base = rss_mb()
    start = time.perf_counter()
    out: dict = {}
    if kind == "list":
        info, videos, problems = zim.list_zim_videos(archive, fingerprints=FingerprintCache(None))
        out.update(videos=len(videos), problems=len(problems))
    elif kind == "old_dict":
        with zim.open_archive(archive) as a:
            entries = {}
            for i in range(a.entry_count):
                e = a._get_entry_by_id(i)
                if not e.is_redirect:
                    entries[e.path] = e
            out.update(entries=len(entries))
    elif kind == "sync":
        from vtdb import events as ev
        from vtdb.config import load_config
        from vtdb.sources.sync import sync_videos
        from vtdb.store import Store

        cfg = work / "videos_config.json"
        cfg.write_text(json.dumps({"settings": {"work_dir": str(work / "data"), "chroma_dir": str(work / "chroma")},
                                   "videos": [{"zim": str(archive)}]}))
        config = load_config(cfg)
        with Store(config) as db:
            events = ev.EventLog(work / "events.jsonl")
            problems = sync_videos(db, config, events).problems
            first = time.perf_counter() - start
            again = time.perf_counter()
            problems += sync_videos(db, config, events).problems
            out.update(records=db.count_videos(), problems=len(problems), first_s=round(first, 2),
                       noop_s=round(time.perf_counter() - again, 2))
    out.update(seconds=round(time.perf_counter() - start, 2), rss_base_mb=round(base, 1), peak_rss_mb=round(peak_mb(), 1),
               peak_over_base_mb=round(peak_mb() - base, 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "zim_scale"))
    ap.add_argument("--only", choices=("v3", "generic"), help="one layout only")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "ARCHIVE", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, archive, work = args.child
        print(json.dumps(measure(kind, Path(archive), Path(work))))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"entries": args.entries, "videos": args.videos, "loadavg_start": loadavg()}
    for layout in ([args.only] if args.only else ["v3", "generic"]):
        archive = out / f"{layout}_{args.entries}.zim"
        if not archive.exists():
            log(f"writing {archive.name} ({args.entries:,} entries + {args.videos} videos) …")
            results[f"{layout}_write_s"] = round(build(archive, args.entries, args.videos, layout == "generic"), 1)
        results[f"{layout}_archive_mb"] = round(archive.stat().st_size / 2**20, 1)
        for kind in ("list", "sync", "old_dict"):
            if kind == "sync" and layout == "generic":
                continue
            work = out / f"work_{layout}_{kind}"
            if work.exists():
                import shutil

                shutil.rmtree(work)
            work.mkdir()
            proc = subprocess.run([sys.executable, __file__, "--child", kind, str(archive), str(work)],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"{kind} on {archive.name} failed:\n{proc.stderr[-3000:]}")
            results[f"{layout}_{kind}"] = json.loads(proc.stdout.strip().splitlines()[-1])
            log(f"{layout} {kind}: {results[f'{layout}_{kind}']}")
    results["loadavg_end"] = loadavg()
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
