"""whisper_device and whisper_batch_size (issue 11): what reaches WhisperModel, and one Phase 1 worker per GPU.

No GPU here: the engine boundary (faster_whisper.WhisperModel) is replaced by a labelled fake that records
the arguments Phase 1 gave it and then loads the real model on the CPU, so everything else runs for real
(the worker processes, a real Chroma server, real videos, real Whisper).
"""

from __future__ import annotations

import collections
import json
import subprocess
import textwrap

import pytest

from conftest import ROOT, run_cli, write_config
from vtdb import events as ev
from vtdb.config import build_settings, whisper_devices
from vtdb.errors import ModelUnavailable
from vtdb.media.transcribe import (
    AUTO_BATCH_SIZE,
    FasterWhisperTranscriber,
    parse_device,
    resolve_batch_size,
    whisper_model_kwargs,
)

# The labelled fake, installed in every Python process of a test through sitecustomize (workers included).
FAKE = textwrap.dedent('''
    """Test fake at the engine boundary (tests/test_whisper_devices.py): records, then loads on the CPU."""
    import json, os
    if os.environ.get("VTDB_TEST_WHISPER_LOG"):
        import faster_whisper

        _Real = faster_whisper.WhisperModel

        class LabelledFakeWhisperModel(_Real):
            def __init__(self, model, **kwargs):
                seen = {k: kwargs.get(k) for k in ("device", "device_index", "compute_type", "cpu_threads")}
                with open(os.environ["VTDB_TEST_WHISPER_LOG"], "a") as fh:
                    fh.write(json.dumps({"pid": os.getpid(), "env": os.environ.get("VTDB_WHISPER_DEVICE"), **seen}) + "\\n")
                super().__init__(model, **{**kwargs, "device": "cpu", "device_index": 0, "compute_type": "int8"})

        faster_whisper.WhisperModel = LabelledFakeWhisperModel
''')


@pytest.mark.parametrize("value, devices", [
    ("cuda:1", ["cuda:1"]), ([0, 2], ["cuda:0", "cuda:2"]), ("0,1", ["cuda:0", "cuda:1"]), ("cpu", ["cpu"]),
    ("auto", ["auto"]), ("CUDA", ["cuda"]),
])
def test_device_setting_to_one_device_per_process(value, devices):
    assert whisper_devices(build_settings({"whisper_device": value}, env={}).whisper_device) == devices


@pytest.mark.parametrize("device, kwargs", [
    ("cuda:1", {"device": "cuda", "device_index": 1, "compute_type": "float16"}),
    ("cuda", {"device": "cuda", "device_index": 0, "compute_type": "float16"}),
    ("cpu", {"device": "cpu", "device_index": 0, "compute_type": "int8"}),
])
def test_device_string_to_whisper_model_kwargs(device, kwargs):
    options = build_settings({"whisper_device": device, "whisper_cpu_threads": 1}, env={}).whisper
    assert whisper_model_kwargs(options) == {**kwargs, "cpu_threads": 1}
    assert parse_device(device) == (kwargs["device"], kwargs["device_index"])


def test_a_gpu_list_is_not_one_transcriber():
    with pytest.raises(ModelUnavailable, match="one Phase 1 process per GPU"):
        parse_device("cuda:0,1")


def test_auto_batch_size_per_device():
    assert resolve_batch_size("auto", "cpu") == AUTO_BATCH_SIZE["cpu"]
    assert resolve_batch_size("auto", "cuda") == AUTO_BATCH_SIZE["cuda"] > AUTO_BATCH_SIZE["cpu"]
    assert resolve_batch_size("0", "cuda") == 0 and resolve_batch_size("12", "cpu") == 12
    assert build_settings({}, env={}).whisper_batch_size == "auto"  # batched is the default


@pytest.fixture
def fake_engine(tmp_path, monkeypatch):
    """The labelled fake, in this process and (via sitecustomize on PYTHONPATH) in every child."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAKE)
    log = tmp_path / "whisper_model_calls.jsonl"
    monkeypatch.setenv("VTDB_TEST_WHISPER_LOG", str(log))
    namespace: dict = {}
    exec(compile(FAKE, "sitecustomize", "exec"), namespace)  # noqa: S102 - the same fake, here
    yield site, log
    import faster_whisper

    faster_whisper.WhisperModel = namespace["_Real"]


def _calls(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_cuda_1_reaches_whisper_model_as_device_index_1_and_batches(fake_engine):
    _site, log = fake_engine
    transcriber = FasterWhisperTranscriber(build_settings({"whisper_device": "cuda:1"}, env={}))
    transcriber.whisper_model()
    assert transcriber.whisper_model() is transcriber.whisper_model()  # loaded once
    [call] = _calls(log)
    assert (call["device"], call["device_index"], call["compute_type"]) == ("cuda", 1, "float16")
    assert transcriber.batch_size == AUTO_BATCH_SIZE["cuda"] and transcriber._batched is not None


def _tone_video(path):
    """6 s of test pattern with a tone: real audio (Whisper loads and runs), no speech, quick."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-f", "lavfi",
                    "-i", "sine=frequency=330", "-t", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(path)], check=True)


def test_gpu_list_without_a_server_is_a_clear_usage_error(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a", "path": str(tmp_path / "a.mp4")}], whisper_device=[0, 1])
    proc = run_cli("phase1_whisper_frames.py", "--config", str(cfg), cwd=tmp_path, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-2000:]
    assert "Chroma server" in out and "cuda:0, cuda:1" in out and "Traceback" not in out


@pytest.mark.slow
def test_one_worker_per_gpu_share_the_videos(chroma_server, tmp_path, fake_engine):
    host, port = chroma_server
    site, log = fake_engine
    clip = tmp_path / "clip.mp4"
    _tone_video(clip)
    names = [f"clip{i}" for i in range(6)]
    videos = []
    for name in names:
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(clip.read_bytes())
        videos.append({"name": name, "path": str(path), "language": "en"})
    cfg = write_config(tmp_path, videos, whisper_device="cuda:0,1", chroma_host=host, chroma_port=port,
                       whisper_cpu_threads=1)
    proc = run_cli("phase1_whisper_frames.py", "--config", str(cfg), cwd=tmp_path, timeout=400,
                   env={"PYTHONPATH": f"{site}:{ROOT}"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # Each worker got its own device, and it reached WhisperModel as device="cuda", device_index=i.
    calls = _calls(log)
    by_env = {c["env"]: c for c in calls}
    assert set(by_env) == {"cuda:0", "cuda:1"}, calls
    for index in (0, 1):
        c = by_env[f"cuda:{index}"]
        assert (c["device"], c["device_index"], c["compute_type"]) == ("cuda", index, "float16")
    assert len({c["pid"] for c in calls}) == 2 and len(calls) == 2  # one model per worker, loaded once
    assert "[cuda:0]" in out and "[cuda:1]" in out
    # They shared the videos: every one completed, none twice, each worker did some.
    events = ev.read_events(tmp_path / "data" / "events.jsonl")
    completes = collections.Counter(e["video"] for e in events if e["event"] == ev.VIDEO_COMPLETE)
    assert completes == collections.Counter(names), completes
    workers = {e["pid"] for e in events if e["event"] == ev.VIDEO_COMPLETE}
    assert workers == {c["pid"] for c in calls}
    for name in names:
        assert (tmp_path / "data" / f"{name}_phase1_data.pkl").exists()
