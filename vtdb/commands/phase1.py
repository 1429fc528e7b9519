"""Phase 1: transcribe each configured video once (faster-whisper), cut overlapping windows and
sample JPEG frames per window into {work_dir}/{name}_phase1_data.pkl.

Re-runnable and cron-safe: each run does only the work that is left. Exit codes: 0 all good or
nothing to do, 1 some videos failed (or config entries are invalid), 2 bad config/usage.
"""

from __future__ import annotations

from rich.markup import escape

from vtdb import events as ev
from vtdb.cli import (
    console,
    event_log_of,
    exit_code_for,
    guarded_main,
    load_or_exit,
    open_database,
    phase_parser,
    print_summary,
    run_options,
    setup_logging,
    work_dir_of,
)
from vtdb.phases.phase1 import Phase1Job
from vtdb.runner import run_phase
from vtdb.sources.sync import sync_videos


def run(argv: list[str] | None = None) -> int:
    args = phase_parser("phase1_whisper_frames.py", __doc__.strip().splitlines()[0]).parse_args(argv)
    setup_logging(args.verbose)
    config = load_or_exit(args.config, need_videos=True)
    options = run_options(args)
    for problem in config.invalid_entries:
        console.print(f"[red]config: {problem} — this video is skipped[/]")
    work_dir = work_dir_of(config)
    events = event_log_of(config, work_dir)
    if not args.dry_run:
        for problem in config.invalid_entries:
            events.emit(ev.VIDEO_ERROR, phase="phase1", video=problem.name or f"videos[{problem.index}]", error=str(problem))
    with open_database(config, wait=args.wait, purpose="phase1_whisper_frames.py") as db:
        source_problems: list[str] = []
        new_videos: list[str] = []
        for note in sync_videos(db, config, events, dry_run=args.dry_run, problems=source_problems, new_videos=new_videos):
            console.print(f"[cyan]{escape(note)}[/]")
        for source_problem in source_problems:
            console.print(f"[red]source: {escape(source_problem)}[/]")
            if not args.dry_run:
                events.emit(ev.VIDEO_ERROR, phase="phase1", video="(sources)", error=source_problem)
        if args.dry_run:
            options.new_videos = new_videos
        summary = run_phase(Phase1Job(config.settings), db, work_dir, options, console, events)
    print_summary(summary, args.dry_run)
    return exit_code_for(summary, len(config.invalid_entries) + len(source_problems))



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
