"""ZIM archives at any size (issue 16): listing videos keeps memory flat however many entries an archive
holds (zimit archives hold millions), and undecodable titles are warnings naming the entry.

Real archives written with libzim's Creator; the big one holds 60,000 small non-video entries beside
its videos (bench/zim_scale.py measures 1,000,000). Memory is measured with tracemalloc: what Python
allocates while listing, which a dict of every entry (the old way) would make grow with the archive.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest
from zim_factory import write_zim, youtube2zim_v3_items

from vtdb.sources.fingerprint import FingerprintCache
from vtdb.sources.zim import list_zim_videos

FILLER = 60_000


def filler(n: int):
    """Small non-video entries, streamed into the writer (never a list of them)."""
    for i in range(n):
        yield (f"warc/page{i:07d}.txt", "text/plain", f"page {i}", "")


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("zim_scale")

    def v3_items():
        yield from youtube2zim_v3_items([{"id": f"bigVideo{i:03d}", "title": f"Video {i}", "media": bytes([i]) * 3000}
                                         for i in range(3)])
        yield from filler(FILLER)

    def generic_items():
        yield ("media/first.mp4", "video/mp4", b"\x01" * 2000, "First clip")
        yield from filler(FILLER // 2)
        yield ("media/second.webm", "video/webm", b"\x02" * 2000, "Second clip")

    return {"v3": write_zim(d / "big_v3.zim", v3_items()), "generic": write_zim(d / "big_generic.zim", generic_items())}


def _listed(path: Path, **kwargs):
    tracemalloc.start()
    try:
        result = list_zim_videos(path, **kwargs)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_listing_a_huge_archive_keeps_memory_flat(big):
    (info, videos, problems), peak = _listed(big["v3"], fingerprints=FingerprintCache(None))
    assert [v.video_id for v in videos] == ["bigVideo000", "bigVideo001", "bigVideo002"] and problems == []
    assert all(v.size == 3000 and v.content_fingerprint.startswith("content:v1:size=3000:") for v in videos)
    # A dict of 60,000 entries (path string + Entry object each) alone is several MB; the listing stays far under.
    assert peak < 1_000_000, f"listing allocated {peak} bytes at its peak"
    (_info, generic, _p), peak = _listed(big["generic"])
    assert [(v.entry, v.title) for v in generic] == [("media/first.mp4", "First clip"), ("media/second.webm", "Second clip")]
    assert peak < 1_000_000, f"listing allocated {peak} bytes at its peak"


def test_the_archives_own_listing_is_used_when_it_has_one(tmp_path):
    # youtube2zim v3 names its playlists in home.json and each playlist's videos: no walk over the entries.
    items = youtube2zim_v3_items([{"id": "listedVid01", "slug": "listed", "title": "Listed", "media": b"\x05" * 500},
                                  {"id": "hiddenVid01", "slug": "hidden", "title": "Not in a playlist", "media": b"\x06" * 500}])
    items.append(("home.json", "application/json", '{"playlists": [{"slug": "uploads", "title": "Uploads"}]}', ""))
    items.append(("playlists/uploads.json", "application/json", '{"videos": [{"slug": "listed", "id": "listedVid01"}]}', ""))
    path = write_zim(tmp_path / "listed.zim", items)
    _info, videos, problems = list_zim_videos(path)
    assert [v.video_id for v in videos] == ["listedVid01"] and problems == []


def _patch_title(path: Path, title: bytes, bad: bytes) -> None:
    """Replace a dirent's title bytes in place (same length) and fix the archive's MD5 checksum (its last 16 bytes)."""
    raw = bytearray(path.read_bytes())
    at = raw.find(b"\x00" + title + b"\x00")
    assert at > 0 and raw.count(title) == 1
    raw[at + 1 : at + 1 + len(title)] = bad
    raw[-16:] = hashlib.md5(bytes(raw[:-16])).digest()
    path.write_bytes(bytes(raw))


def test_an_undecodable_title_is_a_warning_naming_the_entry(tmp_path):
    path = write_zim(tmp_path / "odd.zim", [("media/odd.mp4", "video/mp4", b"\x03" * 900, "TitleMarkX"),
                                            ("media/fine.mp4", "video/mp4", b"\x04" * 900, "Fine title")])
    _patch_title(path, b"TitleMarkX", b"Title\xff\xfeMkX")
    warnings: list[str] = []
    _info, videos, problems = list_zim_videos(path, warnings=warnings)
    by = {v.entry: v for v in videos}
    assert set(by) == {"media/odd.mp4", "media/fine.mp4"} and problems == []
    assert by["media/fine.mp4"].title == "Fine title"
    assert by["media/odd.mp4"].title == "odd.mp4"  # the file name, not silently mangled text
    assert len(warnings) == 1 and "media/odd.mp4" in warnings[0] and "UTF-8" in warnings[0], warnings
