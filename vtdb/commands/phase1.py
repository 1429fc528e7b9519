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
    finish_phase,
    guarded_main,
    open_database,
    phase_parser,
    start_phase,
)
from vtdb.phases.phase1 import Phase1Job
from vtdb.runner import run_phase
from vtdb.sources.sync import sync_videos


def run(argv: list[str] | None = None) -> int:
    start = start_phase(phase_parser("phase1_whisper_frames.py", __doc__.strip().splitlines()[0]), argv, need_videos=True)
    args, config, options, work_dir, events = start.args, start.config, start.options, start.work_dir, start.events
    for problem in config.invalid_entries:
        console.print(f"[red]config: {problem} — this video is skipped[/]")
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
    return finish_phase(summary, start, len(config.invalid_entries) + len(source_problems))



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
