"""A decoded audio track kept on disk and read in slices, so memory does not grow with the file's length.

Decoding a whole track into one float32 array costs 230 MB per hour of audio (2.3 GB for a 10-hour file), and
every stage (VAD, Whisper, translation) only ever looks at a stretch of it. The track is decoded once by ffmpeg
into a raw 16-bit file in the work folder; a slice reads only its own bytes (a plain read, not a memory map: a
map's pages count towards RSS once touched) and comes back as the same float32 samples as
faster_whisper.audio.decode_audio gives (s16 / 32768).
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from vtdb.media.video import MediaError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_SAMPLE_BYTES = 2  # s16le


class DiskAudio:
    """Mono 16 kHz samples in a raw s16le file: len() in samples, audio[a:b] as float32 (numpy slice rules)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_RDONLY)
        self._length = os.fstat(self._fd).st_size // _SAMPLE_BYTES

    def __len__(self) -> int:
        return self._length

    @property
    def duration(self) -> float:
        return self._length / self.sample_rate

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice):
            # Sample by sample would be one read each: whatever asks for that should slice instead.
            raise TypeError(f"DiskAudio takes slices only (audio[a:b]), not {type(index).__name__}")
        start, stop, step = index.indices(self._length)
        if step == 1:
            return self._read(start, stop)
        wanted = range(start, stop, step)  # another step: the stretch it spans, then numpy picks the samples
        if not wanted:
            return np.zeros(0, dtype=np.float32)
        low = min(wanted[0], wanted[-1])
        return self._read(low, max(wanted[0], wanted[-1]) + 1)[np.asarray(wanted) - low]

    def _read(self, start: int, stop: int) -> np.ndarray:
        if self._fd is None:
            raise ValueError(f"{self.path}: audio already closed")
        samples = np.empty(max(0, stop - start), dtype="<i2")
        into = samples.data.cast("B")
        done = 0
        # preadv: no shared file position (threads may read slices at the same time), straight into the array;
        # in a loop, as one read returns at most 2 GB.
        while done < len(into):
            got = os.preadv(self._fd, [into[done:]], start * _SAMPLE_BYTES + done)
            if got == 0:
                break
            done += got
        return samples[: done // _SAMPLE_BYTES].astype(np.float32) / 32768.0

    def close(self) -> None:
        """Close and delete the file (again: nothing)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "DiskAudio":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DiskAudio({str(self.path)!r}, {self.duration:.1f} s)"


# What every stage that reads audio accepts: it only takes len() and slices.
AudioSignal = Union[np.ndarray, DiskAudio]


SCRATCH_GLOB = ".audio-*.s16"


def remove_stale_scratch(scratch_dir: Path) -> list[Path]:
    """Delete scratch audio files no process is using (left by a Phase 1 that was killed: 115 MB an hour of
    audio each); returns them. A file in use is locked by the process that made it (flock, released by the
    kernel when that process dies, however it dies), so another Phase 1 on the same work folder keeps its own."""
    removed = []
    for path in Path(scratch_dir).glob(SCRATCH_GLOB):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in use
        finally:
            os.close(fd)  # also releases the lock just taken
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def decoded_audio(path: Path, scratch_dir: Path, stream: int | None = None) -> Iterator[DiskAudio]:
    """Audio stream `stream` (0-based among the audio streams; None = the first; messages count from 1, as
    players and the config do) of `path`, decoded to mono 16 kHz in a scratch file inside `scratch_dir` that is
    deleted on exit, however the body ends.

    A track that stops decoding early (a truncated or damaged file) gives what decoded; MediaError when
    nothing does (no such stream, not a media file)."""
    number = stream or 0
    scratch_dir = Path(scratch_dir)
    scratch_dir.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_scratch(scratch_dir):
        log.info("removed %s, left by a Phase 1 that did not finish", stale)
    fd, name = tempfile.mkstemp(prefix=".audio-", suffix=".s16", dir=scratch_dir)
    fcntl.flock(fd, fcntl.LOCK_EX)  # ours while this runs (see remove_stale_scratch)
    raw = Path(name)
    audio: DiskAudio | None = None
    try:
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path), "-map", f"0:a:{number}",
               "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", str(raw)]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except FileNotFoundError as exc:
            raise MediaError(f"{path}: cannot decode audio track {number + 1}: ffmpeg is not installed "
                             "(install it: apt-get install ffmpeg, or scripts/setup.sh)") from exc
        errors = proc.stderr.decode("utf-8", "replace").strip()
        decoded = raw.stat().st_size // _SAMPLE_BYTES
        if proc.returncode != 0:
            lines = errors.splitlines() or [f"ffmpeg exited {proc.returncode}"]
            # No such stream: ffmpeg's last line is only a hint about its own option syntax.
            last = next((line for line in lines if "matches no streams" in line), lines[-1])
            if decoded == 0:
                raise MediaError(f"{path}: cannot decode audio track {number + 1}: {last}")
            log.debug("%s: audio track %d stops decoding after %.1f s: %s", path, number + 1, decoded / SAMPLE_RATE, last)
        elif errors:
            log.debug("%s: audio track %d decoded with errors: %s", path, number + 1, errors.splitlines()[-1])
        audio = DiskAudio(raw)
        yield audio
    finally:
        if audio is not None:
            audio.close()
        raw.unlink(missing_ok=True)
        os.close(fd)
