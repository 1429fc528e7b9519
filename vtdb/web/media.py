"""Media for the player: a registered video's bytes with HTTP Range, from a local file or a ZIM archive.

Only a video_files record says where the bytes are: the request names a video, never a path. A ZIM
item is read through libzim (its Python binding gives an item's bytes only whole, so the last items
played stay in memory and a player's Range requests slice them).

Only videos Phase 1 accepted (probed as a video, or completed on an audio-only file) are served, and with a media type decided here from the
bytes' container signature (`sniff_media_type`), never the one an archive declares or a file name suggests:
an archive's text/html or text/javascript item is never served, so it can never run as a page or script
of the app's origin.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from vtdb.errors import VtdbError
from vtdb.media.sniff import AUDIO_OF, HEAD_BYTES, MEDIA_TYPES, sniff_media_type

CHUNK = 256 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_RANGE_UNIT = re.compile(r"^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=")
MAX_RANGE_DIGITS = 19  # no file has more than 10**19 bytes; longer numbers are not parsed (int() has a limit)


class MediaUnavailable(VtdbError, LookupError):
    """The video is registered but its bytes cannot be read now (a missing file, a replaced archive): 404."""


class RangeNotSatisfiable(VtdbError, ValueError):
    """A Range header that selects nothing in the file, or that is not a byte range: 416."""

    def __init__(self, size: int, header: str):
        self.size = size
        super().__init__(f"Range {header[:60]!r} cannot be served: the video has {size} bytes (use bytes=START-END)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte, inclusive, that a Range header asks for; None without a header, or with a range
    unit other than bytes (RFC 9110 14.2: a server ignores a unit it does not know, and sends the whole file).

    Several ranges (`bytes=0-1,5-9`) are answered with the first one only, which RFC 9110 allows. Numbers longer
    than MAX_RANGE_DIGITS digits are past any file's end: 416, never parsed."""
    if header is None or not header.strip():
        return None
    unit = _RANGE_UNIT.match(header)
    if unit and unit.group(1).lower() != "bytes":
        return None
    match = _RANGE.match(header.split(",", 1)[0])
    if not match or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiable(size, header)
    a, b = (g.lstrip("0") or ("0" if g else "") for g in match.groups())
    if len(a) > MAX_RANGE_DIGITS:
        raise RangeNotSatisfiable(size, header)
    b = b if len(b) <= MAX_RANGE_DIGITS else str(10**MAX_RANGE_DIGITS)  # an end past the file: up to the end
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
    content_type: str  # decided by sniff_media_type: always one of MEDIA_TYPES
    etag: str
    read: Callable[[int, int], Iterator[bytes]]  # (first, last) inclusive -> chunks

    def disposition(self, name: str) -> str:
        """Content-Disposition: inline (the player and the media link show it), named after the video with the
        extension of its decided type; the name percent-encoded (RFC 6266), never raw."""
        from urllib.parse import quote

        file_name = f"{name}.{MEDIA_TYPES.get(self.content_type, 'bin')}"
        ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in file_name)
        return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def is_audio_only(record: Mapping[str, Any]) -> bool:
    """Phase 1 found no video stream in the file (an MP3, a podcast): played in <audio>, with no frames.
    A record from before audio-only files has no has_video field: a video."""
    return record.get("has_video") is False


def phase1_refusal(record: Mapping[str, Any]) -> str | None:
    """Why the video's bytes are not served (Phase 1 has not accepted them), or None when it has: Phase 1
    completed (an audio-only file included: width 0 there means no picture, not "not probed"), or it probed
    the file as a video (size and length recorded) and does not hold it."""
    if record.get("phase1_held"):
        why = str(record.get("phase1_last_error") or "").strip()
        return "Phase 1 refused it" + (f" ({why[:200]})" if why else "") + "; the web app serves only videos Phase 1 accepted"
    if record.get("phase1_status") == "completed":
        return None
    try:
        pictured = is_audio_only(record) or float(record.get("width") or 0) > 0
        probed = pictured and float(record.get("video_duration") or 0) > 0
    except (TypeError, ValueError):
        probed = False
    return None if probed else "Phase 1 has not checked it yet; run phase1_whisper_frames.py, then play it here"


def _decided_type(head: bytes) -> str:
    media_type = sniff_media_type(head)
    if media_type is None:
        raise MediaUnavailable("its bytes are not a video container the web app serves (it never serves web pages, "
                               "scripts or other content an archive or a path may hold)")
    return media_type


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
    try:
        with open(p, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        raise MediaUnavailable("the video file is unreadable on the server") from None
    return MediaBody(st.st_size, _decided_type(head), f'"f{st.st_size:x}-{st.st_mtime_ns:x}"', _file_reader(p))


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
        etag = '"z%x-%s"' % (size, hashlib.sha1(f"{archive_path}#{entry}#{archive.uuid}".encode()).hexdigest()[:12])
        key = (archive_path, entry, etag)
        content_type = _decided_type(bytes(self._content(key, item)[:HEAD_BYTES]))  # never item.mimetype

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
    """The bytes of a registered video (its record) that Phase 1 accepted, whatever its source kind, with the
    media type its bytes have (its audio type for an audio-only file); MediaUnavailable for anything else."""
    refusal = phase1_refusal(record)
    if refusal:
        raise MediaUnavailable(refusal)
    kind = str(record.get("source_kind") or "file")
    location = str(record.get("video_path") or "")
    if kind == "zim" or location.startswith("zim://"):
        body = zim.body(location)
    elif kind != "file" or not location:
        raise MediaUnavailable(f"the web app cannot play a {kind!r} source")
    else:
        body = file_body(location)
    if is_audio_only(record):
        body.content_type = AUDIO_OF.get(body.content_type, body.content_type)
    return body
