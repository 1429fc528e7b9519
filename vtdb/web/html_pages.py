"""The web app's HTML, built with the standard library: every text that came from a video, a config,
an archive or a transcript goes through `esc` (html.escape), every URL part through `quote`, and data
for scripts goes into a JSON block that cannot close its <script> tag (`json_block`)."""

from __future__ import annotations

import html
import json
import math
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote, urlencode

from vtdb.commandline import command
from vtdb.records import Video
from vtdb.search.moments import Moment, snippet_parts
from vtdb.state import PHASE_ORDER, PHASES, phase_field
from vtdb.status_table import PhaseCell, StatusRow, phase_counts, status_row
from vtdb.timefmt import clock, clock_span, duration

# Bidirectional controls (U+202E and friends) reorder what follows them: a title "abc\u202etxt.exe" shows as
# "abcexe.txt". They are shown as visible marks, never applied.
_BIDI = {c: f"\u27e8U+{c:04X}\u27e9" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def esc(value: Any) -> str:
    return html.escape(("" if value is None else str(value)).translate(_BIDI), quote=True)


def url_part(value: Any) -> str:
    return quote(str(value), safe="")


def json_block(element_id: str, data: Any) -> str:
    """A <script type="application/json"> block; '<', '>' and '&' are \\u-escaped so no text closes the tag."""
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def layout(title: str, body: str, active: str = "", data: Mapping[str, Any] | None = None) -> str:
    active_attr = ' class="active"'
    nav = "".join(f'<a href="{href}"{active_attr if key == active else ""}>{label}</a>'
                  for key, href, label in (("search", "/", "Search"), ("status", "/status", "Status"),
                                           ("api", "/api", "API")))
    script = json_block("page-data", data) if data is not None else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)} · Video Tagging DB</title><link rel="stylesheet" href="/static/app.css"></head>'
            f'<body><header><a class="brand" href="/">Video Tagging DB</a><nav>{nav}</nav></header>'
            f'<main>{body}</main>{script}<script src="/static/app.js"></script></body></html>')


def error_page(status: int, message: str) -> str:
    return layout(f"Error {status}", f'<section class="error"><h1>Error {status}</h1><p class="message">{esc(message)}</p>'
                  '<p><a href="/">Back to search</a></p></section>')


# ---- pieces ----


def marked(text: str, query: str, width: int = 260) -> str:
    """The snippet of `text` around its first matched word (vtdb.search.moments.snippet_parts), matched words
    in <mark>, every part escaped."""
    snip = snippet_parts(text, query, width)
    rendered = "".join(f"<mark>{esc(p)}</mark>" if hit else esc(p) for p, hit in zip(snip.parts, snip.matches))
    return ("…" if snip.cut_before else "") + rendered + ("…" if snip.cut_after else "")


def highlight(text: str, query: str, width: int = 260) -> str:
    """The transcript snippet around the first matched word, matched words in <mark> (escaped HTML)."""
    return marked(text, query, width) if text else '<span class="dim">(no speech)</span>'


def on_screen(text: str, query: str = "", width: int = 260) -> str:
    """The text read on screen (OCR), cut to `width` around its first matched word, matched words marked;
    nothing at all (no empty label) when there is none."""
    if not text.strip():
        return ""
    return f'<p class="on-screen"><span class="label">on screen</span> {marked(text, query, width)}</p>'


def window_index(segment_id: str) -> int | None:
    tail = segment_id.rsplit("_seg_", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def strip(name: str, window: int | None, frames: int) -> str:
    if window is None or frames <= 0:
        return '<div class="strip empty"></div>'
    imgs = "".join(f'<img src="/thumbs/{url_part(name)}/{window}/{f}.jpg" alt="" loading="lazy" class="thumb">'
                   for f in range(frames))
    return f'<div class="strip">{imgs}</div>'


def audio_art(name: str, cover: bool, css: str = "strip audio") -> str:
    """What stands where an audio-only file's frames would: its cover picture (the /cover/ route), or a small
    neutral mark that loads nothing."""
    if cover:
        return (f'<div class="{css}"><img src="/cover/{url_part(name)}.jpg" alt="cover picture" loading="lazy" '
                f'class="thumb cover"></div>')
    return f'<div class="{css}"><span class="audio-mark" aria-label="audio only">♪ audio</span></div>'


def keyword_chips(keywords: Iterable[str]) -> str:
    chips = "".join(f'<span class="kw">{esc(k)}</span>' for k in keywords)
    return f'<div class="keywords">{chips}</div>' if chips else ""


def moment_card(m: Moment, query: str, frames: int, analyzer: str = "", retired: bool = False,
                audio: bool | None = None) -> str:
    """A search result. `audio`: None for a video (its frames' thumbnails), else the moment is of an audio-only
    file, and True when that file has a cover picture to show instead."""
    first = m.segment_ids[0] if m.segment_ids else ""
    start = int(m.start_time) if m.start_time is not None else 0
    href = f"/video/{url_part(m.video_name)}?t={start}"
    facts = [f'<span class="time">{esc(clock_span(m.start_time, m.end_time))}</span>',
             f'<span class="video-name">{esc(m.video_name)}</span>']
    facts += [esc(x) for x in (m.language, m.content_type) if x]
    if audio is not None:
        facts.append('<span class="badge audio">audio</span>')
    if analyzer:
        facts.append(f'<span class="analyzer">analyzer: {esc(analyzer)}</span>')
    facts.append(f'<span class="score">score {m.score:.4f} ({esc("+".join(m.modes))})</span>')
    if retired:
        facts.append('<span class="badge retired">retired</span>')
    similar = f' · <a class="similar" href="/similar/{url_part(first)}">more like this</a>' if first else ""
    picture = (strip(m.video_name, window_index(first) if first else None, frames) if audio is None
               else audio_art(m.video_name, audio))
    return (f'<article class="card" data-video="{esc(m.video_name)}" data-segment="{esc(first)}" data-start="{start}">'
            f'<a class="strip-link" href="{href}">{picture}</a>'
            f'<div class="card-body"><h2 class="title"><a class="open" href="{href}">{esc(m.title)}</a></h2>'
            f'<div class="facts">{" · ".join(facts)}</div>'
            f'<p class="description">{esc(m.description)}</p>'
            f'<blockquote class="snippet">{highlight(m.transcript, query)}</blockquote>{on_screen(m.on_screen_text, query)}'
            f'{keyword_chips(m.keywords)}<div class="links"><a href="{href}">play from {esc(clock(m.start_time))}</a>{similar}</div>'
            f'</div></article>')


def pager(params: Mapping[str, Any], page: int, more: bool) -> str:
    def link(p: int, label: str) -> str:
        return f'<a class="page" href="/?{esc(urlencode({**params, "page": p}, doseq=True))}">{label}</a>'

    parts = []
    if page > 1:
        parts.append(link(page - 1, "← previous"))
    parts.append(f'<span class="page-no">page {page}</span>')
    if more:
        parts.append(link(page + 1, "next →"))
    return f'<nav class="pager">{" ".join(parts)}</nav>'


_VIDEO_BOX = 'size=16 placeholder="name(s), comma-separated"'


def search_form(values: Mapping[str, str], tab: str) -> str:
    """The search form. The video filter is a text box (names, comma-separated), not a list of every video: a
    library of 10,000 would make every search page a 10,000-item dropdown."""
    def field(name: str, label: str, kind: str = "text", extra: str = "") -> str:
        return (f'<label>{label} <input type="{kind}" name="{name}" value="{esc(values.get(name, ""))}" {extra}></label>')

    tabs = "".join(f'<label class="tab"><input type="radio" name="tab" value="{t}"{" checked" if t == tab else ""}> {label}</label>'
                   for t, label in (("moments", "moments"), ("videos", "whole videos")))
    checked = " checked" if values.get("retired") == "1" else ""
    return (f'<form class="search" method="get" action="/"><div class="query-row">'
            f'<input class="query" type="search" name="q" value="{esc(values.get("q", ""))}" placeholder="what are you looking for? (any language)" autofocus>'
            f'<button type="submit">Search</button></div><div class="tabs">{tabs}</div>'
            f'<details class="filters"{" open" if any(values.get(k) for k in ("video", "language", "content_type", "from", "to", "keyword")) else ""}>'
            f'<summary>filters</summary>'
            f'{field("video", "video", "search", _VIDEO_BOX)}'
            f'{field("language", "language", extra="size=4 placeholder=en")}'
            f'{field("content_type", "content type", extra="size=12")}'
            f'{field("from", "from (s)", "number", "min=0 step=any")}{field("to", "to (s)", "number", "min=0 step=any")}'
            f'{field("keyword", "keyword", extra="size=12")}'
            f'<label><input type="checkbox" name="retired" value="1"{checked}> include retired videos</label>'
            f'</details></form>')


def video_hit_card(hit: Any, retired: bool) -> str:
    href = f"/video/{url_part(hit.name)}"
    badge = ' <span class="badge retired">retired</span>' if retired else ""
    return (f'<article class="card video-card" data-video="{esc(hit.name)}"><div class="card-body">'
            f'<h2 class="title"><a class="open" href="{href}">{esc(hit.title)}</a>{badge}</h2>'
            f'<div class="facts"><span class="video-name">{esc(hit.name)}</span> · {esc(duration(hit.duration))}'
            f' · {esc(hit.content_type)} · score {hit.score:.4f}</div>'
            f'<p class="description">{esc(hit.summary)}</p>{keyword_chips(hit.keywords)}</div></article>')


# ---- status ----


def phase_cell(cell: PhaseCell) -> str:
    text = f'<span class="st {esc(cell.status)}">{esc(cell.status)}</span>'
    if cell.count:
        text += f" ({esc(cell.count)})"
    if cell.attempts:
        text += f' <span class="attempts">×{cell.attempts}</span>'
    if cell.stale is not None:
        text += f' <span class="badge stale" title="{esc(cell.stale)}">STALE</span>'
    if cell.held:
        text += ' <span class="badge held">HELD</span>'
    return f'<td class="phase" data-phase="{esc(cell.phase)}">{text}</td>'


def action_forms(name: str, csrf: str) -> str:
    options = "".join(f'<option value="{PHASES[p].number}">{PHASES[p].label}</option>' for p in PHASE_ORDER)
    hidden = f'<input type="hidden" name="name" value="{esc(name)}"><input type="hidden" name="csrf" value="{esc(csrf)}">'
    return (f'<form method="post" action="/actions/reset" class="action">{hidden}<select name="phase">{options}</select>'
            f'<button type="submit">reset</button></form>'
            f'<form method="post" action="/actions/release" class="action">{hidden}<button type="submit">release</button></form>')


STATUS_ROWS = 100  # rows of the status table per page


def status_rows(records: Sequence[Mapping[str, Any]], video: str = "", page: int = 1,
                per_page: int = STATUS_ROWS) -> tuple[list[Mapping[str, Any]], int, int]:
    """(the rows of `page`, how many records match `video`, the number of pages): `video` is a part of the name
    or title, any case."""
    wanted = video.strip().casefold()
    matching = [r for r in records if _names(Video.from_meta(r), wanted)] if wanted else list(records)
    pages = max(1, -(-len(matching) // per_page))
    page = min(max(1, page), pages)
    return matching[(page - 1) * per_page : page * per_page], len(matching), pages


def _names(video: Video, wanted: str) -> bool:
    return wanted in video.name.casefold() or wanted in video.title.casefold()


def status_pager(page: int, pages: int, video: str) -> str:
    if pages <= 1:
        return ""

    def link(p: int, label: str) -> str:
        query = urlencode({k: v for k, v in (("video", video), ("page", p)) if v})
        return f'<a class="page" href="/status?{esc(query)}">{label}</a>'

    parts = ([link(1, "« first"), link(page - 1, "← previous")] if page > 1 else [])
    parts.append(f'<span class="page-no">page {page} of {pages}</span>')
    parts += ([link(page + 1, "next →"), link(pages, "last »")] if page < pages else [])
    return f'<nav class="pager">{" ".join(parts)}</nav>'


def status_filter(video: str) -> str:
    return (f'<form class="status-filter" method="get" action="/status"><input type="search" name="video" '
            f'value="{esc(video)}" placeholder="filter videos by name or title"> <button type="submit">filter</button></form>')


def status_fragment(records: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]], location: str,
                    csrf: str | None, message: str = "", page: int = 1, video: str = "",
                    counts: Mapping[str, Mapping[str, int]] | None = None) -> str:
    """The live part of the status page: counts over every record (`counts`, when made already), the table for one
    page of them (those whose name or title holds `video`), the event log's tail."""
    counts = counts if counts is not None else phase_counts(records)
    every = len(records)
    records, matching, pages = status_rows(records, video, page)
    page = min(max(1, page), pages)
    head = "".join(f"<th>{PHASES[p].label}</th>" for p in PHASE_ORDER)
    summary = "".join(
        f'<div class="total" data-phase="{p}"><b>{PHASES[p].label}</b> {c["completed"]}/{every} completed'
        f' · {c["processing"]} processing · {c["pending"]} pending'
        + (f' · <span class="badge held">{c["held"]} held</span>' if c["held"] else "")
        + (f' · <span class="badge stale">{c["stale"]} stale</span>' if c["stale"] else "") + "</div>"
        for p, c in counts.items())
    rows = [status_table_row(status_row(r), csrf) for r in records]
    table = (f'<table class="status"><thead><tr><th>video</th><th>duration</th><th>segments</th>{head}<th>last error</th>'
             f'{"<th>actions</th>" if csrf else ""}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
             if rows else '<p class="dim">no videos match</p>' if every else
             f'<p class="dim">no videos yet: run {esc(command("phase1"))}</p>')
    event_rows = "".join(
        f'<tr><td class="dim">{esc(e.get("ts", ""))}</td><td>{esc(e.get("event", ""))}</td><td>{esc(e.get("phase", ""))}</td>'
        f'<td>{esc(e.get("video", ""))}</td><td>{esc(_event_text(e))}</td></tr>' for e in reversed(events))
    flash = f'<p class="flash">{esc(message)}</p>' if message else ""
    shown = f"{every} videos" + (f", {matching} matching “{esc(video.strip())}”" if video.strip() else "")
    if pages > 1:
        shown += f", rows {(page - 1) * STATUS_ROWS + 1}–{(page - 1) * STATUS_ROWS + len(records)}"
    return (f'{flash}<p class="dim">{esc(location)} · {shown}</p><div class="totals">{summary}</div>'
            f'{status_pager(page, pages, video)}{table}'
            f'<h2>Event log (latest first)</h2><table class="events"><tbody>{event_rows}</tbody></table>')


def _event_text(event: Mapping[str, Any]) -> str:
    skip = {"ts", "event", "phase", "video", "host", "pid", "claim_id"}
    return ", ".join(f"{k}={v}" for k, v in event.items() if k not in skip)


def status_table_row(row: StatusRow, csrf: str | None) -> str:
    """One video's row of the status page's table (with its action forms when given a token)."""
    retired = ' <span class="badge retired">retired</span>' if row.retired else ""
    actions = f"<td>{action_forms(row.name, csrf)}</td>" if csrf else ""
    return (f'<tr data-video="{esc(row.name)}"><td><a href="/video/{url_part(row.name)}">{esc(row.name)}</a>{retired}'
            f'<div class="dim">{esc(row.title)}</div></td><td>{esc(row.duration)}</td><td>{row.segments}</td>'
            f'{"".join(map(phase_cell, row.cells))}<td class="error-cell">{esc(row.last_error)}</td>{actions}</tr>')


def video_status_table(record: Mapping[str, Any]) -> str:
    rows = []
    for cell in status_row(record).cells:
        err = record.get(phase_field(cell.phase, "last_error")) or ""
        when = record.get(phase_field(cell.phase, "end_time")) or record.get(phase_field(cell.phase, "start_time")) or ""
        rows.append(f'<tr><th>{PHASES[cell.phase].label}</th>{phase_cell(cell)}<td class="dim">{esc(when)}</td>'
                    f'<td class="error-cell">{esc(err)}</td></tr>')
    return f'<table class="status video-status"><tbody>{"".join(rows)}</tbody></table>'


def chapters_list(chapters: Sequence[Mapping[str, Any]]) -> str:
    items = []
    for ch in chapters:
        try:
            start = max(0.0, float(ch.get("start", 0) or 0))
        except (TypeError, ValueError):
            continue
        items.append(f'<li><button type="button" class="chapter" data-seek="{start:.3f}">'
                     f'<span class="time">{esc(clock(start))}</span> {esc(ch.get("title") or "")}</button></li>')
    return f'<ol class="chapters">{"".join(items)}</ol>' if items else '<p class="dim">no chapters</p>'


def window_rows(rows: Sequence[Mapping[str, Any]], name: str) -> str:
    out = []
    for w in rows:
        translation = (f'<div class="translation"><span class="dim">translation:</span> {esc(w["translation"])}</div>'
                       if w.get("translation") else "")
        similar = (f' <a class="similar" href="/similar/{url_part(w["segment_id"])}">more like this</a>' if w.get("segment_id") else "")
        read_on_screen = str(w.get("on_screen_text") or "")
        out.append(f'<li class="window" data-start="{w["start"]:.3f}" data-end="{w["end"]:.3f}">'
                   f'<button type="button" class="seek" data-seek="{w["start"]:.3f}">{esc(clock_span(w["start"], w["end"]))}</button>'
                   f'{similar}{strip(name, w.get("window"), w.get("frames", 0))}'
                   f'<div class="description">{esc(w.get("description", ""))}</div>'
                   f'<div class="transcript">{esc(w.get("text", "")) or "<span class=dim>(no speech)</span>"}</div>{translation}'
                   f'{on_screen(read_on_screen, width=len(read_on_screen))}</li>')  # all of it: no query to cut around
    return f'<ol class="windows">{"".join(out)}</ol>' if out else '<p class="dim">no windows yet (Phase 1 makes them)</p>'


# ---- whole pages ----


def refusal(exc: Any) -> str:
    """A refused query, where its results would be."""
    return f'<p class="error message">{esc(exc)}</p>'


def _cut_note(cut: str) -> str:
    return f'<p class="note">{esc(cut)}</p>' if cut else ""


def search_page(query: str, values: Mapping[str, str], tab: str, results: str) -> str:
    return layout(query or "Search", search_form(values, tab) + f'<section class="results">{results}</section>', "search")


def moment_results(shown: Sequence[Moment], query: str, frames: int, analyzers: Mapping[str, str],
                   retired: Iterable[str], audio: Mapping[str, bool], cut: str, keep: Mapping[str, Any], page: int,
                   more: bool) -> str:
    """One page of moments: a card each, the note that the query was cut, the pager."""
    retired = set(retired)
    cards = "".join(moment_card(m, query, frames, analyzers.get(m.segment_ids[0], "") if m.segment_ids else "",
                                m.video_name in retired, audio.get(m.video_name)) for m in shown)
    found = (f'<p class="count">{len(shown)} moments on this page</p>{cards}' if shown
             else '<p class="none">no matching moments</p>')
    return _cut_note(cut) + found + pager(keep, page, more)


def video_results(hits: Sequence[Any], retired: Iterable[str], cut: str) -> str:
    retired = set(retired)
    cards = "".join(video_hit_card(h, h.name in retired) for h in hits)
    return _cut_note(cut) + (cards or '<p class="none">no summarized videos match (Phase 4 fills them)</p>')


def similar_page(result: Any, frames: int, retired: Iterable[str], audio: Mapping[str, bool]) -> str:
    """"More like this": the moment, then the nearest ones in other videos and in its own."""
    retired = set(retired)

    def cards(moments: Sequence[Moment]) -> str:
        return "".join(moment_card(m, "", frames, retired=m.video_name in retired, audio=audio.get(m.video_name))
                       for m in moments) or '<p class="none">nothing similar here</p>'

    source = moment_card(result.source, "", frames, audio=audio.get(result.source.video_name))
    body = (f'<h1>More like this</h1><section class="source">{source}</section>'
            f'<section class="similar-other"><h2>In other videos</h2>{cards(result.other_videos)}</section>'
            f'<section class="similar-same"><h2>In the same video</h2>{cards(result.same_video)}</section>')
    return layout("More like this", body, "search")


def _player(name: str, start: float, tracks: str | None, cover: bool) -> tuple[str, str]:
    """(the player, the mark before the file's name): <video> with its subtitle `tracks`, or for an audio-only
    file (`tracks` None) <audio> under its cover picture or mark."""
    src = f"/media/{url_part(name)}"
    at = f'src="{src}#t={start:.3f}" data-start="{start:.3f}"'
    if tracks is None:
        return (f'{audio_art(name, cover, "audio-art")}<audio id="player" controls preload="metadata" {at}></audio>',
                '<span class="badge audio">audio</span> · ')
    return f'<video id="player" controls preload="metadata" {at}>{tracks}</video>', ""


def video_page(info: Mapping[str, Any], t: float, tracks: str | None, cover: bool) -> str:
    """The video page: the player from second `t`, chapters, summary, processing status, the windows. `info` as
    /api/videos/{name}; `tracks`: the <track> elements, None for an audio-only file."""
    name, record = str(info["name"]), info["record"]
    start = t if math.isfinite(t) and t > 0 else 0.0  # ?t=inf or nan: from the start (JSON has no Infinity)
    video = Video.from_meta(record)
    retired = (f'<p class="badge retired">retired {esc(video.retired_at)}: {esc(video.retired_reason)}</p>'
               if info["retired"] else "")
    player, kind = _player(name, start, tracks, cover)
    body = (f'<article class="video-page" data-video="{esc(name)}">'
            f'<h1 class="title">{esc(info["title"])}</h1>{retired}'
            f'<div class="player-row"><div class="player-box">{player}'
            f'<p class="dim">{kind}{esc(name)} · {esc(duration(video.video_duration))} · '
            f'<a href="/media/{url_part(name)}">media</a></p></div>'
            f'<aside><h2>Chapters</h2>{chapters_list(info["chapters"])}</aside></div>'
            f'<section class="summary"><h2>Summary</h2><p>{esc(info["summary"]) or "<span class=dim>(Phase 4 writes it)</span>"}</p>'
            f'{keyword_chips(info["keywords"])}<p class="dim">{esc(video.description)}</p></section>'
            f'<section><h2>Processing</h2>{video_status_table({**record, "flags": info["flags"]})}</section>'
            f'<section><h2>Transcript by window</h2>{window_rows(info["windows"], name)}</section></article>')
    return layout(info["title"], body, "", {"start": start})


def _flash(message: str) -> str:
    return f'<p class="flash">{esc(message)}</p>' if message else ""


def status_loading(message: str) -> str:
    """The status page's live part while a server just started still reads every record once."""
    return _flash(message) + '<p class="dim loading">reading the records of every video (once, after the server started) …</p>'


def status_page(live: str, source: str, video: str, every: float, actions: bool) -> str:
    """The status page: its live part (`live`, reloaded from `source` every `every` seconds by app.js)."""
    note = ("" if actions else
            '<p class="dim">read-only: start the server with --allow-actions to reset or release videos here</p>')
    body = (f'<h1>Pipeline status</h1>{note}{status_filter(video)}<div id="status-live" data-src="{esc(source)}" '
            f'data-every="{every:g}">{live}</div>')
    return layout("Status", body, "status")


def api_index(routes: Iterable[tuple[str, str, str]]) -> str:
    """The API's index: each documented (path, methods, summary)."""
    rows = "".join(f"<li><code>{esc(m)} {esc(p)}</code> — {esc(s)}</li>" for p, m, s in routes)
    return layout("API", f'<h1>REST API</h1><p>OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>'
                         f'</p><ul class="api">{rows}</ul>', "api")
