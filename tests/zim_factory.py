"""Builds real ZIM archives for the tests with libzim's Creator (youtube2zim v3 and v2 layouts,
and a generic one), holding real media and real JSON/VTT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from libzim.writer import Creator, Hint, Item, StringProvider


class _Item(Item):
    def __init__(self, path: str, mimetype: str, data: bytes | str, title: str = ""):
        super().__init__()
        self._path, self._mimetype, self._title = path, mimetype, title
        self._data = data.encode("utf-8") if isinstance(data, str) else data

    def get_path(self) -> str:
        return self._path

    def get_title(self) -> str:
        return self._title

    def get_mimetype(self) -> str:
        return self._mimetype

    def get_contentprovider(self):
        # libzim may ask more than once: a new provider every time (STACK.md).
        return StringProvider(self._data)

    def get_hints(self):
        return {Hint.FRONT_ARTICLE: self._mimetype == "text/html", Hint.COMPRESS: not self._mimetype.startswith("video/")}


def write_zim(path: Path, items: Iterable[tuple[str, str, bytes | str, str]], metadata: dict | None = None,
              redirects: Iterable[tuple[str, str]] = ()) -> Path:
    """items: (path, mimetype, data, title). A main page is added."""
    meta = {"Title": "Test archive", "Language": "eng", "Publisher": "Test publisher", "Scraper": "youtube2zim 3.2.0",
            "Date": "2024-05-01", "Name": "test_archive", "Description": "A test archive", "Creator": "tests"}
    meta.update(metadata or {})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Creator(str(path)).config_indexing(False, "eng") as creator:
        creator.set_mainpath("index.html")
        for key, value in meta.items():
            creator.add_metadata(key, value)
        creator.add_item(_Item("index.html", "text/html", "<html><body>home</body></html>", "Home"))
        for item_path, mimetype, data, title in items:
            creator.add_item(_Item(item_path, mimetype, data, title))
        for source, target in redirects:
            creator.add_redirection(source, source, target, {Hint.FRONT_ARTICLE: False})
    return path


def vtt(cues: list[tuple[float, float, str]]) -> str:
    def ts(t: float) -> str:
        h, rem = divmod(t, 3600)
        m, s = divmod(rem, 60)
        return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"

    return "WEBVTT\n\n" + "\n\n".join(f"{ts(a)} --> {ts(b)}\n{text}" for a, b, text in cues) + "\n"


def youtube2zim_v3_items(videos: list[dict]) -> list[tuple[str, str, bytes | str, str]]:
    """videos: {id, slug, title, description, media: bytes, ext, subtitles: {code: vtt_text}, chapters: [..], duration}"""
    items = []
    for v in videos:
        vid, ext = v["id"], v.get("ext", "mp4")
        video_path = f"videos/{vid}/video.{ext}"
        items.append((video_path, f"video/{ext}", v["media"], ""))
        subs = v.get("subtitles", {})
        for code, text in subs.items():
            items.append((f"videos/{vid}/video.{code}.vtt", "text/vtt", text, ""))
        if v.get("chapters_vtt"):
            items.append((f"videos/{vid}/chapters.vtt", "text/vtt", v["chapters_vtt"], ""))
        doc = {
            "id": vid,
            "title": v.get("title", vid),
            "description": v.get("description", ""),
            "videoPath": v.get("videoPath", video_path),
            "thumbnailPath": f"videos/{vid}/video.jpg",
            "subtitlePath": f"videos/{vid}",
            "subtitleList": [{"code": c, "name": c.upper()} for c in subs],
            "chaptersPath": f"videos/{vid}" if v.get("chapters_vtt") or v.get("chapters") else None,
            "chapterList": v.get("chapters", []),
            "duration": v.get("duration", "PT1M"),
            "publicationDate": v.get("publicationDate", "2024-03-01"),
        }
        items.append((f"videos/{v.get('slug', vid)}.json", "application/json", json.dumps(doc, ensure_ascii=False), ""))
    return items


def youtube2zim_v2_items(playlist: str, videos: list[dict],
                         more_playlists: dict[str, list[str]] | None = None) -> list[tuple[str, str, bytes | str, str]]:
    """A legacy youtube2zim archive's items; `more_playlists` adds `var json_<name> = [...]` lines
    listing some of the same videos again (by id), as channels with several playlists do."""
    items = []
    entries = []
    for v in videos:
        vid, ext = v["id"], v.get("ext", "webm")
        items.append((f"videos/{vid}/video.{ext}", f"video/{ext}", v["media"], ""))
        for code, text in v.get("subtitles", {}).items():
            items.append((f"videos/{vid}/video.{code}.vtt", "text/vtt", text, ""))
        entries.append({"id": vid, "title": v.get("title", vid), "slug": v.get("slug", vid), "description": v.get("description", ""),
                        "subtitles": list(v.get("subtitles", {})), "thumbnail": f"videos/{vid}/video.jpg"})
    lines = [f"var json_{playlist} = {json.dumps(entries, ensure_ascii=False)};"]
    for name, ids in (more_playlists or {}).items():
        lines.append(f"var json_{name} = {json.dumps([e for e in entries if e['id'] in ids], ensure_ascii=False)};")
    items.append(("assets/data.js", "application/javascript", "\n".join(lines) + "\n", ""))
    return items
