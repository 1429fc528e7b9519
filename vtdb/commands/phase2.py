"""Phase 2: describe every window of every video whose Phase 1 is completed, with a vision-language
model (vllm in process, any OpenAI-compatible server) or the CPU transcript analyzer, into
{work_dir}/{name}_phase2_vllm_analysis.json.

Work comes from the video_files status collection, not from the config's video list.
Exit codes: 0 all good or nothing to do, 1 some videos failed, 2 bad config/usage or the
analyzer cannot run here (no GPU, endpoint down).
"""

from __future__ import annotations

import dataclasses

from rich.markup import escape

from vtdb.analyzers import ANALYZERS, choose_analyzer, make_analyzer
from vtdb.cli import (
    EXIT_USAGE,
    add_model_arguments,
    apply_model_arguments,
    console,
    dry_run,
    finish_phase,
    guarded_main,
    open_database,
    phase_parser,
    require_database,
    start_phase,
)
from vtdb.errors import BackendUnavailable
from vtdb.phases.phase2 import Phase2Job
from vtdb.runner import run_phase
from vtdb.text import summary_of


def run(argv: list[str] | None = None) -> int:
    parser = phase_parser("phase2_vllm_analysis.py", summary_of(__doc__))
    parser.add_argument("--analyzer", choices=ANALYZERS.names(), default=None,
                        help="override the analyzer setting (default: the config's, which defaults to auto)")
    add_model_arguments(parser)
    parser.add_argument("--text-only", action="store_true", help="send transcripts without images (for text-only models)")
    start = start_phase(parser, argv)
    args, config, options, work_dir, events = start.args, start.config, start.options, start.work_dir, start.events
    apply_model_arguments(args, config)
    if args.text_only:
        config.settings = dataclasses.replace(config.settings, text_only=True)
    settings = config.settings
    name, why = choose_analyzer(settings, args.analyzer)
    console.print(f"analyzer: [bold]{name}[/] ({escape(why)})")
    require_database(config, "phase2_vllm_analysis.py")
    with open_database(config, wait=args.wait, purpose="phase2_vllm_analysis.py") as db:
        if args.dry_run:
            return dry_run("phase2", db, work_dir, options)
        try:
            analyzer = make_analyzer(name, settings)
            analyzer.check()  # endpoint down or wrong model: stop before claiming anything
        except BackendUnavailable as exc:  # an analyzer's own or its transport's (LLMUnavailable)
            console.print(f"[bold red]analyzer {name} cannot run:[/] {escape(str(exc))}")
            return EXIT_USAGE
        summary = run_phase(Phase2Job(settings, analyzer), db, work_dir, options, console, events)
    return finish_phase(summary, start)



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
