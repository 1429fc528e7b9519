"""Settings grouped per component (issue #10): frozen views whose fields name the documented settings."""

from __future__ import annotations

import dataclasses

import pytest

from vtdb.config import AnalysisOptions, RecoveryOptions, Settings, WhisperOptions, build_settings
from vtdb.media.transcribe import FasterWhisperTranscriber

GROUPS = {"whisper": WhisperOptions, "recovery": RecoveryOptions, "analysis": AnalysisOptions}


def test_every_group_field_comes_from_a_documented_setting_and_follows_it():
    settings = build_settings({"window_length": 30, "whisper_beam_size": 2, "chroma_port": 9001, "max_abandons": 7},
                              env={"VTDB_WHISPER_MODEL": "tiny"})
    names = set(Settings.field_names())
    for attr, cls in GROUPS.items():
        group = getattr(settings, attr)
        assert isinstance(group, cls)
        for f in dataclasses.fields(cls):
            assert f.metadata["setting"] in names, (cls.__name__, f.name)
            assert getattr(group, f.name) == getattr(settings, f.metadata["setting"])
    assert settings.whisper.beam_size == 2 and settings.whisper.model == "tiny" and settings.recovery.max_abandons == 7


def test_groups_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().whisper.model = "large-v3"  # type: ignore[misc]


def test_the_transcriber_receives_only_its_group():
    settings = build_settings({"whisper_batch_size": 4, "vad_filter": False}, env={})
    for given in (settings, settings.whisper):
        transcriber = FasterWhisperTranscriber(given)
        assert transcriber.options == settings.whisper and not hasattr(transcriber, "settings")


def test_settings_are_immutable_after_loading():
    settings = build_settings({"window_length": 30}, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.window_length = 40  # type: ignore[misc]
    changed = dataclasses.replace(settings, window_length=40)
    assert (settings.window_length, changed.window_length) == (30, 40)


def test_analyzers_and_the_llm_client_receive_the_analysis_group():
    from vtdb.analyzers.transcript import TranscriptAnalyzer
    from vtdb.llm.openai_client import OpenAIClient

    settings = build_settings({"openai_base_url": "http://127.0.0.1:9/v1", "openai_concurrency": 3}, env={})
    for given in (settings, settings.analysis):
        assert TranscriptAnalyzer(given).options == settings.analysis
        client = OpenAIClient(given)
        assert client.options.openai_concurrency == 3 and not hasattr(client, "settings")
        client.close()
