"""Search filters: checking them, Chroma `where` clauses for them, and matching stored records."""

from __future__ import annotations

from typing import Any, Mapping

from vtdb.commandline import command
from vtdb.errors import VtdbError
from vtdb.languages import validate_language
from vtdb.records import segment_span
from vtdb.store.where import all_of, equals_any
from vtdb.text import did_you_mean
from vtdb.timefmt import seconds

FILTER_FIELDS = ("video", "content_type", "language", "time_from", "time_to", "keyword", "has_text")
_LIST_FIELDS = (("video", "video_name"), ("content_type", "content_type"), ("language", "language"))  # filter -> metadata


class QueryError(VtdbError, ValueError):
    pass


def normalize_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (filters or {}).items():
        if key not in FILTER_FIELDS:
            raise QueryError(f"unknown filter {key!r}; use one of: {', '.join(FILTER_FIELDS)}")
        if value is None or value == "" or value == []:
            continue
        if key in ("time_from", "time_to"):
            number = seconds(value)
            if number is None:
                raise QueryError(f"filter {key}: {value!r} is not a number of seconds")
            out[key] = number
        elif key == "has_text":  # windows with (true) or without (false) text read on screen
            if not isinstance(value, bool):
                raise QueryError(f"filter has_text: {value!r} must be true or false")
            out[key] = value
        elif key in ("video", "content_type", "language"):
            out[key] = [value] if isinstance(value, str) else [str(v) for v in value]
        elif key == "keyword":  # one keyword, or the spellings of one (any of them; see Searcher.search_segments)
            out[key] = [value] if isinstance(value, str) else [str(v) for v in value]
        else:
            out[key] = str(value)
    if "time_from" in out and "time_to" in out and out["time_from"] > out["time_to"]:
        raise QueryError("filter time_from is after time_to")
    return out


def check_languages(values: list[str]) -> list[str]:
    """Whisper language codes, in any case ('EN' -> 'en'); a near miss is refused with a suggestion."""
    out = []
    for value in values:
        text = value.strip().lower()  # stored languages are lower-case Whisper codes
        code, error = validate_language(text)
        if error:
            raise QueryError(error.replace(repr(text), repr(value), 1))  # "'EN-x' is not a Whisper language code; ..."
        if code is None:
            raise QueryError(f"language {value!r}: give the language code of the speech, such as 'en' or 'ru'")
        out.append(code)
    return out


def check_videos(db: Any, names: list[str]) -> None:
    """Every name is a known video (a record in video_files, or segments in video_segments of the store `db`)."""
    known: list[str] | None = None
    for name in names:
        if db.has_segments(name):
            continue
        if known is None:
            known = db.all_names()
        if name in known:
            continue
        hint = did_you_mean(name, known, n=3) or (
            f"; `{command('status')}` lists the videos" if known else "; the database has no videos yet")
        raise QueryError(f"no video named {name!r}{hint}")


def chroma_where(filters: Mapping[str, Any]) -> dict | None:
    """The Chroma `where` for normalized filters (see normalize_filters)."""
    clauses = [equals_any(field_name, filters[key]) for key, field_name in _LIST_FIELDS if key in filters]
    if "time_from" in filters:
        clauses.append({"end_time": {"$gte": filters["time_from"]}})
    if "time_to" in filters:
        clauses.append({"start_time": {"$lte": filters["time_to"]}})
    if "keyword" in filters:
        forms = [filters["keyword"]] if isinstance(filters["keyword"], str) else list(filters["keyword"])
        any_form = [{"keywords": {"$contains": k}} for k in forms]
        clauses.append(any_form[0] if len(any_form) == 1 else {"$or": any_form})
    if filters.get("has_text") is True:
        clauses.append({"has_text": True})
    elif filters.get("has_text") is False:
        clauses.append({"has_text": {"$ne": True}})  # older segments have no has_text: they count as without
    return all_of(clauses)


def matches_times(meta: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """The time-range filters; a segment without usable times never matches one."""
    if "time_from" not in filters and "time_to" not in filters:
        return True
    span = segment_span(meta)
    if span is None:
        return False
    if "time_from" in filters and span[1] < filters["time_from"]:
        return False
    if "time_to" in filters and span[0] > filters["time_to"]:
        return False
    return True


def matches(meta: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    if not isinstance(meta, Mapping):
        meta = {}
    for key, field_name in _LIST_FIELDS:
        if key in filters and meta.get(field_name) not in filters[key]:
            return False
    if not matches_times(meta, filters):
        return False
    if "keyword" in filters:
        keywords = meta.get("keywords") or []
        forms = [filters["keyword"]] if isinstance(filters["keyword"], str) else filters["keyword"]
        wanted = {str(k).casefold() for k in forms}
        if not isinstance(keywords, list) or not any(isinstance(k, str) and k.casefold() in wanted for k in keywords):
            return False
    if "has_text" in filters and (meta.get("has_text") is True) != filters["has_text"]:
        return False
    return True
