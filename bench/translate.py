#!/usr/bin/env python3
"""What English costs: Whisper's translate task (the second pass of Phase 1) against the transcription, on
the same audio, with the same loaded model.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/translate.py [--seconds 120] [--repeat 2] [--out bench/out]
    HF_HUB_OFFLINE=1 .venv/bin/python bench/translate.py --audio talk.wav --language kk

Default audio: Russian espeak-ng speech (sentences repeated with pauses to --seconds; cached in --out).
For each decoding mode (batched with the settings' auto batch size, and sequential) it times:
  - the transcription exactly as Phase 1 runs it (FasterWhisperTranscriber.transcribe: word timestamps,
    VAD, the configured language);
  - the translation exactly as Phase 1 runs it (WhisperTranslator.translate: task="translate", no word
    timestamps, same model and options).
The model is loaded once and its load time is excluded (reported); audio is decoded once. Reports the best
of --repeat runs, the real-time factors, translate/transcribe ratio, the load average (2 shared cores
make every figure noisy) and writes <out>/translate.json.
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


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--audio", type=Path, help="an audio or video file (default: generated Russian speech)")
    parser.add_argument("--language", default="ru", help="the speech language given to Whisper (default ru)")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the generated speech (default 120)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--model", default="base")
    parser.add_argument("--modes", default="batched,sequential", help="comma-separated: batched, sequential")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()

    from vtdb.config import Settings
    from vtdb.media.transcribe import FasterWhisperTranscriber
    from vtdb.media.translate import WhisperTranslator
    from vtdb.media.video import decode_audio

    audio_path = args.audio or russian_audio(args.out, args.seconds)
    audio = decode_audio(audio_path)
    duration = len(audio) / 16000
    log(f"audio {audio_path} ({duration:.1f} s), language {args.language}, load {loadavg()}")
    results: dict = {"audio": str(audio_path), "audio_s": round(duration, 1), "language": args.language,
                     "model": args.model, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
                     "modes": {}}
    for mode, batch in (("batched", "auto"), ("sequential", "0")):
        if mode not in args.modes.split(","):
            continue
        transcriber = FasterWhisperTranscriber(Settings(whisper_model=args.model, whisper_batch_size=batch))
        t0 = time.perf_counter()
        transcriber.whisper_model()
        load_s = time.perf_counter() - t0
        translator = WhisperTranslator(transcriber)
        before = loadavg()
        t_tr, transcript = best_of(args.repeat, lambda: transcriber.transcribe(audio, args.language))
        t_en, translation = best_of(args.repeat, lambda: translator.translate(audio, args.language))
        row = {"batch_size": transcriber.batch_size, "load_s": round(load_s, 2),
               "transcribe_s": round(t_tr, 2), "translate_s": round(t_en, 2),
               "transcribe_rtf": round(t_tr / duration, 3), "translate_rtf": round(t_en / duration, 3),
               "translate_over_transcribe": round(t_en / t_tr, 2),
               "transcript_words": len(transcript.words), "translation_words": len(translation.text.split()),
               "translation_sample": translation.text[:160], "load_before": before, "load_after": loadavg()}
        results["modes"][mode] = row
        log(f"{mode}: transcribe {t_tr:.1f} s (RTF {row['transcribe_rtf']}), translate {t_en:.1f} s "
            f"(RTF {row['translate_rtf']}), ratio {row['translate_over_transcribe']}; load {row['load_after']}")
        log(f"  English: {row['translation_sample']!r}")
        # Written after each mode: a sequential run on a slow machine may be cut short.
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "translate.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
