#!/usr/bin/env python3
"""ChromaDBManager and a small CLI over the video database.

From a Python shell:
    from db_manager import ChromaDBManager
    db = ChromaDBManager()                      # reads ./videos_config.json when present
    db.get_video_status("news")
    db.list_videos(status_filter={"phase1_status": "completed", "phase2_status": ["pending", "processing"]})

From the shell:
    python db_manager.py status [--json] [--filter phase2_status=pending,processing]
    python db_manager.py show NAME
    python db_manager.py reset NAME --phase N      # N = 1, 2, 3 (load) or 4; resets downstream too
    python db_manager.py release NAME [--phase N]  # retry a video held after max_attempts
    python db_manager.py delete NAME               # forget a video and its segments
"""

from __future__ import annotations

import argparse
import json

from vtdb.db import ChromaDBManager, UnknownVideoError  # noqa: F401  (public API)
from vtdb.state import phase_by_number

__all__ = ["ChromaDBManager"]


def _parse_filters(items: list[str] | None) -> dict:
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--filter {item!r}: use FIELD=VALUE or FIELD=V1,V2")
        key, value = item.split("=", 1)
        values = [v for v in value.split(",") if v]
        out[key.strip()] = values if len(values) > 1 else (values[0] if values else "")
    return out


def main() -> int:
    from rich.console import Console

    from vtdb.cli import EXIT_OK, EXIT_USAGE, load_or_exit, open_database
    from vtdb.status_table import status_table, totals_line

    parser = argparse.ArgumentParser(prog="db_manager.py", description="Inspect and manage the video database.")
    parser.add_argument("--config", default=None, help="path to videos_config.json")
    sub = parser.add_subparsers(dest="command", required=True)
    p_status = sub.add_parser("status", help="table of videos x phases")
    p_status.add_argument("--json", action="store_true", help="print the records as JSON")
    p_status.add_argument("--filter", action="append", metavar="FIELD=VALUE[,VALUE]", help="e.g. phase2_status=pending,processing")
    p_show = sub.add_parser("show", help="one video's full record")
    p_show.add_argument("name")
    p_reset = sub.add_parser("reset", help="reset a phase (and all later phases) to pending")
    p_reset.add_argument("name")
    p_reset.add_argument("--phase", required=True, help="1, 2, 3 (db load) or 4")
    p_release = sub.add_parser("release", help="release a held video so the next run retries it")
    p_release.add_argument("name")
    p_release.add_argument("--phase", default=None)
    p_delete = sub.add_parser("delete", help="remove a video record and its segments")
    p_delete.add_argument("name")
    for p in (p_reset, p_release, p_delete):
        p.add_argument("--wait", action="store_true", help="wait for a running phase to release the embedded database")
    args = parser.parse_args()

    # Wide enough for the table when piped or run from cron (rich defaults to 80 columns there).
    out = Console() if Console().is_terminal else Console(width=160)
    config = load_or_exit(args.config, need_videos=False)
    if args.command in {"status", "show"}:
        # Read-only: no lock, so status works while a phase is running.
        db = ChromaDBManager(config)
        if args.command == "status":
            records = db.list_videos(_parse_filters(args.filter))
            if args.json:
                print(json.dumps(records, indent=1, ensure_ascii=False))
            elif not records:
                out.print(f"no videos in {db.location} yet: run phase1_whisper_frames.py")
            else:
                out.print(status_table(records, title=f"video_files — {db.location}"))
                out.print(totals_line(records))
            return EXIT_OK
        record = db.get_video_status(args.name)
        if record is None:
            out.print(f"[red]no video named {args.name!r}[/]")
            return EXIT_USAGE
        print(json.dumps(record, indent=1, ensure_ascii=False))
        return EXIT_OK

    with open_database(config, wait=args.wait, purpose=f"db_manager.py {args.command}") as db:
        try:
            if args.command == "reset":
                info = phase_by_number(args.phase)
                db.reset(args.name, info.key)
                out.print(f"{args.name}: {info.key} and later phases reset to pending")
            elif args.command == "release":
                released = db.release(args.name, args.phase)
                out.print(f"{args.name}: released {', '.join(released)}" if released else f"{args.name}: nothing was held")
            elif args.command == "delete":
                db.delete_video(args.name)
                out.print(f"{args.name}: deleted")
        except (UnknownVideoError, ValueError) as exc:
            out.print(f"[red]{exc}[/]")
            return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    from vtdb.cli import guarded_main

    guarded_main(main)
