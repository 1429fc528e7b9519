"""Phase 4 summarizers: a whole-video summary, keywords, content type and chapters from the
video's segments. The extractive CPU summarizer is the default; the LLM summarizer reuses the
Phase 2 backends (an OpenAI-compatible server, or vLLM in process) with text prompts and
map-reduce for videos too long for one prompt."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from vtdb.analyzers.prompt import language_name
from vtdb.config import AnalysisOptions, Settings, analysis_options
from vtdb.embedders import Embedder
from vtdb.timefmt import clock


@dataclass
class SegmentText:
    index: int
    start: float
    end: float
    description: str
    keywords: list[str]
    content_type: str
    scene_change: bool = False
    transcript: str = ""


@dataclass
class SummaryInput:
    name: str
    title: str
    description: str
    language: str
    output_language: str
    segments: list[SegmentText]
    chapters: list[dict] = field(default_factory=list)  # creator chapters (ZIM), used as they are
    shots: list[list[float]] = field(default_factory=list)  # Phase 1 shot list [[start, end], ...]; chapters snap to it


@dataclass
class VideoSummary:
    summary: str
    keywords: list[str]
    content_type: str
    chapters: list[dict]  # [{start, end, title}]
    summarizer: str
    model: str


class Summarizer(Protocol):
    name: str
    model: str

    def summarize(self, video: SummaryInput) -> VideoSummary: ...


_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
_PARTIAL_SUMMARY = re.compile(r'"summary"\s*:\s*"((?:[^"\\]|\\.)*)', re.DOTALL)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if len(s.strip()) > 3]


def aggregate_keywords(segments: Sequence[SegmentText], top: int = 12) -> list[str]:
    """Keywords across segments: how often they occur, earlier keywords of a window weigh more."""
    score: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for seg in segments:
        for rank, kw in enumerate(seg.keywords):
            key = kw.strip().lower()
            if key:
                score[key] += 1.0 / (1 + 0.2 * rank)  # type: ignore[assignment]  # float weights in a Counter
                shown.setdefault(key, kw.strip())
    return [shown[k] for k, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


# A video's type is its windows' commonest real label when at least this share of its windows carry it; else
# "other". One window of a silent film labelled "sports" must not make the film a sports video.
MIN_CONTENT_TYPE_SHARE = 0.25


def majority_content_type(segments: Sequence[SegmentText]) -> str:
    counts = Counter(s.content_type for s in segments if s.content_type and s.content_type != "other")
    if not counts:
        return "other"
    best = max(counts.values())
    if best < MIN_CONTENT_TYPE_SHARE * len(segments):
        return "other"
    return next(s.content_type for s in segments if counts.get(s.content_type) == best)


def make_chapters(segments: Sequence[SegmentText], vectors: np.ndarray | None, given: Sequence[dict] = (),
                  shots: Sequence[Sequence[float]] = ()) -> list[dict]:
    """Chapters: the creator's when known; else runs of related consecutive windows.

    A new chapter starts where consecutive windows are much less similar than is usual in this
    video (similarity below mean - 1 std of the video's consecutive similarities), or at a
    scene change that also lowers similarity below the mean. With the video's shots, each
    chapter start then moves to the nearest shot boundary (see `snap_chapters`).
    """
    if given:
        return [{"start": float(c.get("start", 0)), "end": float(c.get("end", 0)), "title": str(c.get("title") or "")} for c in given]
    if not segments:
        return []
    cuts = [0]
    if vectors is not None and len(segments) >= 3:
        sims = np.array([float(vectors[i] @ vectors[i - 1]) for i in range(1, len(segments))])
        mean, std = float(sims.mean()), float(sims.std())
        for i in range(1, len(segments)):
            sim = sims[i - 1]
            if sim < mean - std or (segments[i].scene_change and sim < mean):
                if i - cuts[-1] >= 1:
                    cuts.append(i)
    bounds = cuts + [len(segments)]
    chapters: list[dict] = []
    for a, b in zip(bounds, bounds[1:]):
        run = segments[a:b]
        title_keywords = aggregate_keywords(run, 3)
        title = ", ".join(title_keywords[:2]) if title_keywords else (split_sentences(run[0].description) or [run[0].description])[0][:60]
        chapters.append({"start": run[0].start, "end": run[-1].end, "title": title[:1].upper() + title[1:]})
    # Windows overlap, so a run's last window ends after the next run starts: a chapter ends where the next begins
    # ("00:09:20–00:10:45" then "00:10:30–…" was seen).
    for k in range(len(chapters) - 1):
        chapters[k]["end"] = min(chapters[k]["end"], chapters[k + 1]["start"])
    if shots:
        steps = sorted(b.start - a.start for a, b in zip(segments, segments[1:]) if b.start > a.start)
        chapters = snap_chapters(chapters, shots, max_shift=steps[len(steps) // 2] / 2 if steps else 0.0)
    return chapters


def shot_boundaries(shots: Sequence[Sequence[float]]) -> list[float]:
    """The inner boundaries of a Phase 1 shot list [[start, end], ...] (malformed entries ignored)."""
    starts = []
    for shot in shots:
        try:
            start = float(shot[0])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if start > 0.0 and start == start:  # not NaN
            starts.append(start)
    return sorted(set(starts))


def snap_chapters(chapters: list[dict], shots: Sequence[Sequence[float]], max_shift: float) -> list[dict]:
    """Move each chapter start (but the first) to the nearest shot boundary within `max_shift` seconds.

    Chapters come from windows, whose edges fall on a fixed grid, not where the picture changes;
    a chapter that starts on a cut plays from the new shot. A start with no boundary near keeps
    its place; a snapped start also ends the chapter before it (no overlap at a cut). The order of
    chapters is kept: a boundary must lie strictly between the neighbouring chapters' starts.
    """
    bounds = shot_boundaries(shots)
    if not bounds or max_shift <= 0 or len(chapters) < 2:
        return chapters
    out = [dict(c) for c in chapters]
    for i in range(1, len(out)):
        start = float(out[i]["start"])
        lo = float(out[i - 1]["start"])
        hi = float(out[i + 1]["start"]) if i + 1 < len(out) else float(out[i]["end"])
        near = [b for b in bounds if abs(b - start) <= max_shift and lo < b < hi]
        if near:
            snapped = min(near, key=lambda b: abs(b - start))
            out[i]["start"] = snapped
            out[i - 1]["end"] = snapped
    return out


class ExtractiveSummarizer:
    """CPU default: the most central sentences of the window descriptions (a LexRank-style degree
    centrality over sentence embeddings), in video order; keywords aggregated; majority content type."""

    name = "extractive"

    def __init__(self, embedder: Embedder, max_sentences: int = 6):
        self.embedder = embedder
        self.model = f"centrality+{getattr(embedder, 'name', 'embedder')}"
        self.max_sentences = max_sentences

    def summarize(self, video: SummaryInput) -> VideoSummary:
        sentences: list[str] = []
        seen: set[str] = set()
        for seg in video.segments:
            for sentence in split_sentences(seg.description) or ([seg.description] if seg.description else []):
                key = re.sub(r"\W+", " ", sentence.lower()).strip()
                if key and key not in seen:  # overlapping windows repeat sentences
                    seen.add(key)
                    sentences.append(sentence)
        seg_vectors = self.embedder.embed_passages([s.description for s in video.segments]) if video.segments else None
        chapters = make_chapters(video.segments, seg_vectors, video.chapters, video.shots)
        if not sentences:
            summary = "No description is available for this video."
        else:
            vectors = self.embedder.embed_passages(sentences)
            sims = vectors @ vectors.T
            centrality = sims.sum(axis=1) - 1.0
            picked: list[int] = []
            for i in np.argsort(-centrality):
                if all(sims[i, j] < 0.95 for j in picked):
                    picked.append(int(i))
                if len(picked) == self.max_sentences:
                    break
            ordered = [sentences[i] for i in sorted(picked)]
            paragraphs = [" ".join(ordered[k : k + 3]) for k in range(0, len(ordered), 3)]
            summary = "\n\n".join(paragraphs)
        return VideoSummary(summary, aggregate_keywords(video.segments), majority_content_type(video.segments), chapters, self.name, self.model)


SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "keywords": {"type": "array", "items": {"type": "string"}, "maxItems": 15},
        "content_type": {"type": "string"},
    },
    "required": ["summary", "keywords", "content_type"],
    "additionalProperties": False,
}


def _clock(seconds: float) -> str:
    return clock(seconds, "h:mm:ss")


def moment_lines(segments: Sequence[SegmentText]) -> list[str]:
    return [f"[{_clock(s.start)}–{_clock(s.end)}] {s.description}" + (f" (keywords: {', '.join(s.keywords[:6])})" if s.keywords else "")
            for s in segments]


class LLMSummarizer:
    """Text prompts to a chat model through `chat(messages, schema) -> str` (the openai or vllm
    backend); map-reduce when the moments do not fit into `summary_chunk_chars`."""

    def __init__(self, name: str, model: str, chat, settings: Settings | AnalysisOptions, embedder: Embedder):
        self.name, self.model, self._chat, self.embedder = name, model, chat, embedder
        self.options = analysis_options(settings)

    def _ask_json(self, prompt: str) -> dict:
        from vtdb.analyzers.schema import extract_json_object

        messages = [{"role": "system", "content": "You summarize videos for a search catalogue. Answer with one JSON object."},
                    {"role": "user", "content": prompt}]
        last = ""
        for _ in range(2):
            text = self._chat(messages, SUMMARY_SCHEMA)
            obj = extract_json_object(text)
            if obj and isinstance(obj.get("summary"), str) and obj["summary"].strip():
                keywords = obj.get("keywords")
                if isinstance(keywords, str):
                    keywords = [k.strip() for k in keywords.split(",")]
                return {"summary": obj["summary"].strip(), "keywords": [str(k) for k in (keywords or []) if str(k).strip()][:15],
                        "content_type": str(obj.get("content_type") or "").strip().lower()}
            # An answer cut off at the token limit: keep its summary text if that much came through.
            partial = _PARTIAL_SUMMARY.search(text or "")
            if partial and len(partial.group(1).strip()) > 40:
                try:
                    salvaged = json.loads(f'"{partial.group(1)}"')
                except ValueError:
                    salvaged = partial.group(1)
                return {"summary": salvaged.strip(), "keywords": [], "content_type": ""}
            last = text[:200]
        raise RuntimeError(f"the summarizer model gave no usable JSON twice (last answer starts {last!r})")

    def summarize(self, video: SummaryInput) -> VideoSummary:
        lines = moment_lines(video.segments)
        budget = self.options.summary_chunk_chars
        chunks: list[list[str]] = [[]]
        for line in lines:
            if chunks[-1] and sum(len(x) for x in chunks[-1]) + len(line) > budget:
                chunks.append([])
            chunks[-1].append(line)
        head = (f"Video: {video.title}\nDescription: {video.description or '(none)'}\n"
                f"Write in {language_name(video.output_language)}. Content types: {', '.join(self.options.content_types)}.\n")
        partials = []
        if len(chunks) > 1:  # map: one partial summary per chunk
            for k, chunk in enumerate(chunks, 1):
                part = self._ask_json(head + f"Part {k} of {len(chunks)} of the video's moments:\n" + "\n".join(chunk) +
                                      "\nReturn JSON with a 3-5 sentence 'summary' of this part, 'keywords' and 'content_type'.")
                partials.append(part)
            material = "Summaries of the video's parts, in order:\n" + "\n".join(f"- {p['summary']}" for p in partials)
        else:
            material = "The video's moments:\n" + "\n".join(chunks[0])
        final = self._ask_json(head + material + "\nReturn JSON: 'summary' (two or three paragraphs on what the whole video shows "
                               "and teaches), 'keywords' (up to 12) and 'content_type' (one of the content types).")
        keywords = final["keywords"] or aggregate_keywords(video.segments)
        content_type = final["content_type"] if final["content_type"] in self.options.content_types else majority_content_type(video.segments)
        vectors = self.embedder.embed_passages([s.description for s in video.segments]) if video.segments else None
        return VideoSummary(final["summary"], keywords, content_type, make_chapters(video.segments, vectors, video.chapters, video.shots), self.name, self.model)
