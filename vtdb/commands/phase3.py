"""Phase 3: embed the window descriptions of every video whose Phase 2 is completed and load them
into the ChromaDB collection video_segments (ids {name}_seg_{i}; a video's segments are replaced).

Work comes from the video_files status collection. --reembed rebuilds every segment with the
configured embedder (after changing `embedder`). Exit codes: 0 ok or nothing to do, 1 some videos
failed, 2 bad config/usage, database unreachable, or embedder mismatch.
"""

from __future__ import annotations

from rich.markup import escape

from vtdb.cli import EXIT_USAGE, console, guarded_main
from vtdb.commands.phase_command import PhaseCommand, embedder_matches
from vtdb.embedders import LazyEmbedder, UnknownEmbedderError, embedder_dimension, load_embedder
from vtdb.phases.phase3 import Phase3Job

COMMAND = PhaseCommand("db_load", __doc__)


def run(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser()
    parser.add_argument("--reembed", action="store_true",
                        help="drop video_segments and rebuild every segment from the Phase 2 files with the configured embedder")
    start = COMMAND.start(parser, argv)
    embedder = start.config.settings.embedder
    try:
        dimension = embedder_dimension(embedder)
    except UnknownEmbedderError as exc:
        console.print(f"[bold red]embedder:[/] {escape(str(exc))}")
        return EXIT_USAGE
    with COMMAND.database(start) as db:
        if start.args.reembed and not start.args.dry_run:
            try:
                load_embedder(embedder)  # a model that cannot load must not cost the existing segments
            except Exception as exc:
                console.print(f"[bold red]embedder {escape(embedder)} cannot be loaded:[/] {escape(str(exc).splitlines()[0])}")
                return EXIT_USAGE
            n = db.rebuild_for_embedder(embedder, dimension)
            console.print(f"video_segments rebuilt for embedder {embedder} ({dimension}-d): {n} videos to reload")
        if not embedder_matches(db, embedder, dimension):
            return EXIT_USAGE
        if start.args.dry_run:
            return COMMAND.plan(db, start)
        return COMMAND.run(Phase3Job(LazyEmbedder(embedder)), db, start)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
