"""Media for the player: a registered video's bytes with HTTP Range, from whatever source holds them.

Only a video_files record says where the bytes are: the request names a video, never a path. Its source
(vtdb.sources: a local file, a ZIM archive's item, any kind registered) reads them (`VideoSource.open_bytes`);
what a source keeps open between requests (an archive, the last items played) lives in one `SourceHandles`
per app.

Only videos Phase 1 accepted (probed as a video, or completed on an audio-only file) are served, and with a media type decided here from the
bytes' container signature (`sniff_media_type`), never the one an archive declares or a file name suggests:
an archive's text/html or text/javascript item is never served, so it can never run as a page or script
of the app's origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from vtdb.commandline import command
from vtdb.errors import VtdbError
from vtdb.media.sniff import AUDIO_OF, HEAD_BYTES, MEDIA_TYPES, sniff_media_type
from vtdb.records import Video
from vtdb.sources import OpenHandles, SourceUnavailable, UnknownSourceKind, source_for
from vtdb.state import COMPLETED, phase_field

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
    return not Video.from_meta(record).has_video


def phase1_refusal(record: Mapping[str, Any]) -> str | None:
    """Why the video's bytes are not served (Phase 1 has not accepted them), or None when it has: Phase 1
    completed (an audio-only file included: width 0 there means no picture, not "not probed"), or it probed
    the file as a video (size and length recorded) and does not hold it."""
    if record.get(phase_field("phase1", "held")):
        why = str(record.get(phase_field("phase1", "last_error")) or "").strip()
        return "Phase 1 refused it" + (f" ({why[:200]})" if why else "") + "; the web app serves only videos Phase 1 accepted"
    if record.get(phase_field("phase1", "status")) == COMPLETED:
        return None
    video = Video.from_meta(record)
    probed = (not video.has_video or video.width > 0) and video.video_duration > 0
    return None if probed else f"Phase 1 has not checked it yet; run {command('phase1')}, then play it here"


def _decided_type(head: bytes) -> str:
    media_type = sniff_media_type(head)
    if media_type is None:
        raise MediaUnavailable("its bytes are not a video container the web app serves (it never serves web pages, "
                               "scripts or other content an archive or a path may hold)")
    return media_type


class SourceHandles(OpenHandles):
    """What the sources keep open between the app's requests (vtdb.sources.OpenHandles): one per app."""


# The app's name for its handles, from when only ZIM archives kept any (vtdb/web/app.py, split elsewhere).
ZimMedia = SourceHandles


def media_body(record: Mapping[str, Any], handles: OpenHandles) -> MediaBody:
    """The bytes of a registered video (its record) that Phase 1 accepted, whatever its source kind, with the
    media type its bytes have (its audio type for an audio-only file); MediaUnavailable for anything else."""
    refusal = phase1_refusal(record)
    if refusal:
        raise MediaUnavailable(refusal)
    if not Video.from_meta(record).video_path:
        raise MediaUnavailable("the video's record names no source")
    try:
        source = source_for(record)
    except UnknownSourceKind:
        raise MediaUnavailable(f"the web app cannot play a {Video.from_meta(record).source_kind!r} source") from None
    except VtdbError:  # the kind refuses the location (a zim:// address without its #item)
        raise MediaUnavailable("the video's source address is malformed in its record") from None
    try:
        data = source.open_bytes(handles)
        head = b"".join(data.read(0, min(HEAD_BYTES, data.size) - 1))
    except SourceUnavailable as exc:
        raise MediaUnavailable(str(exc)) from None
    except OSError:
        raise MediaUnavailable("the video file is unreadable on the server") from None
    content_type = _decided_type(head)
    if is_audio_only(record):
        content_type = AUDIO_OF.get(content_type, content_type)
    return MediaBody(data.size, content_type, f'"{data.version}"', data.read)
