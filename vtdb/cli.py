"""What every phase script shares: arguments, database opening (with the embedded lock),
signal handling and the mapping of errors to exit codes (0 ok, 1 some videos failed, 2 bad
config/usage/database, 130 interrupted, 141 the reader of a pipe went away)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import select
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.segment import Segment

from vtdb import events as ev
from vtdb.commandline import COMMANDS, command, hand_down_form
from vtdb.config import Config, ConfigError, load_config, settings_only
from vtdb.lock import LockHeld
from vtdb.runner import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PlanOnly, RunOptions, RunSummary, run_phase
from vtdb.store import DatabaseUnavailable, Store
from vtdb.store.access import holder_text, writing
from vtdb.text import did_you_mean, terminal_safe


class TerminalSafeConsole(Console):
    """A rich Console that never lets text act on the terminal: every piece of text it writes (titles,
    transcripts, names, paths, errors: whatever a video, a subtitle, an archive or a config put there) goes
    through vtdb.text.terminal_safe, so ESC]52 (clipboard), ESC]0 (window title), cursor moves, other C0/C1
    controls and bidi overrides show as visible escapes. rich's own styles and cursor controls (progress
    bars) are not text and pass unchanged. Every CLI prints through one of these."""

    def _render_buffer(self, buffer):
        return super()._render_buffer(
            segment if segment.control else Segment(terminal_safe(segment.text), segment.style, segment.control)
            for segment in buffer)


class _TerminalSafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


# soft_wrap: long paths and errors stay on one line in cron logs and pipes.
console = TerminalSafeConsole(stderr=True, soft_wrap=True)

# What a shell reports for a Unix tool stopped by SIGPIPE (128 + 13): `vtdb status --json | head`
# ends quietly with this code when head stops reading, like `yes | head` (visible with `set -o pipefail`).
EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE


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
    changes: dict = {}
    if args.base_url:
        changes["openai_base_url"] = args.base_url
    if args.model:
        changes["vlm_model"] = args.model
    if changes:  # settings are immutable: the config gets a changed copy
        config.settings = dataclasses.replace(config.settings, **changes)


def dry_run(phase: str, db: Store, work_dir: Path, options: RunOptions) -> int:
    """--dry-run: show what this phase would take, change nothing."""
    print_summary(run_phase(PlanOnly(phase), db, work_dir, options, console), True)
    return EXIT_OK


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_TerminalSafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])


def run_options(args: argparse.Namespace) -> RunOptions:
    if args.limit is not None and args.limit < 0:
        raise ConfigError("--limit must be >= 0")
    return RunOptions(only=args.only, limit=args.limit, force=args.force, dry_run=args.dry_run)


def load_or_exit(path: str | None, need_videos: bool) -> Config:
    try:
        config = load_config(path) if need_videos else settings_only(path)
    except ConfigError as exc:
        console.print(f"[bold red]config error:[/] {escape(str(exc))}")
        raise SystemExit(EXIT_USAGE) from None
    for warning in config.warnings:
        console.print(f"[yellow]config warning:[/] {escape(warning)}")
    return config


def _path_problem(path: Path, kind: str, writable: bool) -> str | None:
    """Why `path` cannot be used as a folder (kind "folder") or a file to write (kind "file"), or None."""
    if os.path.lexists(path):
        if not path.exists():
            return "is a broken symbolic link"
        if kind == "folder" and not path.is_dir():
            return "is a file, not a folder"
        if kind == "file" and path.is_dir():
            return "is a folder, not a file"
        mode = os.W_OK | os.X_OK if kind == "folder" else os.W_OK
        if writable and not os.access(path, mode):
            return f"is not writable ({_why_unwritable(path)})"
        return None
    above = path.parent
    while not os.path.lexists(above) and above != above.parent:
        above = above.parent
    if not above.exists():
        return f"cannot be created: {above} is a broken symbolic link"
    if not above.is_dir():
        return f"lies under {above}, which is a file, not a folder"
    if writable and not os.access(above, os.W_OK | os.X_OK):
        return f"cannot be created: {above} is not writable ({_why_unwritable(above)})"
    return None


def _why_unwritable(path: Path) -> str:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except (OSError, AttributeError):
        pass
    return "permission denied"


def _hint(what: str, kind: str) -> str:
    if what.startswith("settings."):
        key = what.split(".", 1)[1]
        return f"set {key} (or VTDB_{key.upper()}) to a {kind} path that can be created and written"
    return f"give {what} a {kind} path that can be created and written"


def check_output_dir(path: Path | str, what: str, writable: bool = True) -> Path:
    """Refuse, before any work starts, a folder that cannot work: an existing file, a path under a file,
    an unwritable parent. Raises ConfigError naming the setting (or option) `what`, e.g.
    "settings.work_dir: /x/y is a file, not a folder; set work_dir ...". Creates nothing."""
    path = Path(path)
    problem = _path_problem(path, "folder", writable)
    if problem:
        raise ConfigError(f"{what}: {path} {problem}; {_hint(what, 'folder')}")
    return path


def check_output_file(path: Path | str, what: str) -> Path:
    """The same for a file that will be appended to or replaced (the event log)."""
    path = Path(path)
    problem = _path_problem(path, "file", True)
    if problem:
        raise ConfigError(f"{what}: {path} {problem}; {_hint(what, 'file')}")
    return path


def check_database_dir(config: Config, writable: bool = True) -> None:
    """The embedded database folder (nothing to check with a Chroma server)."""
    if not config.settings.chroma_host:
        check_output_dir(config.chroma_dir, "settings.chroma_dir", writable)


def event_log_of(config: Config, work_dir: Path) -> ev.EventLog:
    """The run's event log, {work_dir}/{event_log}, checked before any work starts."""
    name = config.settings.event_log
    if not name.strip():
        raise ConfigError("settings.event_log: is empty; give a file name such as events.jsonl (relative to "
                          "work_dir) or an absolute path")
    return ev.EventLog(check_output_file(work_dir / name, "settings.event_log"))


CHROMA_FILE = "chroma.sqlite3"
_EVENT_LOG_TAIL = 4 << 20  # the part of the event log read for the runs' database (its newest 4 MiB)


def _database_used_before(config: Config) -> bool:
    """Did a phase run use the embedded database at chroma_dir? Every run's PHASE_START in the event log names
    its database (`location`); the newest part of the log is read."""
    log = config.work_dir / config.settings.event_log
    try:
        with open(log, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _EVENT_LOG_TAIL))
            tail = fh.read()
    except OSError:
        return False
    wanted = config.chroma_dir.resolve()
    for line in reversed(tail.splitlines()):
        if ev.PHASE_START.encode() not in line:
            continue
        try:
            location = str(json.loads(line).get("location") or "")
        except ValueError:
            continue
        if location.startswith("embedded database ") and Path(location[len("embedded database "):]).resolve() == wanted:
            return True
    return False


def require_database(config: Config, phase: str) -> None:
    """Phases 2-4: an embedded database that earlier runs used (their PHASE_START events name it) and that is
    gone now (its folder deleted, a disk not mounted) is a DatabaseUnavailable (exit 2), not an empty new
    database and "0 completed"."""
    if config.settings.chroma_host or (config.chroma_dir / CHROMA_FILE).exists() or not _database_used_before(config):
        return
    raise DatabaseUnavailable(
        f"the database {config.chroma_dir} is gone: earlier runs stored the videos there (the event log "
        f"{config.work_dir / config.settings.event_log} names it), and it has no {CHROMA_FILE} now (deleted, or a "
        f"disk that is not mounted?); {phase} has nothing to work on. Restore the folder from a backup or mount it, "
        f"or set chroma_dir to where the database is; to start over, run {command('phase1')}")


@contextlib.contextmanager
def open_database(config: Config, wait: bool = False, purpose: str = "") -> Iterator[Store]:
    """A Store; with an embedded database, also the exclusive lock on its folder."""
    db = Store(config)
    db.on_notice = lambda message: console.print(f"[yellow]{escape(message)}[/]")
    if not db.is_server:
        check_output_dir(db.chroma_dir, "settings.chroma_dir")

    def waiting(held: LockHeld) -> None:
        console.print(f"[dim]{escape(holder_text(held))}; waiting for the lock …[/]")

    with writing(db, purpose, wait=wait, on_wait=waiting):
        yield db


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _stdio_closed() -> bool:
    """Has the reader of stdout or stderr gone away? (A pipe whose read end is closed polls as POLLERR.)"""
    if not hasattr(select, "poll"):
        return True
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is None:
            continue
        try:
            poller = select.poll()
            poller.register(stream.fileno(), select.POLLOUT)
            if any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0)):
                return True
        except (AttributeError, OSError, ValueError):
            continue
    return False


def _silence_stdio() -> None:
    """Point stdout and stderr at /dev/null, so that nothing more (the interpreter's final flush
    included) writes into the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is None:
            continue
        try:
            os.dup2(devnull, stream.fileno())
        except (AttributeError, OSError, ValueError):
            pass
    os.close(devnull)


def survive_closed_pipe(body: Callable[[], int]) -> int:
    """body()'s exit code; EXIT_CLOSED_PIPE, quietly, when the reader of our output went away
    (`... | head -1`). Output still buffered is flushed here, where a closed pipe can be caught.
    A BrokenPipeError from anything else (a socket, a child's pipe) is not ours to hide."""
    try:
        code = body()
        with contextlib.suppress(ValueError, AttributeError):  # ValueError: stdout already closed by the body
            sys.stdout.flush()
    except BrokenPipeError:
        if not _stdio_closed():
            raise
        _silence_stdio()
        return EXIT_CLOSED_PIPE
    except SystemExit as exc:  # argparse (--help), load_or_exit: pending output must not break at exit either
        if isinstance(exc.__context__, BrokenPipeError) and exc.code == 1:
            # rich's Console.on_broken_pipe: it already pointed stdout at /dev/null and raised SystemExit(1).
            _silence_stdio()
            return EXIT_CLOSED_PIPE
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            if _stdio_closed():
                _silence_stdio()
                if exc.code in (None, 0):
                    return EXIT_CLOSED_PIPE  # a success whose output did not arrive
        except (OSError, ValueError, AttributeError):
            pass
        raise
    return code


def _report_failures(body: Callable[[], int]) -> int:
    try:
        return body()
    except LockHeld as exc:
        console.print(f"[yellow]{escape(str(exc))}[/]")
        return EXIT_OK
    except ConfigError as exc:
        console.print(f"[bold red]config error:[/] {escape(str(exc))}")
        return EXIT_USAGE
    except DatabaseUnavailable as exc:
        console.print(f"[bold red]database error:[/] {escape(str(exc))}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED


def guarded_main(body: Callable[[], int]) -> None:
    """Run a CLI body and turn the known failures into one clear line and an exit code."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    hand_down_form()
    # Offline first: never wait on a model hub unless the user allows downloads.
    if os.environ.get("VTDB_ALLOW_DOWNLOADS") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(survive_closed_pipe(lambda: _report_failures(body)))


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
    path = check_output_dir(config.work_dir, "settings.work_dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # raced with the check, read-only file system, …
        raise ConfigError(f"settings.work_dir: cannot create {path}: {exc.strerror or exc}") from None
    return path


# ---- `vtdb COMMAND …`: one entry point over the same commands as the top-level scripts (vtdb.commandline) ----


def vtdb_main(argv: list[str] | None = None) -> None:
    """The `vtdb` console command: `vtdb COMMAND [options]`; `vtdb --help` lists the commands."""
    import importlib

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        width = max(map(len, COMMANDS))
        lines = [f"  {name.ljust(width)}  {c.what}" + (f" ({c.script})" if c.script else "") for name, c in COMMANDS.items()]
        print("usage: vtdb COMMAND [options]   (vtdb COMMAND --help for its options)\n\ncommands:\n" + "\n".join(lines))
        sys.exit(EXIT_OK if args else EXIT_USAGE)
    if args[0] in {"-V", "--version"}:
        from vtdb import __version__

        print(f"vtdb {__version__}")
        sys.exit(EXIT_OK)
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        hint = did_you_mean(name, COMMANDS) or "; `vtdb --help` lists them"
        print(f"vtdb: unknown command {name!r}{hint}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    spec = COMMANDS[name]
    if spec.is_subcommand:
        rest = [name, *rest]  # db_manager.py's commands: one parser, the command first
    importlib.import_module(f"vtdb.commands.{spec.module}").main(rest)


# ---- the prologue and epilogue every phase command shares ----


@dataclass
class PhaseStart:
    """What a phase command has once its arguments are parsed: the config, run options, work folder, event log."""

    args: argparse.Namespace
    config: Config
    options: RunOptions
    work_dir: Path
    events: ev.EventLog


def start_phase(parser: argparse.ArgumentParser, argv: list[str] | None, need_videos: bool = False) -> PhaseStart:
    """Parse, set up logging, load the config (exit 2 when unusable) and check the work folder and event log
    before any work starts."""
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    config = load_or_exit(args.config, need_videos=need_videos)
    options = run_options(args)
    work_dir = work_dir_of(config)
    return PhaseStart(args, config, options, work_dir, event_log_of(config, work_dir))


def finish_phase(summary: RunSummary, start: PhaseStart, invalid_entries: int = 0) -> int:
    """Print the run's summary line and return its exit code."""
    print_summary(summary, start.args.dry_run)
    return exit_code_for(summary, invalid_entries)
