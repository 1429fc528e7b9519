#!/usr/bin/env python3
"""What English costs: Whisper's translate task (the second pass of Phase 1) against the transcription, on
the same audio, with the same loaded model; and how much of the speech each way of translating covers.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/translate.py [--language de] [--layout spread|continuous|both]
    HF_HUB_OFFLINE=1 .venv/bin/python bench/translate.py --audio talk.wav --language kk
    HF_HUB_OFFLINE=1 .venv/bin/python bench/translate.py --espeak [--seconds 120]

Default audio: the real recordings of tests/data/speech/LANG, laid out two ways: `spread` (utterances with
gaps of 3 to 41 s, about a minute of speech in ~5 minutes: the layout where the old pass gave one segment
for the whole video) and `continuous` (0.3 s between utterances, --seconds long). For each decoding mode
(batched with the settings' auto batch size, and sequential) it times:
  - the transcription exactly as Phase 1 runs it (FasterWhisperTranscriber.transcribe: pieces of speech,
    word timestamps, the configured language);
  - the translation exactly as Phase 1 runs it right after (WhisperTranslator.translate: the same pieces,
    word timestamps, the transcription's encoder outputs reused when batched);
  - the same translation cold (no encoder outputs to reuse);
  - the translate pass before issue 24 (faster-whisper's batched pipeline over VAD-joined speech, no
    timestamps): batched only.
Coverage (spread layout): the share of utterances that have an English segment on them, and the longest
English segment. The model is loaded once (load time excluded); reports the best of --repeat runs, the ratios
to the transcription, the load average (2 shared cores make every figure noisy) and writes <out>/translate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import loadavg, log  # noqa: E402

SENTENCES = [
    "Сегодня мы будем заваривать чёрный чай.",
    "Налейте свежую воду в чайник и вскипятите её.",
    "Погода в Москве сегодня тёплая и солнечная.",
    "Весной мы сажаем помидоры в огороде.",
    "Выключите свет, когда выходите из комнаты.",
]


def russian_audio(out_dir: Path, seconds: float) -> Path:
    """espeak-ng Russian sentences with 0.8 s pauses, repeated to about `seconds` (cached)."""
    path = out_dir / f"ru_speech_{int(seconds)}s.wav"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        parts: list[Path] = []
        for i, text in enumerate(SENTENCES):
            wav = Path(tmp) / f"s{i}.wav"
            subprocess.run(["espeak-ng", "-v", "ru", "-s", "140", "-w", str(wav), text], check=True, capture_output=True)
            padded = Path(tmp) / f"p{i}.wav"
            subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(wav), "-af", "apad=pad_dur=0.8", "-ar", "16000",
                            "-ac", "1", str(padded)], check=True)
            parts.append(padded)
        listing = Path(tmp) / "list.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in parts))
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-stream_loop", "-1", "-f", "concat", "-safe", "0", "-i", str(listing),
                        "-t", str(seconds), "-ar", "16000", "-ac", "1", str(path)], check=True)
    return path


GAPS = [3.0, 14.0, 27.0, 6.0, 41.0, 9.0, 20.0]  # the spread layout's silences, repeated


def real_layout(language: str, layout: str, seconds: float):
    """(samples, [(start, end)] of each utterance) from tests/data/speech/LANG."""
    import numpy as np
    from _common import SAMPLE_RATE, speech_dir, speech_rows
    from faster_whisper.audio import decode_audio

    rows = speech_rows(language)
    parts, spans, t, i = [], [], 0.0, 0
    while t < seconds:
        gap = GAPS[i % len(GAPS)] if layout == "spread" else 0.3
        clip = decode_audio(str(speech_dir(language) / rows[i % len(rows)][0]), sampling_rate=SAMPLE_RATE)
        parts += [np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32), clip]
        spans.append((t + gap, t + gap + len(clip) / SAMPLE_RATE))
        t += gap + len(clip) / SAMPLE_RATE
        i += 1
    parts.append(np.zeros(SAMPLE_RATE * 3, dtype=np.float32))
    return np.concatenate(parts), spans


def old_translate(transcriber, audio, language):
    """The translate pass before issue 24: the batched pipeline over VAD-joined speech, no timestamps."""
    from faster_whisper import BatchedInferencePipeline

    segments, _ = BatchedInferencePipeline(model=transcriber.whisper_model()).transcribe(
        audio, batch_size=transcriber.batch_size, vad_filter=True, language=language, task="translate",
        beam_size=transcriber.options.beam_size, condition_on_previous_text=False, word_timestamps=False)
    return [(float(s.start), float(s.end), s.text.strip()) for s in segments if s.text.strip()]


def coverage(segments, spans) -> dict:
    """How many utterances have an English segment on them, and the longest segment (s)."""
    covered = sum(1 for a, b in spans if any(s < b and e > a for s, e, _ in segments))
    return {"utterances": len(spans), "with_english": covered,
            "longest_segment_s": round(max((e - s for s, e, _ in segments), default=0.0), 1), "segments": len(segments)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--audio", type=Path, help="an audio or video file (default: the real recordings)")
    parser.add_argument("--espeak", action="store_true", help="generated Russian espeak-ng speech (the older default)")
    parser.add_argument("--language", default="de", help="the speech language (default de; ru with --espeak)")
    parser.add_argument("--layout", default="both", choices=["spread", "continuous", "both"])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of continuous or espeak speech (default 120)")
    parser.add_argument("--spread-seconds", type=float, default=300.0, help="length of the spread layout (default 300)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--model", default="base")
    parser.add_argument("--modes", default="batched,sequential", help="comma-separated: batched, sequential")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()

    from vtdb.config import Settings
    from vtdb.media.transcribe import FasterWhisperTranscriber
    from vtdb.media.translate import WhisperTranslator
    from vtdb.media.video import decode_audio

    inputs: list[tuple[str, Any, list]] = []  # (label, samples, utterance spans or [])
    if args.audio or args.espeak:
        language = args.language if args.audio else "ru"
        path = args.audio or russian_audio(args.out, args.seconds)
        inputs.append((str(path), decode_audio(path), []))
    else:
        language = args.language
        for layout in (["spread", "continuous"] if args.layout == "both" else [args.layout]):
            samples, spans = real_layout(language, layout, args.spread_seconds if layout == "spread" else args.seconds)
            inputs.append((f"real {language} speech, {layout}", samples, spans))
    results: dict = {"language": language, "model": args.model, "cpu_count": os.cpu_count(),
                     "machine": platform.processor() or platform.machine(), "runs": []}
    for mode, batch in (("batched", "auto"), ("sequential", "0")):
        if mode not in args.modes.split(","):
            continue
        transcriber = FasterWhisperTranscriber(Settings(whisper_model=args.model, whisper_batch_size=batch))
        t0 = time.perf_counter()
        transcriber.whisper_model()
        load_s = time.perf_counter() - t0
        translator = WhisperTranslator(transcriber)
        for label, audio, spans in inputs:
            duration = len(audio) / 16000
            before = loadavg()
            best = {"transcribe": float("inf"), "translate": float("inf"), "cold": float("inf"), "old": float("inf")}
            for _ in range(args.repeat):
                transcriber.release()
                t0 = time.perf_counter()
                transcript = transcriber.transcribe(audio, language)
                t1 = time.perf_counter()
                translation = translator.translate(audio, language, transcript=transcript)
                t2 = time.perf_counter()
                encoder, transcriber.encoder = transcriber.encoder, None  # cold: nothing to reuse
                translator.translate(audio, language, transcript=transcript)
                t3 = time.perf_counter()
                transcriber.encoder = encoder
                best["transcribe"] = min(best["transcribe"], t1 - t0)
                best["translate"] = min(best["translate"], t2 - t1)
                best["cold"] = min(best["cold"], t3 - t2)
                if mode == "batched":
                    t4 = time.perf_counter()
                    old = old_translate(transcriber, audio, language)
                    best["old"] = min(best["old"], time.perf_counter() - t4)
            new = [(s.start, s.end, s.text) for s in translation.segments if not s.unsure]
            row: dict[str, Any] = {"input": label, "mode": mode, "audio_s": round(duration, 1), "batch_size": transcriber.batch_size,
                   "load_s": round(load_s, 2), "transcribe_s": round(best["transcribe"], 2),
                   "translate_s": round(best["translate"], 2), "translate_cold_s": round(best["cold"], 2),
                   "translate_over_transcribe": round(best["translate"] / best["transcribe"], 2),
                   "cold_over_transcribe": round(best["cold"] / best["transcribe"], 2),
                   "transcript_words": len(transcript.words), "translation_words": len(translation.text.split()),
                   "translation_sample": translation.text[:160], "load_before": before, "load_after": loadavg()}
            if spans:
                row["coverage"] = coverage(new, spans)
            if mode == "batched":
                row["old_translate_s"] = round(best["old"], 2)
                row["old_over_transcribe"] = round(best["old"] / best["transcribe"], 2)
                if spans:
                    row["old_coverage"] = coverage(old, spans)
            results["runs"].append(row)
            log(f"{label}, {mode}: transcribe {row['transcribe_s']} s, translate {row['translate_s']} s "
                f"({row['translate_over_transcribe']}x; cold {row['cold_over_transcribe']}x"
                + (f"; before issue 24 {row['old_over_transcribe']}x" if mode == "batched" else "") + f"); load {row['load_after']}")
            if spans:
                log(f"  English on {row['coverage']['with_english']}/{len(spans)} utterances, longest segment "
                    f"{row['coverage']['longest_segment_s']} s"
                    + (f"; before: {row['old_coverage']['with_english']}/{len(spans)}, longest "
                       f"{row['old_coverage']['longest_segment_s']} s" if mode == "batched" else ""))
            # Written after each row: a sequential run on a slow machine may be cut short.
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "translate.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
