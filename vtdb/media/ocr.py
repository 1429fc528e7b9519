"""On-screen text: tesseract OCR (through tesserocr) on the sampled JPEG frames.

One `OcrReader` per run holds a loaded tesseract engine (loading the language models costs
~0.1-0.3 s, so it is never done per frame). `read_window_text` reads a window's frames and
skips a frame nearly identical to the last one read (slides and captions stay on screen for
many frames): a skipped frame reuses the last frame's lines.

Tesseract invents text on natural images (texture read as "ee", "SS", "|"). Only confident
words are kept; the thresholds below were set from the false words measured on frames with
no text (bench/ocr.py): the figures are in docs/BENCHMARKS.md and docs/PHASES.md ("On-screen text").
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from vtdb.errors import RunAborted

# Whisper's (ISO 639-1) codes -> tesseract's traineddata names, for the languages this project supports.
TESSERACT_CODES: dict[str, str] = {"en": "eng", "ru": "rus", "kk": "kaz"}
LANGUAGE_PACKS: dict[str, str] = {"eng": "tesseract-ocr-eng", "rus": "tesseract-ocr-rus", "kaz": "tesseract-ocr-kaz"}

# Measured thresholds (bench/ocr.py; docs/PHASES.md "On-screen text"). A line is kept when it has one strong
# word: 4+ letters at confidence >= MIN_WORD_CONFIDENCE, or 3 letters at >= MIN_3_LETTER_CONFIDENCE,
# in one script. Beside it, shorter words and numbers are kept at >= MIN_SHORT_WORD_CONFIDENCE.
# On text-free frames (mandelbrot, life, cellauto, gradients, noise) tesseract invented 4-letter
# words ("бегі", "Ware") and 3-letter ones up to confidence 86; numbers alone were the commonest.
MIN_WORD_CONFIDENCE = 88.0
MIN_3_LETTER_CONFIDENCE = 92.0
MIN_SHORT_WORD_CONFIDENCE = 85.0
MIN_LETTERS = 4
# Frames whose 64x36 grey thumbnails differ by less than this mean absolute value (0-255) are
# "the same picture" (a static slide: ~0-2 after JPEG noise; a caption change on the same
# background: > 3; bench/ocr.py).
SAME_FRAME_DIFF = 2.5
# Frames are read at this many pixels on the long side at least: tesseract's recall on text
# under ~20 px high drops sharply, and a 768 px frame of a 1080p video shrinks 24 px text to 17 px.
READ_MIN_SIDE = 1280

_LATIN = re.compile(r"[A-Za-z]")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)


class OcrUnavailable(RunAborted, RuntimeError):
    """tesseract or its language data is missing (a setup problem, reported once per run). The run's fault, not the
    video's: should it go missing mid-run, the runner hands the video back uncounted and stops (exit 2)."""


@dataclass(frozen=True)
class OcrWord:
    text: str
    confidence: float


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float  # mean confidence of the kept words (0-100)
    box: tuple[int, int, int, int]  # x, y, w, h in the frame's own pixels
    words: tuple[OcrWord, ...] = ()


@dataclass
class OcrStats:
    """What a reader did so far (Phase 1 puts these into the pickle's timings)."""

    frames: int = 0
    read: int = 0
    skipped: int = 0
    blank: int = 0  # frames with no detail that text could be in (black, one colour, tiny): never read
    seconds: float = 0.0

    @property
    def skipped_share(self) -> float:
        return self.skipped / self.frames if self.frames else 0.0

    @property
    def seconds_per_read(self) -> float:
        return self.seconds / self.read if self.read else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"ocr_frames": self.frames, "ocr_read": self.read, "ocr_skipped": self.skipped, "ocr_blank": self.blank,
                "ocr_s": round(self.seconds, 3), "ocr_s_per_read": round(self.seconds_per_read, 4)}


# The languages a region's screens show beside the video's own: Kazakh broadcasts show Russian and the reverse.
# Tesseract reads a letter only in a language it was given: with `rus` alone "ҚАЗАҚСТАН" came out as
# "КАЗАКСТАН" (issue 24); Kazakh's alphabet holds every Russian letter, so `kaz` beside `rus` reads both.
REGION_LANGUAGES: dict[str, tuple[str, ...]] = {"rus": ("kaz",), "kaz": ("rus",)}
# Letters that, of the languages read together, only this one writes. Tesseract picks a language per word and
# the first one wins a near tie: with rus+kaz, "ҚАЗАҚСТАН" came out as the Russian spelling "КАЗАКСТАН" while the
# Kazakh word beside it was read right. A line showing such letters is read again with that language first.
OWN_LETTERS: dict[str, frozenset[str]] = {"kaz": frozenset("ӘәІіҢңҒғҮүҰұҺһӨөҚқ")}


def tesseract_languages(language: str | None, setting: str = "auto") -> list[str]:
    """The tesseract codes to read a video's on-screen text in, the video's own first.

    `setting` is the `ocr_languages` setting: "auto" is the video's language (when tesseract knows it), its
    region's (REGION_LANGUAGES) and English (ru: rus+kaz+eng, kk: kaz+rus+eng, en: eng); anything else is
    tesseract codes joined by "+" ("rus+eng"), taken as given.
    """
    if setting and setting != "auto":
        return [code for code in setting.split("+") if code]
    codes = []
    main = TESSERACT_CODES.get((language or "").split("-")[0].lower())
    if main:
        codes += [main, *REGION_LANGUAGES.get(main, ())]
    if "eng" not in codes:
        codes.append("eng")
    return codes


# Where distributions put the traineddata files (Debian: /usr/share/tesseract-ocr/<version>/tessdata).
SYSTEM_TESSDATA_ROOTS: tuple[Path, ...] = (Path("/usr/share/tesseract-ocr"), Path("/usr/local/share/tessdata"), Path("/usr/share/tessdata"))


def tessdata_dir() -> Path | None:
    """Where the traineddata files are: $TESSDATA_PREFIX, else the system folders."""
    env = os.environ.get("TESSDATA_PREFIX")
    candidates = [Path(env), Path(env) / "tessdata"] if env else []
    for root in SYSTEM_TESSDATA_ROOTS:
        if root.is_dir():
            candidates += sorted((p / "tessdata" for p in root.iterdir() if p.is_dir()), reverse=True)
            candidates.append(root)
    return next((c for c in candidates if c.is_dir() and any(c.glob("*.traineddata"))), None)


def ocr_available(languages: Sequence[str]) -> tuple[bool, str | None]:
    """Whether OCR can run for these tesseract codes, and the one warning to show when not quite.

    (True, None): everything there. (True, warning): some language packs are missing; the others
    are read. (False, warning): no binding, no language data, or none of the needed packs.
    """
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False, "on-screen text (OCR) is off: the Python package tesserocr is missing (pip install tesserocr==2.13.0; scripts/setup.sh installs it)"
    folder = tessdata_dir()
    if folder is None:
        return False, ("on-screen text (OCR) is off: no tesseract language data found (apt-get install tesseract-ocr "
                       "tesseract-ocr-eng tesseract-ocr-rus tesseract-ocr-kaz, or set TESSDATA_PREFIX)")
    missing = [code for code in languages if not (folder / f"{code}.traineddata").is_file()]
    if not missing:
        return True, None
    packs = " ".join(LANGUAGE_PACKS.get(code, f"tesseract-ocr-{code}") for code in missing)
    present = [code for code in languages if code not in missing]
    if not present:
        return False, f"on-screen text (OCR) is off: tesseract has no data for {'+'.join(missing)} in {folder} (apt-get install {packs})"
    return True, (f"tesseract has no data for {'+'.join(missing)} in {folder}: on-screen text is read in "
                  f"{'+'.join(present)} only (apt-get install {packs})")


def _script_ok(word: str) -> bool:
    # Tesseract with mixed Latin+Cyrillic models reads Cyrillic as Latin look-alikes ("a3aKCTAH");
    # a real word is in one script.
    return not (_LATIN.search(word) and _CYRILLIC.search(word))


def _letters(word: str) -> int:
    return sum(ch.isalpha() for ch in word)


def keep_word(text: str, confidence: float, min_confidence: float = MIN_WORD_CONFIDENCE, min_letters: int = MIN_LETTERS,
              min_3_letter_confidence: float = MIN_3_LETTER_CONFIDENCE) -> bool:
    """A strong word: mostly letters, in one script, with `min_letters` letters at `min_confidence`
    or one letter fewer at `min_3_letter_confidence`."""
    core = _EDGE_PUNCT.sub("", text)
    if not core or not _script_ok(core):
        return False
    letters = _letters(core)
    if re.search(r"[^\W\d_]\d+[^\W\d_]", core):
        return False  # a digit between letters: a misread ("a3aKCTAH" for "Қазақстан")
    if letters == 0 or letters < 0.6 * len(core):
        return False  # a number alone: textures read as digits ("22", "574") were the commonest false words
    if letters >= min_letters:
        return confidence >= min_confidence
    return letters == min_letters - 1 and confidence >= min_3_letter_confidence


def decode_color(jpeg: bytes) -> np.ndarray:
    """The image as 8-bit BGR."""
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable JPEG/PNG image")
    return image


def decode_gray(jpeg: bytes) -> np.ndarray:
    """The image as one 8-bit channel for OCR: the minimum of B, G and R (`min_channel`)."""
    return min_channel(decode_color(jpeg))


def min_channel(image: np.ndarray) -> np.ndarray:
    """One 8-bit channel for OCR: the minimum of B, G and R.

    Captions are mostly white (with a thin dark outline) and slides dark on light; the minimum
    channel keeps both at full contrast where luminance does not (white on a pale or saturated
    background: white 255 vs pink 181 in luminance, 255 vs 128 here). Its blind spot is
    saturated light text on a dark background of a similar hue (yellow on dark blue).
    """
    return image.min(axis=2)


# A frame is worth reading when text could be in it. Tesseract spent 94 ms on each of 1,776 blank 64x36
# frames of a silent recording (issue 25): a frame whose short side is below MIN_TEXT_SIDE (no line of text a
# reader could hold fits) or with fewer than MIN_EDGE_PIXELS sharp steps between neighbours (black, one
# colour, a fade; JPEG noise stays below EDGE_STEP) is given no lines. A small caption has hundreds of edges.
MIN_TEXT_SIDE = 48
EDGE_STEP = 40
MIN_EDGE_PIXELS = 40


def has_detail(image: np.ndarray) -> bool:
    """Could the frame (BGR) show text? Cheap (~1 ms for 768x432): edges in any channel, both directions."""
    if min(image.shape[:2]) < MIN_TEXT_SIDE:
        return False
    pixels = image.astype(np.int16)
    across = np.abs(np.diff(pixels, axis=1)).max(axis=2) > EDGE_STEP
    down = np.abs(np.diff(pixels, axis=0)).max(axis=2) > EDGE_STEP
    return int(across.sum()) + int(down.sum()) >= MIN_EDGE_PIXELS


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A 64x36 float thumbnail (grey or colour): the cheap picture signature for 'same frame as before'.

    The skip compares colour thumbnails: in the minimum channel that OCR reads, dark green and maroon are both
    near black, so two slides with white text in the same place on those backgrounds looked alike, and the
    second slide was given the first one's text (issue 24)."""
    import cv2

    return cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0-255) of two thumbnails."""
    return float(np.abs(a - b).mean())


RawWord = tuple[str, float, tuple[int, int, int, int]]  # text, confidence 0-100, (x0, y0, x1, y1) at the read scale


def filter_lines(raw: Sequence[Sequence[RawWord]], scale: float = 1.0, min_confidence: float = MIN_WORD_CONFIDENCE,
                 min_short_confidence: float = MIN_SHORT_WORD_CONFIDENCE, min_letters: int = MIN_LETTERS) -> list[OcrLine]:
    """The lines worth keeping: a line needs one strong word (`keep_word`); beside it, other words
    (short ones, numbers) are kept when at least `min_short_confidence` sure and in one script."""
    out = []
    for words in raw:
        strong = [keep_word(t, c, min_confidence, min_letters) for t, c, _ in words]
        if not any(strong):
            continue
        kept = [(t, c, b) for (t, c, b), st in zip(words, strong)
                if st or (c >= min_short_confidence and _script_ok(t) and _EDGE_PUNCT.sub("", t))]
        x0 = min(b[0] for _, _, b in kept)
        y0 = min(b[1] for _, _, b in kept)
        x1 = max(b[2] for _, _, b in kept)
        y1 = max(b[3] for _, _, b in kept)
        box = (round(x0 / scale), round(y0 / scale), round((x1 - x0) / scale), round((y1 - y0) / scale))
        out.append(OcrLine(" ".join(t for t, _, _ in kept), round(sum(c for _, c, _ in kept) / len(kept), 1), box,
                           tuple(OcrWord(t, round(c, 1)) for t, c, _ in kept)))
    return out


@dataclass
class OcrReader:
    """A loaded tesseract engine for a set of languages (tesseract codes, e.g. ["rus", "eng"])."""

    languages: Sequence[str]
    min_word_confidence: float = MIN_WORD_CONFIDENCE
    min_short_word_confidence: float = MIN_SHORT_WORD_CONFIDENCE
    min_letters: int = MIN_LETTERS
    read_min_side: int = READ_MIN_SIDE
    same_frame_diff: float = SAME_FRAME_DIFF
    stats: OcrStats = field(default_factory=OcrStats)
    _api: Any = field(default=None, init=False, repr=False)
    _rereaders: dict[str, Any] = field(default_factory=dict, init=False, repr=False)  # language first -> engine
    _last_thumb: np.ndarray | None = field(default=None, init=False, repr=False)
    _last_lines: list[OcrLine] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        ok, warning = ocr_available(self.languages)
        if not ok:
            raise OcrUnavailable(warning or "OCR is unavailable")
        folder = tessdata_dir()
        present = [code for code in self.languages if (folder / f"{code}.traineddata").is_file()]  # type: ignore[operator]
        self.languages = present
        # PSM 11 (sparse text): captions, tickers and signs are scattered blocks, not a page; the page
        # layout modes (PSM 3) missed a lower-third caption over a test pattern entirely (bench/ocr.py).
        self._api = self._engine(present)

    @staticmethod
    def _engine(languages: Sequence[str]) -> Any:
        from tesserocr import OEM, PSM, PyTessBaseAPI

        try:
            return PyTessBaseAPI(path=str(tessdata_dir()) + "/", lang="+".join(languages), psm=PSM.SPARSE_TEXT, oem=OEM.LSTM_ONLY)
        except RuntimeError as exc:  # tesseract could not start (its data went missing mid-run): the run's fault
            raise OcrUnavailable(f"tesseract cannot start with {'+'.join(languages)}: {exc}; "
                                 "reinstall its language data (scripts/setup.sh) or set ocr to off") from exc

    def close(self) -> None:
        for api in [self._api, *self._rereaders.values()]:
            if api is not None:
                api.End()
        self._api, self._rereaders = None, {}

    def __enter__(self) -> OcrReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, jpeg: bytes) -> list[OcrLine]:
        """The confident lines of text in one image (JPEG or PNG bytes)."""
        return self.read_gray(decode_gray(jpeg))

    def read_gray(self, gray: np.ndarray) -> list[OcrLine]:
        """The confident lines of a greyscale image."""
        raw, scale = self.raw_lines(gray)
        for language in self.languages[1:]:
            own = OWN_LETTERS.get(language)
            if own and any(own.intersection(text) for line in raw for text, _, _ in line):
                raw = _replace_lines(raw, self.raw_lines(gray, self._reader_first(language))[0], own)
        return filter_lines(raw, scale, self.min_word_confidence, self.min_short_word_confidence, self.min_letters)

    def _reader_first(self, language: str) -> Any:
        """An engine for the same languages with `language` first (made once, when a frame first needs it)."""
        if language not in self._rereaders:
            self._rereaders[language] = self._engine([language, *(c for c in self.languages if c != language)])
        return self._rereaders[language]

    def raw_lines(self, gray: np.ndarray, api: Any = None) -> tuple[list[list[RawWord]], float]:
        """Every word tesseract reports, per line, unfiltered (and the scale it read at): for measuring thresholds."""
        import cv2
        from PIL import Image
        from tesserocr import RIL, iterate_level

        if self._api is None:
            raise OcrUnavailable("this OcrReader is closed")
        api = api or self._api
        h, w = gray.shape[:2]
        scale = max(1.0, self.read_min_side / float(max(h, w)))
        image = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC) if scale > 1.0 else gray
        # Edge-preserving smoothing: grain and JPEG noise otherwise break letters into specks
        # (white text over noise: word recall 0 without, 1.0 with; bench/ocr.py).
        image = cv2.bilateralFilter(image, 5, 40, 5)
        api.SetImage(Image.fromarray(image))
        api.Recognize()
        lines: dict[int, list[RawWord]] = {}
        line_no = -1
        iterator = api.GetIterator()
        for item in iterate_level(iterator, RIL.WORD) if iterator is not None else ():
            if item.IsAtBeginningOf(RIL.TEXTLINE):
                line_no += 1
            try:
                text = (item.GetUTF8Text(RIL.WORD) or "").strip()
            except RuntimeError:  # tesserocr's "No text returned" for an empty result
                continue
            if text:
                lines.setdefault(line_no, []).append((text, float(item.Confidence(RIL.WORD)), item.BoundingBox(RIL.WORD) or (0, 0, 0, 0)))
        return list(lines.values()), scale

    def read_frames(self, frames: Iterable[bytes]) -> list[list[OcrLine]]:
        """Lines per frame, skipping (reusing the last result for) frames nearly identical to the last one read."""
        results: list[list[OcrLine]] = []
        for jpeg in frames:
            image = decode_color(jpeg)
            self.stats.frames += 1
            if not has_detail(image):
                self.stats.blank += 1
                results.append([])
                continue
            gray = min_channel(image)
            thumb = thumbnail(image)
            if self._last_thumb is not None and frame_difference(thumb, self._last_thumb) < self.same_frame_diff:
                self.stats.skipped += 1
                results.append(self._last_lines)
                continue
            t0 = time.perf_counter()
            lines = self.read_gray(gray)
            self.stats.seconds += time.perf_counter() - t0
            self.stats.read += 1
            self._last_thumb, self._last_lines = thumb, lines
            results.append(lines)
        return results

    def read_window_text(self, frames: Iterable[Any]) -> list[str]:
        """A window's on-screen text: de-duplicated lines in first-seen order.

        `frames`: JPEG bytes, or Phase 1 frame dicts ({"jpeg": ...}), or objects with a `.jpeg`.
        The reader remembers the last frame across calls, so overlapping windows and a slide that
        spans windows are read once.
        """
        return unique_lines(line for lines in self.read_frames(_jpeg_of(f) for f in frames) for line in lines)


def _replace_lines(raw: list[list[RawWord]], again: list[list[RawWord]], own: frozenset[str]) -> list[list[RawWord]]:
    """`raw` with each line replaced by the line of `again` (the same image read with the language of `own` first)
    that overlaps it most in height, where that reading shows `own` letters. The other lines keep the first
    reading: read Kazakh-first, Russian "СЪЕЗД" became "СЬЕЗД"."""

    def span(line: list[RawWord]) -> tuple[int, int]:
        return min(b[1] for _, _, b in line), max(b[3] for _, _, b in line)

    def overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
        return max(0, min(a[1], b[1]) - max(a[0], b[0]))

    out = []
    for line in raw:
        best = max(again, key=lambda other: overlap(span(line), span(other)), default=None)
        if best and overlap(span(line), span(best)) > 0 and any(own.intersection(text) for text, _, _ in best):
            line = best
        out.append(line)
    return out


def _jpeg_of(frame: Any) -> bytes:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return bytes(frame)
    if isinstance(frame, dict):
        return bytes(frame["jpeg"])
    return bytes(frame.jpeg)


def _line_key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def unique_lines(lines: Iterable[OcrLine]) -> list[str]:
    """Line texts without repeats (case and punctuation ignored); a line contained in a longer one seen is dropped."""
    out: list[str] = []
    keys: list[str] = []
    for line in lines:
        key = _line_key(line.text)
        if not key or any(key == k or f" {key} " in f" {k} " for k in keys):
            continue
        # A longer reading of a line seen before replaces it (a caption read whole on a later frame).
        for i, k in enumerate(keys):
            if f" {k} " in f" {key} ":
                keys[i], out[i] = key, line.text
                break
        else:
            keys.append(key)
            out.append(line.text)
    # The replacement above can leave two equal entries; keep the first.
    seen: set[str] = set()
    return [t for t, k in zip(out, keys) if not (k in seen or seen.add(k))]  # type: ignore[func-returns-value]


def read_window_text(reader: OcrReader, frames: Iterable[Any]) -> list[str]:
    """Module-level form of `OcrReader.read_window_text`."""
    return reader.read_window_text(frames)
