"""Content types that can say "don't know" (issue 24): the transcript analyzer gives a label only when it is
clearly the nearest, and a video's type is "other" unless a real label covers enough of it."""

from __future__ import annotations

import numpy as np
import pytest

from vtdb.analyzers.transcript import nearest_label
from vtdb.config import Settings
from vtdb.summarize import SegmentText, majority_content_type

LABELS = ["tutorial", "cooking", "repair", "lecture", "news", "interview", "music", "other"]


def test_a_clear_lead_gives_the_label():
    scores = np.array([0.80, 0.86, 0.79, 0.78, 0.79, 0.78, 0.77, 0.78])
    assert nearest_label(scores, LABELS) == "cooking"


def test_a_near_tie_is_other():
    scores = np.array([0.801, 0.805, 0.79, 0.78, 0.79, 0.78, 0.77, 0.78])
    assert nearest_label(scores, LABELS) == "other"


def test_a_lead_inside_the_spread_is_other():
    # Ahead of the runner-up, but the labels are spread so widely that the lead says nothing.
    scores = np.array([0.70, 0.86, 0.85, 0.72, 0.84, 0.71, 0.83, 0.74])
    assert nearest_label(scores, LABELS) == "other"


def test_few_labels_use_the_lead_alone():
    assert nearest_label(np.array([0.80, 0.82, 0.75]), ["kitchen", "workshop", "concert"]) == "workshop"
    assert nearest_label(np.array([0.80, 0.803, 0.75]), ["kitchen", "workshop", "concert"]) == "other"


@pytest.fixture(scope="module")
def label_of():
    from vtdb.embedders import load_embedder

    settings = Settings()
    embedder = load_embedder(settings.embedder)
    labels = list(settings.content_types)
    vectors = embedder.embed_queries([f"a {label} video" for label in labels])
    return lambda text: nearest_label(vectors @ embedder.embed_passages([text])[0], labels)


def test_real_embeddings_topical_text_is_labelled_and_stock_phrases_are_not(label_of):
    assert label_of("Today we are cooking pasta at home. Fill a large pot with water and bring it to a rolling boil.") == "cooking"
    assert label_of("Сегодня мы будем заваривать чёрный чай. Налейте свежую холодную воду в чайник.") == "cooking"
    for phrase in ("Thank you very much.", "Hello.", "No speech in this window."):
        assert label_of(phrase) == "other", phrase


def _segments(types: list[str]) -> list[SegmentText]:
    return [SegmentText(index=i, start=10.0 * i, end=10.0 * i + 10, description="d", keywords=[], content_type=t)
            for i, t in enumerate(types)]


def test_one_labelled_window_does_not_label_a_whole_video():
    assert majority_content_type(_segments(["sports"] + ["other"] * 9)) == "other"
    assert majority_content_type(_segments(["repair", "repair", "other", "tutorial", "other"])) == "repair"
    assert majority_content_type(_segments([])) == "other"
