"""The links and pages of a disaster-clippy pack: what its app can open.

Its app links three kinds of URL and nothing else (a file:// URL shows as plain text):
- `http(s)://…` (opened online),
- `/backup/{source_id}/…`, served from the source folder (pages/ first, then the folder itself),
- `/zim/{zim_source}/{entry}`, an item of a ZIM archive it holds as source `zim_source` (its own
  source id for an archive: the file name's stem, lower case, spaces to '-').

The backup server rewrites every `href="/…"` / `src="/…"` of a page it serves to
`/backup/{source_id}/…`, and `../x` to `/backup/{source_id}/x`: a page therefore links its moments as
`#t=SS` and its media as `../media/…`, and keeps a /zim/ address out of href/src attributes (the
script sets it).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence
from urllib.parse import quote

from vtdb.records import Video
from vtdb.sources import source_for
from vtdb.timefmt import clock_span


class PageDoc(Protocol):
    url: str
    start_sec: int
    end_sec: int
    content: str


@dataclass(frozen=True)
class Player:
    """The page's embedded player: a file of the pack (media/) or an item of a ZIM archive."""

    kind: str  # "media" | "zim"
    src: str  # ../media/{file} or /zim/{zim_source}/{entry}
    audio: bool = False  # an audio-only file (Phase 1 found no video stream): an <audio> element plays it


def archive_item(record: Mapping[str, object]) -> tuple[str, str] | None:
    """(archive, item) when the video is an item of an archive the pack's app serves (/zim/…), else None."""
    return source_for(record).archive_item()


def zim_source_id(archive: str, overrides: Mapping[str, str] | None = None) -> str:
    """The id disaster-clippy gives an archive: its own default (the archive's stem, lower case,
    whitespace to '-', stripped of '._-'), unless `overrides` maps the stem (or the path) to another."""
    stem = Path(archive).stem
    for key in (archive, stem):
        if overrides and key in overrides:
            return overrides[key]
    safe = re.sub(r'[<>:"/\\|?*]', "_", stem)
    return re.sub(r"\s+", "-", safe).strip("._-").lower()[:100]


def item_url(item: tuple[str, str], overrides: Mapping[str, str] | None = None) -> str:
    """The pack app's address of an archive item: /zim/{zim_source}/{entry}."""
    archive, entry = item
    return f"/zim/{zim_source_id(archive, overrides)}/{quote(entry)}"


def page_path(source_id: str, name: str) -> str:
    return f"/backup/{source_id}/pages/{quote(name)}.html"


def online_url(record: Mapping[str, object], t: int, base_url: str) -> str:
    """The video on the internet at second t, or "" when it has no known address there."""
    video = Video.from_meta(record)
    if video.youtube_id:
        return f"https://www.youtube.com/watch?v={quote(video.youtube_id)}&t={t}s"
    path = video.video_path
    if base_url and path and archive_item(record) is None:
        return f"{base_url.rstrip('/')}/{quote(Path(path).name)}#t={t}"
    return ""


def doc_urls(record: Mapping[str, object], start: float, source_id: str, base_url: str = "", has_media: bool = False,
             zim_sources: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(url, local_url) of a moment. local_url: the pack's page at the moment, except a ZIM video whose
    file is not in the pack (its archive item, /zim/…). url: the online address when one is known (only
    `url` survives disaster-clippy's reindex_pack), else local_url."""
    t = int(start)
    item = None if has_media else archive_item(record)
    if item is not None:
        local = f"{item_url(item, zim_sources)}#t={t}"
    else:
        local = f"{page_path(source_id, Video.from_meta(record).name)}#t={t}"
    return online_url(record, t, base_url) or local, local


def player_for(record: Mapping[str, object], media_file: str | None, zim_sources: Mapping[str, str] | None = None) -> Player | None:
    audio = not Video.from_meta(record).has_video  # absent on records from before audio-only files: a video
    if media_file:
        return Player("media", f"../media/{quote(media_file)}", audio)
    item = archive_item(record)
    if item is not None:
        return Player("zim", item_url(item, zim_sources), audio)
    return None


# Seeks the player to the page's #t= (on load and on every moment clicked). A server that sends no
# byte ranges (disaster-clippy's backup server sends whole files) leaves the video unseekable, so
# the page then plays a Blob of the whole file, which the browser can seek in. No href/src attribute
# is written here: the backup server would rewrite it.
SEEK_SCRIPT = """<script>
(function () {
  var v = document.getElementById("player");
  var blobbed = false;
  function wanted() {
    var m = /(?:^#|&)t=(\\d+(?:\\.\\d+)?)/.exec(window.location.hash);
    return m ? parseFloat(m[1]) : null;
  }
  function canSeek(t) {
    for (var i = 0; i < v.seekable.length; i++) {
      if (v.seekable.start(i) <= t && t <= v.seekable.end(i)) { return true; }
    }
    return false;
  }
  function go(t) {
    if (t === 0 || canSeek(t) || blobbed || !window.fetch || !v.currentSrc || v.currentSrc.indexOf("blob:") === 0) {
      v.currentTime = t;
      return;
    }
    blobbed = true;
    fetch(v.currentSrc).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.blob();
    }).then(function (b) {
      v.addEventListener("loadedmetadata", function () { var w = wanted(); v.currentTime = w === null ? t : w; }, {once: true});
      v.src = URL.createObjectURL(b);
    }).catch(function () { v.currentTime = t; });
  }
  function seek() {
    var t = wanted();
    if (v === null || t === null) { return; }
    if (v.readyState >= 1) { go(t); }
    else { v.addEventListener("loadedmetadata", function () { go(t); }, {once: true}); }
  }
  if (v !== null && v.dataset.zim && !v.currentSrc) { v.src = v.dataset.zim; }
  window.addEventListener("hashchange", seek);
  seek();
})();
</script>"""


def _player_html(player: Player | None, online: str, tracks: str = "") -> str:
    e = html.escape
    if player is None:
        where = f' <a href="{e(online)}">Watch it online</a>.' if online else ""
        return f'<p class="no-player">The video is not in this pack (export with --include-media to play it here).{where}</p>'
    # Browsers show no subtitle cues on <audio>: an audio-only file's page has no tracks (the transcript is below).
    tag, tracks = ("audio", "") if player.audio else ("video", tracks)
    source = f'src="{e(player.src)}"' if player.kind == "media" else f'data-zim="{e(player.src)}"'
    return f'<{tag} id="player" controls preload="metadata" {source}>{tracks}</{tag}>'


def page_html(record: Mapping[str, object], docs: Sequence[PageDoc], transcript: str, player: Player | None,
              language: str = "en", base_url: str = "", tracks: str = "") -> str:
    """The video's page: title, player (with `tracks`, its <track> elements), summary, moments (each #t=, seeking
    the player), transcript. Every text from the video or the database is escaped."""
    e = html.escape
    video = Video.from_meta(record)
    title = video.title or video.name
    speech_lang = video.transcript_language or video.language
    rows = []
    for d in docs:
        stamp = clock_span(d.start_sec, d.end_sec, "m:ss")
        text = e(d.content.split("\n", 1)[-1][:400])
        online = d.url if d.url.startswith(("http://", "https://")) else ""
        extra = f' <a class="online" href="{e(online)}">online</a>' if online else ""
        rows.append(f'<li><a class="moment" href="#t={d.start_sec}">{stamp}</a>{extra} {text}</li>')
    summary = e(video.summary).replace("\n\n", "</p><p>")
    lang_attr = f' lang="{e(speech_lang)}"' if speech_lang else ""
    return (f'<!doctype html><html lang="{e(language)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title></head><body><h1>{e(title)}</h1>"
            f"{_player_html(player, online_url(record, 0, base_url), tracks)}"
            f"<h2>Summary</h2><p>{summary or '(no summary yet)'}</p>"
            f"<h2>Moments</h2><ol>{''.join(rows)}</ol>"
            f"<h2>Transcript</h2><p class=\"transcript\"{lang_attr}>{e(transcript) or '(no speech)'}</p>"
            f"{SEEK_SCRIPT}</body></html>\n")
