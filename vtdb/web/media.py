"""Media for the player: a registered video's bytes with HTTP Range, from a local file or a ZIM archive.

Only a video_files record says where the bytes are: the request names a video, never a path. A ZIM
item is read through libzim (its Python binding gives an item's bytes only whole, so the last items
played stay in memory and a player's Range requests slice them).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from vtdb.errors import VtdbError

CHUNK = 256 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class MediaUnavailable(VtdbError, LookupError):
    """The video is registered but its bytes cannot be read now (a missing file, a replaced archive): 404."""


class RangeNotSatisfiable(VtdbError, ValueError):
    """A Range header that selects nothing in the file, or that is not a byte range: 416."""

    def __init__(self, size: int, header: str):
        self.size = size
        super().__init__(f"Range {header!r} cannot be served: the video has {size} bytes (use bytes=START-END)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte, inclusive, that a Range header asks for; None without a header.

    Several ranges (`bytes=0-1,5-9`) are answered with the first one only, which RFC 9110 allows."""
    if header is None or not header.strip():
        return None
    match = _RANGE.match(header.split(",", 1)[0])
    if not match or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiable(size, header)
    a, b = match.groups()
    if a == "":  # a suffix: the last b bytes
        suffix = int(b)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size, header)
        return max(0, size - suffix), size - 1
    start = int(a)
    end = int(b) if b else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(size, header)
    return start, min(end, size - 1)


@dataclass
class MediaBody:
    """What a media response needs: the size, type, a validator, and a reader of any byte range."""

    size: int
    content_type: str
    etag: str
    read: Callable[[int, int], Iterator[bytes]]  # (first, last) inclusive -> chunks


def _content_type(name: str, fallback: str = "application/octet-stream") -> str:
    guess = mimetypes.guess_type(name)[0]
    if guess is None and name.lower().endswith(".webm"):
        guess = "video/webm"
    if guess is None and name.lower().endswith(".mkv"):
        guess = "video/x-matroska"
    return guess or fallback


def _file_reader(path: Path, offset: int = 0) -> Callable[[int, int], Iterator[bytes]]:
    def read(first: int, last: int) -> Iterator[bytes]:
        with open(path, "rb") as fh:
            fh.seek(offset + first)
            left = last - first + 1
            while left > 0:
                data = fh.read(min(CHUNK, left))
                if not data:
                    return  # the file shrank meanwhile: the client sees a short body, never other bytes
                left -= len(data)
                yield data

    return read


def file_body(path: str) -> MediaBody:
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise MediaUnavailable("the video file is missing or unreadable on the server; check the path in "
                               "videos_config.json and run phase1_whisper_frames.py") from None
    if not p.is_file() or not os.access(p, os.R_OK):
        raise MediaUnavailable("the video's path is not a readable file on the server")
    return MediaBody(st.st_size, _content_type(p.name, "video/mp4"), f'"f{st.st_size:x}-{st.st_mtime_ns:x}"', _file_reader(p))


class ZimMedia:
    """ZIM items by archive and entry; archives stay open (one per file version), shared by requests."""

    def __init__(self, keep: int = 8):
        self._archives: dict[tuple[str, int, int], Any] = {}
        self._contents: dict[tuple[str, str, str], memoryview] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def _archive(self, path: str) -> Any:
        from libzim.reader import Archive

        try:
            st = os.stat(path)
        except OSError:
            raise MediaUnavailable("the ZIM archive of this video is missing on the server") from None
        key = (path, st.st_size, st.st_mtime_ns)
        with self._lock:
            archive = self._archives.get(key)
            if archive is None:
                try:
                    archive = Archive(path)
                except Exception:  # noqa: BLE001 - libzim raises RuntimeError and friends for a bad file
                    raise MediaUnavailable("the ZIM archive of this video cannot be opened (corrupt or replaced)") from None
                for old in [k for k in self._archives if k[0] == path]:
                    del self._archives[old]  # the archive changed: drop its old version
                while len(self._archives) >= self._keep:
                    del self._archives[next(iter(self._archives))]
                self._archives[key] = archive
            return archive

    def body(self, uri: str) -> MediaBody:
        from vtdb.sources.zim import ZimError, parse_zim_uri

        try:
            archive_path, entry = parse_zim_uri(uri)
        except ZimError:
            raise MediaUnavailable("the video's ZIM address is malformed in its record") from None
        archive = self._archive(archive_path)
        try:
            item = archive.get_entry_by_path(entry).get_item()
        except Exception:  # noqa: BLE001 - KeyError for a missing entry, RuntimeError for a broken one
            raise MediaUnavailable("the video's item is not in its ZIM archive any more") from None
        size = int(item.size)
        content_type = str(item.mimetype or "") or _content_type(entry)
        etag = '"z%x-%s"' % (size, hashlib.sha1(f"{archive_path}#{entry}#{archive.uuid}".encode()).hexdigest()[:12])
        key = (archive_path, entry, etag)

        def read(first: int, last: int) -> Iterator[bytes]:
            view = self._content(key, item)
            for at in range(first, last + 1, CHUNK):
                yield bytes(view[at : min(at + CHUNK, last + 1)])

        return MediaBody(size, content_type, etag, read)

    def _content(self, key: tuple[str, str, str], item: Any) -> memoryview:
        """The item's bytes. libzim's binding hands out an item only whole, so the last few stay in memory:
        a player's many Range requests for one video cost one read of it."""
        with self._lock:
            view = self._contents.pop(key, None)
            if view is None:
                view = item.content
            self._contents[key] = view  # most recent last
            while len(self._contents) > 2:
                del self._contents[next(iter(self._contents))]
            return view


def media_body(record: Mapping[str, Any], zim: ZimMedia) -> MediaBody:
    """The bytes of a registered video (its record), whatever its source kind."""
    kind = str(record.get("source_kind") or "file")
    location = str(record.get("video_path") or "")
    if kind == "zim" or location.startswith("zim://"):
        return zim.body(location)
    if kind != "file" or not location:
        raise MediaUnavailable(f"the web app cannot play a {kind!r} source")
    return file_body(location)
