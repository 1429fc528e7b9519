"""ChromaDBManager and a small CLI over the video database.

From a Python shell:
    from db_manager import ChromaDBManager
    db = ChromaDBManager()                      # reads ./videos_config.json when present
    db.get_video_status("news")
    db.list_videos(status_filter={"phase1_status": "completed", "phase2_status": ["pending", "processing"]})

From the shell (--config PATH goes before or after the command):
    python db_manager.py status [--json] [--filter phase2_status=pending,processing]
    python db_manager.py show NAME
    python db_manager.py reset NAME --phase N      # N = 1, 2, 3 (load) or 4; resets downstream too
    python db_manager.py release NAME [--phase N]  # retry a video held after max_attempts
    python db_manager.py delete NAME [--yes]       # forget a video and its segments
    python db_manager.py prune [NAME ...] [--yes]  # delete retired videos (segments, record, work files)

delete and prune say what they will delete, then ask; without a terminal to ask on they need --yes. Exit
codes: 0 done (or nothing to prune, or the answer was no), 2 refused (no terminal and no --yes) or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys

from vtdb.state import phase_by_number
from vtdb.store import Store, UnknownVideoError
from vtdb.text import did_you_mean


def _unknown_video(db: Store, name: str) -> str:
    """"no video named 'x' in …", with the closest existing names."""
    names = db.all_names()
    text = f"no video named {name!r} in {db.location}"
    if not names:
        return text + " (the database has no videos yet)"
    return text + (did_you_mean(name, names, n=3) or f"; `db_manager.py status` lists its {len(names)} videos")


def run(argv: list[str] | None = None) -> int:
    from rich.markup import escape

    from vtdb.cli import EXIT_OK, EXIT_USAGE, TerminalSafeConsole, check_database_dir, load_or_exit, open_database
    from vtdb.status_table import (
        PLAIN_TABLE_ROWS,
        FilterError,
        filter_text,
        parse_filters,
        plain_status_table,
        record_fields,
        status_table,
        totals_line,
    )
    from vtdb.text import json_safe

    # --config before or after the command: the subcommands take it too, with a SUPPRESS default so
    # that leaving it out after the command keeps the value given before it.
    config_after = argparse.ArgumentParser(add_help=False)
    config_after.add_argument("--config", default=argparse.SUPPRESS, help="path to videos_config.json")
    parser = argparse.ArgumentParser(prog="db_manager.py", description="Inspect and manage the video database.")
    parser.add_argument("--config", default=None, help="path to videos_config.json (before or after the command)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_status = sub.add_parser("status", help="table of videos x phases", parents=[config_after])
    p_status.add_argument("--json", action="store_true", help="print the records as JSON")
    p_status.add_argument("--filter", action="append", metavar="FIELD=VALUE[,VALUE]",
                          help="e.g. phase2_status=pending,processing (repeatable; a list means any of)")
    p_show = sub.add_parser("show", help="one video's full record", parents=[config_after])
    p_show.add_argument("name")
    p_reset = sub.add_parser("reset", help="reset a phase (and all later phases) to pending", parents=[config_after])
    p_reset.add_argument("name")
    p_reset.add_argument("--phase", required=True, help="1, 2, 3 (db load) or 4")
    p_release = sub.add_parser("release", help="release a held video so the next run retries it", parents=[config_after])
    p_release.add_argument("name")
    p_release.add_argument("--phase", default=None)
    p_delete = sub.add_parser("delete", help="remove a video record and its segments", parents=[config_after])
    p_delete.add_argument("name")
    p_delete.add_argument("--yes", "-y", action="store_true", help="do not ask (cron, scripts)")
    p_prune = sub.add_parser("prune", help="delete retired videos: segments, record and work files (asks first)",
                             parents=[config_after])
    p_prune.add_argument("names", nargs="*", metavar="NAME", help="only these retired videos (default: all)")
    p_prune.add_argument("--yes", "-y", action="store_true", help="do not ask (cron, scripts)")
    for p in (p_reset, p_release, p_delete, p_prune):
        p.add_argument("--wait", action="store_true", help="wait for a running phase to release the embedded database")
    args = parser.parse_args(argv)

    # Wide enough for the table when piped or run from cron (rich defaults to 80 columns there).
    out = TerminalSafeConsole() if TerminalSafeConsole().is_terminal else TerminalSafeConsole(width=160)

    def say(text: str) -> None:
        out.print(text, soft_wrap=True)  # one line each, however long the path (cron logs, grep)

    config = load_or_exit(args.config, need_videos=False)
    if args.command in {"status", "show"}:
        # Read-only: no lock, so status works while a phase is running.
        check_database_dir(config, writable=False)
        db = Store(config)
        if args.command == "status":
            try:
                status_filter = parse_filters(args.filter, lambda stored: record_fields(db, stored))
            except FilterError as exc:
                p_status.error(str(exc))  # usage and the message on stderr, exit 2
            # Flags are derived, not stored: the table and the JSON show them beside each record.
            records = [{**r, "flags": db.video_flags(r).as_dict()} for r in db.list_videos(status_filter)]
            if args.json:
                print(json_safe(json.dumps(records, indent=1, ensure_ascii=False)))
            elif records:
                title = f"video_files — {db.location}"
                if len(records) > PLAIN_TABLE_ROWS:
                    out.print(plain_status_table(records, title=title), markup=False, highlight=False)
                else:
                    out.print(status_table(records, title=title))
                out.print(totals_line(records))
            elif status_filter and (total := db.count_videos()):
                say(f"no videos match the filter {escape(filter_text(status_filter))} ({total} videos in {escape(db.location)})")
            else:
                say(f"no videos in {escape(db.location)} yet: run phase1_whisper_frames.py")
            return EXIT_OK
        record = db.get_video_status(args.name)
        if record is None:
            say(f"[red]{escape(_unknown_video(db, args.name))}[/]")
            return EXIT_USAGE
        print(json_safe(json.dumps({**record, "flags": db.video_flags(record).as_dict()}, indent=1, ensure_ascii=False)))
        return EXIT_OK

    if args.command == "prune":
        return _prune(args, config, say)
    with open_database(config, wait=args.wait, purpose=f"db_manager.py {args.command}") as db:
        try:
            if getattr(args, "phase", None) is not None:
                info = phase_by_number(args.phase)  # a bad --phase first: it is wrong whatever the name
            if not db.get_many([args.name]):
                orphans = db.count_segments(args.name) if args.command == "delete" else 0
                if not orphans:
                    say(f"[red]{escape(_unknown_video(db, args.name))}[/]")
                    return EXIT_USAGE
                if not args.yes and not _confirm(say, f"delete {orphans} segments of {escape(args.name)} left without a "
                                                      f"record in {escape(db.location)}", "Delete them? [y/N] "):
                    return EXIT_OK if sys.stdin.isatty() else EXIT_USAGE
                db.delete_video(args.name)
                say(f"{escape(args.name)}: no record; deleted {orphans} segments left behind")
            elif args.command == "reset":
                db.reset(args.name, info.key)
                say(f"{escape(args.name)}: {info.key} and later phases reset to pending")
            elif args.command == "release":
                released = db.release(args.name, args.phase)
                say(f"{escape(args.name)}: released {', '.join(released)}" if released else f"{escape(args.name)}: nothing was held")
            elif args.command == "delete":
                segments = db.count_segments(args.name)
                if not args.yes and not _confirm(say, f"delete {escape(args.name)}: its record and {segments} segments "
                                                      f"from {escape(db.location)}", "Delete it? This cannot be undone [y/N] "):
                    return EXIT_OK if sys.stdin.isatty() else EXIT_USAGE
                db.delete_video(args.name)
                say(f"{escape(args.name)}: deleted")
        except (UnknownVideoError, ValueError) as exc:
            say(f"[red]{escape(str(exc))}[/]")
            return EXIT_USAGE
    return EXIT_OK



def _confirm(say, what: str, question: str) -> bool:
    """Say what will be deleted and ask on the terminal; without one, refuse and say to add --yes."""
    say(what)
    if not sys.stdin.isatty():
        say("[red]not deleting anything: there is no terminal to ask on; run it again with --yes to delete it[/]")
        return False
    try:
        answer = input(question)
    except EOFError:
        answer = ""
    if answer.strip().lower() not in {"y", "yes"}:
        say("nothing deleted")
        return False
    return True


def _prune(args: argparse.Namespace, config, say) -> int:
    """Show what deleting the retired videos removes, ask (or take --yes), delete."""
    from rich.markup import escape

    from vtdb.cli import EXIT_OK, EXIT_USAGE, open_database
    from vtdb.status_table import FilterError, apply_prune, plan_prune

    with open_database(config, wait=args.wait, purpose="db_manager.py prune") as db:
        try:
            items = plan_prune(db, config.work_dir, args.names)
        except FilterError as exc:
            say(f"[red]{escape(str(exc))}[/]")
            return EXIT_USAGE
        if not items:
            say("nothing to prune: no video is retired")
            return EXIT_OK
        say(f"prune will delete {len(items)} retired video(s) from {escape(db.location)}:")
        for item in items:
            files = ", ".join(escape(str(p)) for p in item.files) or "no work files"
            say(f"  {escape(item.name)}: {item.segments} segments, its record, {files} "
                f"[dim](retired {escape(item.retired_at)}: {escape(item.reason)})[/]")
        if not args.yes:
            if not sys.stdin.isatty():
                say("[red]prune: not deleting anything: there is no terminal to ask on; run it again with --yes "
                    "to delete the videos listed above[/]")
                return EXIT_USAGE
            try:
                answer = input(f"Delete these {len(items)} video(s)? This cannot be undone [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in {"y", "yes"}:
                say("nothing deleted")
                return EXIT_OK
        count = apply_prune(db, items, lambda item: say(f"{escape(item.name)}: deleted"))
        say(f"pruned {count} retired video(s)")
    return EXIT_OK


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    from vtdb.cli import guarded_main

    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
