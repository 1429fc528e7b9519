"""A media file's type from its first bytes (its container's signature), never from a name or a declared type.

Here in `vtdb.media`, below both of its readers: the web player (which serves only what this recognises)
and the export (which names the copied file by it).
"""

from __future__ import annotations

HEAD_BYTES = 512  # what sniff_media_type reads

# Container signatures -> (media type, file extension). Only media: nothing here is a type a browser runs.
MEDIA_TYPES = {"video/webm": "webm", "video/x-matroska": "mkv", "video/mp4": "mp4", "video/quicktime": "mov",
               "audio/mp4": "m4a", "video/ogg": "ogv", "video/x-msvideo": "avi", "video/x-flv": "flv",
               "video/mp2t": "ts", "video/mpeg": "mpg", "video/x-ms-asf": "wmv", "audio/mpeg": "mp3",
               "audio/flac": "flac", "audio/wav": "wav", "audio/ogg": "ogg", "audio/webm": "weba",
               "audio/x-matroska": "mka"}

# A container that holds only sound (Phase 1 recorded has_video False) is served as its audio type: a browser
# then plays it in an <audio> element and names a download .weba/.mka/.m4a, not a video.
AUDIO_OF = {"video/webm": "audio/webm", "video/x-matroska": "audio/x-matroska", "video/mp4": "audio/mp4",
            "video/quicktime": "audio/mp4", "video/ogg": "audio/ogg"}

# The codec identification that opens the first packet of an Ogg stream: these are sound only (Theora is not).
_OGG_AUDIO = (b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   ")


def _ogg_type(head: bytes) -> str:
    """audio/ogg when the first Ogg page's packet names an audio codec (Vorbis, Opus, FLAC, Speex), else video/ogg."""
    if len(head) > 27:
        data = 27 + head[26]  # the page header (27 bytes), then its segment table of head[26] entries
        if head[data : data + 8].startswith(_OGG_AUDIO):
            return "audio/ogg"
    return "video/ogg"


def sniff_media_type(head: bytes) -> str | None:
    """The media type of a file from its first bytes (its container's signature), or None when they are not a
    media container this app serves (HTML, script, text, anything else)."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or its WebM profile (the DocType says which)
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head[4:8] == b"ftyp":  # ISO base media: the major brand says which
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        return "audio/mp4" if brand in (b"M4A ", b"M4B ") else "video/mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip") and head[:4] != b"\x00\x00\x00\x00":
        return "video/quicktime"  # an old QuickTime file without ftyp
    if head.startswith(b"OggS"):
        return _ogg_type(head)
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"FLV\x01"):
        return "video/x-flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-asf"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "video/mpeg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG-TS: a sync byte every 188 bytes
        return "video/mp2t"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return None
