"""db_manager.py (also `vtdb status`, `vtdb reset`, …): manage the video database, one function per subcommand.

    python db_manager.py status [--json] [--filter phase2_status=pending,processing]
    python db_manager.py show NAME
    python db_manager.py reset NAME --phase N      # N = 1, 2, 3 (load) or 4; resets downstream too
    python db_manager.py release NAME [--phase N]  # retry a video held after max_attempts
    python db_manager.py delete NAME [--yes]       # forget a video and its segments
    python db_manager.py prune [NAME ...] [--yes]  # delete retired videos (segments, record, work files)

--config PATH goes before or after the command. status and show only read (no lock: they work while a phase
runs); the others write, holding the embedded database's lock (--wait waits for a running phase). delete and
prune say what they will delete, then ask; without a terminal to ask on they need --yes. Exit codes: 0 done
(or nothing to prune, or the answer was no), 2 refused (no terminal and no --yes) or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Callable

from rich.markup import escape

from vtdb.cli import EXIT_OK, EXIT_USAGE, TerminalSafeConsole, check_database_dir, load_or_exit, open_database
from vtdb.commandline import command, prog
from vtdb.config import Config
from vtdb.prune import PruneRefused, apply_prune, plan_prune
from vtdb.state import phase_by_number
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
from vtdb.store import Store, UnknownVideoError
from vtdb.text import did_you_mean, json_safe

READING = ("status", "show")  # the subcommands that only read


@dataclass
class Invocation:
    """One run of db_manager.py: its arguments, the config, where it prints, and its subcommand's parser (for
    a usage error)."""

    args: argparse.Namespace
    config: Config
    out: TerminalSafeConsole
    parser: argparse.ArgumentParser

    def say(self, text: str) -> None:
        self.out.print(text, soft_wrap=True)  # one line each, however long the path (cron logs, grep)


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and each subcommand's."""
    # --config before or after the command: the subcommands take it too, with a SUPPRESS default so
    # that leaving it out after the command keeps the value given before it.
    config_after = argparse.ArgumentParser(add_help=False)
    config_after.add_argument("--config", default=argparse.SUPPRESS, help="path to videos_config.json")
    parser = argparse.ArgumentParser(prog=prog("status"), description="Inspect and manage the video database.")
    parser.add_argument("--config", default=None, help="path to videos_config.json (before or after the command)")
    sub = parser.add_subparsers(dest="command", required=True)

    def subcommand(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[config_after])

    p_status = subcommand("status", "table of videos x phases")
    p_status.add_argument("--json", action="store_true", help="print the records as JSON")
    p_status.add_argument("--filter", action="append", metavar="FIELD=VALUE[,VALUE]",
                          help="e.g. phase2_status=pending,processing (repeatable; a list means any of)")
    p_show = subcommand("show", "one video's full record")
    p_show.add_argument("name")
    p_reset = subcommand("reset", "reset a phase (and all later phases) to pending")
    p_reset.add_argument("name")
    p_reset.add_argument("--phase", required=True, help="1, 2, 3 (db load) or 4")
    p_release = subcommand("release", "release a held video so the next run retries it")
    p_release.add_argument("name")
    p_release.add_argument("--phase", default=None)
    p_delete = subcommand("delete", "remove a video record and its segments")
    p_delete.add_argument("name")
    p_delete.add_argument("--yes", "-y", action="store_true", help="do not ask (cron, scripts)")
    p_prune = subcommand("prune", "delete retired videos: segments, record and work files (asks first)")
    p_prune.add_argument("names", nargs="*", metavar="NAME", help="only these retired videos (default: all)")
    p_prune.add_argument("--yes", "-y", action="store_true", help="do not ask (cron, scripts)")
    for p in (p_reset, p_release, p_delete, p_prune):
        p.add_argument("--wait", action="store_true", help="wait for a running phase to release the embedded database")
    return parser, {"status": p_status, "show": p_show, "reset": p_reset, "release": p_release, "delete": p_delete,
                    "prune": p_prune}


def run(argv: list[str] | None = None) -> int:
    parser, subparsers = _parsers()
    args = parser.parse_args(argv)
    # Wide enough for the table when piped or run from cron (rich defaults to 80 columns there).
    out = TerminalSafeConsole() if TerminalSafeConsole().is_terminal else TerminalSafeConsole(width=160)
    config = load_or_exit(args.config, need_videos=False)
    run_ = Invocation(args, config, out, subparsers[args.command])
    if args.command in READING:
        check_database_dir(config, writable=False)
        return READERS[args.command](run_, Store(config))
    with open_database(config, wait=args.wait, purpose=command(args.command)) as db:
        try:
            return WRITERS[args.command](run_, db)
        except (UnknownVideoError, ValueError) as exc:
            run_.say(f"[red]{escape(str(exc))}[/]")
            return EXIT_USAGE


# ---- reading ----


def status(run_: Invocation, db: Store) -> int:
    """The table of videos x phases (or --json), with the --filter applied."""
    try:
        status_filter = parse_filters(run_.args.filter, lambda stored: record_fields(db, stored))
    except FilterError as exc:
        run_.parser.error(str(exc))  # usage and the message on stderr, exit 2
    # Flags are derived, not stored: the table and the JSON show them beside each record.
    records = [{**r, "flags": db.video_flags(r).as_dict()} for r in db.list_videos(status_filter)]
    if run_.args.json:
        print(json_safe(json.dumps(records, indent=1, ensure_ascii=False)))
    elif records:
        title = f"video_files — {db.location}"
        if len(records) > PLAIN_TABLE_ROWS:
            run_.out.print(plain_status_table(records, title=title), markup=False, highlight=False)
        else:
            run_.out.print(status_table(records, title=title))
        run_.out.print(totals_line(records))
    elif status_filter and (total := db.count_videos()):
        run_.say(f"no videos match the filter {escape(filter_text(status_filter))} ({total} videos in {escape(db.location)})")
    else:
        run_.say(f"no videos in {escape(db.location)} yet: run {command('phase1')}")
    return EXIT_OK


def show(run_: Invocation, db: Store) -> int:
    """One video's whole record, with its flags, as JSON."""
    record = db.get_video_status(run_.args.name)
    if record is None:
        run_.say(f"[red]{escape(_unknown_video(db, run_.args.name))}[/]")
        return EXIT_USAGE
    print(json_safe(json.dumps({**record, "flags": db.video_flags(record).as_dict()}, indent=1, ensure_ascii=False)))
    return EXIT_OK


# ---- writing (under the embedded database's lock) ----


def reset(run_: Invocation, db: Store) -> int:
    info = phase_by_number(run_.args.phase)  # a bad --phase first: it is wrong whatever the name
    name = run_.args.name
    if not _known(run_, db):
        return EXIT_USAGE
    db.reset(name, info.key)
    run_.say(f"{escape(name)}: {info.key} and later phases reset to pending")
    return EXIT_OK


def release(run_: Invocation, db: Store) -> int:
    name = run_.args.name
    if run_.args.phase is not None:
        phase_by_number(run_.args.phase)  # a bad --phase first: it is wrong whatever the name
    if not _known(run_, db):
        return EXIT_USAGE
    released = db.release(name, run_.args.phase)
    run_.say(f"{escape(name)}: released {', '.join(released)}" if released else f"{escape(name)}: nothing was held")
    return EXIT_OK


def delete(run_: Invocation, db: Store) -> int:
    """Forget a video: its record and segments (or, with no record, the segments left without one)."""
    name = run_.args.name
    if not db.get_many([name]):
        orphans = db.count_segments(name)
        if not orphans:
            run_.say(f"[red]{escape(_unknown_video(db, name))}[/]")
            return EXIT_USAGE
        if not _confirmed(run_, f"delete {orphans} segments of {escape(name)} left without a record in "
                                f"{escape(db.location)}", "Delete them? [y/N] "):
            return _declined()
        db.delete_video(name)
        run_.say(f"{escape(name)}: no record; deleted {orphans} segments left behind")
        return EXIT_OK
    segments = db.count_segments(name)
    if not _confirmed(run_, f"delete {escape(name)}: its record and {segments} segments from {escape(db.location)}",
                      "Delete it? This cannot be undone [y/N] "):
        return _declined()
    db.delete_video(name)
    run_.say(f"{escape(name)}: deleted")
    return EXIT_OK


def prune(run_: Invocation, db: Store) -> int:
    """Show what deleting the retired videos removes, ask (or take --yes), delete."""
    try:
        items = plan_prune(db, run_.config.work_dir, run_.args.names)
    except PruneRefused as exc:
        run_.say(f"[red]{escape(str(exc))}[/]")
        return EXIT_USAGE
    if not items:
        run_.say("nothing to prune: no video is retired")
        return EXIT_OK
    run_.say(f"prune will delete {len(items)} retired video(s) from {escape(db.location)}:")
    for item in items:
        files = ", ".join(escape(str(p)) for p in item.files) or "no work files"
        run_.say(f"  {escape(item.name)}: {item.segments} segments, its record, {files} "
                 f"[dim](retired {escape(item.retired_at)}: {escape(item.reason)})[/]")
    if not run_.args.yes:
        if not sys.stdin.isatty():
            run_.say("[red]prune: not deleting anything: there is no terminal to ask on; run it again with --yes "
                     "to delete the videos listed above[/]")
            return EXIT_USAGE
        if not _yes(f"Delete these {len(items)} video(s)? This cannot be undone [y/N] "):
            run_.say("nothing deleted")
            return EXIT_OK
    count = apply_prune(db, items, lambda item: run_.say(f"{escape(item.name)}: deleted"))
    run_.say(f"pruned {count} retired video(s)")
    return EXIT_OK


READERS: dict[str, Callable[[Invocation, Store], int]] = {"status": status, "show": show}
WRITERS: dict[str, Callable[[Invocation, Store], int]] = {"reset": reset, "release": release, "delete": delete,
                                                          "prune": prune}


# ---- shared ----


def _unknown_video(db: Store, name: str) -> str:
    """"no video named 'x' in …", with the closest existing names."""
    names = db.all_names()
    text = f"no video named {name!r} in {db.location}"
    if not names:
        return text + " (the database has no videos yet)"
    return text + (did_you_mean(name, names, n=3) or f"; `{command('status')}` lists its {len(names)} videos")


def _known(run_: Invocation, db: Store) -> bool:
    """Is the named video in the database? If not, say so (with the closest names)."""
    if db.get_many([run_.args.name]):
        return True
    run_.say(f"[red]{escape(_unknown_video(db, run_.args.name))}[/]")
    return False


def _yes(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:
        answer = ""
    return answer.strip().lower() in {"y", "yes"}


def _confirmed(run_: Invocation, what: str, question: str) -> bool:
    """--yes, or: say what will be deleted and ask on the terminal; without one, refuse and say to add --yes."""
    if run_.args.yes:
        return True
    run_.say(what)
    if not sys.stdin.isatty():
        run_.say("[red]not deleting anything: there is no terminal to ask on; run it again with --yes to delete it[/]")
        return False
    if not _yes(question):
        run_.say("nothing deleted")
        return False
    return True


def _declined() -> int:
    """The exit code of a delete not done: 0 when the person said no, 2 when there was no one to ask."""
    return EXIT_OK if sys.stdin.isatty() else EXIT_USAGE


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    from vtdb.cli import guarded_main

    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
