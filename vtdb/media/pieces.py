"""Whisper over pieces of speech: every decoded word goes back to the piece of audio it was heard in.

faster-whisper's batched pipeline joins the speech of a whole stretch of audio (up to 30 s of it, however far
apart) into one item; without word timestamps a segment of that item spans everything between its first and
last phrase (one translated "sentence" from 5 s to 217 s). Here the speech is cut into pieces at pauses
(VAD), the pieces are packed into items of at most 27 s with a short silence between them, and the decoded
words are mapped back through that packing: each piece gets the words heard in it, at their own times. A
piece that comes back empty from a packed item (Whisper sometimes skips one) is decoded again, packed, then alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from vtdb.media.audio import AudioSignal

SAMPLE_RATE = 16000
ITEM_S = 27.0  # Whisper's window is 30 s; speech ending at its very end was often dropped
PIECE_MAX_S = 27.0  # a piece fits an item
PAD_S = 0.4  # silence kept around the speech of a piece (at most half the pause to the next one)
# An item starts this close before its first piece's speech: the batched pipeline makes Whisper begin at
# timestamp 0, and with 0.4 s of silence first it skipped the first piece of most items (measured: 3 of 4).
LEAD_S = 0.1
JOIN_GAP_S = 1.0  # speech chunks closer than this stay one piece (the pause between them is kept)
SEPARATOR_S = 0.5  # silence put between pieces packed into one item
RETRY_ROUNDS = 2  # pieces a packed item left without words: packed again, then each alone
ITEM_START_SLACK_S = 0.05  # less than any item, more than faster-whisper's rounding of segment times
BATCHES_PER_CALL = 8  # batches of items given to one call of the batched pipeline (see decode_pieces)


@dataclass(frozen=True)
class Piece:
    start: float  # seconds in the original audio (with a little of the silence around the speech)
    end: float
    speech: float = 0.0  # seconds of speech in it (VAD, unpadded); 0 = unknown (no VAD)
    onset: float = -1.0  # where its speech begins (VAD, unpadded); -1 = unknown

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class PieceWord:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class PieceSegment:
    """The words of one Whisper segment that lie in one piece, in original time, with the segment's scores."""

    piece: int
    start: float
    end: float
    text: str
    words: list[PieceWord] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0


# Silero VAD carries its state through the whole file, and a long steady sound wears it out: after 40 s of a
# tone or a sine sweep it heard none of the speech that followed (issue 25's archive set; with 5 s of the tone
# before it, it did). Stretches of VAD_RECHECK_GAP_S or more where the pass over the whole file heard nothing are
# listened to again in short overlapping blocks, each with a fresh state. Silero runs at ~0.4 % of real time
# here, so this adds at most that again, on silence only.
VAD_BLOCK_S = 8.0
VAD_BLOCK_STEP_S = 4.0
VAD_RECHECK_GAP_S = 8.0
VAD_RECHECK_WIDEN_S = 0.6


# The first pass runs over blocks of at most VAD_STREAM_BLOCK_S, read one at a time, so a long file is never
# whole in memory (20 min of float32 is 77 MB; Silero's own copies take about twice that again). Neighbouring
# blocks overlap by VAD_STREAM_OVERLAP_S, more than the longest chunk (PIECE_MAX_S), so speech across an edge
# is heard whole by one of them; each block's chunks in the outer half of an overlap are left to its neighbour
# (which hears them further from its fresh start), and what is kept from both is joined below.
VAD_STREAM_BLOCK_S = 20 * 60.0
VAD_STREAM_OVERLAP_S = 30.0


def _speech_in_blocks(audio: AudioSignal, options) -> list[tuple[int, int]]:
    """Silero's speech chunks (samples) over `audio`, block by block; one block when it fits in one (the same
    call as over the whole signal)."""
    from faster_whisper.vad import get_speech_timestamps

    total = len(audio)
    block = int(VAD_STREAM_BLOCK_S * SAMPLE_RATE)
    if total <= block:
        return [(c["start"], c["end"]) for c in get_speech_timestamps(audio[:], options)]
    overlap = int(VAD_STREAM_OVERLAP_S * SAMPLE_RATE)
    found: list[tuple[int, int]] = []
    for b0 in range(0, total - overlap, block - overlap):
        b1 = min(b0 + block, total)
        keep_from = b0 + overlap // 2 if b0 > 0 else 0
        keep_to = b1 - overlap // 2 if b1 < total else total
        found += [(b0 + c["start"], b0 + c["end"]) for c in get_speech_timestamps(audio[b0:b1], options)
                  if b0 + c["end"] > keep_from and b0 + c["start"] < keep_to]
    return sorted(found)


def vad_chunks(audio: AudioSignal, max_chunk_s: float) -> list[dict[str, int]]:
    """Speech chunks ({"start", "end"} in samples, in order, none longer than `max_chunk_s`): Silero VAD over the
    audio (in long blocks), and again in fresh short blocks over the long stretches where it heard nothing. A
    chunk found only by the short blocks has "recheck": 1: its length says little (after a tone, 0.1 s of a 0.8 s
    word was heard)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=160, speech_pad_ms=0, max_speech_duration_s=max_chunk_s)
    found = _speech_in_blocks(audio, options)
    # Overlapping blocks can find the same speech twice: the gaps are between the joined chunks.
    joined: list[list[int]] = []
    for start, end in found:
        if joined and start <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    edges = [0, *[x for chunk in joined for x in chunk], len(audio)]
    block, step = int(VAD_BLOCK_S * SAMPLE_RATE), int(VAD_BLOCK_STEP_S * SAMPLE_RATE)
    widen = int(VAD_RECHECK_WIDEN_S * SAMPLE_RATE)
    extra: list[tuple[int, int]] = []
    for gap_start, gap_end in zip(edges[::2], edges[1::2]):
        if gap_end - gap_start < VAD_RECHECK_GAP_S * SAMPLE_RATE:
            continue
        for b0 in range(gap_start, max(gap_end - step, gap_start + 1), step):
            b1 = min(b0 + block, gap_end)
            # Widened: the re-check hears only part of a word (0.1 s of "nevermind" after the tone).
            extra += [(max(gap_start, b0 + c["start"] - widen), min(gap_end, b0 + c["end"] + widen))
                      for c in get_speech_timestamps(audio[b0:b1], options)]
    limit = int(max_chunk_s * SAMPLE_RATE)
    chunks: list[dict[str, int]] = []
    marked = [(start, end, 0) for start, end in found] + [(start, end, 1) for start, end in extra]
    for start, end, recheck in sorted(marked):  # the blocks overlap: join what overlaps, then cut to the limit
        if chunks and start <= chunks[-1]["end"]:
            chunks[-1]["end"] = max(chunks[-1]["end"], end)
            chunks[-1]["recheck"] |= recheck
        else:
            chunks.append({"start": start, "end": end, "recheck": recheck})
    out = []
    for chunk in chunks:
        for a in range(chunk["start"], chunk["end"], limit):
            out.append({"start": a, "end": min(a + limit, chunk["end"]), "recheck": chunk["recheck"]})
    return out


def speech_pieces(audio: AudioSignal, vad: bool) -> list[Piece]:
    """The speech of `audio` as pieces of at most PIECE_MAX_S, cut at pauses of JOIN_GAP_S or more
    (Silero VAD, as faster-whisper's batched pipeline runs it); without VAD, consecutive pieces covering it all."""
    duration = len(audio) / SAMPLE_RATE
    if not vad:
        pieces, start = [], 0.0
        while start < duration:
            pieces.append(Piece(round(start, 3), round(min(start + PIECE_MAX_S, duration), 3)))
            start += PIECE_MAX_S
        return pieces
    chunks = vad_chunks(audio, PIECE_MAX_S - 2 * PAD_S)
    merged: list[list[float]] = []  # [start, end, speech seconds, found only by the re-check (1) or not (0)]
    for chunk in chunks:
        start, end = chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE
        if merged and start - merged[-1][1] < JOIN_GAP_S and end - merged[-1][0] <= PIECE_MAX_S - 2 * PAD_S:
            merged[-1][1] = end
            merged[-1][2] += end - start
            merged[-1][3] = max(merged[-1][3], chunk.get("recheck", 0))
        else:
            merged.append([start, end, end - start, chunk.get("recheck", 0)])
    pieces = []
    for k, (start, end, speech, recheck) in enumerate(merged):
        before = merged[k - 1][1] if k else -PAD_S  # the file's start is no neighbour: keep its first PAD_S
        after = merged[k + 1][0] if k + 1 < len(merged) else duration
        # Speech heard only by the re-check: its length is not known (0), so no invented-text test leans on it.
        pieces.append(Piece(round(max(start - PAD_S, (start + before) / 2, 0.0), 3),
                            round(min(end + PAD_S, (end + after) / 2, duration), 3), 0.0 if recheck else round(speech, 3),
                            round(start, 3)))
    return pieces


@dataclass
class _Item:
    pieces: list[int]  # indices into the piece list
    offsets: list[float]  # where each piece starts inside the item (s)
    length: float = 0.0
    cut: float = 0.0  # seconds of silence left out before the first piece's speech (LEAD_S)

    def skipped(self, k: int) -> float:
        """Seconds of the k-th piece's start that are not in the item."""
        return self.cut if k == 0 else 0.0


def _new_item(piece: Piece, i: int) -> _Item:
    cut = max(0.0, round(piece.onset - LEAD_S - piece.start, 3)) if piece.onset >= 0 else 0.0
    return _Item([i], [0.0], piece.duration - cut, cut)


def pack(pieces: list[Piece], which: list[int]) -> list[_Item]:
    """Pieces (in order) into items of at most ITEM_S, SEPARATOR_S of silence between neighbours."""
    items: list[_Item] = []
    for i in which:
        piece = pieces[i]
        last = items[-1] if items else None
        if last is not None and last.length + SEPARATOR_S + piece.duration <= ITEM_S:
            last.offsets.append(last.length + SEPARATOR_S)
            last.pieces.append(i)
            last.length += SEPARATOR_S + piece.duration
        else:
            items.append(_new_item(piece, i))
    return items


def _item_audio(audio: AudioSignal, pieces: list[Piece], item: _Item) -> np.ndarray:
    out = np.zeros(int(round(item.length * SAMPLE_RATE)) + 1, dtype=np.float32)
    for k, (i, offset) in enumerate(zip(item.pieces, item.offsets)):
        part = audio[int((pieces[i].start + item.skipped(k)) * SAMPLE_RATE): int(pieces[i].end * SAMPLE_RATE)]
        at = int(round(offset * SAMPLE_RATE))
        out[at: at + len(part)] = part[: len(out) - at]
    return out


def _piece_at(item: _Item, pieces: list[Piece], t: float) -> int:
    """The position (in item.pieces) of the piece holding item time `t`, or the nearest one."""
    best, best_distance = 0, float("inf")
    for k, (i, offset) in enumerate(zip(item.pieces, item.offsets)):
        end = offset + pieces[i].duration - item.skipped(k)
        distance = 0.0 if offset <= t <= end else min(abs(t - offset), abs(t - end))
        if distance < best_distance:
            best, best_distance = k, distance
    return best


def _original(piece: Piece, t: float) -> float:
    """A time inside a piece (relative to its start in its item) as a time of the original audio."""
    return round(min(max(piece.start + t, piece.start), piece.end), 3)


def _segments_of_item(item: _Item, pieces: list[Piece], segments, offset: float) -> list[PieceSegment]:
    """Whisper's segments of one item (times relative to `offset`) as PieceSegments in original time."""
    out: list[PieceSegment] = []
    for seg in segments:
        groups: dict[int, list[PieceWord]] = {}
        order: list[int] = []
        for w in seg.words or []:
            middle = (w.start + w.end) / 2 - offset
            k = _piece_at(item, pieces, middle)
            piece, shift = pieces[item.pieces[k]], offset + item.offsets[k] - item.skipped(k)
            if k not in groups:
                groups[k] = []
                order.append(k)
            groups[k].append(PieceWord(_original(piece, w.start - shift), _original(piece, w.end - shift), w.word,
                                       round(float(w.probability), 4)))
        if not seg.words and seg.text.strip():  # no word timing: the segment goes by its middle
            k = _piece_at(item, pieces, (seg.start + seg.end) / 2 - offset)
            piece = pieces[item.pieces[k]]
            out.append(PieceSegment(item.pieces[k], piece.start, piece.end, seg.text.strip(), [],
                                    float(seg.avg_logprob), float(seg.no_speech_prob), float(seg.compression_ratio)))
        for k in order:
            words = groups[k]
            text = "".join(w.word for w in words).strip()
            if text:
                out.append(PieceSegment(item.pieces[k], words[0].start, words[-1].end, text, words,
                                        float(seg.avg_logprob), float(seg.no_speech_prob), float(seg.compression_ratio)))
    return out


class EncoderCache:
    """Whisper's encoder output per batch of items, kept for a second task over the same items.

    Transcription and translation decode the same items; the encoder pass is the larger part of the cost on a
    CPU (about half of a batched transcription of `base`), so the translation reuses it. Keyed by the
    features themselves (a hash), so a batch that differs is simply encoded; bounded by `budget_mb`, after
    which batches are encoded again rather than kept. Stands in for the WhisperModel in faster-whisper's
    batched pipeline, which calls `model.encode(features)` once per batch.
    """

    def __init__(self, model, budget_mb: float = 512.0):
        self._model = model
        self._budget = budget_mb * 1e6
        self._used = 0.0
        self._outputs: dict[bytes, object] = {}
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def encode(self, features, *args, **kwargs):
        import hashlib

        array = np.ascontiguousarray(features)
        key = hashlib.blake2b(array.tobytes(), digest_size=16).digest() + repr(array.shape).encode()
        if key in self._outputs:
            self.hits += 1
            return self._outputs[key]
        self.misses += 1
        output = self._model.encode(features, *args, **kwargs)
        size = float(np.prod(output.shape)) * 4
        if self._used + size <= self._budget:
            self._outputs[key] = output
            self._used += size
        return output

    def clear(self) -> None:
        self._outputs.clear()
        self._used = 0.0


def decode_pieces(model, audio: AudioSignal, pieces: list[Piece], *, task: str, language: str | None, beam_size: int,
                  batch_size: int, progress: Callable[[float], None] | None = None,
                  encoder: EncoderCache | None = None) -> list[PieceSegment]:
    """Decode `pieces` of `audio` with a loaded faster_whisper.WhisperModel (batched when batch_size > 0; the
    batched pipeline encodes through `encoder` when given), word timestamps on; returns the segments per
    piece in original time, in time order."""
    options = dict(language=language, task=task, beam_size=beam_size, condition_on_previous_text=False,
                   word_timestamps=True, without_timestamps=False)
    results: list[PieceSegment] = []
    todo = list(range(len(pieces)))
    first_items = 0
    reached = [0.0]

    def report(t: float) -> None:  # progress only moves forward (a retry goes back to earlier pieces)
        if progress and t > reached[0]:
            reached[0] = t
            progress(t)

    for round_ in range(1 + RETRY_ROUNDS):
        if not todo:
            break
        # Whisper skips a piece of a packed item now and then (most often its first: it starts at a later
        # phrase). Such pieces are packed again (they are few: one item or two), and what is still left
        # without words is decoded alone, at most as many pieces as the first round had items.
        items = pack(pieces, todo) if round_ < RETRY_ROUNDS else [_new_item(pieces[i], i) for i in todo]
        first_items = first_items or len(items)
        found: list[PieceSegment] = []
        if batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            # The items back to back in one signal, each given as a clip: one batch item per clip, times
            # relative to the signal (faster-whisper restores nothing when clips are given). A few batches per
            # call (the pipeline makes every clip's features before it decodes any): memory stays that of a
            # few batches however long the speech; whole batches, so they are the ones one call would make.
            per_call = batch_size * BATCHES_PER_CALL
            for first in range(0, len(items), per_call):
                group = items[first: first + per_call]
                starts, parts, at = [], [], 0.0
                for item in group:
                    part = _item_audio(audio, pieces, item)
                    starts.append(at)
                    parts.append(part)
                    at += len(part) / SAMPLE_RATE
                signal = np.concatenate(parts)
                clips = [{"start": s, "end": s + len(p) / SAMPLE_RATE} for s, p in zip(starts, parts)]
                del parts
                segments, _info = BatchedInferencePipeline(model=encoder or model).transcribe(
                    signal, clip_timestamps=clips, batch_size=batch_size, vad_filter=False, **options)
                by_item: list[list] = [[] for _ in group]
                for seg in segments:
                    # A segment's start can lie a few ms before its clip's (faster-whisper rounds it: 52.94 for a
                    # clip at 52.944); with 1 ms of slack such a segment went to the item before, with its words.
                    index = max(0, int(np.searchsorted(starts, float(seg.start) + ITEM_START_SLACK_S, side="right")) - 1)
                    by_item[index].append(seg)
                    report(pieces[group[index].pieces[-1]].end)
                for item, start, segs in zip(group, starts, by_item):
                    found += _segments_of_item(item, pieces, segs, start)
        else:
            for item in items:
                segs, _info = model.transcribe(_item_audio(audio, pieces, item), vad_filter=False, **options)
                found += _segments_of_item(item, pieces, list(segs), 0.0)
                report(pieces[item.pieces[-1]].end)
        results += found
        heard = {s.piece for s in found}
        missing = [i for item in items if len(item.pieces) > 1 for i in item.pieces if i not in heard]
        todo = sorted(sorted(missing, key=lambda i: -pieces[i].duration)[:max(4, first_items)])
    results.sort(key=lambda s: (s.start, s.piece))
    return results
