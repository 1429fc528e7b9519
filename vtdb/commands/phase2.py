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
from vtdb.cli import EXIT_USAGE, console, guarded_main
from vtdb.commands.phase_command import PhaseCommand
from vtdb.errors import BackendUnavailable
from vtdb.phases.phase2 import Phase2Job

COMMAND = PhaseCommand("phase2", __doc__, model_options=True)


def run(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser()
    parser.add_argument("--analyzer", choices=ANALYZERS.names(), default=None,
                        help="override the analyzer setting (default: the config's, which defaults to auto)")
    parser.add_argument("--text-only", action="store_true", help="send transcripts without images (for text-only models)")
    start = COMMAND.start(parser, argv)
    if start.args.text_only:
        start.config.settings = dataclasses.replace(start.config.settings, text_only=True)
    settings = start.config.settings
    name, why = choose_analyzer(settings, start.args.analyzer)
    console.print(f"analyzer: [bold]{name}[/] ({escape(why)})")
    with COMMAND.database(start) as db:
        if start.args.dry_run:
            return COMMAND.plan(db, start)
        try:
            analyzer = make_analyzer(name, settings)
            analyzer.check()  # endpoint down or wrong model: stop before claiming anything
        except BackendUnavailable as exc:  # an analyzer's own or its transport's (LLMUnavailable)
            console.print(f"[bold red]analyzer {name} cannot run:[/] {escape(str(exc))}")
            return EXIT_USAGE
        return COMMAND.run(Phase2Job(settings, analyzer), db, start)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
