"""Run every available phase in order, then print the status table (at a terminal) or, for cron and pipes, one
line per video that changed in this run or needs attention.

Phases join this list as they land; today: Phases 1 to 4. Each phase is a separate process, exactly
as cron would run it, so a failure in one video never stops the others. Each phase prints its own summary line
(on stderr). Then `--table` prints the whole status table; `--quiet` prints one line per video that this run
changed (from the event log: the events of its phase processes) or that needs attention (held, stale, processing),
and a line of counts: its size follows what changed, not the library. Neither: the table when stdout is a
terminal, the quiet form otherwise (cron, a pipe, a log file).
Exit code: the worst of the phases' exit codes (0 ok, 1 some videos failed, 2 bad config;
141 when the reader of its output went away, e.g. `| head`).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Collection

from vtdb.commandline import COMMANDS, command, prog
from vtdb.events import read_events
from vtdb.proc import package_env
from vtdb.state import PHASE_ORDER, PHASES, phase_field
from vtdb.text import summary_of


def _command(module: str) -> list[str]:
    return [sys.executable, "-m", f"vtdb.commands.{module}"]


def _run_phase(cmd: list[str], pids: list[int] | None = None) -> int:
    """Run one phase; on Ctrl-C or SIGTERM let it hand its video back before stopping (never SIGKILL it).
    Its process id joins `pids` (its events in the log carry it)."""
    child = subprocess.Popen(cmd, env=package_env())
    if pids is not None:
        pids.append(child.pid)

    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    # Ctrl-C reaches the phase from the terminal itself (same process group): only keep it from stopping us
    # first. SIGTERM (kill, systemd, cron's timeout) is passed on.
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN), signal.SIGTERM: signal.signal(signal.SIGTERM, forward)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("pipeline"), description=summary_of(__doc__))
    parser.add_argument("--config", default=None, help="path to videos_config.json")
    parser.add_argument("--only", action="append", metavar="NAME", help="limit every phase to this video (repeatable)")
    parser.add_argument("--wait", action="store_true", help="wait for the embedded database lock instead of exiting")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--table", action="store_true", help="after the phases, print the whole status table "
                      "(the default when stdout is a terminal)")
    form.add_argument("--quiet", action="store_true", help="after the phases (each prints its summary line), print "
                      "only a line per video this run changed or that needs attention (held, stale, processing) and a "
                      "line of counts: the default when stdout is not a terminal (cron, a pipe, a log file)")
    args = parser.parse_args(argv)
    table = args.table or (not args.quiet and sys.stdout.isatty())
    log = None if table else _event_log(args.config)
    offset = _size(log)
    pids: list[int] = []
    common: list[str] = []
    if args.config:
        common += ["--config", args.config]
    for name in args.only or []:
        common += ["--only", name]
    if args.wait:
        common.append("--wait")
    worst = 0
    for phase in PHASE_ORDER:
        name = PHASES[phase].command
        if table:
            print(f"=== {command(name)} ===", flush=True)
        code = _run_phase([*_command(COMMANDS[name].module), *common], pids)
        if code == 130:
            print("interrupted: the video in progress was handed back; run again to go on", file=sys.stderr)
            return 130
        if code == 2:
            return 2  # bad config: later phases would fail the same way
        worst = max(worst, code if code in (0, 1) else 1)
    if not table:
        _print_quiet(args.config, _events_since(log, offset, pids), only=args.only)
        return worst
    status_cmd = _command(COMMANDS["status"].module)
    if args.config:
        status_cmd += ["--config", args.config]
    subprocess.call([*status_cmd, "status"], env=package_env())
    return worst


# ---- the quiet form ----


def _event_log(config_path: str | None) -> Path | None:
    """The event log the phases write to (None when the config cannot be read: Phase 1 says why)."""
    from vtdb.config import ConfigError, settings_only

    try:
        config = settings_only(config_path)
    except ConfigError:
        return None
    return config.work_dir / config.settings.event_log if config.settings.event_log else None


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path else 0
    except OSError:
        return 0


def _events_since(path: Path | None, offset: int, pids: Collection[int]) -> list[dict[str, Any]]:
    """The events that the processes `pids` appended to the log after `offset`."""
    if path is None:
        return []
    return [event for event in read_events(path, since=offset) if event.get("pid") in pids]


def _print_quiet(config_path: str | None, events: list[dict[str, Any]], only: list[str] | None = None) -> None:
    """One line per video changed by `events` or needing attention now (of `only`, when given), and a line of
    counts (stdout)."""
    from vtdb.cli import CHROMA_FILE, TerminalSafeConsole
    from vtdb.config import ConfigError, settings_only
    from vtdb.status_table import quiet_report, run_changes
    from vtdb.store import Store

    records: list[dict[str, Any]] = []
    try:
        config = settings_only(config_path)
    except ConfigError:
        config = None
    if config is not None and (config.settings.chroma_host or (config.chroma_dir / CHROMA_FILE).exists()):
        db = Store(config)
        seen: set[str] = set()
        # Only the records that need a look (where filters): never a read of the whole library.
        for phase in PHASE_ORDER:
            for status_filter in ({phase_field(phase, "held"): True}, {phase_field(phase, "status"): "processing"}):
                for record in db.list_videos(status_filter):
                    if record["name"] not in seen and (not only or record["name"] in only):
                        seen.add(record["name"])
                        records.append({**record, "flags": db.video_flags(record).as_dict()})
    out = TerminalSafeConsole(soft_wrap=True)
    for line in quiet_report(run_changes(events), records):
        out.print(line, highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    from vtdb.cli import survive_closed_pipe

    sys.exit(survive_closed_pipe(lambda: run(argv)))


if __name__ == "__main__":
    main()
