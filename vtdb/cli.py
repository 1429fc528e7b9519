"""What every phase script shares: arguments, database opening (with the embedded lock),
signal handling and the mapping of errors to exit codes (0 ok, 1 some videos failed, 2 bad
config/usage/database)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape

from .config import Config, ConfigError, load_config, settings_only
from .db import ChromaDBManager, DatabaseUnavailable
from .lock import DatabaseLock, LockHeld
from .runner import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PlanOnly, RunOptions, RunSummary, run_phase

# soft_wrap: long paths and errors stay on one line in cron logs and pipes.
console = Console(stderr=True, soft_wrap=True)


def phase_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", default=None, help="path to videos_config.json (default: ./videos_config.json)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be processed and exit")
    parser.add_argument("--only", action="append", metavar="NAME", help="process only this video (repeatable)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="process at most N videos")
    parser.add_argument("--force", action="store_true", help="reprocess even completed or held videos (combine with --only)")
    parser.add_argument("--wait", action="store_true", help="wait for another run holding the embedded database instead of exiting")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--base-url / --model for the phases that talk to a language model (2 and 4)."""
    parser.add_argument("--base-url", action="append", default=None, metavar="URL",
                        help="OpenAI-compatible endpoint (repeatable, used round-robin); overrides openai_base_url")
    parser.add_argument("--model", default=None, help="model name (overrides vlm_model)")


def apply_model_arguments(args: argparse.Namespace, config: Config) -> None:
    if args.base_url:
        config.settings.openai_base_url = args.base_url
    if args.model:
        config.settings.vlm_model = args.model


def dry_run(phase: str, db: ChromaDBManager, work_dir: Path, options: RunOptions) -> int:
    """--dry-run: show what this phase would take, change nothing."""
    print_summary(run_phase(PlanOnly(phase), db, work_dir, options, console), True)
    return EXIT_OK


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def run_options(args: argparse.Namespace) -> RunOptions:
    if args.limit is not None and args.limit < 0:
        raise ConfigError("--limit must be >= 0")
    return RunOptions(only=args.only, limit=args.limit, force=args.force, dry_run=args.dry_run)


def load_or_exit(path: str | None, need_videos: bool) -> Config:
    try:
        config = load_config(path) if need_videos else settings_only(path)
    except ConfigError as exc:
        console.print(f"[bold red]config error:[/] {escape(str(exc))}")
        raise SystemExit(EXIT_USAGE)
    for warning in config.warnings:
        console.print(f"[yellow]config warning:[/] {escape(warning)}")
    return config


@contextlib.contextmanager
def open_database(config: Config, wait: bool = False, purpose: str = "") -> Iterator[ChromaDBManager]:
    """A ChromaDBManager; with an embedded database, also the exclusive lock on its folder."""
    db = ChromaDBManager(config)
    lock = None
    if not db.is_server:
        lock = DatabaseLock(db.chroma_dir, purpose)
        try:
            lock.acquire(wait=False)
        except LockHeld as held:
            if not wait:
                raise
            console.print(f"[dim]{escape(str(held).split('; exiting')[0])}; waiting for the lock …[/]")
            lock.acquire(wait=True)
    try:
        yield db
    finally:
        if lock:
            lock.release()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def guarded_main(body: Callable[[], int]) -> None:
    """Run a CLI body and turn the known failures into one clear line and an exit code."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # Offline first: never wait on a model hub unless the user allows downloads.
    if os.environ.get("VTDB_ALLOW_DOWNLOADS") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        code = body()
    except LockHeld as exc:
        console.print(f"[yellow]{escape(str(exc))}[/]")
        code = EXIT_OK
    except ConfigError as exc:
        console.print(f"[bold red]config error:[/] {escape(str(exc))}")
        code = EXIT_USAGE
    except DatabaseUnavailable as exc:
        console.print(f"[bold red]database error:[/] {escape(str(exc))}")
        code = EXIT_USAGE
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        code = EXIT_INTERRUPTED
    sys.exit(code)


def print_summary(summary: RunSummary, dry_run: bool) -> None:
    if dry_run:
        if not summary.planned:
            console.print(f"{summary.phase}: nothing to do")
        for name, reason in summary.planned:
            console.print(f"would process {escape(name)} ({escape(reason)})")
        return
    parts = [f"{len(summary.completed)} completed", f"{len(summary.failed)} failed"]
    if summary.held:
        parts.append(f"{len(summary.held)} now held")
    if summary.superseded:
        parts.append(f"{len(summary.superseded)} superseded")
    parts.append(f"{summary.skipped} skipped")
    if summary.aborted:
        parts.append(f"stopped early: {summary.aborted}")
    style = "red" if summary.failed or summary.aborted else "green"
    console.print(f"[{style}]{summary.phase}: " + ", ".join(parts) + "[/]")


def exit_code_for(summary: RunSummary, invalid_entries: int = 0) -> int:
    code = summary.exit_code
    if code == EXIT_OK and invalid_entries:
        code = EXIT_FAILURES
    return code


def work_dir_of(config: Config) -> Path:
    path = config.work_dir
    path.mkdir(parents=True, exist_ok=True)
    return path
