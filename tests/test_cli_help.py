"""--help says what each command does in whole sentences (issue 25: Phase 1's read "cut overlapping windows and")."""

from __future__ import annotations

import importlib

import pytest

from vtdb.text import summary_of

COMMANDS = ["phase1", "phase2", "phase3", "phase4", "pipeline", "search", "export", "serve", "subtitles"]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_the_whole_first_paragraph(name, capsys):
    module = importlib.import_module(f"vtdb.commands.{name}")
    runner = getattr(module, "run", None) or module.main
    with pytest.raises(SystemExit) as done:
        runner(["--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    description = summary_of(module.__doc__)
    assert description in shown, (description, shown)
    assert description.rstrip(")").endswith((".", ":", '"', "]")), description  # a whole sentence, not a cut line


def test_summary_of_joins_the_first_paragraph():
    assert summary_of("First line and\n  its end.\n\nMore.") == "First line and its end."
    assert summary_of(None) == ""
