"""Phase 1: transcribe each configured video once (faster-whisper), cut overlapping windows and
sample JPEG frames per window into {work_dir}/{name}_phase1_data.pkl.

Re-runnable and cron-safe: each run does only the work that is left. Exit codes: 0 all good or
nothing to do, 1 some videos failed (or config entries are invalid), 2 bad config/usage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from rich.markup import escape

from vtdb import events as ev
from vtdb.cli import EXIT_FAILURES, EXIT_OK, EXIT_USAGE, console, guarded_main
from vtdb.commands.phase_command import PhaseCommand
from vtdb.config import whisper_devices
from vtdb.phases.phase1 import Phase1Job
from vtdb.proc import package_env
from vtdb.sources.sync import sync_videos
from vtdb.text import terminal_safe

COMMAND = PhaseCommand("phase1", __doc__, makes_records=True)


def run(argv: list[str] | None = None) -> int:
    start = COMMAND.start(COMMAND.parser(), argv)
    args, config, options, events = start.args, start.config, start.options, start.events
    for problem in config.invalid_entries:
        console.print(f"[red]config: {problem} — this video is skipped[/]")
    if not args.dry_run and not os.environ.get(WORKER_ENV):  # the process that started the workers logs them
        for problem in config.invalid_entries:
            events.emit(ev.VIDEO_ERROR, phase="phase1", video=problem.name or f"videos[{problem.index}]", error=str(problem))
    devices = whisper_devices(config.settings.whisper_device)
    spawn = len(devices) > 1 and not args.dry_run and not os.environ.get(WORKER_ENV)
    if spawn and not config.settings.chroma_host:
        return no_server_for_workers(devices)
    with COMMAND.database(start) as db:
        # With several workers this one sync runs before they start (theirs then find nothing to change):
        # workers syncing at once could reset a video another one has just claimed.
        synced = sync_videos(db, config, events, dry_run=args.dry_run)
        source_problems = synced.problems
        for note in synced.notes:
            console.print(f"[cyan]{escape(note)}[/]")
        for source_problem in source_problems:
            console.print(f"[red]source: {escape(source_problem)}[/]")
            if not args.dry_run and not os.environ.get(WORKER_ENV):
                events.emit(ev.VIDEO_ERROR, phase="phase1", video="(sources)", error=source_problem)
        if spawn:
            code = run_workers(devices, sys.argv[1:] if argv is None else argv)
            return EXIT_FAILURES if code == EXIT_OK and (source_problems or config.invalid_entries) else code
        if args.dry_run:
            options.new_videos = synced.new_videos
        options.skip = synced.unreadable  # said above; their records stay as they are
        job = Phase1Job(config.settings.whisper, config.settings.frames)
        return COMMAND.run(job, db, start, len(config.invalid_entries) + len(source_problems))


# Set in each worker that run_workers starts: it runs as a plain Phase 1 on its own device.
WORKER_ENV = "VTDB_PHASE1_WORKER"


def no_server_for_workers(devices: list[str]) -> int:
    console.print(f"[red]config: whisper_device names {len(devices)} GPUs ({', '.join(devices)}): that is one Phase 1 "
                  "worker per GPU, and workers need a Chroma server (set chroma_host, or CHROMA_HOST; start one "
                  "with `chroma run --path DIR`). The embedded database is one process at a time; for one GPU set "
                  "whisper_device to e.g. cuda:0.[/]")
    return EXIT_USAGE


def run_workers(devices: list[str], argv: list[str]) -> int:
    """One Phase 1 process per device (whisper_device cuda:0,1,…), all claiming from the same database.

    Claims are safe between processes (vtdb/runner.py), so the workers share the videos without a plan; each
    gets VTDB_WHISPER_DEVICE=<its device> and runs this same command. An embedded database is one process at
    a time, so this needs a Chroma server. Each worker's lines come through prefixed with its device; the exit
    code is the worst of theirs (2 over 1 over 0). --limit applies per worker.
    """
    procs: list[tuple[str, subprocess.Popen]] = []
    console.print(f"[cyan]Phase 1: {len(devices)} workers, one per device: {', '.join(devices)}[/]")
    for device in devices:
        env = package_env({WORKER_ENV: device, "VTDB_WHISPER_DEVICE": device})
        proc = subprocess.Popen([sys.executable, "-m", "vtdb.commands.phase1", *argv], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
        procs.append((device, proc))
    lock = threading.Lock()

    def relay(device: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                sys.stdout.write(f"[{device}] {terminal_safe(line.rstrip(chr(10)))}\n")  # its tracebacks too
                sys.stdout.flush()

    relays = [threading.Thread(target=relay, args=pair, daemon=True) for pair in procs]
    for t in relays:
        t.start()
    try:
        codes = [proc.wait() for _, proc in procs]
    except KeyboardInterrupt:
        for _, proc in procs:
            proc.terminate()
        for _, proc in procs:
            proc.wait()
        raise
    for t in relays:
        t.join(timeout=5)
    for (device, _), code in zip(procs, codes):
        if code != EXIT_OK:
            console.print(f"[red]worker on {device} exited with code {code}[/]")
    if any(code == EXIT_USAGE for code in codes):
        return EXIT_USAGE
    return EXIT_OK if all(code == EXIT_OK for code in codes) else max(EXIT_FAILURES, max(codes))


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
