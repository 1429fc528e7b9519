"""Run every available phase in order, then print the status table.

Phases join this list as they land; today: Phases 1 to 4. Each phase is a separate process, exactly
as cron would run it, so a failure in one video never stops the others.
Exit code: the worst of the phases' exit codes (0 ok, 1 some videos failed, 2 bad config;
141 when the reader of its output went away, e.g. `| head`).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

from vtdb.commandline import COMMANDS, command, prog
from vtdb.proc import package_env
from vtdb.state import PHASE_ORDER, PHASES
from vtdb.text import summary_of


def _command(module: str) -> list[str]:
    return [sys.executable, "-m", f"vtdb.commands.{module}"]


def _run_phase(cmd: list[str]) -> int:
    """Run one phase; on Ctrl-C or SIGTERM let it hand its video back before stopping (never SIGKILL it)."""
    child = subprocess.Popen(cmd, env=package_env())

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
    args = parser.parse_args(argv)
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
        print(f"=== {command(name)} ===", flush=True)
        code = _run_phase([*_command(COMMANDS[name].module), *common])
        if code == 130:
            print("interrupted: the video in progress was handed back; run again to go on", file=sys.stderr)
            return 130
        if code == 2:
            return 2  # bad config: later phases would fail the same way
        worst = max(worst, code if code in (0, 1) else 1)
    status_cmd = _command(COMMANDS["status"].module)
    if args.config:
        status_cmd += ["--config", args.config]
    subprocess.call([*status_cmd, "status"], env=package_env())
    return worst



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    from vtdb.cli import survive_closed_pipe

    sys.exit(survive_closed_pipe(lambda: run(argv)))


if __name__ == "__main__":
    main()
