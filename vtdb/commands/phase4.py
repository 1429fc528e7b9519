"""Phase 4: a whole-video summary, keywords, content type and chapters for every video whose
segments are loaded (db_load completed); stored in video_files (embedded, for whole-video
search) and as a Markdown report {work_dir}/reports/{name}.md.

Summarizers (--summarizer / the summarizer setting): extractive (CPU default), openai (any
OpenAI-compatible server, map-reduce for long videos), vllm (in process on a GPU).
Exit codes: 0 ok or nothing to do, 1 some videos failed, 2 bad config/usage or backend unavailable.
"""

from __future__ import annotations

from rich.markup import escape

from vtdb.cli import (
    EXIT_OK,
    EXIT_USAGE,
    add_model_arguments,
    apply_model_arguments,
    check_output_dir,
    console,
    dry_run,
    finish_phase,
    guarded_main,
    open_database,
    phase_parser,
    require_database,
    start_phase,
)
from vtdb.embedders import LazyEmbedder, embedder_dimension
from vtdb.errors import BackendUnavailable
from vtdb.phases.phase4 import Phase4Job
from vtdb.runner import has_work, run_phase
from vtdb.store import EmbedderMismatch
from vtdb.summarizers import SUMMARIZERS, make_summarizer
from vtdb.text import summary_of


def run(argv: list[str] | None = None) -> int:
    parser = phase_parser("phase4_summary.py", summary_of(__doc__))
    parser.add_argument("--summarizer", choices=SUMMARIZERS.names(), default=None)
    add_model_arguments(parser)
    start = start_phase(parser, argv)
    args, config, options, work_dir, events = start.args, start.config, start.options, start.work_dir, start.events
    apply_model_arguments(args, config)
    settings = config.settings  # after the command-line overrides (settings are immutable copies)
    check_output_dir(work_dir / "reports", "settings.work_dir")  # {work_dir}/reports/{name}.md
    name = args.summarizer or settings.summarizer
    require_database(config, "phase4_summary.py")
    with open_database(config, wait=args.wait, purpose="phase4_summary.py") as db:
        try:
            db.check_embedder(settings.embedder, embedder_dimension(settings.embedder))
        except EmbedderMismatch as exc:
            console.print(f"[bold red]embedder mismatch:[/] {escape(str(exc))}")
            return EXIT_USAGE
        if args.dry_run:
            return dry_run("phase4", db, work_dir, options)
        if not has_work(db, "phase4", options):  # no summarizer endpoint check, no model load when idle
            console.print("phase4: nothing to do")
            return EXIT_OK
        embedder = LazyEmbedder(settings.embedder)  # a model that cannot load stops the run (exit 2), costs no video
        try:
            summarizer = make_summarizer(name, settings, embedder)
        except BackendUnavailable as exc:  # an unknown name, or an endpoint or engine that cannot serve
            console.print(f"[bold red]summarizer {name} cannot run:[/] {escape(str(exc))}")
            return EXIT_USAGE
        console.print(f"summarizer: [bold]{name}[/]")
        summary = run_phase(Phase4Job(summarizer, embedder), db, work_dir, options, console, events)
    return finish_phase(summary, start)



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
