"""What every phase command does around its own work: its command line, the config and folders checked,
the database opened (with the embedded database's lock), a dry run shown, the job run and its summary printed.

Each of vtdb/commands/phase1..4.py names itself once (a PhaseCommand) and adds only what is its own: its
options, the analyzer, summarizer or embedder it checks before claiming anything.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass
from typing import Iterator

from rich.markup import escape

from vtdb.cli import (
    PhaseStart,
    add_model_arguments,
    apply_model_arguments,
    console,
    dry_run,
    finish_phase,
    open_database,
    phase_parser,
    require_database,
    start_phase,
)
from vtdb.commandline import command, prog
from vtdb.runner import PhaseJob, run_phase
from vtdb.state import PHASES
from vtdb.store import EmbedderMismatch, Store
from vtdb.text import summary_of


@dataclass(frozen=True)
class PhaseCommand:
    """One phase's command. `phase`: the state machine's key of its phase (its command and script names follow
    from it: vtdb.state.PHASES, vtdb.commandline); `doc`: the module docstring (its first paragraph is the
    --help description); `model_options`: --base-url/--model (the phases that talk to a language model);
    `makes_records`: Phase 1, which reads the config's videos and makes the records the later phases need."""

    phase: str
    doc: str | None
    model_options: bool = False
    makes_records: bool = False

    @property
    def command(self) -> str:
        """`vtdb COMMAND` runs this phase (e.g. "phase3" for the phase keyed "db_load")."""
        return PHASES[self.phase].command

    def parser(self) -> argparse.ArgumentParser:
        """The options every phase has (and --base-url/--model where they apply); the phase adds its own."""
        parser = phase_parser(prog(self.command), summary_of(self.doc))
        if self.model_options:
            add_model_arguments(parser)
        return parser

    def start(self, parser: argparse.ArgumentParser, argv: list[str] | None) -> PhaseStart:
        """Parse, set up logging, load the config (exit 2 when unusable), apply --base-url/--model, check the
        work folder and the event log: all before any work starts."""
        start = start_phase(parser, argv, need_videos=self.makes_records)
        if self.model_options:
            apply_model_arguments(start.args, start.config)
        return start

    @contextlib.contextmanager
    def database(self, start: PhaseStart) -> Iterator[Store]:
        """The store for this run, holding the embedded database's lock (--wait waits for it). The later phases
        first refuse a database that earlier runs used and that is gone (exit 2), rather than start an empty one."""
        if not self.makes_records:
            require_database(start.config, command(self.command))
        with open_database(start.config, wait=start.args.wait, purpose=command(self.command)) as db:
            yield db

    def plan(self, db: Store, start: PhaseStart) -> int:
        """--dry-run: show what this phase would take, change nothing."""
        return dry_run(self.phase, db, start.work_dir, start.options)

    def run(self, job: PhaseJob, db: Store, start: PhaseStart, invalid_entries: int = 0) -> int:
        """Run the job over the videos this phase may take; print the summary line; its exit code."""
        summary = run_phase(job, db, start.work_dir, start.options, console, start.events)
        return finish_phase(summary, start, invalid_entries)


def embedder_matches(db: Store, name: str, dimension: int) -> bool:
    """Were the collections built with this embedder? Says why not (then the command exits 2)."""
    try:
        db.check_embedder(name, dimension)
    except EmbedderMismatch as exc:
        console.print(f"[bold red]embedder mismatch:[/] {escape(str(exc))}")
        return False
    return True

