"""run_pipeline.py's output after the phases (issue 31): the whole status table for a person at a terminal
(or --table); for cron and pipes (or --quiet) one line per video this run changed or that needs attention, and a
line of counts, so a no-op cron run prints the same few lines whatever the size of the library."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from conftest import run_cli, write_config
from vtdb.cli import TerminalSafeConsole
from vtdb.config import load_config
from vtdb.state import PHASE_ORDER
from vtdb.status_table import quiet_report, run_changes
from vtdb.store import Store

NAMES = ["alpha", "bravo", "charlie", "delta"]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A few videos, every phase completed, bravo held in Phase 2; the config lists none of them, so the first
    run retires them all (a change) and every later run is a no-op."""
    folder = tmp_path_factory.mktemp("library")
    cfg = write_config(folder, [])
    db = Store(load_config(cfg, env={}))
    for name in NAMES:
        db.create_or_update_video_file(name, f"/videos/{name}.mp4", title=name.title())
        for phase in PHASE_ORDER:
            claim = db.claim(name, phase)
            assert claim is not None and db.complete(claim, 1)
    db.hold("bravo", "phase2", "held by hand for the test")
    first = run_cli("run_pipeline.py", "--config", str(cfg), "--quiet")
    assert first.returncode == 0, first.stdout + first.stderr
    for name in NAMES:  # what this run did to each video: one line each
        assert f"{name}: retired" in first.stdout, first.stdout
    assert "4 video(s) changed in this run, 1 need attention" in first.stdout
    return cfg


def test_a_noop_quiet_run_names_only_the_held_video(library):
    res = run_cli("run_pipeline.py", "--config", str(library), "--quiet")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert [line for line in lines if line.split(":")[0] in NAMES] == [
        "bravo: P2 analysis HELD (last error: P2 analysis: held by hand for the test)"], res.stdout
    assert lines[-1].startswith("pipeline: 0 video(s) changed in this run, 1 need attention"), res.stdout
    assert len(lines) == 2 and "===" not in res.stdout and "video_files" not in res.stdout
    for phase in ("phase1", "phase2", "db_load"):  # each phase's own summary line (stderr)
        assert f"{phase}: 0 completed, 0 failed" in res.stderr, res.stderr


def test_not_a_terminal_gets_the_quiet_form_and_table_forces_the_table(library):
    default = run_cli("run_pipeline.py", "--config", str(library))  # stdout is a pipe here, as under cron
    assert default.returncode == 0 and len(default.stdout.splitlines()) == 2, default.stdout
    table = run_cli("run_pipeline.py", "--config", str(library), "--table")
    assert table.returncode == 0, table.stderr
    assert "=== " in table.stdout and "video_files" in table.stdout
    assert all(name in table.stdout for name in NAMES)


def test_quiet_and_table_exclude_each_other_and_are_in_the_help():
    both = run_cli("run_pipeline.py", "--quiet", "--table")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    helped = run_cli("run_pipeline.py", "--help")
    assert "--quiet" in helped.stdout and "--table" in helped.stdout and "terminal" in helped.stdout


def _printed(lines: list[str]) -> str:
    out = io.StringIO()
    console = TerminalSafeConsole(file=out, soft_wrap=True, width=200)
    for line in lines:
        console.print(line, highlight=False)
    return out.getvalue()


def test_the_report_says_what_this_run_did_and_escapes_names():
    evil = "bad[bold]\x1b]0;title\x07name"
    events = [{"event": "PHASE_START", "phase": "phase1"},
              {"event": "VIDEO_COMPLETE", "phase": "phase1", "video": "new", "count": 7},
              {"event": "VIDEO_SKIP", "phase": "phase1", "video": "skipped", "reason": "busy"},
              {"event": "VIDEO_ERROR", "phase": "phase2", "video": evil, "error": "no [red]audio", "held": True},
              {"event": "PHASE_DONE", "phase": "phase2"}]
    changes = run_changes(events)
    assert changes == {"new": ["P1 frames completed (7)"], evil: ["P2 analysis failed, now held: no [red]audio"]}
    printed = _printed(quiet_report(changes, []))
    assert "new: P1 frames completed (7)" in printed and "skipped" not in printed
    assert "\x1b" not in printed and "\x07" not in printed
    assert "bad[bold]" in printed and "no [red]audio" in printed  # markup in a name or an error shows as text
    assert "2 video(s) changed in this run, 0 need attention" in printed
