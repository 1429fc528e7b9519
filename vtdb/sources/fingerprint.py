"""Content fingerprints: what a video's bytes are, wherever they live.

A fingerprint is the size plus a SHA-256 of three samples (start, middle, end; `SAMPLE` bytes each), so
it costs a few MiB of reading per file whatever its length. It tells a moved or copied file (same bytes,
new path or mtime) from a changed one. Computed once per file: the result is cached in the work folder
by path, size and mtime, so a sync over an unchanged library only stats its files.

ZIM items are fingerprinted the same way from the item's bytes (a video kept in a newer archive of the
same channel keeps its work), cached by archive path, archive fingerprint and entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from vtdb.atomic import atomic_write_json

SAMPLE = 2 << 20  # 2 MiB from each of start, middle and end
CACHE_FILE = "content_fingerprints.json"  # in work_dir
PREFIX = "content:v1"


def _digest(size: int, read: Callable[[int, int], bytes], sample: int) -> str:
    h = hashlib.sha256()
    h.update(str(size).encode())
    if size <= 3 * sample:
        h.update(read(0, size))
    else:
        for offset in (0, size // 2 - sample // 2, size - sample):
            h.update(read(offset, sample))
    return f"{PREFIX}:size={size}:sha256={h.hexdigest()[:32]}"


def fingerprint_file(path: str | Path, sample: int = SAMPLE) -> str:
    """The content fingerprint of a file (OSError when it cannot be read)."""
    path = Path(path)
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)

        def read(offset: int, length: int) -> bytes:
            fh.seek(offset)
            return fh.read(length)

        return _digest(size, read, sample)


def fingerprint_buffer(view: Any, sample: int = SAMPLE) -> str:
    """The content fingerprint of a buffer (a ZIM item's memoryview): only the samples are touched."""
    mv = memoryview(view)
    return _digest(len(mv), lambda offset, length: bytes(mv[offset : offset + length]), sample)


class FingerprintCache:
    """Fingerprints by key (a file's path, an archive entry), valid while the key's stamp is unchanged
    (size and mtime of a file; the archive's fingerprint for an entry). Loaded once, saved when changed."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self._data: dict[str, dict] = {}
        self._dirty = False
        if self.path is not None:
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._data = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    def get(self, key: str, stamp: str) -> str | None:
        known = self._data.get(key)
        if known and known.get("stamp") == stamp and isinstance(known.get("fp"), str):
            return known["fp"]
        return None

    def put(self, key: str, stamp: str, fp: str) -> None:
        self._data[key] = {"stamp": stamp, "fp": fp}
        self._dirty = True

    def file(self, path: str | Path) -> str | None:
        """A file's fingerprint (cached by path, size and mtime); None when it cannot be read now."""
        path = Path(path)
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
        key = f"file:{path}"
        fp = self.get(key, stamp)
        if fp is None:
            try:
                fp = fingerprint_file(path)
            except OSError:
                return None
            self.put(key, stamp, fp)
        return fp

    def save(self) -> None:
        """Write the cache (best effort: a lost cache only costs reading the samples again)."""
        if self.path is None or not self._dirty:
            return
        with contextlib.suppress(OSError):
            atomic_write_json(self.path, self._data)
        self._dirty = False
