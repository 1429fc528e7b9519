"""The status table's rows are computed once (vtdb.status_table.status_row) and drawn three ways: the rich
terminal table, the plain-text table of a big library, the web's HTML table; and the event tail the status
page shows is vtdb.events.read_events(last=)."""

from __future__ import annotations

import json

from rich.console import Console

from vtdb.events import read_events
from vtdb.state import PHASES, phase_field
from vtdb.status_table import phase_counts, plain_status_table, status_row, status_table
from vtdb.web.html_pages import status_fragment


def _record() -> dict:
    return {"name": "news[1]", "title": "Evening <b>news</b>", "video_duration": 65, "total_segments": 3,
            phase_field("phase1", "status"): "completed", PHASES["phase1"].count_field: 7,
            phase_field("phase2", "status"): "pending", phase_field("phase2", "attempts"): 2,
            phase_field("phase2", "last_error"): "the model said no",
            "flags": {"held": ["phase2"], "stale": {"phase1": "frames changed"}}}


def test_one_row_computation_drawn_by_the_terminal_and_the_web():
    row = status_row(_record())
    first, second = row.cells[0], row.cells[1]
    assert (first.status, first.count, first.stale) == ("completed", "7", "frames changed")
    assert (second.attempts, second.held, row.last_error) == (2, True, "P2 analysis: the model said no")

    console = Console(width=200, record=True)
    console.print(status_table([_record()]))
    rich_text = console.export_text()
    plain = plain_status_table([_record()])
    html = status_fragment([_record()], [], "db", None)
    for shown in (rich_text, plain):
        assert "news[1]" in shown and "completed (7)" in shown and "STALE" in shown and "HELD" in shown
    assert "×2" in rich_text and "x2" in plain
    assert "news[1]" in html and "×2" in html and 'title="frames changed"' in html and "HELD" in html
    assert "&lt;b&gt;news&lt;/b&gt;" in html and "<b>news</b>" not in html
    assert phase_counts([_record()])["phase2"] == {"pending": 1, "processing": 0, "completed": 0, "held": 1, "stale": 0}


def test_the_event_tail_reads_the_last_whole_events(tmp_path):
    log = tmp_path / "events.jsonl"
    lines = [json.dumps({"event": "E", "n": i}) for i in range(5)]
    log.write_text("\n".join([*lines, "[1, 2]", '{"event": "torn']) + "\n", encoding="utf-8")
    assert [e["n"] for e in read_events(log)] == [0, 1, 2, 3, 4]
    assert [e["n"] for e in read_events(log, last=4)] == [3, 4]  # of the last 4 lines, 2 are not events
    assert read_events(tmp_path / "none.jsonl", last=3) == []
