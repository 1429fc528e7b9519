"""Export to a disaster-clippy source folder: {out}/{source_id}/ with _manifest.json,
_metadata.json, _index.json, _vectors_768.json and pages/ (one HTML page per video).

disaster-clippy reads the first 2,000 characters of some files to find their header, so every
file writes its header keys before the large `documents`/`vectors` object. Vectors are the
unit-normalized all-mpnet-base-v2 embeddings of each document's `content` (the model
disaster-clippy embeds queries with), from the bundled model. The folder is built in a temp
folder and renamed into place; the same data gives the same files.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import quote

from vtdb.atomic import replace_dir
from vtdb.errors import VtdbError
from vtdb.naming import UnsafeNameError, path_inside
from vtdb.search.moments import as_meta, keywords_of, segment_span
from vtdb.timefmt import clock_span

SCHEMA_VERSION = 3
EMBEDDING_MODEL = "all-mpnet-base-v2"
DIMENSIONS = 768
MAX_TOKENS = 384  # all-mpnet-base-v2's max_seq_length: what it reads of a document
MAX_WORDS = 300
GUIDE_TYPES = {"tutorial", "cooking", "repair", "lecture", "how-to", "howto", "guide", "instruction", "diy"}
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ExportError(VtdbError, ValueError):
    pass


@dataclass
class ExportOptions:
    source_id: str
    name: str
    license: str
    out: Path
    attribution: str = ""
    description: str = ""
    language: str = "en"
    tags: list[str] = field(default_factory=list)
    videos: list[str] | None = None
    base_url: str = ""  # e.g. https://media.example.org/videos/ -> {base_url}{file name}#t=SS


@dataclass
class Doc:
    id: str
    title: str
    url: str
    local_url: str
    content: str
    categories: list[str]
    doc_type: str
    video_name: str
    start_sec: int
    end_sec: int
    scraped_at: str
    shortened: bool = False  # cut so that the model reads all of it (not written to the export)


def check_options(opts: ExportOptions) -> Path:
    """Validate; return the final folder {out}/{source_id} (never outside --out)."""
    if not opts.license or opts.license.strip().lower() in {"", "unknown", "none", "n/a"}:
        raise ExportError("a license is required (e.g. --license 'CC BY 4.0'); '' and 'Unknown' are not accepted")
    if not _SOURCE_ID.match(opts.source_id or ""):
        raise ExportError(f"source id {opts.source_id!r}: use 1-64 lower-case letters, digits, '-' or '_' (it becomes a folder name)")
    try:
        return path_inside(Path(opts.out), Path(opts.out) / opts.source_id)
    except UnsafeNameError:
        raise ExportError(f"source id {opts.source_id!r} would escape {opts.out}") from None


def _truncate_words(text: str, limit: int) -> str:
    words = text.split()
    return text if len(words) <= limit else " ".join(words[:limit]) + " …"


def doc_content(title: str, meta: dict, fits: Callable[[str], bool] | None = None) -> str:
    """Title, description, dialogue, keywords; under ~300 words (the model reads 384 tokens).

    `fits(text)` (optional) tells whether the embedding model reads the whole text: 300 words
    of ordinary English are often more than 384 tokens, and the model would silently drop the
    end (the keywords). The dialogue is shortened first, then the rest, until the text fits.
    """
    keywords = keywords_of(meta.get("keywords"))
    head = f"{title}\n{meta.get('description') or ''}".strip()
    tail = f"Keywords: {', '.join(keywords)}" if keywords else ""
    budget = MAX_WORDS - len(head.split()) - len(tail.split())
    full_dialogue = str(meta.get("dialogue_translation") or "").strip()

    def assemble(dialogue_words: int) -> str:
        dialogue = _truncate_words(full_dialogue, dialogue_words) if dialogue_words > 0 else ""
        return _truncate_words("\n".join(p for p in (head, dialogue, tail) if p), MAX_WORDS)

    keep = max(0, budget)
    content = assemble(keep)
    if fits is None or fits(content):
        return content
    lo, hi = 0, min(keep, len(full_dialogue.split()))  # the most dialogue words that still fit
    if not fits(assemble(0)):
        hi = -1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(assemble(mid)):
            lo = mid
        else:
            hi = mid - 1
    if hi >= 0:
        return assemble(lo)
    # Even title + description + keywords are too long: cut the whole text.
    words = assemble(0).split()
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(" ".join(words[:mid]) + " …"):
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + " …"


def doc_urls(video: dict, start: float, source_id: str, base_url: str) -> tuple[str, str]:
    """(url, local_url) pointing at the moment."""
    t = int(start)
    youtube = str(video.get("youtube_id") or "")
    path = str(video.get("video_path") or "")
    if path.startswith("zim://"):
        entry = path.rsplit("#", 1)[1]
        local = f"/zim/{source_id}/{quote(entry)}#t={t}"
    else:
        local = Path(path).resolve().as_uri() + f"#t={t}" if path else ""
    if youtube:
        url = f"https://www.youtube.com/watch?v={youtube}&t={t}s"
    elif base_url and path and not path.startswith("zim://"):
        url = f"{base_url.rstrip('/')}/{quote(Path(path).name)}#t={t}"
    else:
        url = local
    return url, local


def categories_for(meta: dict) -> list[str]:
    out: list[str] = []
    keywords = keywords_of(meta.get("keywords"))
    for value in [meta.get("content_type")] + keywords[:5]:
        value = str(value or "").strip().lower()
        if value and value not in out:
            out.append(value)
    return out


def build_docs(source_id: str, videos: Sequence[dict], segments_of: Callable[[str], list[dict]], base_url: str,
               fits: Callable[[str], bool] | None = None, skipped: dict[str, int] | None = None) -> list[Doc]:
    """One document per segment, in time order. A segment without a usable time range (times
    missing, not numbers, negative end, end before start: vtdb.search.moments.segment_span) has no moment
    to point at: it is left out and counted in `skipped` (video -> count)."""
    docs: list[Doc] = []
    for video in videos:
        name = video["name"]
        title = str(video.get("title") or name)
        timed = []
        for meta in segments_of(name):
            meta = as_meta(meta)
            span = segment_span(meta)
            if span is None:
                if skipped is not None:
                    skipped[name] = skipped.get(name, 0) + 1
                continue
            timed.append((span, meta))
        timed.sort(key=lambda item: item[0])
        for n, ((start, end), meta) in enumerate(timed):
            start_sec, end_sec = int(start), int(round(end))
            doc_title = f"{title} ({clock_span(start_sec, end_sec, 'm:ss')})"  # the same times as start_sec/end_sec
            url, local = doc_urls(video, start, source_id, base_url)
            ctype = str(meta.get("content_type") or "")
            checks: list[bool] = []

            def fits_logged(text: str, _checks=checks) -> bool:
                ok = fits(text)  # type: ignore[misc]
                _checks.append(ok)
                return ok

            content = doc_content(title, meta, fits_logged if fits is not None else None)
            docs.append(Doc(
                id=f"{source_id}_{name}_seg_{n}",
                title=doc_title,
                url=url,
                local_url=local,
                content=content,
                categories=categories_for(meta),
                doc_type="guide" if ctype in GUIDE_TYPES else "video",
                video_name=name,
                start_sec=start_sec,
                end_sec=end_sec,
                scraped_at=str(video.get("updated_at") or ""),
                shortened=bool(checks) and not checks[0],  # the first check is the whole (word-capped) text
            ))
    return docs


@contextlib.contextmanager
def quiet_libraries():
    """Keep the model libraries' chatter off the user's screen while the export loads and runs the
    embedding model: transformers' "Loading weights" bars and its "Token indices sequence length is
    longer than ..." warning (the export checks lengths itself and says once what it cut), Hugging
    Face Hub bars and sentence-transformers log lines. Errors still show; the previous settings are
    restored afterwards."""
    restore: list[Callable[[], None]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "cannot disable progress bars: HF_HUB_DISABLE_PROGRESS_BARS=0"
            try:
                from transformers.utils import logging as tf_logging
            except Exception:  # noqa: BLE001 - transformers missing or broken: nothing of it to silence
                tf_logging = None
            if tf_logging is not None:
                verbosity, bars = tf_logging.get_verbosity(), tf_logging.is_progress_bar_enabled()
                tf_logging.set_verbosity_error()
                restore.append(lambda: tf_logging.set_verbosity(verbosity))
                tf_logging.disable_progress_bar()
                if bars:
                    restore.append(tf_logging.enable_progress_bar)
            try:
                from huggingface_hub.utils import tqdm as hub_tqdm
            except Exception:  # noqa: BLE001
                hub_tqdm = None
            states = getattr(hub_tqdm, "progress_bar_states", None)
            if isinstance(states, dict):  # restored as they were, after transformers' enable_progress_bar
                saved = dict(states)
                hub_tqdm.disable_progress_bars()
                restore.insert(0, lambda: (states.clear(), states.update(saved)))
        st_logger = logging.getLogger("sentence_transformers")
        st_level = st_logger.level
        st_logger.setLevel(logging.ERROR)
        restore.append(lambda: st_logger.setLevel(st_level))
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for undo in reversed(restore):
                undo()


def _dump(path: Path, obj: dict) -> None:
    # Header keys first (dict order is kept), compact JSON: the big objects come last.
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def page_html(video: dict, docs: Sequence[Doc], transcript: str) -> str:
    e = html.escape
    title = str(video.get("title") or video["name"])
    rows = "\n".join(
        f'<li><a href="{e(d.url)}">{clock_span(d.start_sec, d.end_sec, "m:ss")}</a> {e(d.content.split(chr(10), 1)[-1][:400])}</li>' for d in docs
    )
    summary = e(str(video.get("summary") or "")).replace("\n\n", "</p><p>")
    return (f'<!doctype html><html lang="{e(str(video.get("transcript_language") or "en"))}"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title></head><body><h1>{e(title)}</h1>"
            f"<h2>Summary</h2><p>{summary or '(no summary yet)'}</p>"
            f"<h2>Moments</h2><ol>{rows}</ol><h2>Transcript</h2><p>{e(transcript) or '(no speech)'}</p></body></html>\n")


def export(opts: ExportOptions, videos: Sequence[dict], segments_of: Callable[[str], list[dict]],
           transcript_of: Callable[[str], str], embed: Callable[[list[str]], "object"], log=print,
           fits: Callable[[str], bool] | None = None) -> Path:
    """Write the source folder; returns its path. `embed` maps texts to unit vectors (all-mpnet-base-v2);
    `fits(text)`, when given, says whether that model reads the whole text (see doc_content)."""
    final = check_options(opts)
    skipped: dict[str, int] = {}
    with quiet_libraries():
        docs = build_docs(opts.source_id, videos, segments_of, opts.base_url, fits, skipped)
    if skipped:
        count = sum(skipped.values())
        log(f"left out {count} segment{'s' if count != 1 else ''} with no usable time range "
            f"({', '.join(f'{v}: {k}' for v, k in sorted(skipped.items()))}); reload them with "
            "python db_manager.py reset NAME --phase 3, then python phase3_load.py")
    if not docs:
        raise ExportError("nothing to export: no loaded segments for the selected videos (run phase3_load.py first)")
    shortened = sum(d.shortened for d in docs)
    if shortened:
        log(f"{shortened} document{'s were' if shortened != 1 else ' was'} cut to the {MAX_TOKENS} tokens "
            f"{EMBEDDING_MODEL} reads (the dialogue is shortened first)")
    stamp = max(d.scraped_at for d in docs) or "1970-01-01T00:00:00+00:00"  # deterministic: the data's own time
    with quiet_libraries():
        vectors = embed([d.content for d in docs])
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.shape != (len(docs), DIMENSIONS) or not np.all(np.isfinite(vectors)):
        raise ExportError(f"embedding gave shape {vectors.shape}, expected ({len(docs)}, {DIMENSIONS}) finite values")
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    tmp = final.with_name(f".{final.name}.tmp-export")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "pages").mkdir(parents=True)
    total_chars = sum(len(d.content) for d in docs)
    _dump(tmp / "_manifest.json", {
        "schema_version": SCHEMA_VERSION, "source_id": opts.source_id, "name": opts.name, "description": opts.description,
        "license": opts.license, "attribution": opts.attribution, "language": opts.language, "tags": list(opts.tags),
        "total_docs": len(docs), "created_at": stamp,
    })
    _dump(tmp / "_metadata.json", {
        "schema_version": SCHEMA_VERSION, "source_id": opts.source_id, "document_count": len(docs), "total_chars": total_chars,
        "last_updated": stamp,
        "documents": {d.id: {"title": d.title, "url": d.url, "local_url": d.local_url,
                             "content_hash": hashlib.sha256(d.content.encode("utf-8")).hexdigest(), "char_count": len(d.content),
                             "categories": d.categories, "doc_type": d.doc_type, "scraped_at": d.scraped_at,
                             "video_name": d.video_name, "start_sec": d.start_sec, "end_sec": d.end_sec} for d in docs},
    })
    _dump(tmp / "_index.json", {
        "schema_version": SCHEMA_VERSION, "source_id": opts.source_id, "document_count": len(docs), "created_at": stamp,
        "documents": {d.id: {"title": d.title, "url": d.url, "local_url": d.local_url, "content": d.content,
                             "categories": d.categories, "doc_type": d.doc_type} for d in docs},
    })
    _dump(tmp / f"_vectors_{DIMENSIONS}.json", {
        "schema_version": SCHEMA_VERSION, "source_id": opts.source_id, "embedding_model": EMBEDDING_MODEL, "dimensions": DIMENSIONS,
        "document_count": len(docs), "created_at": stamp,
        "vectors": {d.id: [round(float(x), 7) for x in vec] for d, vec in zip(docs, vectors)},
    })
    by_video: dict[str, list[Doc]] = {}
    for d in docs:
        by_video.setdefault(d.video_name, []).append(d)
    for video in videos:
        if video["name"] in by_video:
            (tmp / "pages" / f"{video['name']}.html").write_text(page_html(video, by_video[video["name"]], transcript_of(video["name"])), encoding="utf-8")
    replace_dir(tmp, final)
    log(f"exported {len(docs)} documents from {len(by_video)} videos to {final}")
    return final
