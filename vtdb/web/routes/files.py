"""The bytes a page loads: the app's script and style, a video's media (with byte ranges), its thumbnails,
an audio file's cover picture and the subtitle tracks."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from vtdb.naming import UnsafeNameError
from vtdb.web.errors import HttpError
from vtdb.web.media import MediaUnavailable, RangeNotSatisfiable, media_body, parse_range
from vtdb.web.state import WebState, web_state

router = APIRouter()

ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
CACHED_A_DAY = {"Cache-Control": "public, max-age=86400"}


@router.get("/static/{file_name}", include_in_schema=False)
def static_file(file_name: str) -> Response:
    if file_name not in ASSETS:
        raise HttpError(404, "no such file")
    data = (resources.files("vtdb.web") / "static").joinpath(file_name).read_bytes()
    return Response(data, media_type=ASSETS[file_name], headers={"Cache-Control": "no-cache"})


def media(request: Request, name: str, state: WebState = Depends(web_state)) -> Response:
    """A video's (or audio file's) bytes: all of them, or the one range asked for (206)."""
    with state.lock:
        record = state.record(name)
    try:
        body = media_body(record, state.handles)
    except MediaUnavailable as exc:
        raise HttpError(404, f"video {name!r}: {exc}") from None
    try:
        wanted = parse_range(request.headers.get("range"), body.size)
    except RangeNotSatisfiable as exc:
        raise HttpError(416, str(exc), {"Content-Range": f"bytes */{body.size}",
                                        "Content-Disposition": body.disposition(name)}) from None
    if request.headers.get("if-range") and request.headers["if-range"] != body.etag:
        wanted = None  # the client's copy is of another version: send it all
    first, last = wanted if wanted else (0, body.size - 1)
    length = max(0, last - first + 1)
    headers = {"Accept-Ranges": "bytes", "ETag": body.etag, "Cache-Control": "no-cache",
               "Content-Disposition": body.disposition(name), "X-Content-Type-Options": "nosniff",
               "Content-Length": str(length)}
    status = 200
    if wanted:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{body.size}"
    if request.method == "HEAD" or length == 0:
        return Response(b"", status_code=status, headers=headers, media_type=body.content_type)
    return StreamingResponse(body.read(first, last), status_code=status, headers=headers, media_type=body.content_type)


router.add_api_route("/media/{name}", media, methods=["GET"], include_in_schema=False)
router.add_api_route("/media/{name}", media, methods=["HEAD"], include_in_schema=False)  # answered here: the guard makes every other HEAD a GET


def cached_of(state: WebState, name: str, what: str) -> Any:
    """The registered video's cached Phase 1 extras (thumbnails, windows, subtitles), or None; 404 for a name
    that is not a video's."""
    with state.lock:
        state.record(name)
    try:
        return state.thumbs.get(name)
    except UnsafeNameError:
        raise HttpError(404, f"no such {what}") from None


def cached_response(request: Request, data: bytes, etag: str, media_type: str, headers: dict[str, str]) -> Response:
    headers = {"ETag": etag, **headers}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


@router.get("/thumbs/{name}/{window}/{frame}.jpg", include_in_schema=False)
def thumb(request: Request, name: str, window: int, frame: int, state: WebState = Depends(web_state)) -> Response:
    cached = cached_of(state, name, "thumbnail")
    data = cached.thumb(window, frame) if cached else None
    if data is None or cached is None:
        raise HttpError(404, f"no thumbnail {window}/{frame} for {name!r} (Phase 1 frames are missing)")
    return cached_response(request, data, f'"{cached.version}-{window}-{frame}"', "image/jpeg", CACHED_A_DAY)


@router.get("/cover/{name}.jpg", include_in_schema=False)
def cover(request: Request, name: str, state: WebState = Depends(web_state)) -> Response:
    """An audio-only file's cover picture (its Phase 1 file keeps it), made small like the thumbnails."""
    cached = cached_of(state, name, "cover picture")
    data = cached.cover() if cached else None
    if data is None or cached is None:
        raise HttpError(404, f"no cover picture for {name!r} (only an audio-only file with one has it)")
    return cached_response(request, data, f'"{cached.version}-cover"', "image/jpeg", CACHED_A_DAY)


@router.get("/subtitles/{name}/{language}.vtt", include_in_schema=False)
def subtitles(request: Request, name: str, language: str, state: WebState = Depends(web_state)) -> Response:
    """A video's subtitle track as WebVTT (made from its Phase 1 file; text escaped, never markup)."""
    cached = cached_of(state, name, "subtitles")
    data = cached.subtitles(language) if cached else None
    if data is None or cached is None:
        have = ", ".join(cached.subtitle_languages) if cached and cached.subtitle_languages else "none"
        raise HttpError(404, f"no {language!r} subtitles for {name!r} (it has: {have})")
    return cached_response(request, data, f'"{cached.version}-{language}"', "text/vtt; charset=utf-8",
                           {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
