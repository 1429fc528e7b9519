"""Shot boundaries (PySceneDetect's detectors) and frame sampling that keeps off transitions.

One sequential decoding pass (PyAV, skipping the frames no other frame needs: about half of them)
feeds about 12 frames a second, shrunk to `detect_width` pixels wide, to a PySceneDetect detector
(AdaptiveDetector by default: a content score compared with its neighbours, so camera motion does
not cut), and can keep the
frames asked for at sample times from the same pass (`scan_video`), so Phase 1 need not seek
again (bench/shots.py measures both).

The detectors score hue, saturation and brightness changes. Hue is undefined on grey pixels: there, film
grain or compression noise in the colour planes turns it into random numbers that change with every new
noise pattern. On black-and-white or desaturated footage with grain that made every frame score high (a real
cut no longer stood out: missed) and every keyframe that refreshes the grain score higher still (a VP9 or
HEVC keyframe every 2 s: a false cut each time). So pixels with almost no colour are made exactly grey before
scoring (`_core_chroma`): their hue and saturation read 0 and only their brightness counts.

Gradual transitions (a crossfade, a fade through black) spread their change over many frames;
the detectors see many small steps or none. A separate cheap measure finds them: the change over
`fade_span` seconds (thumbnail now vs thumbnail then) is large while no single step is. A fade is
reported once, as one boundary at its middle, with its extent kept so samples can avoid it.

Only `opencv-python-headless` may provide `cv2` here: scenedetect is installed with --no-deps
(scripts/setup.sh), because its declared `opencv-python` would overwrite the same `cv2` folder.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vtdb.media.video import (
    Frame,
    PermanentMediaError,
    Picture,
    SequentialFrames,
    TruncatedMediaError,
    encode_jpeg,
    fit_within,
    frame_to_bgr,
)

# Measured on ffmpeg-made videos (bench/shots.py, tests/test_shots.py): hard cuts between lavfi
# sources score 40-130 on ContentDetector's scale; motion inside a shot stays under ~15.
DETECT_WIDTH = 256
FADE_SPAN = 0.5  # seconds over which a gradual transition is measured
FADE_MIN_CHANGE = 24.0  # mean |thumbnail(t) - thumbnail(t - FADE_SPAN)| (0-255) for a gradual transition
MIN_SHOT = 0.6  # seconds: no two boundaries closer than this
# Pixels whose max - min over B, G, R (0-255) is below this are scored as grey. Grain on grey footage reaches
# 20-30 there (16 and 24 still missed cuts in tests/test_shot_codecs.py's clips, and heavier grain); skin, sky
# and foliage are at 40 and more, so the hue of what a viewer sees as colour still counts.
CHROMA_CORE = 32
ANALYSIS_FPS = 12.0  # frames per second scored: a cut is placed within 1/12 s, well inside the 0.2 s asked for


def analysis_step(fps: float) -> int:
    """Analyse every step-th frame: 25/30 fps -> 2, 50/60 fps -> 4/5, 15 fps or less -> every frame."""
    return max(1, int(fps / ANALYSIS_FPS)) if fps > 0 else 1


@dataclass(frozen=True)
class Shot:
    start: float
    end: float


@dataclass(frozen=True)
class Transition:
    """Where a shot change happens: a cut (start == end, about one frame) or a fade (its extent)."""

    time: float  # the boundary (a cut's frame, a fade's middle)
    start: float
    end: float
    kind: str  # "cut" | "fade"


@dataclass
class ScanResult:
    shots: list[Shot]
    transitions: list[Transition]
    frames: list[Frame] = field(default_factory=list)  # in the order of the times asked for
    frames_decoded: int = 0


def _offsets(margin: float) -> tuple[float, ...]:
    if margin <= 0:
        return (0.0,)
    return (0.0, -2 * margin, 2 * margin, -(1.0 + margin), 1.0 + margin)


def _detector(kind: str, fps: float):
    from scenedetect import AdaptiveDetector, ContentDetector

    min_len = max(1, round(MIN_SHOT * (fps or 25.0)))
    if kind == "adaptive":
        return AdaptiveDetector(min_scene_len=min_len)
    if kind == "content":
        return ContentDetector(min_scene_len=min_len)
    raise ValueError(f"unknown shot detector {kind!r} (use 'adaptive' or 'content')")


def shots_from_boundaries(boundaries: Sequence[float], duration: float) -> list[Shot]:
    edges = [0.0] + [b for b in sorted(boundaries) if 0.0 < b < duration] + [duration]
    return [Shot(round(a, 3), round(b, 3)) for a, b in zip(edges, edges[1:]) if b > a]


def scan_video(
    path: Path,
    sample_times: Sequence[float] = (),
    *,
    detector: str = "adaptive",
    detect_width: int = DETECT_WIDTH,
    max_side: int = 768,
    quality: int = 85,
    margin: float = 0.0,
    duration: float | None = None,
    progress: Callable[[float, float], None] | None = None,
    skip_nonreference: bool = True,
) -> ScanResult:
    """Shots and transitions of a video in one sequential pass, plus JPEG frames at `sample_times`.

    With `margin` > 0, each sample is taken from one of five candidate frames (t, t -/+ 2*margin,
    t -/+ (1 s + margin), clamped to the video): the nearest one at least `margin` from every
    transition, so no stored frame sits on a cut or inside a fade (up to ~2 s long). The
    transitions are known only after the pass, so the candidates are kept until then (five
    small JPEGs per sample). A candidate is served by the first frame decoded at or after it.

    `skip_nonreference` lets the decoder drop the frames nothing depends on (vtdb.media.video.
    SequentialFrames): about half the decoding, and a cut is still placed within a few frames.

    With `duration` (the video stream's length from the probe), frames that stop well before it
    are an error, as in `extract_frames`: the file is truncated or damaged.
    """
    with SequentialFrames(path, skip_nonreference=skip_nonreference) as video:
        scan = _Pass(video, sample_times, detector, detect_width, max_side, quality, margin)
        total = video.duration
        for t, frame in video:
            scan.add(t, frame)
            if progress is not None and video.decoded % 250 == 0:
                progress(t, total)
        duration = scan.finish(path, duration)
        decoded = video.decoded
    transitions = _transitions(sorted(set(scan.cuts)), scan.fades.finish())
    shots = shots_from_boundaries([tr.time for tr in transitions], duration)
    return ScanResult(shots, transitions, _pick_frames(sample_times, scan, transitions, duration, margin), decoded)


class _Pass:
    """What `scan_video`'s one pass keeps while it decodes: the detector's cuts, the fade measure, and the stored
    candidate frames of each sample (`got`, keyed by (candidate time, sample number))."""

    def __init__(self, video: SequentialFrames, sample_times: Sequence[float], detector: str, detect_width: int,
                 max_side: int, quality: int, margin: float):
        self.video, self.fps = video, video.fps
        self.det = _detector(detector, self.fps)
        self.detect_width, self.max_side, self.quality = detect_width, max_side, quality
        # Analyse about ANALYSIS_FPS frames a second: a decoded frame is scored once the one before is
        # (step - 1/2) frames back (every frame decoded: every step-th; non-reference frames skipped: most).
        self.spacing = (analysis_step(self.fps) - 0.5) / self.fps
        # Candidate times -> frames; each candidate is served by the first decoded frame at or after it.
        self.offsets = _offsets(margin)
        self.wanted = sorted({(max(0.0, float(t) + o), k) for k, t in enumerate(sample_times) for o in self.offsets})
        self.got: dict[tuple[float, int], Frame] = {}
        self.next_i = 0  # the first candidate of `wanted` not served yet
        # Samples in time order; those before `released` hold only their own candidate (no transition near).
        self.by_time = sorted((float(t), k) for k, t in enumerate(sample_times))
        self.released, self.next_release = 0, 0.0
        self.cuts: list[float] = []
        self.fades = FadeMeasure(self.fps)
        self.small_size: tuple[int, int] | None = None
        self.stored_size = (0, 0)  # set from the first frame
        self.picture = Picture()
        self.last_frame = None
        self.last_t = 0.0
        self.analysed_t = float("-inf")

    def add(self, t: float, frame) -> None:
        """One decoded frame: sized (the first), scored (about ANALYSIS_FPS a second), stored for the candidates it
        serves; once a second, the alternates of the samples that are settled clear of transitions are dropped."""
        if self.small_size is None:
            self._size_from(frame)
        if t - self.analysed_t >= self.spacing:
            self.analysed_t = t
            self._analyse(t, frame)
        self._serve(t, frame)
        if self.offsets[1:] and t >= self.next_release:
            self.next_release = t + 1.0
            self.released = _release_alternates(self.by_time, self.released, t, self.offsets, self.got, self.cuts, self.fades)
        self.last_frame, self.last_t = frame, t

    def _size_from(self, frame) -> None:
        w, h = frame.width, frame.height
        dw = self.detect_width
        self.small_size = (dw, max(2, round(h * dw / w / 2) * 2)) if w > dw else (w, h)
        # The detectors score the coded picture (turning or widening it changes no score); stored frames
        # are what a viewer sees: turned, at the display aspect, deinterlaced (vtdb.media.video.Picture).
        self.picture = self.video.picture
        self.stored_size = fit_within(*self.picture.display_size(w, h), self.max_side)

    def _analyse(self, t: float, frame) -> None:
        from scenedetect import FrameTimecode

        assert self.small_size is not None
        small = frame_to_bgr(frame, *self.small_size)
        self.cuts += [c.seconds for c in self.det.process_frame(FrameTimecode(round(t * self.fps), self.fps), _core_chroma(small))]
        self.fades.add(t, _fade_thumb(small))

    def _serve(self, t: float, frame) -> None:
        stored = None  # one JPEG per decoded frame, however many candidates it serves
        while self.next_i < len(self.wanted) and self.wanted[self.next_i][0] <= t + 0.5 / self.fps:
            stored = stored or _stored(frame, t, self.stored_size, self.quality, self.picture)
            self.got[self.wanted[self.next_i]] = stored
            self.next_i += 1

    def finish(self, path: Path, duration: float | None) -> float:
        """The detector's last cuts; the decoded length (an error when it stops well before `duration`, the
        probed length); candidates past the last decodable frame (a rounding at the very end) take that frame."""
        from scenedetect import FrameTimecode

        if self.last_frame is None:
            raise PermanentMediaError(f"{path}: no frame could be decoded (damaged file or unsupported codec)")
        fps, last_t = self.fps, self.last_t
        self.cuts += [c.seconds for c in self.det.post_process(FrameTimecode(round(last_t * fps), fps))]
        if duration and last_t < duration - max(1.0, 2.0 / fps):
            why = "a packet there does not decode" if self.video.damaged else "the file ends there"
            raise TruncatedMediaError(path, last_t, duration, why)
        if self.next_i < len(self.wanted):
            last = _stored(self.last_frame, last_t, self.stored_size, self.quality, self.picture)
            for key in self.wanted[self.next_i :]:
                self.got[key] = last
        return last_t + 1.0 / fps


def _pick_frames(sample_times: Sequence[float], scan: _Pass, transitions: list[Transition], duration: float,
                 margin: float) -> list[Frame]:
    """Each sample's frame: the nearest of its candidates clear of transitions; else the one farthest from them."""
    got = scan.got
    frames: list[Frame] = []
    for k, t in enumerate(sample_times):
        candidates = [c for c in ((max(0.0, float(t) + o), k) for o in scan.offsets) if c in got]  # (alternates released)
        candidates = [c for c in candidates if c[0] <= duration] or candidates[:1]
        # Both the time asked for and that of the frame serving it (up to a few skipped frames later) must be clear.
        def distance(c: tuple[float, int]) -> float:
            return min(distance_to_transitions(c[0], transitions), distance_to_transitions(got[c].time, transitions))

        clear = [c for c in candidates if distance(c) >= margin]
        best = min(clear, key=lambda c: abs(c[0] - t)) if clear else max(candidates, key=distance)
        fr = got[best]
        # Reported at the time asked for (t, or t moved off a transition), as seeking reports it.
        frames.append(Frame(round(best[0], 3) if best[0] != max(0.0, float(t)) else float(t), fr.jpeg, fr.width, fr.height))
    return frames


# How long after a moment the detector and the fade measure may still report a transition at it (AdaptiveDetector
# decides a few analysed frames later; a fade's span ends FADE_SPAN after its change): generous, it costs only the
# candidates held meanwhile.
SETTLE_S = 3.0


def _release_alternates(by_time: list[tuple[float, int]], released: int, now: float, offsets: tuple[float, ...],
                        got: dict[tuple[float, int], Frame], cuts: list[float], fades: "FadeMeasure") -> int:
    """Drop the alternate candidates of samples settled by `now` with no sign of a transition near them; returns
    the new count of samples looked at.

    Each sample keeps five candidate JPEGs until the transitions are known, which was only after the whole pass:
    a 10-hour film at 768 px held ~5 x 6,000 JPEGs. The final transitions are a subset of the detector's cuts and
    of the stretches where the fade measure's change is large, so a sample with neither within reach of its
    candidates will take its own time: its alternates can go as soon as nothing more can be reported there."""
    if not fades.lag:
        return released  # the fade measure's rate is not settled yet
    reach = max(abs(o) for o in offsets)
    while released < len(by_time) and by_time[released][0] + reach + SETTLE_S < now:
        t, k = by_time[released]
        lo, hi = t - reach - 1.0, t + reach + 1.0 + FADE_SPAN
        near_cut = bisect.bisect_right(cuts, hi) > bisect.bisect_left(cuts, lo)  # the detector reports cuts in order
        a, b = bisect.bisect_left(fades.times, lo), bisect.bisect_right(fades.times, hi)
        near_fade = any(c >= FADE_MIN_CHANGE for c in fades.changes[a:b])
        if not (near_cut or near_fade):
            for o in offsets[1:]:
                got.pop((max(0.0, t + o), k), None)
        released += 1
    return released


def _core_chroma(small: np.ndarray) -> np.ndarray:
    """The BGR frame with its nearly colourless pixels (max - min < CHROMA_CORE) made exactly grey: no hue noise."""
    import cv2

    b, g, r = cv2.split(small)
    chroma = cv2.subtract(cv2.max(cv2.max(b, g), r), cv2.min(cv2.min(b, g), r))
    _, coloured = cv2.threshold(chroma, CHROMA_CORE - 1, 255, cv2.THRESH_BINARY)
    grey = cv2.cvtColor(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return cv2.copyTo(small, coloured, grey)  # the coloured pixels as they are, grey elsewhere


def _fade_thumb(small: np.ndarray) -> np.ndarray:
    """The 64x36 grey thumbnail the fade measure compares (float32, 0-255)."""
    import cv2

    return cv2.resize(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)


def _stored(frame, t: float, size: tuple[int, int], quality: int, picture: Picture) -> Frame:
    """A decoded frame as the JPEG kept for a sample (as a viewer sees it), stamped with the time it was shown."""
    jpeg, w, h = encode_jpeg(frame_to_bgr(frame, *size, fine=True, picture=picture), quality)
    return Frame(round(t, 3), jpeg, w, h)


class FadeMeasure:
    """The fade measure's numbers per analysed frame, kept as it goes: its time, the step from the frame before
    and the change over `lag` frames (about FADE_SPAN). Only the last `lag` thumbnails are held: keeping every
    9 KB thumbnail took ~390 MB over a 10-hour 1 fps file (12 fps analysed in a 25 fps film: ~4 GB).

    `lag` comes from the analysed rate, the median spacing of the first RATE_FRAMES analysed frames (the
    whole file's median before; the same on a steady stream)."""

    RATE_FRAMES = 64

    def __init__(self, fps: float):
        self.fps = fps
        self.times: list[float] = []
        self.steps: list[float] = []
        self.changes: list[float] = []  # NaN for the first `lag` frames: nothing that far back
        self.lag = 0  # 0 until the rate is known
        self.rate = fps  # frames analysed a second (known with `lag`)
        self._recent: deque[np.ndarray] = deque()
        self._waiting: list[np.ndarray] = []

    def add(self, t: float, thumb: np.ndarray) -> None:
        last = self._waiting[-1] if self._waiting else (self._recent[-1] if self._recent else None)
        self.steps.append(float(np.abs(thumb - last).mean()) if last is not None else 0.0)
        self.times.append(t)
        if self.lag:
            self._push(thumb)
            return
        self._waiting.append(thumb)
        if len(self._waiting) >= self.RATE_FRAMES:
            self._settle()

    def _settle(self) -> None:
        self.rate = 1.0 / float(np.median(np.diff(self.times))) if len(self.times) > 1 else (self.fps or 25.0)
        self.lag = max(2, round(FADE_SPAN * self.rate))
        self._recent = deque(maxlen=self.lag + 1)
        waiting, self._waiting = self._waiting, []
        for thumb in waiting:
            self._push(thumb)

    def _push(self, thumb: np.ndarray) -> None:
        self._recent.append(thumb)
        full = len(self._recent) == self.lag + 1
        self.changes.append(float(np.abs(thumb - self._recent[0]).mean()) if full else float("nan"))

    def finish(self) -> "FadeMeasure":
        if not self.lag:
            self._settle()
        return self


def _transitions(cuts: list[float], fades: FadeMeasure) -> list[Transition]:
    """Cuts from the detector plus gradual transitions (large change over FADE_SPAN, no large single step)."""
    out: list[Transition] = []
    lag, times, changes = fades.lag, fades.times, fades.changes
    steps = np.array(fades.steps)
    spans: list[tuple[int, int]] = []
    i = lag
    while i < len(changes):
        change = changes[i]
        window = steps[i - lag + 1 : i + 1]
        # Gradual: the change over the span is large, and it is spread (no one step carries half of it).
        if change >= FADE_MIN_CHANGE and window.max() < 0.5 * change:
            a = i - lag
            while i + 1 < len(changes) and changes[i + 1] >= FADE_MIN_CHANGE and steps[i + 1] < 0.5 * change:
                i += 1
            spans.append((a, i))
            i += lag
            continue
        i += 1
    for a, b in spans:
        # The span measured lags the transition by up to FADE_SPAN: tighten it to the frames that moved.
        moving = [j for j in range(a + 1, b + 1) if steps[j] > 0.25 * float(steps[a + 1 : b + 1].max())]
        s, e = (times[moving[0] - 1], times[moving[-1]]) if moving else (times[a], times[b])
        out.append(Transition(round((s + e) / 2, 3), round(s, 3), round(e, 3), "fade"))
    for c in cuts:
        if any(tr.start - MIN_SHOT / 2 <= c <= tr.end + MIN_SHOT / 2 for tr in out if tr.kind == "fade"):
            continue  # the detector's cut inside a fade: the fade is reported once
        prev = c - 1.0 / fades.rate
        out.append(Transition(round(c, 3), round(max(0.0, prev), 3), round(c, 3), "cut"))
    out.sort(key=lambda tr: tr.time)
    merged: list[Transition] = []
    for tr in out:
        if merged and tr.time - merged[-1].time < MIN_SHOT:
            continue
        merged.append(tr)
    return merged


def detect_shots(path: Path, *, detector: str = "adaptive", detect_width: int = DETECT_WIDTH) -> list[Shot]:
    """The video's shots, [Shot(start, end)], covering it from 0 to its end."""
    return scan_video(path, (), detector=detector, detect_width=detect_width).shots


def distance_to_transitions(t: float, transitions: Sequence[Transition]) -> float:
    """Seconds from t to the nearest transition (0 inside a fade or on a cut); inf with none."""
    best = float("inf")
    for tr in transitions:
        if tr.start <= t <= tr.end:
            return 0.0
        best = min(best, abs(t - tr.start), abs(t - tr.end))
    return best


def transitions_of_shots(shots: Sequence[Shot] | Sequence[Sequence[float]]) -> list[Transition]:
    """Cut transitions at the inner shot boundaries (for a shot list from the Phase 1 pickle)."""
    bounds = [float(s.start if isinstance(s, Shot) else s[0]) for s in shots][1:]
    return [Transition(b, b, b, "cut") for b in bounds]


def sample_times_off_transitions(
    times: Sequence[float],
    shots: Sequence[Shot] | Sequence[Transition] | Sequence[Sequence[float]],
    margin: float = 0.3,
    bounds: tuple[float, float] | None = None,
) -> list[float]:
    """Each time moved, as little as possible, to at least `margin` seconds from every transition.

    `shots`: Shot records or [start, end] pairs (their inner boundaries are cuts), or Transitions
    (fades keep their extent). `bounds` (a window's start and end) keeps the moved times inside it;
    a time with no such spot in bounds stays where it is. Order is kept.
    """
    transitions = [s for s in shots if isinstance(s, Transition)] or transitions_of_shots(shots)  # type: ignore[arg-type]
    lo, hi = bounds if bounds else (float("-inf"), float("inf"))
    # Forbidden intervals, merged.
    bad = sorted((tr.start - margin, tr.end + margin) for tr in transitions)
    merged: list[list[float]] = []
    for a, b in bad:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    starts = [m[0] for m in merged]
    out = []
    for t in times:
        t = float(t)
        k = bisect.bisect_right(starts, t) - 1
        if k >= 0 and merged[k][0] < t < merged[k][1]:
            a, b = merged[k]
            options = [x for x in (a, b) if lo <= x <= hi]
            t = min(options, key=lambda x: abs(x - t)) if options else t
        out.append(round(max(0.0, t), 3))
    return out


def cut_inside(shots: Sequence[Shot] | Sequence[Sequence[float]], start: float, end: float) -> bool:
    """Whether a shot boundary (a real cut or fade) falls inside [start, end): a window's scene_change."""
    bounds = [float(s.start if isinstance(s, Shot) else s[0]) for s in shots][1:]
    return any(start < b < end for b in bounds)


def shots_as_lists(shots: Sequence[Shot]) -> list[list[float]]:
    """The pickle form: [[start, end], ...] (plain data for the safe unpickler)."""
    return [[s.start, s.end] for s in shots]
