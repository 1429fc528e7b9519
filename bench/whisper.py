#!/usr/bin/env python3
"""Whisper benchmark (issue 11): sequential against batched decoding, side by side in one process.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/whisper.py [--minutes 4] [--batch-sizes 4,8,16] [--quick]

Audio: real English utterances from tests/data/speech/en (transcripts.tsv is the reference), joined
with 1.2 s pauses. One WhisperModel (the bundled `base`, loaded with Phase 1's own arguments:
vtdb.media.transcribe.whisper_model_kwargs) serves every row, so the rows differ only in how they decode:

  sequential, bare defaults   WhisperModel.transcribe(audio, language, word_timestamps=True): VAD on,
                              conditioned on previous text (the seed plan's way)
  sequential, Phase 1         whisper_batch_size 0: FasterWhisperTranscriber (VAD, no conditioning)
  batched N                   whisper_batch_size N: FasterWhisperTranscriber over BatchedInferencePipeline

Each row: wall time, CPU time of this process, real-time factor (wall / audio), WER against the
reference, peak RSS during the row (polled) and words. Ratios are against the bare sequential row.
Results also go to <out>/whisper_<minutes>min.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import time
from pathlib import Path

from _common import SAMPLE_RATE, loadavg, log, norm_words, speech_audio, wer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class PeakRss:
    """Peak resident memory of this process while the block runs (polled every 20 ms)."""

    def __enter__(self) -> "PeakRss":
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def measure(label: str, run, audio_s: float, reference: list[str]) -> dict:
    with PeakRss() as rss:
        cpu0, t0 = time.process_time(), time.perf_counter()
        text = run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    hyp = norm_words(text)
    row = {"how": label, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "rtf": round(wall / audio_s, 4),
           "wer": round(wer(reference, hyp), 4), "words": len(hyp), "peak_rss_mb": round(rss.peak / 2**20)}
    log(f"{label}: {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU, WER {row['wer']:.3f}, "
        f"{row['words']} words, peak RSS {row['peak_rss_mb']} MB (load {loadavg()})")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="minutes of speech (default 4)")
    parser.add_argument("--batch-sizes", default="4,8,16,32", help="batched rows (default 4,8,16,32)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare sequential row (the slowest)")
    parser.add_argument("--quick", action="store_true", help="1 minute, batch sizes 8 only (a smoke run)")
    parser.add_argument("--device", default="auto", help="whisper_device (auto, cpu, cuda, cuda:N)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.batch_sizes = 1.0, "8"
    sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]

    from vtdb.config import build_settings
    from vtdb.media.transcribe import FasterWhisperTranscriber

    audio, ref_text = speech_audio(args.minutes * 60.0)
    audio_s = len(audio) / SAMPLE_RATE
    reference = norm_words(ref_text)
    log(f"audio: {audio_s:.0f} s of real speech, {len(reference)} reference words; load {loadavg()}")

    settings = build_settings({"whisper_batch_size": "0", "whisper_device": args.device}, env={})
    base = FasterWhisperTranscriber(settings)
    t0 = time.perf_counter()
    model = base.whisper_model()
    load_s = time.perf_counter() - t0
    log(f"model: {settings.whisper_model} {base.model_kwargs} loaded in {load_s:.2f} s")

    def transcriber(batch: int) -> FasterWhisperTranscriber:
        t = FasterWhisperTranscriber(dataclasses.replace(settings.whisper, batch_size=str(batch)))
        # Share the loaded model: the rows compare decoding, not loading.
        from faster_whisper import BatchedInferencePipeline

        t._model, t.model_kwargs, t.batch_size = model, base.model_kwargs, batch
        t._batched = BatchedInferencePipeline(model=model) if batch else None
        return t

    rows = []
    if not args.no_bare:
        def bare() -> str:
            segments, _ = model.transcribe(audio, language="en", word_timestamps=True)
            return " ".join(s.text for s in segments)

        rows.append(measure("sequential, bare defaults", bare, audio_s, reference))
    rows.append(measure("sequential, Phase 1 (batch 0)", lambda: transcriber(0).transcribe(audio, "en").text,
                        audio_s, reference))
    for size in sizes:
        rows.append(measure(f"batched {size}", lambda s=size: transcriber(s).transcribe(audio, "en").text,
                            audio_s, reference))

    base_row = rows[0]
    print()
    print(f"Whisper {settings.whisper_model}, {base.model_kwargs['device']}/{base.model_kwargs['compute_type']}, "
          f"{base.model_kwargs['cpu_threads']} threads, beam {settings.whisper_beam_size}, word timestamps; "
          f"{audio_s:.0f} s of real speech ({len(reference)} words); load average {loadavg()}")
    head = f"| how | wall s | CPU s | RTF | WER | words | peak RSS MB | wall / {base_row['how']} |"
    print(head)
    print("|" + "---|" * 8)
    for r in rows:
        print(f"| {r['how']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['rtf']:.3f} | {r['wer']:.3f} | {r['words']} "
              f"| {r['peak_rss_mb']} | {r['wall_s'] / base_row['wall_s']:.2f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"audio_s": round(audio_s, 1), "reference_words": len(reference), "model": settings.whisper_model,
              "model_kwargs": base.model_kwargs, "model_load_s": round(load_s, 2), "rows": rows, "loadavg": loadavg(),
              "cpu_count": os.cpu_count()}
    path = out / f"whisper_{args.minutes:g}min.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"\n(json: {path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
