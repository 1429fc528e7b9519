"""Phase 4: a whole-video summary, keywords, content type and chapters for every video whose
segments are loaded (db_load completed); stored in video_files (embedded, for whole-video
search) and as a Markdown report {work_dir}/reports/{name}.md.

Summarizers (--summarizer / the summarizer setting): extractive (CPU default), openai (any
OpenAI-compatible server, map-reduce for long videos), vllm (in process on a GPU).
Exit codes: 0 ok or nothing to do, 1 some videos failed, 2 bad config/usage or backend unavailable.
"""

from __future__ import annotations

from rich.markup import escape

from vtdb.cli import EXIT_OK, EXIT_USAGE, check_output_dir, console, guarded_main
from vtdb.commands.phase_command import PhaseCommand, embedder_matches
from vtdb.embedders import LazyEmbedder, embedder_dimension
from vtdb.errors import BackendUnavailable
from vtdb.phases.phase4 import Phase4Job
from vtdb.runner import has_work
from vtdb.summarizers import SUMMARIZERS, make_summarizer

COMMAND = PhaseCommand("phase4", __doc__, model_options=True)


def run(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser()
    parser.add_argument("--summarizer", choices=SUMMARIZERS.names(), default=None)
    start = COMMAND.start(parser, argv)
    settings = start.config.settings  # after the command-line overrides (settings are immutable copies)
    check_output_dir(start.work_dir / "reports", "settings.work_dir")  # {work_dir}/reports/{name}.md
    name = start.args.summarizer or settings.summarizer
    with COMMAND.database(start) as db:
        if not embedder_matches(db, settings.embedder, embedder_dimension(settings.embedder)):
            return EXIT_USAGE
        if start.args.dry_run:
            return COMMAND.plan(db, start)
        if not has_work(db, "phase4", start.options):  # no summarizer endpoint check, no model load when idle
            console.print("phase4: nothing to do")
            return EXIT_OK
        embedder = LazyEmbedder(settings.embedder)  # a model that cannot load stops the run (exit 2), costs no video
        try:
            summarizer = make_summarizer(name, settings, embedder)
        except BackendUnavailable as exc:  # an unknown name, or an endpoint or engine that cannot serve
            console.print(f"[bold red]summarizer {name} cannot run:[/] {escape(str(exc))}")
            return EXIT_USAGE
        console.print(f"summarizer: [bold]{name}[/]")
        return COMMAND.run(Phase4Job(summarizer, embedder), db, start)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
