"""Phase 2 with the `openai` analyzer: a real OpenAI-compatible server (llama-cpp-python serving the
bundled SmolLM2-135M GGUF, text-only) end to end through the CLI on a generated video's real Phase 1
data, and a small scriptable local HTTP server (tests/helpers/fake_openai_server.py, a test double
that speaks the chat-completions protocol) for what the small real model cannot show: image parts,
requests in flight, retries, bad answers, endpoint checks, round-robin, kill -9 and resume.

The fake-server tests need no Whisper: their Phase 1 pickles are written here in the documented
format (docs/PHASES.md, "{name}_phase1_data.pkl") with real JPEG frames encoded by OpenCV, and their
videos are marked "phase 1 completed" in a real embedded Chroma database.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from helpers.fake_openai_server import FakeOpenAIServer, Reply, Scripted, decode_data_url, valid_answer, valid_reply

from conftest import PY, ROOT, free_port, run_cli, write_config
from vtdb import events as ev
from vtdb.analyzers.base import VideoContext
from vtdb.analyzers.openai_compat import OpenAICompatAnalyzer
from vtdb.analyzers.prompt import SYSTEM_PROMPT
from vtdb.analyzers.schema import (
    MAX_KEYWORDS,
    MAX_TEXT,
    WINDOW_SCHEMA,
    SchemaError,
    extract_json_object,
    repair,
    validate,
)
from vtdb.atomic import temp_path_for
from vtdb.clock import iso, now_utc
from vtdb.config import Settings, settings_only
from vtdb.phases.phase2 import window_inputs
from vtdb.safe_pickle import dump_plain
from vtdb.store import Store
from vtdb.workfiles import (
    ANALYSIS_FIELDS,
    PHASE1_FORMAT,
    PHASE1_VERSION,
    PHASE2_FORMAT,
    Phase1Data,
    load_phase1_data,
    load_phase2_analysis,
    phase1_data_path,
    phase2_analysis_path,
)

PHASE1 = "phase1_whisper_frames.py"
PHASE2 = "phase2_vllm_analysis.py"
FPW = 6  # frames_per_window (the default)
TMP_MARK = ".vtdb-tmp"


# ---------------------------------------------------------------- helpers


def flat(text: str) -> str:
    return " ".join(text.split())


def frame_colour(window: int, frame: int) -> tuple[int, int, int]:
    """A distinct BGR colour per (window, frame), so that order and identity survive JPEG."""
    return (20 + 35 * frame, 30 + 40 * (window % 5), 200 - 30 * (window % 4))


def make_phase1(name: str, n_windows: int, *, fpw: int = FPW, length: float = 10.0, overlap: float = 3.0,
                title: str = "", description: str = "", language: str = "en") -> dict:
    """Phase 1 data in the documented format; transcripts read "Segment i of NAME: ..." (the fake server parses that)."""
    stride = length - overlap
    windows = []
    for i in range(n_windows):
        start, end = i * stride, i * stride + length
        frames = []
        for j in range(fpw):
            img = np.full((48, 64, 3), frame_colour(i, j), np.uint8)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            frames.append({"time": round(start + (j + 0.5) * length / fpw, 3), "jpeg": buf.tobytes(), "width": 64, "height": 48})
        text = f"Segment {i} of {name}: stir the tomato sauce and taste it, number {i}."
        words = [{"start": start + 0.5 + 0.3 * k, "end": start + 0.7 + 0.3 * k, "word": " " + w, "probability": 0.9}
                 for k, w in enumerate(text.split())]
        windows.append({"index": i, "start_time": start, "end_time": end, "duration": length, "text": text,
                        "words": words, "frames": frames})
    duration = windows[-1]["end_time"] if windows else 0.0
    return {
        "format": PHASE1_FORMAT, "version": PHASE1_VERSION, "created_at": iso(now_utc()),
        "video": {"name": name, "source": f"/videos/{name}.mp4", "source_kind": "file", "fingerprint": "",
                  "title": title or name, "description": description, "duration": duration, "width": 64, "height": 48,
                  "fps": 10.0, "has_audio": True, "video_codec": "h264", "audio_codec": "aac"},
        "transcript": {"language": language, "language_probability": 0.99, "language_source": "config",
                       "low_confidence": False, "model": "test", "text": " ".join(w["text"] for w in windows),
                       "segments": [{"start": w["start_time"], "end": w["end_time"], "text": w["text"]} for w in windows],
                       "words": [x for w in windows for x in w["words"]]},
        "settings": {"window_length": length, "window_overlap": overlap, "window_min_tail": 5.0, "frames_per_window": fpw,
                     "frame_max_side": 64, "jpeg_quality": 90, "whisper_model": "test"},
        "timings": {"transcribe_s": 0.0, "frames_s": 0.0},
        "windows": windows,
    }


def register_phase1_done(cfg: Path, name: str, windows: int, duration: float = 30.0, **meta) -> None:
    """A video whose Phase 1 is completed, as Phase 2 selects it from video_files."""
    db = Store(settings_only(cfg))
    db.create_or_update_video_file(name, f"/videos/{name}.mp4", language="en", video_duration=duration, **meta)
    claim = db.claim(name, "phase1")
    assert claim is not None, db.decide(name, "phase1")
    assert db.complete(claim, windows, total_segments=windows)


def add_video(cfg: Path, name: str, n_windows: int, **meta) -> dict:
    data = make_phase1(name, n_windows, title=meta.get("title", ""), description=meta.get("description", ""))
    dump_plain(phase1_data_path(cfg.parent / "data", name), data)
    register_phase1_done(cfg, name, n_windows, data["video"]["duration"], **meta)
    return data


def record(cfg: Path, name: str) -> dict:
    meta = Store(settings_only(cfg)).get_video_status(name)
    assert meta is not None, name
    return meta


def events_of(cfg: Path) -> list[dict]:
    return ev.read_events(cfg.parent / "data" / "events.jsonl")


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TMP_MARK in p.name)


def fields_of(segment: dict) -> dict:
    return {k: segment[k] for k in ANALYSIS_FIELDS}


def video_ctx(name: str = "clip") -> VideoContext:
    return VideoContext(name=name, title=f"Title of {name}", description="a test video", language="en", output_language="en", duration=60.0)


def analyzer(*urls: str, **settings) -> OpenAICompatAnalyzer:
    settings.setdefault("vlm_model", "fake-vlm")
    return OpenAICompatAnalyzer(Settings(openai_base_url=list(urls), **settings))


def inputs(name: str, n: int, fpw: int = FPW):
    return window_inputs(Phase1Data.from_plain(make_phase1(name, n, fpw=fpw)))


def decode_jpeg(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable JPEG"
    return img


# ---------------------------------------------------------------- unit: schema and repair


def test_validate_and_repair_rules():
    good = valid_answer(None)
    assert validate(good)["content_type"] == "cooking"  # normalized
    for bad, why in [([], "not a JSON object"), ({**good, "keywords": "a, b"}, "keywords"),
                     ({**good, "scene_change": "yes"}, "scene_change"), ({**good, "confidence": "sure"}, "confidence"),
                     ({k: v for k, v in good.items() if k != "mood_atmosphere"}, "missing fields: mood_atmosphere"),
                     ({**good, "description": "  "}, "description is empty")]:
        with pytest.raises(SchemaError, match=why):
            validate(bad)
    # Wrong types are coerced, missing fields get defaults, and a repaired answer is never trusted.
    fields, notes = repair('Sure! {"description": "A cook.", "keywords": "pasta, boil ; water\\nsalt", "scene_change": "yes", '
                           '"confidence": "high", "mood_atmosphere": ["warm", "busy"]} Hope it helps.')
    assert fields == {"description": "A cook.", "dialogue_translation": "", "keywords": ["pasta", "boil", "water", "salt"],
                      "content_type": "other", "mood_atmosphere": "warm busy", "confidence": "low", "scene_change": True}
    assert validate(fields) == fields
    assert any("keywords split" in n for n in notes) and any("dialogue_translation missing" in n for n in notes)
    # Normalizing is idempotent, also where a cut ends in a space or a separator.
    long = {**good, "description": "word " * 2000, "keywords": ["a" * 79 + " tail", "b" * 79 + ".x", "dup", "DUP "]}
    once = validate(long)
    assert validate(once) == once and once["keywords"] == ["a" * 79, "b" * 79, "dup"]
    assert repair("no json here") == (None, ["no JSON object in the answer"])
    assert repair('{"keywords": ["x"]}')[0] is None  # nothing to describe the window with


def test_repair_accepts_raw_newlines_inside_strings():
    """Small models (SmolLM2 via llama.cpp's grammar) put raw line breaks into JSON strings; the object is there."""
    text = '{"description": "A cook stirs.\nThen tastes.", "dialogue_translation": "", "keywords": ["sauce"], ' \
           '"content_type": "cooking", "mood_atmosphere": "calm", "confidence": "high", "scene_change": false}'
    assert extract_json_object(text) is not None
    fields, _ = repair(text)
    assert fields is not None and fields["description"].startswith("A cook stirs.") and fields["confidence"] == "low"


def test_repair_salvages_an_answer_cut_off_mid_object():
    cut = '{"description": "A cook stirs the tomato sauce in a red pot while", "dialogue_translation": "Stir it", "keywo'
    fields, notes = repair(cut)
    assert fields is not None, notes
    assert fields["description"] == "A cook stirs the tomato sauce in a red pot while"
    assert fields["dialogue_translation"] == "Stir it" and fields["keywords"] == [] and fields["confidence"] == "low"
    assert any("cut off" in n for n in notes)
    # Cut inside a list and inside an escape: still the complete part.
    fields, _ = repair('{"description": "Pasta \\"al dente\\"", "keywords": ["pasta", "bo')
    assert fields["description"] == 'Pasta "al dente"' and fields["keywords"] in (["pasta"], ["pasta", "bo"])
    # Cut before any description exists: unusable.
    assert repair('{"descrip')[0] is None
    assert repair('{"description": "')[0] is None


# ---------------------------------------------------------------- library level, against the fake server


def test_frames_arrive_as_jpeg_image_parts_with_the_transcript_and_the_schema():
    windows = inputs("clip", 3)
    with FakeOpenAIServer() as server:
        a = analyzer(server.url, openai_concurrency=2)
        outcomes = a.analyze(video_ctx("clip"), windows)
    assert [o.status for o in outcomes] == ["ok"] * 3
    assert [o.fields["description"] for o in outcomes] == [f"Window {i} of clip: a cook stirs tomato sauce in a red pot." for i in range(3)]
    reqs = sorted(server.chat_requests, key=lambda r: r.window[1])
    assert [r.window for r in reqs] == [("clip", 0), ("clip", 1), ("clip", 2)]
    for r in reqs:
        i = r.window[1]
        body = r.body
        assert body["model"] == "fake-vlm" and body["max_tokens"] == 600 and body["temperature"] == 0.2
        assert body["response_format"] == {"type": "json_schema",
                                           "json_schema": {"name": "window_analysis", "schema": WINDOW_SCHEMA, "strict": True}}
        assert r.system == SYSTEM_PROMPT
        parts = r.user_content
        assert parts[0]["type"] == "text" and all(p["type"] == "image_url" for p in parts[1:])
        assert len(r.image_urls) == FPW
        for j, url in enumerate(r.image_urls):
            img = decode_jpeg(decode_data_url(url))
            assert img.shape == (48, 64, 3)
            assert np.abs(img.reshape(-1, 3).mean(axis=0) - np.array(frame_colour(i, j))).max() < 6, (i, j)  # in time order
        prompt = r.prompt
        assert windows[i].transcript in prompt
        assert "Video title: Title of clip" in prompt and "Spoken language: English (en)" in prompt
        assert f"{FPW} frames from it are attached" in prompt
        start, end = windows[i].start_time, windows[i].end_time
        assert f"0:00:{int(start):02d}\u20130:00:{int(end):02d}" in prompt
        if i:  # in parallel mode the previous window is given by its transcript
            assert f"its transcript was: \"{windows[i - 1].transcript}\"" in prompt
        else:
            assert "none (this is the first window)" in prompt


def test_text_only_sends_no_images():
    with FakeOpenAIServer() as server:
        outcomes = analyzer(server.url, text_only=True).analyze(video_ctx(), inputs("clip", 2))
    assert [o.status for o in outcomes] == ["ok", "ok"]
    for r in server.chat_requests:
        assert isinstance(r.user_content, str) and r.image_urls == []
        assert "No frames are attached" in r.prompt and "Segment" in r.prompt


def test_eight_requests_in_flight_at_once():
    with FakeOpenAIServer(delay=0.5) as server:
        a = analyzer(server.url)  # openai_concurrency defaults to 8
        assert a.options.openai_concurrency == 8
        t0 = time.monotonic()
        outcomes = a.analyze(video_ctx(), inputs("clip", 24, fpw=1))
        elapsed = time.monotonic() - t0
    assert [o.index for o in outcomes] == list(range(24)) and all(o.status == "ok" for o in outcomes)
    assert server.max_in_flight == 8, server.max_in_flight
    assert len(server.chat_requests) == 24
    assert elapsed < 24 * 0.5 / 2, f"{elapsed:.1f} s: not concurrent"  # sequential would take 12 s


def test_concurrency_one_runs_in_order_and_passes_the_previous_description():
    with FakeOpenAIServer(delay=0.05) as server:
        outcomes = analyzer(server.url, openai_concurrency=1).analyze(video_ctx(), inputs("clip", 3, fpw=1))
    assert server.max_in_flight == 1
    reqs = server.chat_requests
    assert [r.window[1] for r in reqs] == [0, 1, 2]
    for prev, r in zip(outcomes, reqs[1:]):
        assert f"its description was: {prev.fields['description']}" in r.prompt


def test_429_500_timeouts_and_dropped_connections_are_retried():
    script = (Scripted()
              .plan("clip", 0, Reply("slow down", status=429, headers={"Retry-After": "1"}))
              .plan("clip", 1, Reply("boom", status=500))
              .plan("clip", 2, Reply(delay=3.5))  # longer than openai_timeout: the client gives up and retries
              .plan("clip", 3, Reply("bad gateway", status=502), Reply("unavailable", status=503))
              .plan("clip", 4, Reply(drop=True))
              .plan("clip", 5, Reply(raw="<html>not json</html>")))
    with FakeOpenAIServer(script) as server:
        a = analyzer(server.url, openai_timeout=1.5)
        outcomes = a.analyze(video_ctx(), inputs("clip", 7, fpw=1))
    assert [(o.status, o.attempts) for o in outcomes] == [("ok", 1)] * 7, [o.error for o in outcomes]
    by_window: dict[int, list] = {}
    for r in server.chat_requests:
        by_window.setdefault(r.window[1], []).append(r)
    assert {i: len(rs) for i, rs in by_window.items()} == {0: 2, 1: 2, 2: 2, 3: 3, 4: 2, 5: 2, 6: 1}
    gap = by_window[0][1].received_at - by_window[0][0].received_at
    assert gap >= 0.75, f"Retry-After: 1 not honoured (retried after {gap:.2f} s)"
    assert a.stats["retries"] == 7


def test_retries_give_up_and_client_errors_are_not_retried():
    script = Scripted(default=lambda r: Reply("overloaded", status=503)).plan("clip", 1, Reply("bad request", status=400))
    with FakeOpenAIServer(script) as server:
        outcomes = analyzer(server.url, openai_max_retries=1).analyze(video_ctx(), inputs("clip", 2, fpw=1))
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert "gave up after 2 attempts" in outcomes[0].error and "HTTP 503" in outcomes[0].error
    assert "HTTP 400" in outcomes[1].error and "bad request" in outcomes[1].error
    counts = {i: sum(1 for r in server.chat_requests if r.window[1] == i) for i in (0, 1)}
    assert counts == {0: 2, 1: 1}


def _json(**overrides) -> str:
    return json.dumps(valid_answer(None, **overrides))


def test_bad_answers_are_repaired_retried_or_recorded():
    good = _json(description="A cook stirs the sauce.")
    garbage = Reply("I am sorry, I cannot describe videos.")
    script = (Scripted()
              .plan("clip", 0, garbage, garbage)  # unusable twice: failed
              .plan("clip", 1, garbage)  # unusable once: the second request answers
              .plan("clip", 2, Reply(f"Here is the analysis you asked for:\n{good}\nHope this helps!"))
              .plan("clip", 3, Reply(f"```json\n{good}\n```"))
              .plan("clip", 4, Reply(json.dumps({**valid_answer(None), "keywords": "pasta, boil ,water", "scene_change": "yes"})))
              .plan("clip", 5, Reply(""), Reply(""))  # empty answers
              .plan("clip", 6, Reply(None))  # content null, then fine
              .plan("clip", 7, Reply('{"description": "A cook', finish_reason="length"))  # cut off, salvaged
              .plan("clip", 8, Reply('{"descr', finish_reason="length"), Reply('{"desc', finish_reason="length"))
              .plan("clip", 9, Reply(_json(description="long " * 3000, keywords=[f"k{i}" for i in range(40)])))
              .plan("clip", 10, Reply("[1, 2, 3]"), Reply("42"))
              .plan("clip", 11, Reply(json.dumps({"description": "Only a description."})))
              .plan("clip", 12, Reply(_json(description="")), Reply(_json(description="   "))))
    with FakeOpenAIServer(script) as server:
        outcomes = analyzer(server.url).analyze(video_ctx(), inputs("clip", 13, fpw=1))
    o = {x.index: x for x in outcomes}
    counts = {i: sum(1 for r in server.chat_requests if r.window[1] == i) for i in o}

    assert o[0].status == "failed" and o[0].fields is None and o[0].attempts == 2 and counts[0] == 2
    assert "no JSON object" in o[0].error and "I am sorry" in o[0].error
    assert (o[1].status, o[1].attempts, counts[1]) == ("ok", 2, 2) and o[1].fields["confidence"] == "high"
    for i in (2, 3):  # JSON in prose, JSON in a code fence
        assert o[i].status == "repaired" and counts[i] == 1
        assert o[i].fields["description"] == "A cook stirs the sauce." and o[i].fields["confidence"] == "low"
    assert o[4].status == "repaired" and o[4].fields["keywords"] == ["pasta", "boil", "water"]
    assert o[4].fields["scene_change"] is True and o[4].fields["confidence"] == "low"
    assert o[5].status == "failed" and counts[5] == 2 and "no JSON object" in o[5].error and "answer starts ''" in o[5].error
    assert (o[6].status, o[6].attempts) == ("ok", 2)
    assert o[7].status == "repaired" and o[7].fields["description"] == "A cook" and o[7].fields["confidence"] == "low"
    assert any("cut off at max_output_tokens" in n for n in o[7].notes)
    assert o[8].status == "failed" and counts[8] == 2 and "cut off at max_output_tokens" in o[8].error
    assert o[9].status == "ok" and MAX_TEXT - 5 <= len(o[9].fields["description"]) <= MAX_TEXT
    assert o[9].fields["keywords"] == [f"k{i}" for i in range(MAX_KEYWORDS)]
    assert o[10].status == "failed" and "answer is a list, not a JSON object" in o[10].error and "answer is a int" in o[10].error
    assert o[11].status == "repaired" and o[11].fields == {
        "description": "Only a description.", "dialogue_translation": "", "keywords": [], "content_type": "other",
        "mood_atmosphere": "unknown", "confidence": "low", "scene_change": False}
    assert o[12].status == "failed" and "description" in o[12].error and counts[12] == 2
    for x in outcomes:
        if x.fields is not None:
            assert validate(x.fields) == x.fields


def test_answers_in_other_content_shapes_cost_at_most_a_window():
    """Some servers answer `content` as a list of text parts; a number or an object must not break the video."""
    good = _json(description="Parts answer.")
    script = (Scripted()
              .plan("clip", 0, Reply(raw={"choices": [{"message": {"role": "assistant", "content": [{"type": "text", "text": good}]},
                                                        "finish_reason": "stop"}]}))
              .plan("clip", 1, Reply(raw={"choices": [{"message": {"role": "assistant", "content": 42}, "finish_reason": "stop"}]}),
                    Reply(raw={"choices": [{"message": {"role": "assistant", "content": {"a": 1}}, "finish_reason": "stop"}]}))
              .plan("clip", 2, Reply(raw={"no_choices": True})))
    with FakeOpenAIServer(script) as server:
        outcomes = analyzer(server.url).analyze(video_ctx(), inputs("clip", 4, fpw=1))
    assert outcomes[0].status == "ok" and outcomes[0].fields["description"] == "Parts answer."
    assert outcomes[1].status == "failed" and outcomes[1].error
    assert outcomes[2].status == "failed" and "malformed chat response" in outcomes[2].error
    assert outcomes[3].status == "ok"


def test_response_format_falls_back_when_the_server_rejects_json_schema():
    """llama-cpp-python's server answers HTTP 500 to response_format json_schema; the client switches once per run."""

    def llama_like(request):
        if request.body.get("response_format", {}).get("type") == "json_schema":
            return Reply(raw={"error": {"message": "1 validation error: response_format type json_schema not supported"}}, status=500)
        return valid_reply(request)

    with FakeOpenAIServer(llama_like) as server:
        outcomes = analyzer(server.url, openai_concurrency=1).analyze(video_ctx(), inputs("clip", 3, fpw=1))
    assert [o.status for o in outcomes] == ["ok"] * 3
    kinds = [r.body.get("response_format", {}).get("type") for r in server.chat_requests]
    assert kinds == ["json_schema", "json_object", "json_object", "json_object"]
    # The grammar dialect also forbids an empty description (validate() rejects one); otherwise the same schema.
    sent = server.chat_requests[1].body["response_format"]["schema"]
    assert sent["properties"]["description"] == {**WINDOW_SCHEMA["properties"]["description"], "minLength": 1}
    assert {**sent, "properties": {**sent["properties"], "description": WINDOW_SCHEMA["properties"]["description"]}} == WINDOW_SCHEMA
    assert "minLength" not in WINDOW_SCHEMA["properties"]["description"]


def test_round_robin_over_two_base_urls_with_the_api_key():
    with FakeOpenAIServer(name="a") as one, FakeOpenAIServer(name="b") as two:
        a = analyzer(one.url, two.url + "/", openai_api_key="sekret", openai_concurrency=2)
        outcomes = a.analyze(video_ctx(), inputs("clip", 6, fpw=1))
    assert all(o.status == "ok" for o in outcomes)
    assert len(one.chat_requests) == 3 and len(two.chat_requests) == 3
    assert one.model_checks >= 1 and two.model_checks >= 1  # both endpoints are checked
    windows = sorted(r.window[1] for r in one.chat_requests + two.chat_requests)
    assert windows == list(range(6))
    assert all(r.headers["authorization"] == "Bearer sekret" for r in one.chat_requests + two.chat_requests)


def test_check_names_unreachable_endpoints_and_served_models():
    port = free_port()
    with pytest.raises(Exception, match=rf"127\.0\.0\.1:{port}/v1 is unreachable"):
        analyzer(f"http://127.0.0.1:{port}/v1").check()
    with FakeOpenAIServer(models=["qwen2.5-vl-7b", "llava"]) as server:
        with pytest.raises(Exception, match=r"'fake-vlm' is not served .* it serves: qwen2.5-vl-7b, llava"):
            analyzer(server.url).check()
        analyzer(server.url, vlm_model="llava").check()
    with FakeOpenAIServer(models=None) as server:  # no /models route: the chat call will tell
        analyzer(server.url).check()


# ---------------------------------------------------------------- CLI against the fake server


@pytest.fixture(scope="module")
def fake_cli_run(tmp_path_factory):
    """One Phase 2 CLI run over three videos: all windows fine; one bad window in four (= the allowed
    share, 25 %); two bad windows in four (more than the share)."""
    folder = tmp_path_factory.mktemp("phase2_fake_cli")
    cfg = write_config(folder, [], openai_concurrency=4)
    data = {
        "pasta": add_video(cfg, "pasta", 3, title="Pasta night", description="How to cook spaghetti"),
        "share_ok": add_video(cfg, "share_ok", 4),
        "share_bad": add_video(cfg, "share_bad", 4),
    }
    garbage = Reply("no idea, sorry")
    script = (Scripted()
              .plan("share_ok", 2, garbage, garbage)
              .plan("share_bad", 1, garbage, garbage)
              .plan("share_bad", 3, garbage, garbage))
    with FakeOpenAIServer(script, models=["qwen-vl-test"]) as server:
        proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "openai", "--base-url", server.url, "--model", "qwen-vl-test")
    return {"cfg": cfg, "work": folder / "data", "proc": proc, "server": server, "data": data,
            "out": flat(proc.stdout + proc.stderr)}


def test_cli_writes_valid_analysis_for_every_window(fake_cli_run):
    r = fake_cli_run
    assert r["proc"].returncode == 1, r["out"][-3000:]  # share_bad failed; the run went on
    assert "analyzer: openai (chosen by --analyzer)" in r["out"]
    doc = load_phase2_analysis(r["work"], "pasta")
    assert doc["format"] == PHASE2_FORMAT and doc["video_name"] == "pasta"
    assert (doc["analyzer"], doc["model"], doc["output_language"], doc["transcript_language"]) == ("openai", "qwen-vl-test", "en", "en")
    assert (doc["windows_total"], doc["windows_failed"], doc["windows_repaired"]) == (3, 0, 0)
    p1 = r["data"]["pasta"]["windows"]
    for seg, w in zip(doc["segments"], p1, strict=True):
        assert (seg["segment_index"], seg["start_time"], seg["end_time"]) == (w["index"], w["start_time"], w["end_time"])
        assert (seg["status"], seg["analyzer"], seg["model"], seg["prompt_version"]) == ("ok", "openai", "qwen-vl-test", "window-v2")
        assert validate(fields_of(seg)) == fields_of(seg)
        assert seg["description"] == f"Window {w['index']} of pasta: a cook stirs tomato sauce in a red pot."
    meta = record(r["cfg"], "pasta")
    assert meta["phase2_status"] == "completed" and meta["phase2_segments_analyzed"] == 3
    assert (meta["phase2_analyzer"], meta["phase2_model"], meta["phase2_windows_failed"]) == ("openai", "qwen-vl-test", 0)
    # What the server saw for this video: the title and description from the record, the transcript, 6 JPEGs.
    reqs = [q for q in r["server"].chat_requests if q.window and q.window[0] == "pasta"]
    assert sorted(q.window[1] for q in reqs) == [0, 1, 2]
    for q in reqs:
        assert "Video title: Pasta night" in q.prompt and "Video description: How to cook spaghetti" in q.prompt
        assert p1[q.window[1]]["text"] in q.prompt
        assert len(q.image_urls) == FPW and all(decode_jpeg(decode_data_url(u)).shape == (48, 64, 3) for u in q.image_urls)
        assert q.body["model"] == "qwen-vl-test"
    assert r["server"].max_in_flight <= 4
    assert temp_files(r["work"]) == []


def test_cli_a_failed_share_at_the_limit_completes_with_the_window_recorded(fake_cli_run):
    r = fake_cli_run
    doc = load_phase2_analysis(r["work"], "share_ok")
    assert (doc["windows_total"], doc["windows_failed"]) == (4, 1)
    bad = doc["segments"][2]
    assert bad["status"] == "failed" and "description" not in bad and "no JSON object" in bad["error"]
    assert all(s["status"] == "ok" for i, s in enumerate(doc["segments"]) if i != 2)
    meta = record(r["cfg"], "share_ok")
    assert meta["phase2_status"] == "completed" and meta["phase2_segments_analyzed"] == 3 and meta["phase2_windows_failed"] == 1
    warnings = [e for e in events_of(r["cfg"]) if e["event"] == ev.WARNING and e.get("video") == "share_ok"]
    assert any("window 2 failed" in e["message"] for e in warnings), warnings
    assert sum(1 for q in r["server"].chat_requests if q.window == ("share_ok", 2)) == 2  # asked twice


def test_cli_more_than_the_share_fails_the_video_without_a_file(fake_cli_run):
    r = fake_cli_run
    assert not phase2_analysis_path(r["work"], "share_bad").exists()
    meta = record(r["cfg"], "share_bad")
    assert meta["phase2_status"] == "pending" and meta["phase2_attempts"] == 1
    assert "2 of 4 windows failed" in meta["phase2_last_error"] and "window_failure_share 25%" in meta["phase2_last_error"]
    errors = [e for e in events_of(r["cfg"]) if e["event"] == ev.VIDEO_ERROR]
    assert [e["video"] for e in errors] == ["share_bad"] and errors[0]["traceback"] is None
    assert "share_bad: 2 of 4 windows failed" in r["out"]
    assert "phase2: 2 completed, 1 failed" in r["out"]


def test_cli_endpoint_unreachable_or_wrong_model_stops_before_claiming(tmp_path):
    cfg = write_config(tmp_path, [])
    add_video(cfg, "clip", 2)
    port = free_port()
    proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "openai", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 2, out
    assert f"analyzer openai cannot run: endpoint http://127.0.0.1:{port}/v1 is unreachable" in out and "is the server running?" in out
    assert "Traceback" not in out

    with FakeOpenAIServer(models=["qwen2.5-vl-7b"]) as server:
        proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "openai", "--base-url", server.url, "--model", "gpt-4o")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 2, out
    assert f"model 'gpt-4o' is not served by {server.url}; it serves: qwen2.5-vl-7b" in out
    assert server.chat_requests == [] and server.model_checks == 1

    meta = record(cfg, "clip")
    assert (meta["phase2_status"], meta["phase2_attempts"], meta["phase2_last_error"]) == ("pending", 0, "")
    assert not [e for e in events_of(cfg) if e["event"] in (ev.VIDEO_CLAIM, ev.VIDEO_ERROR)]
    assert not phase2_analysis_path(tmp_path / "data", "clip").exists()


# ---------------------------------------------------------------- crash and resume


def _wait_for(predicate, proc: subprocess.Popen, what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"phase 2 exited ({proc.returncode}) before {what}: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {timeout} s: {log.read_text()[-3000:]}")
        time.sleep(0.05)


def test_kill_9_mid_video_then_the_next_run_completes_it(tmp_path):
    cfg = write_config(tmp_path, [], openai_concurrency=1)
    work = tmp_path / "data"
    add_video(cfg, "long", 12)
    args = ["--config", str(cfg), "--analyzer", "openai", "--model", "fake-vlm"]
    log = tmp_path / "first.log"
    with FakeOpenAIServer(delay=1.0) as server:
        with open(log, "w") as out:
            first = subprocess.Popen([PY, str(ROOT / PHASE2), *args, "--base-url", server.url], cwd=tmp_path,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: any(e["event"] == ev.VIDEO_CLAIM and e["pid"] == first.pid for e in events_of(cfg)), first, "VIDEO_CLAIM", log)
            _wait_for(lambda: len(server.chat_requests) >= 2, first, "two chat requests", log)
            assert first.poll() is None
            os.kill(first.pid, signal.SIGKILL)
        finally:
            if first.poll() is None:
                first.kill()
            first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert 2 <= len(server.chat_requests) < 12
    assert not phase2_analysis_path(work, "long").exists()
    meta = record(cfg, "long")
    assert meta["phase2_status"] == "processing" and meta["phase2_owner_pid"] == first.pid
    # As if the kill had hit the atomic write: the crashed process's temp file next to the output.
    leftover = work / temp_path_for(phase2_analysis_path(work, "long")).name.replace(f".{os.getpid()}.", f".{first.pid}.")
    leftover.write_text('{"format": "vtdb.phase2", "segm')

    with FakeOpenAIServer() as server:
        second = run_cli(PHASE2, *args, "--base-url", server.url, cwd=tmp_path)
    out = flat(second.stdout + second.stderr)
    assert second.returncode == 0, out[-3000:]
    assert "reclaiming long" in out and f"owner process {first.pid}" in out
    assert len(server.chat_requests) == 12
    doc = load_phase2_analysis(work, "long")
    assert doc["windows_total"] == 12 and doc["windows_failed"] == 0
    assert [s["segment_index"] for s in doc["segments"]] == list(range(12))
    assert all(validate(fields_of(s)) == fields_of(s) for s in doc["segments"])
    assert temp_files(work) == [] and temp_files(tmp_path) == []
    meta = record(cfg, "long")
    assert meta["phase2_status"] == "completed" and meta["phase2_segments_analyzed"] == 12


# ---------------------------------------------------------------- bad Phase 1 inputs


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_bad_phase1_pickles_are_per_video_errors_and_the_run_goes_on(tmp_path):
    cfg = write_config(tmp_path, [])
    work = tmp_path / "data"
    marker = tmp_path / "pwned"
    for name in ("bad_corrupt", "bad_empty", "bad_missing", "bad_truncated", "bad_unsafe", "bad_wrong_format"):
        register_phase1_done(cfg, name, 2)
    phase1_data_path(work, "x").parent.mkdir(parents=True, exist_ok=True)
    phase1_data_path(work, "bad_corrupt").write_bytes(random.Random(7).randbytes(4096))
    dump_plain(phase1_data_path(work, "bad_empty"), {**make_phase1("bad_empty", 0), "windows": []})
    whole = (work / "tmp_whole.pkl")
    dump_plain(whole, make_phase1("bad_truncated", 2))
    phase1_data_path(work, "bad_truncated").write_bytes(whole.read_bytes()[:5000])
    whole.unlink()
    phase1_data_path(work, "bad_unsafe").write_bytes(pickle.dumps({"format": "vtdb.phase1", "x": _Evil(marker)}))
    dump_plain(phase1_data_path(work, "bad_wrong_format"), {"hello": "world"})
    add_video(cfg, "good", 2)

    with FakeOpenAIServer() as server:
        proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "openai", "--base-url", server.url, "--model", "fake-vlm")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 1, out[-3000:]
    assert not marker.exists(), "the unsafe pickle ran code"
    assert "phase2: 1 completed, 6 failed" in out
    assert load_phase2_analysis(work, "good")["windows_total"] == 2
    assert {q.window[0] for q in server.chat_requests} == {"good"}

    expected = {
        "bad_corrupt": "corrupt Phase 1 data",
        "bad_empty": "Phase 1 data has no windows",
        "bad_missing": "Phase 1 data not found; re-run python phase1_whisper_frames.py",
        "bad_truncated": "corrupt Phase 1 data",
        "bad_unsafe": "unsafe pickle refused",
        "bad_wrong_format": "not a Phase 1 data file",
    }
    errors = {e["video"]: e for e in events_of(cfg) if e["event"] == ev.VIDEO_ERROR}
    assert set(errors) == set(expected)
    for name, why in expected.items():
        meta = record(cfg, name)
        assert meta["phase2_status"] == "pending" and meta["phase2_attempts"] == 1, name
        assert why in meta["phase2_last_error"], (name, meta["phase2_last_error"])
        assert errors[name]["traceback"] is None, (name, errors[name]["error"])  # an explained error, not a crash
        assert f"✗ {name}:" in out
        assert not phase2_analysis_path(work, name).exists()
    assert record(cfg, "good")["phase2_status"] == "completed"


# ---------------------------------------------------------------- a real OpenAI-compatible server


@pytest.fixture(scope="module")
def phase1_real(tmp_path_factory, en_video):
    """Phase 1 (real Whisper) on the generated English clip, windows of 10 s overlapping by 3 s."""
    folder = tmp_path_factory.mktemp("phase2_real")
    cfg = write_config(folder, [{"name": "en_talk", "path": str(en_video), "title": "Pasta and a bicycle",
                                 "description": "cooking, then a repair"}],
                       window_length=10, window_overlap=3, frame_max_side=256, max_output_tokens=256)
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"cfg": cfg, "work": folder / "data", "data": load_phase1_data(folder / "data", "en_talk")}


def test_real_llama_cpp_server_end_to_end_text_only(llama_server, phase1_real):
    cfg, work = phase1_real["cfg"], phase1_real["work"]
    windows = phase1_real["data"]["windows"]
    assert len(windows) >= 2 and any(w["text"] for w in windows)
    served = [m["id"] for m in httpx.get(f"{llama_server['url']}/models", timeout=10).json()["data"]]
    assert "smollm2" in served

    proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "openai", "--base-url", llama_server["url"],
                   "--model", "smollm2", "--text-only", timeout=500)
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out[-4000:]
    assert "✓ en_talk" in out

    doc = load_phase2_analysis(work, "en_talk")
    assert (doc["analyzer"], doc["model"], doc["windows_total"], doc["windows_failed"]) == ("openai", "smollm2", len(windows), 0)
    for seg, w in zip(doc["segments"], windows, strict=True):
        assert (seg["segment_index"], seg["start_time"], seg["end_time"]) == (w["index"], w["start_time"], w["end_time"])
        assert (seg["analyzer"], seg["model"], seg["prompt_version"]) == ("openai", "smollm2", "window-v2")
        assert seg["status"] in ("ok", "repaired"), seg
        fields = fields_of(seg)
        assert validate(fields) == fields, seg  # schema-valid, and already normalized
        assert isinstance(fields["scene_change"], bool) and fields["confidence"] in ("high", "medium", "low")
        if seg["status"] == "repaired":
            assert fields["confidence"] == "low" and seg["notes"]
    meta = record(cfg, "en_talk")
    assert meta["phase2_status"] == "completed" and meta["phase2_segments_analyzed"] == len(windows)
    assert (meta["phase2_analyzer"], meta["phase2_model"], meta["phase2_windows_failed"]) == ("openai", "smollm2", 0)
    assert temp_files(work) == []
