"""Phase 3: embed the window descriptions of every video whose Phase 2 is completed and load them
into the ChromaDB collection video_segments (ids {name}_seg_{i}; a video's segments are replaced).

Work comes from the video_files status collection. --reembed rebuilds every segment with the
configured embedder (after changing `embedder`). Exit codes: 0 ok or nothing to do, 1 some videos
failed, 2 bad config/usage, database unreachable, or embedder mismatch.
"""

from __future__ import annotations

from rich.markup import escape

from vtdb.cli import (
    EXIT_USAGE,
    console,
    dry_run,
    finish_phase,
    guarded_main,
    open_database,
    phase_parser,
    require_database,
    start_phase,
)
from vtdb.embedders import LazyEmbedder, UnknownEmbedderError, embedder_dimension, load_embedder
from vtdb.phases.phase3 import Phase3Job
from vtdb.runner import run_phase
from vtdb.store import EmbedderMismatch
from vtdb.text import summary_of


def run(argv: list[str] | None = None) -> int:
    parser = phase_parser("phase3_load.py", summary_of(__doc__))
    parser.add_argument("--reembed", action="store_true",
                        help="drop video_segments and rebuild every segment from the Phase 2 files with the configured embedder")
    start = start_phase(parser, argv)
    args, config, options, work_dir, events = start.args, start.config, start.options, start.work_dir, start.events
    settings = config.settings
    try:
        dimension = embedder_dimension(settings.embedder)
    except UnknownEmbedderError as exc:
        console.print(f"[bold red]embedder:[/] {escape(str(exc))}")
        return EXIT_USAGE
    require_database(config, "phase3_load.py")
    with open_database(config, wait=args.wait, purpose="phase3_load.py") as db:
        if args.reembed and not args.dry_run:
            try:
                load_embedder(settings.embedder)  # a model that cannot load must not cost the existing segments
            except Exception as exc:
                console.print(f"[bold red]embedder {escape(settings.embedder)} cannot be loaded:[/] {escape(str(exc).splitlines()[0])}")
                return EXIT_USAGE
            n = db.rebuild_for_embedder(settings.embedder, dimension)
            console.print(f"video_segments rebuilt for embedder {settings.embedder} ({dimension}-d): {n} videos to reload")
        try:
            db.check_embedder(settings.embedder, dimension)
        except EmbedderMismatch as exc:
            console.print(f"[bold red]embedder mismatch:[/] {escape(str(exc))}")
            return EXIT_USAGE
        if args.dry_run:
            return dry_run("db_load", db, work_dir, options)
        summary = run_phase(Phase3Job(LazyEmbedder(settings.embedder)), db, work_dir, options, console, events)
    return finish_phase(summary, start)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
