"""Whether a failure is permanent is decided by its class (`vtdb.state.error_kind`), never by its words.

Each failure that used to be recognised by a fragment of its message is made here from real bad input (an
empty file, a text file named .mp4, an MP4 cut before its index, a ZIM archive without the entry, a corrupt
archive, ...) and must raise a class that error_kind holds at once; the same class with unrelated words stays
permanent, and a plain error with the old words is transient. Re-raising keeps the class (a ZIM item's errors
through its source), and the run-level errors (OCR, models, LLM transports) stop the run without blaming a video.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.jobs import BehaviourJob
from rich.console import Console
from zim_factory import write_zim

from vtdb import state
from vtdb.config import Config, Settings
from vtdb.embedders import EmbedderError, EmbedderLoadError, UnknownEmbedderError, load_embedder
from vtdb.errors import BackendUnavailable, ModelUnavailable, PermanentVideoError, RunAborted, VideoError
from vtdb.llm import LLMUnavailable
from vtdb.media import ocr
from vtdb.media.video import MediaError, PermanentMediaError, TruncatedMediaError, extract_frames, probe
from vtdb.runner import EXIT_FAILURES, EXIT_USAGE, JobResult, RunOptions, run_phase
from vtdb.sources.base import UnknownSourceKind, source_for
from vtdb.sources.zim import (
    ZimArchiveCorrupt,
    ZimEntryEmpty,
    ZimEntryMissing,
    ZimError,
    extract_to,
    list_zim_videos,
    open_archive,
    zim_uri,
)
from vtdb.sources.zim_entry import ZimEntrySource
from vtdb.store import Store
from vtdb.summarizers import SummarizerUnavailable, make_summarizer

# The message fragments error_kind used to match (issue 27): none of them decides anything any more.
OLD_FRAGMENTS = (
    "file is empty (0 bytes)", "video item is empty (0 bytes)", "is not in the archive", "not a readable video file",
    "truncated or unfinished mp4", "has no video stream", "not a regular file", "no frame could be decoded",
    "opencv cannot open the video", "not a readable zim archive", "checksum mismatch", "unknown source kind",
)
PERMANENT_CLASSES = (PermanentMediaError, ZimArchiveCorrupt, ZimEntryMissing, ZimEntryEmpty, UnknownSourceKind)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Real bad inputs, and one good clip to break."""
    d = tmp_path_factory.mktemp("bad_media")
    good = d / "good.mp4"  # index (moov) at the end, as ffmpeg writes it by default
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(good))
    faststart = d / "faststart.mp4"  # index first, so the pictures can be destroyed and the file still probes
    _ffmpeg("-i", str(good), "-c", "copy", "-movflags", "+faststart", str(faststart))
    raw = good.read_bytes()
    assert raw.rfind(b"moov") > raw.find(b"mdat")
    paths = {"good": good}
    paths["empty"] = d / "empty.mp4"
    paths["empty"].write_bytes(b"")
    paths["text"] = d / "notes.mp4"
    paths["text"].write_text("a shopping list, not a video\n" * 20)
    paths["no_moov"] = d / "cut.mp4"
    paths["no_moov"].write_bytes(raw[: raw.rfind(b"moov") - 8])  # an interrupted copy: the index never arrived
    paths["folder"] = d / "folder.mp4"
    paths["folder"].mkdir()
    pictures = bytearray(faststart.read_bytes())
    start = pictures.find(b"mdat") + 4
    pictures[start:] = bytes(len(pictures) - start)  # every coded picture zeroed: the container is fine
    paths["no_pictures"] = d / "zeroed.mp4"
    paths["no_pictures"].write_bytes(bytes(pictures))
    paths["audio"] = d / "tone.wav"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(paths["audio"]))
    srt = d / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    paths["subtitles_only"] = d / "subtitles.mkv"
    _ffmpeg("-i", str(srt), str(paths["subtitles_only"]))
    return paths


@pytest.fixture(scope="module")
def archives(media, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_zims")
    clip = media["good"].read_bytes()
    good = write_zim(d / "good.zim", [
        ("videos/a/video.mp4", "video/mp4", clip, "A video"),
        ("videos/empty/video.mp4", "video/mp4", b"", "An empty item"),
        ("videos/text/video.mp4", "video/mp4", b"a shopping list, not a video\n" * 20, "Not a video"),
    ])
    raw = good.read_bytes()
    paths = {"good": good}
    paths["half"] = d / "half.zim"
    paths["half"].write_bytes(raw[: len(raw) // 2])
    paths["text"] = d / "notes.zim"
    paths["text"].write_text("This is a text file with a .zim name.\n" * 40)
    paths["empty"] = d / "empty.zim"
    paths["empty"].write_bytes(b"")
    flipped = bytearray(raw)
    middle = raw.find(clip) + len(clip) // 2  # inside the (uncompressed) video item
    flipped[middle : middle + 64] = bytes(b ^ 0xFF for b in flipped[middle : middle + 64])
    paths["flipped"] = d / "flipped.zim"
    paths["flipped"].write_bytes(bytes(flipped))
    return paths


def _open(path: Path) -> None:
    with open_archive(path):
        pass


def _extract(source: ZimEntrySource, work_dir: Path) -> None:
    with source.open_local(work_dir):
        pass


def _raised(call) -> BaseException:
    with pytest.raises(Exception) as err:
        call()
    return err.value


def _assert_permanent(exc: BaseException, cls: type, words: str) -> None:
    assert type(exc) is cls, f"{type(exc).__name__}: {exc}"
    assert words.lower() in str(exc).lower(), exc  # the words are still said to the user; they just decide nothing
    assert state.error_kind(exc) == state.PERMANENT
    # The class alone decides: the same class saying something else entirely is still permanent.
    assert state.error_kind(cls("the disk is on fire")) == state.PERMANENT


# ---------------------------------------------------------------- each former fragment, from real bad input


def test_media_that_is_not_a_video_raises_permanent_types(media):
    _assert_permanent(_raised(lambda: probe(media["empty"])), PermanentMediaError, "file is empty (0 bytes)")
    _assert_permanent(_raised(lambda: probe(media["text"])), PermanentMediaError, "not a readable video file")
    _assert_permanent(_raised(lambda: probe(media["no_moov"])), PermanentMediaError, "truncated or unfinished MP4")
    _assert_permanent(_raised(lambda: probe(media["folder"])), PermanentMediaError, "not a regular file")
    _assert_permanent(_raised(lambda: probe(media["subtitles_only"])), PermanentMediaError, "has no audio or video streams")


def test_media_whose_pictures_cannot_be_read_raises_permanent_types(media):
    info = probe(media["no_pictures"])
    assert info.has_video and info.duration > 0  # the container is fine: only the pictures are gone
    exc = _raised(lambda: extract_frames(media["no_pictures"], [0.1, 0.5, 0.9], duration=info.duration, fps=info.fps))
    _assert_permanent(exc, PermanentMediaError, "no frame could be decoded")
    # A file without a picture stream: OpenCV cannot open it for frames.
    exc = _raised(lambda: extract_frames(media["audio"], [0.1, 0.5], duration=1.0))
    _assert_permanent(exc, PermanentMediaError, "OpenCV cannot open the video")


def test_the_shot_pass_over_media_without_pictures_raises_a_permanent_type(media):
    from vtdb.media.shots import scan_video

    info = probe(media["no_pictures"])
    exc = _raised(lambda: scan_video(media["no_pictures"], [0.1, 0.5, 0.9], duration=info.duration))
    _assert_permanent(exc, PermanentMediaError, "no frame could be decoded")


def test_bad_archives_raise_zim_archive_corrupt(archives):
    _assert_permanent(_raised(lambda: _open(archives["empty"])), ZimArchiveCorrupt, "file is empty (0 bytes)")
    _assert_permanent(_raised(lambda: _open(archives["half"])), ZimArchiveCorrupt, "not a readable ZIM archive")
    _assert_permanent(_raised(lambda: _open(archives["text"])), ZimArchiveCorrupt, "not a readable ZIM archive")
    _assert_permanent(_raised(lambda: list_zim_videos(archives["flipped"])), ZimArchiveCorrupt, "checksum mismatch")


def test_a_missing_or_empty_entry_raises_its_own_permanent_type(archives, tmp_path):
    _assert_permanent(_raised(lambda: extract_to(archives["good"], "videos/gone/video.mp4", tmp_path)), ZimEntryMissing,
                      "is not in the archive")
    _assert_permanent(_raised(lambda: extract_to(archives["good"], "videos/empty/video.mp4", tmp_path)), ZimEntryEmpty,
                      "video item is empty (0 bytes)")


def test_an_archive_that_cannot_be_found_stays_transient(tmp_path):
    # Not found may be an unmounted drive: a later run may find it.
    exc = _raised(lambda: _open(tmp_path / "nowhere" / "a.zim"))
    assert type(exc) is ZimError and state.error_kind(exc) == state.TRANSIENT


def test_an_unknown_source_kind_is_permanent():
    exc = _raised(lambda: source_for({"source_kind": "ftp", "video_path": "/x.mp4"}))
    _assert_permanent(exc, UnknownSourceKind, "unknown source kind")
    assert isinstance(exc, MediaError)  # what callers caught before


# ---------------------------------------------------------------- the words alone decide nothing


@pytest.mark.parametrize("fragment", OLD_FRAGMENTS)
@pytest.mark.parametrize("cls", [VideoError, MediaError, ZimError])
def test_a_plain_video_error_with_old_permanent_words_is_transient(cls, fragment):
    assert state.error_kind(cls(f"/v/x.mp4: {fragment}")) == state.TRANSIENT


@pytest.mark.parametrize("cls", PERMANENT_CLASSES)
def test_every_permanent_class_is_permanent_whatever_it_says(cls):
    assert issubclass(cls, PermanentVideoError)
    assert state.error_kind(cls("")) == state.PERMANENT


# ---------------------------------------------------------------- re-raising keeps the class


def test_an_archive_items_errors_keep_their_class_through_its_source(archives, tmp_path):
    missing = ZimEntrySource(zim_uri(str(archives["good"]), "videos/gone/video.mp4"))
    exc = _raised(lambda: _extract(missing, tmp_path))
    _assert_permanent(exc, ZimEntryMissing, "is not in the archive")

    empty = ZimEntrySource(zim_uri(str(archives["good"]), "videos/empty/video.mp4"))
    _assert_permanent(_raised(lambda: _extract(empty, tmp_path)), ZimEntryEmpty, "video item is empty")

    text = ZimEntrySource(zim_uri(str(archives["good"]), "videos/text/video.mp4"))

    def probe_item():
        with text.open_local(tmp_path) as path:
            probe(path)

    exc = _raised(probe_item)
    _assert_permanent(exc, PermanentMediaError, "not a readable video file")
    assert text.location in str(exc) and ".vtdb-tmp." not in str(exc)  # names the item, not the temp file
    assert list(tmp_path.iterdir()) == []

    # A truncated file keeps its class and how far it decodes (Phase 1 indexes it up to there).
    good = ZimEntrySource(zim_uri(str(archives["good"]), "videos/a/video.mp4"))

    def cut_short():
        with good.open_local(tmp_path) as path:
            raise TruncatedMediaError(path, 0.5, 1.0)

    exc = _raised(cut_short)
    assert type(exc) is TruncatedMediaError and (exc.decodable_until, exc.duration) == (0.5, 1.0)
    assert good.location in str(exc) and ".vtdb-tmp." not in str(exc)


# ---------------------------------------------------------------- through the runner




@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store(Config(path=None, settings=Settings(max_attempts=5, chroma_dir=str(tmp_path / "db")), videos=[]))
    store.create_or_update_video_file("a", "/videos/a.mp4")
    return store


def _run(db, job, work_dir):
    buf = io.StringIO()
    summary = run_phase(job, db, work_dir, RunOptions(), Console(file=buf, width=200))
    return summary, " ".join(buf.getvalue().split())


def test_a_missing_archive_entry_holds_the_video_at_once(db, archives, tmp_path):
    source = ZimEntrySource(zim_uri(str(archives["good"]), "videos/gone/video.mp4"))

    def behaviour(claim, ctx):
        with source.open_local(tmp_path / "work"):
            return JobResult(1)

    summary, out = _run(db, BehaviourJob(behaviour), tmp_path / "work")
    assert summary.exit_code == EXIT_FAILURES and summary.permanent == ["a"] and "held at once" in out
    meta = db.get_video_status("a")
    assert (meta["phase1_held"], meta["phase1_hold_kind"], meta["phase1_attempts"]) == (True, state.HOLD_PERMANENT, 1)


def test_ocr_that_cannot_start_mid_run_stops_the_run_and_blames_no_video(db, tmp_path, monkeypatch):
    empty = tmp_path / "tessdata"
    empty.mkdir()

    def behaviour(claim, ctx):
        monkeypatch.setenv("TESSDATA_PREFIX", str(empty))  # the language data went away during the run
        monkeypatch.setattr(ocr, "SYSTEM_TESSDATA_ROOTS", (tmp_path / "none",))
        ocr.OcrReader(["eng"])
        return JobResult(1)

    assert issubclass(ocr.OcrUnavailable, RunAborted) and issubclass(ocr.OcrUnavailable, RuntimeError)
    summary, out = _run(db, BehaviourJob(behaviour), tmp_path / "work")
    assert summary.exit_code == EXIT_USAGE and summary.aborted and summary.failed == [], out
    assert "no attempt counted" in out
    meta = db.get_video_status("a")
    assert (meta["phase1_status"], meta["phase1_attempts"], meta["phase1_held"]) == (state.PENDING, 0, False)


def test_ffmpeg_missing_stops_the_run_instead_of_failing_every_video(media, monkeypatch):
    monkeypatch.setenv("PATH", "")  # ffprobe is not installed here
    exc = _raised(lambda: probe(media["good"]))
    assert isinstance(exc, RunAborted) and not isinstance(exc, VideoError) and "install ffmpeg" in str(exc)


# ---------------------------------------------------------------- one name per error


def test_models_have_one_unavailable_error():
    import vtdb.models

    assert not hasattr(vtdb.models, "ModelNotAvailable")
    assert issubclass(ModelUnavailable, RunAborted) and issubclass(ModelUnavailable, RuntimeError)


def test_an_embedder_that_cannot_load_is_not_an_unknown_embedder(tmp_path):
    assert not issubclass(EmbedderLoadError, UnknownEmbedderError)
    assert issubclass(EmbedderLoadError, EmbedderError) and issubclass(UnknownEmbedderError, EmbedderError)
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    exc = _raised(lambda: load_embedder(str(bad)))
    assert type(exc) is EmbedderLoadError and isinstance(exc, ModelUnavailable)
    assert not isinstance(exc, (UnknownEmbedderError, ValueError))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_transports_and_summarizers_have_their_own_run_level_errors():
    from vtdb.analyzers import AnalyzerUnavailable
    from vtdb.llm.openai_client import OpenAIClient

    assert not issubclass(LLMUnavailable, AnalyzerUnavailable) and not issubclass(SummarizerUnavailable, AnalyzerUnavailable)
    exc = _raised(lambda: OpenAIClient(Settings()))  # no endpoint configured
    assert type(exc) is LLMUnavailable and isinstance(exc, BackendUnavailable) and isinstance(exc, RunAborted)
    down = OpenAIClient(Settings(openai_base_url=[f"http://127.0.0.1:{_closed_port()}/v1"], openai_timeout=5))
    exc = _raised(down.check)
    assert type(exc) is LLMUnavailable and "unreachable" in str(exc)
    exc = _raised(lambda: make_summarizer("extractiv", Settings(), None))  # type: ignore[arg-type]
    assert type(exc) is SummarizerUnavailable and isinstance(exc, BackendUnavailable) and "did you mean 'extractive'" in str(exc)
    exc = _raised(lambda: make_summarizer("openai", Settings(), None))  # type: ignore[arg-type]
    assert type(exc) is LLMUnavailable


def test_the_transports_need_nothing_from_the_analyzers_for_their_errors():
    code = ("import sys, vtdb.llm.vllm_backend as v; "
            "bad = sorted(m for m in sys.modules if m.startswith('vtdb.analyzers')); assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
