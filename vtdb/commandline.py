"""The commands by both of the names users run them by, and how a message spells one.

Every command runs as `vtdb NAME` (the console command) and, in a checkout, as a top-level script
(`python phase3_load.py`, `python db_manager.py reset`). A message that tells the user what to run next names it
through `command()`, the way this process was started: whoever ran `vtdb phase3` reads `vtdb reset NAME --phase 3`,
whoever ran `python phase3_load.py` reads `python db_manager.py reset NAME --phase 3`. A library user (a Python
shell, the tests) started neither and reads the `vtdb` form, the installed one.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One command. `name`: `vtdb NAME`; `module`: vtdb.commands.MODULE runs it; `script`: the top-level script
    of a checkout and, for db_manager.py's commands, its subcommand ("" when only `vtdb NAME` runs it);
    `what`: one line for `vtdb --help`."""

    name: str
    module: str
    script: str
    what: str

    @property
    def script_file(self) -> str:
        return self.script.split(" ", 1)[0]

    @property
    def is_subcommand(self) -> bool:
        """One of db_manager.py's commands: its module's parser takes the command's name first."""
        return " " in self.script


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("phase1", "phase1", "phase1_whisper_frames.py", "transcribe, cut windows, sample frames"),
    Command("phase2", "phase2", "phase2_vllm_analysis.py", "describe each window"),
    Command("phase3", "phase3", "phase3_load.py", "embed and load the windows into video_segments"),
    Command("phase4", "phase4", "phase4_summary.py", "whole-video summaries, keywords, chapters"),
    Command("pipeline", "pipeline", "run_pipeline.py", "every phase in order, then the status table"),
    Command("search", "search", "test_search.py", "search the moments"),
    Command("export", "export", "export_clippy.py", "a disaster-clippy source pack"),
    Command("subtitles", "subtitles", "", "a video's subtitles as WebVTT/SRT, or every video's into a folder"),
    Command("status", "manage", "db_manager.py status", "table of videos x phases"),
    Command("show", "manage", "db_manager.py show", "one video's full record"),
    Command("reset", "manage", "db_manager.py reset", "reset a phase and the later ones"),
    Command("release", "manage", "db_manager.py release", "release a held video"),
    Command("delete", "manage", "db_manager.py delete", "forget a video and its segments"),
    Command("prune", "manage", "db_manager.py prune", "delete retired videos: segments, record, intermediates"),
    Command("serve", "serve", "web_app.py", "the web app: search, play, status dashboard"),
)}

SCRIPT_FILES = frozenset(c.script_file for c in COMMANDS.values() if c.script)

# The pipeline runs each phase as `python -m vtdb.commands.phaseN` (Phase 1 its GPU workers likewise), which is
# neither form: every command passes its own form down in this variable (hand_down_form), so a child's messages
# name commands as the user started the parent.
FORM_VARIABLE = "VTDB_COMMAND_FORM"
SCRIPT_FORM, VTDB_FORM = "script", "vtdb"


def started_form(argv0: str | None = None) -> str:
    """SCRIPT_FORM when this process was started as one of the top-level scripts (or by a pipeline that was),
    else VTDB_FORM. `argv0`: the program name to judge (default: sys.argv[0])."""
    if argv0 is None:
        argv = getattr(sys, "argv", None) or [""]
        argv0 = argv[0]
    program = os.path.basename(argv0)
    if program in SCRIPT_FILES:
        return SCRIPT_FORM
    if program == "vtdb":
        return VTDB_FORM
    return SCRIPT_FORM if os.environ.get(FORM_VARIABLE) == SCRIPT_FORM else VTDB_FORM


def hand_down_form() -> None:
    """Let the child processes this one starts spell commands as this one does."""
    os.environ[FORM_VARIABLE] = started_form()


def command(name: str, *args: str, form: str | None = None) -> str:
    """The command line that runs command `name` with `args`, as this process was started:
    command("reset", "NAME", "--phase", "3") is "vtdb reset NAME --phase 3" or
    "python db_manager.py reset NAME --phase 3". A command with no script is always spelled `vtdb NAME`."""
    spec = COMMANDS[name]
    if (form or started_form()) == SCRIPT_FORM and spec.script:
        words = ["python", spec.script]
    else:
        words = ["vtdb", name]
    return " ".join([*words, *args])


def prog(name: str, form: str | None = None) -> str:
    """The program name a command's --help and usage lines show: the script file ("phase3_load.py",
    "db_manager.py") or "vtdb phase3"; "vtdb" for db_manager.py's commands (their parser adds the subcommand)."""
    spec = COMMANDS[name]
    if (form or started_form()) == SCRIPT_FORM and spec.script:
        return spec.script_file
    return "vtdb" if spec.is_subcommand else f"vtdb {name}"
