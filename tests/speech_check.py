"""Checks on Whisper's output that hold on any machine (issue #9), and the real speech recordings.

Whisper's words depend on the CPU: ctranslate2 picks its kernels by instruction set (force one with
CT2_FORCE_CPU_ISA=GENERIC|AVX|AVX2|AVX512), and a short espeak-ng clip that one machine hears as "Fill the pot
with water." another hears as "Feel apart with Walker.". So a test asserts what it is about (where the
transcript came from, that it is timed inside the clip, which window a word lands in) and checks recognised
words only as a loose overlap with the reference text (`heard`), on audio long and clear enough for it.

Real recordings (16 kHz utterances with their exact text) live in the repository, tests/data/speech/LANG
(tests/data/README.md says where they come from).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench._common import speech_dir, speech_rows

# Words too common to show that speech was understood.
STOP_WORDS = frozenset("a an the and or to of in on at it is into with for now this that".split())
SPELLINGS = {"tyre": "tire", "tyres": "tires"}  # Whisper writes American English


def words(text: str) -> list[str]:
    """Lower-case words (any script), punctuation and digits dropped, British spellings made American."""
    text = text.lower().replace("\u2019", "'")
    return [SPELLINGS.get(w, w) for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", text)]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOP_WORDS}


def heard(reference: str, transcript: str) -> float:
    """The share of the reference's distinct content words that the transcript contains (0..1)."""
    ref = content_words(reference)
    assert ref, f"no content words in the reference {reference!r}"
    return len(ref & set(words(transcript))) / len(ref)


def assert_word_timings(word_list: list[dict], duration: float, slack: float = 0.05) -> None:
    """Words (dicts with start/end) in order and inside the clip."""
    assert word_list, "no words"
    starts = [w["start"] for w in word_list]
    assert starts == sorted(starts), starts
    assert all(0 <= w["start"] <= w["end"] <= duration + slack for w in word_list), (duration, word_list)


def reference_texts(language: str = "en") -> dict[str, str]:
    return dict(speech_rows(language))


def real_speech(files: list[str], out_wav: Path, language: str = "en") -> str:
    """Concatenate recordings (e.g. ["en_018.flac", "en_080.flac"]) into one 16 kHz WAV; return their text."""
    texts = reference_texts(language)
    folder = speech_dir(language)
    inputs = [arg for f in files for arg in ("-i", str(folder / f))]
    joined = "".join(f"[{i}:a]" for i in range(len(files))) + f"concat=n={len(files)}:v=0:a=1[a]"
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *inputs, "-filter_complex", joined,
                    "-map", "[a]", str(out_wav)], check=True, capture_output=True)
    return " ".join(texts[f] for f in files)
