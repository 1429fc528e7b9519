"""What the web app's routes read from the library and write to it, with no web framework in here: the
searches (the query embedded outside the database lock), a video's windows, a segment, "more like this",
and the two actions. Reads hold the app's shared lock (WebState.lock); the actions take the embedded
database's own lock for the moment they write (vtdb.store.access)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from vtdb.commandline import command
from vtdb.lock import LockHeld
from vtdb.naming import UnsafeNameError
from vtdb.records import ON_SCREEN_SEPARATOR, Segment, Video, segment_span
from vtdb.search.similar import UnknownSegmentError, similar_moments
from vtdb.state import PHASE_ORDER, phase_field
from vtdb.store.access import holder_text, writing
from vtdb.store.segments import as_meta
from vtdb.web import html_pages
from vtdb.web.errors import HttpError
from vtdb.web.media import is_audio_only
from vtdb.web.params import SearchParams, cut_query
from vtdb.web.state import WebState

VIDEO_HITS = 20  # whole videos on the search page's "whole videos" tab


def embedder(state: WebState) -> Any:
    """The query embedder: checked against the database under its lock (a quick read), loaded outside it
    (seconds, once), so that the first search does not stop the other requests either."""
    if state.model is None:
        from vtdb.embedders import embedder_dimension, load_embedder

        name = state.db.settings.embedder
        with state.lock:
            state.db.check_embedder(name, embedder_dimension(name))
        with state.embed_lock:
            state.model = load_embedder(name)
    return state.model


def prepare_query(state: WebState, query: str, mode: str = "hybrid") -> tuple[str, Any, str]:
    """(the query as searched, its vector or None in keyword mode, a note when it was cut): the embedding runs
    outside the database lock, so that /api/health and the other pages answer while it runs."""
    from vtdb.search.searcher import Searcher

    query, note = cut_query(query)
    Searcher.check_query(query)  # an empty or stop-word query: 400 before any model is loaded
    if mode == "keyword":
        return query, None, note
    model = embedder(state)
    query, note2 = cut_query(query, model)
    with state.embed_lock:
        return query, model.embed_queries([query])[0], note2 or note


def search_moments(state: WebState, params: SearchParams, n: int) -> tuple[str, list, str]:
    """(the query as searched, its best `n` moments, a note when the query was cut)."""
    from vtdb.search.filters import check_videos
    from vtdb.search.searcher import searcher_for

    filters, mode = params.filters(), params.search_mode()
    if filters.get("video"):
        check_videos(state.db, filters["video"])
    query, vector, note = prepare_query(state, params.q.strip(), mode)
    state.refresh()
    with state.lock:
        moments = searcher_for(state.db).search(query, n, filters, mode, params.include_retired, query_vector=vector)
    return query, moments, note


def search_videos(state: WebState, query: str, n: int, include_retired: bool) -> tuple[list, set[str], str]:
    """(the summarized videos nearest to `query`, at most `n`, without the retired ones unless
    `include_retired`; the names of the retired videos; a note when the query was cut)."""
    from vtdb.search.videos import search_videos as nearest_videos

    query, vector, note = prepare_query(state, query)
    state.refresh()
    with state.lock:
        hits = nearest_videos(state.db, query, n, query_vector=vector)
        retired = state.db.retired_names()
    return [h for h in hits if include_retired or h.name not in retired], retired, note


def retired_names(state: WebState) -> set[str]:
    with state.lock:
        return set(state.db.retired_names())


def audio_only(state: WebState, moments: Sequence[Any]) -> dict[str, bool]:
    """The audio-only files among the moments' videos (one read of their records), each with whether it has a
    cover picture: their cards show that, or a mark, never thumbnails of frames they do not have."""
    names = sorted({m.video_name for m in moments})
    if not names:
        return {}
    with state.lock:
        records = state.db.get_many(names)
    return {name: has_cover(state, name) for name, record in records.items() if is_audio_only(record)}


def has_cover(state: WebState, name: str) -> bool:
    cached = cached_extras(state, name)
    return bool(cached and cached.has_cover)


def cached_extras(state: WebState, name: str) -> Any:
    """The video's cached Phase 1 extras (thumbnails, windows, subtitles), or None."""
    try:
        return state.thumbs.get(name)
    except UnsafeNameError:
        return None


def analyzers_of(state: WebState, moments: Sequence[Any]) -> dict[str, str]:
    """The analyzer of each moment's first window (one read for the page)."""
    ids = [m.segment_ids[0] for m in moments if m.segment_ids]
    if not ids:
        return {}
    with state.lock:
        got = state.db.get_segments(ids, include=["metadatas"])
    return {i: Segment.from_meta(as_meta(meta)).analyzer for i, meta in zip(got["ids"], got["metadatas"])}


def video_rows(state: WebState, name: str) -> list[dict]:
    """The video's windows in time order: the segment (if loaded) and the Phase 1 window merged."""
    with state.lock:
        got = state.db.get_segments(where={"video_name": name}, include=["metadatas"])
    segments = sorted(((str(i), as_meta(m)) for i, m in zip(got["ids"], got["metadatas"])),
                      key=lambda p: (segment_span(p[1]) or (float("inf"), 0))[0])
    thumbs = state.thumbs.get(name)
    windows = {w.index: w for w in thumbs.windows} if thumbs else {}
    rows: list[dict] = []
    for sid, meta in segments:
        segment = Segment.from_meta(meta)
        span = segment.span or (0.0, 0.0)
        index = html_pages.window_index(sid)
        w = windows.pop(index, None) if index is not None else None
        transcript = w.text if w and w.text else segment.transcript
        translation = w.translation if w and w.translation else segment.dialogue_translation
        if translation.strip() == transcript.strip():
            translation = ""  # an analyzer that copied the speech: nothing to translate
        rows.append({"segment_id": sid, "window": index, "start": span[0], "end": span[1], "text": transcript,
                     "translation": translation, "description": segment.description,
                     "keywords": list(segment.keywords), "frames": w.frames if w else 0,
                     "on_screen_text": ON_SCREEN_SEPARATOR.join(segment.on_screen_text)})  # Phase 3 keeps Phase 1's OCR lines
    for w in windows.values():  # Phase 1 windows not (yet) loaded as segments
        rows.append({"segment_id": "", "window": w.index, "start": w.start, "end": w.end, "text": w.text,
                     "translation": w.translation, "description": "", "keywords": [], "frames": w.frames,
                     "on_screen_text": ""})
    rows.sort(key=lambda r: r["start"])
    return rows


def video_json(state: WebState, name: str) -> dict:
    """One video as /api/videos/{name} answers it (and the video page shows it)."""
    with state.lock:
        record = state.record(name)
        flags = state.db.video_flags(record).as_dict()
    video = Video.from_meta(record)
    return {"name": name, "title": video.title or name, "summary": video.summary,
            "keywords": list(video.keywords), "chapters": list(video.chapters),
            "retired": video.retired, "flags": flags, "record": record, "windows": video_rows(state, name)}


def video_list(state: WebState) -> list[dict]:
    """Every video's main fields (/api/videos without a query)."""
    with state.lock:
        return [_listed(Video.from_meta(r), r, state.db.video_flags(r).as_dict()) for r in state.db.list_videos()]


def _listed(video: Video, record: Mapping[str, Any], flags: dict) -> dict:
    return {"name": video.name, "title": video.title or video.name, "duration": video.video_duration,
            "segments": video.total_segments, "retired": video.retired, "has_video": video.has_video,
            "statuses": {p: record.get(phase_field(p, "status")) or "pending" for p in PHASE_ORDER}, "flags": flags}


def segment_json(state: WebState, segment_id: str) -> dict:
    with state.lock:
        got = state.db.get_segments([segment_id])
    if not got["ids"]:
        raise UnknownSegmentError(segment_id)
    return {"id": segment_id, "document": got["documents"][0], "metadata": as_meta(got["metadatas"][0])}


def similar(state: WebState, segment_id: str, n: int, include_retired: bool) -> Any:
    state.refresh()
    with state.lock:
        return similar_moments(state.db, segment_id, n, include_retired)


def write_action(state: WebState, kind: str, name: str, phase: str | None) -> str:
    """Reset or release one video; on the embedded database under its lock, for the moment of the write
    (409 while a phase run holds it)."""
    try:
        with writing(state.db, f"{command('serve')}: {kind} {name}"):
            if kind == "reset":
                assert phase is not None
                state.db.reset(name, phase)
                return f"{name}: {phase} and later phases reset to pending"
            released = state.db.release(name, phase)
            return f"{name}: released {', '.join(released)}" if released else f"{name}: nothing was held"
    except LockHeld as held:
        raise HttpError(409, f"{kind} {name!r} not done: {holder_text(held)}; try again when it ends") from None
