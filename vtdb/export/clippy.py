"""Export to a disaster-clippy source folder: {out}/{source_id}/ with _manifest.json,
_metadata.json, _index.json, _vectors_768.json, pages/ (one HTML page per video) and, with
--include-media, media/ (the videos themselves).

The pack is in one language (`language`, English by default: disaster-clippy embeds queries with the
English-only all-mpnet-base-v2 and submits English packs only): a segment whose text (description,
dialogue_translation) is in another language is left out and counted. Links follow its app
(vtdb/export/pack_pages.py): online URLs, /backup/{source_id}/pages/{video}.html#t=SS, /zim/… .

One document per segment: its content is the title, description, dialogue, the text read on screen
("On screen: …", Phase 1 OCR) and keywords, each said once. Its _metadata.json entry carries our own
per-segment fields after disaster-clippy's (video_name, start_sec, end_sec, and on_screen_text when the
window has any); disaster-clippy's reindex_pack keeps only an entry's title and url.

disaster-clippy reads the first 2,000 characters of some files to find their header, so every
file writes its header keys before the large `documents`/`vectors` object. Vectors are the
unit-normalized all-mpnet-base-v2 embeddings of each document's `content` (the model
disaster-clippy embeds queries with), from the bundled model. The folder is built in a temp
folder and renamed into place; the same data gives the same files.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import re
import shutil
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote

from vtdb.atomic import replace_dir
from vtdb.commandline import command
from vtdb.export import ExportError, pack_pages
from vtdb.export.media import MEDIA_DIR, MediaPlan, place_media, plan_media
from vtdb.formats.subtitles import SubtitleCue, subtitle_tracks, track_elements, write_subtitle_files
from vtdb.naming import UnsafeNameError, path_inside
from vtdb.records import ON_SCREEN_SEPARATOR, Segment, Video
from vtdb.timefmt import clock_span

SCHEMA_VERSION = 3
EMBEDDING_MODEL = "all-mpnet-base-v2"
DIMENSIONS = 768
MAX_TOKENS = 384  # all-mpnet-base-v2's max_seq_length: what it reads of a document
MAX_WORDS = 300
ON_SCREEN_WORDS = 60  # of a document's ~300: what is read on screen (signs, titles) is short; a screen of code is not
# disaster-clippy knows four doc types (guide, article, product, academic) and ranks guides first
# (+0.15; any other type -0.05). Step-by-step videos are guides; a lecture, news or a documentary
# informs (article); "academic" is for research papers, "product" for things to buy.
GUIDE_TYPES = {"tutorial", "cooking", "repair", "how-to", "howto", "guide", "instruction", "diy"}
CLIPPY_DOC_TYPES = ("guide", "article", "product", "academic")
# disaster-clippy's submission gate: the backup (what it samples of pages/: up to 10 files) must reach
# 0.1 MB (MIN_BACKUP_SIZE_MB, in MiB). A smaller pack still loads and searches in its local app.
MIN_PACK_BYTES = int(0.1 * 1024 * 1024)
PAGES_SAMPLED = 10
LANGUAGE_NAMES = {"en": "English", "ru": "Russian", "kk": "Kazakh", "de": "German", "fr": "French", "es": "Spanish",
                  "uk": "Ukrainian", "it": "Italian", "pt": "Portuguese", "zh": "Chinese"}
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


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
    include_media: bool = False  # the videos into {source_id}/media/, played by the pages
    work_dir: Path | None = None  # where ZIM videos are extracted to (--include-media)
    zim_sources: dict[str, str] = field(default_factory=dict)  # archive stem or path -> disaster-clippy source id


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
    on_screen_text: str = ""  # the lines read on screen in the pack's script, " | "-joined ("" = none: no field written)
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


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def covered(part: str, by: str, ratio: float = 0.9) -> bool:
    """Does `by` already say `part`: its words appear there in a row, or the two are nearly the same
    word sequence (difflib ratio >= `ratio`)? The transcript analyzer's description is the window's
    speech, and its dialogue the same speech again; two sentences about the same thing are not."""
    words, known = _words(part), _words(by)
    if not words:
        return True
    if f" {' '.join(words)} " in f" {' '.join(known)} ":
        return True
    return difflib.SequenceMatcher(None, words, known, autojunk=False).ratio() >= ratio


SegmentLike = Segment | Mapping[str, Any]  # a segment read (Segment) or as stored (its metadata)


def _segment(meta: SegmentLike) -> Segment:
    return meta if isinstance(meta, Segment) else Segment.from_meta(meta)


def _language_code(language: str) -> str:
    return language.strip().lower().replace("_", "-").split("-")[0]


def text_language(meta: SegmentLike) -> str:
    """The language a segment's description and dialogue_translation are written in ("" = unknown)."""
    seg = _segment(meta)
    return _language_code(seg.text_language or seg.language)


def _in_script(text: str, language: str) -> bool:
    # An English pack keeps only keywords with Latin letters: all-mpnet-base-v2 reads Cyrillic as noise.
    return language != "en" or re.search(r"[A-Za-z]", text) is not None


def content_parts(meta: SegmentLike, language: str = "en") -> tuple[str, str, list[str]]:
    """(description, dialogue, keywords) with nothing said twice: the dialogue is dropped when the
    description already holds it, the description when the dialogue holds it; the window's own
    transcript stands in for a missing dialogue when it is in the pack's language."""
    seg = _segment(meta)
    description = " ".join(seg.description.split())
    dialogue = " ".join(seg.dialogue_translation.split())
    if not dialogue and _language_code(seg.language) in ("", language):
        dialogue = " ".join(seg.transcript.split())
    if dialogue and description and covered(dialogue, description):
        dialogue = ""
    elif dialogue and description and covered(description, dialogue):
        description = ""
    keywords = [k for k in seg.keywords if _in_script(k, language)]
    return description, dialogue, keywords


def on_screen_of(meta: SegmentLike, language: str = "en") -> list[str]:
    """The segment's lines read on screen (metadata on_screen_text, Phase 1 OCR) that an `language` pack
    holds: in an English pack only lines with Latin letters, as for keywords."""
    return [line for line in _segment(meta).on_screen_text if _in_script(line, language)]


def on_screen_part(meta: SegmentLike, said: str, language: str = "en") -> str:
    """The document's "On screen: …" line: the lines of on_screen_of that `said` (the description and
    dialogue) does not already hold, at most ON_SCREEN_WORDS words; "" when none is left."""
    lines = [line for line in on_screen_of(meta, language) if not covered(line, said)]
    return _truncate_words("On screen: " + ON_SCREEN_SEPARATOR.join(lines), ON_SCREEN_WORDS) if lines else ""


def doc_content(title: str, meta: SegmentLike, fits: Callable[[str], bool] | None = None, language: str = "en") -> str:
    """Title, description, dialogue, on-screen text, keywords (each said once); under ~300 words (the model
    reads 384 tokens).

    `fits(text)` (optional) tells whether the embedding model reads the whole text: 300 words
    of ordinary English are often more than 384 tokens, and the model would silently drop the
    end (the keywords). The dialogue is shortened first, then the rest, until the text fits.
    """
    seg = _segment(meta)
    description, full_dialogue, keywords = content_parts(seg, language)
    head = f"{title}\n{description}".strip()
    on_screen = on_screen_part(seg, f"{description}\n{full_dialogue}", language)
    tail = "\n".join(p for p in (on_screen, f"Keywords: {', '.join(keywords)}" if keywords else "") if p)
    budget = MAX_WORDS - len(head.split()) - len(tail.split())

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


def doc_type_for(content_type: str) -> str:
    """disaster-clippy's doc type of a moment: guide (step by step) or article."""
    return "guide" if content_type.strip().lower() in GUIDE_TYPES else "article"


def categories_for(meta: SegmentLike, language: str = "en") -> list[str]:
    seg = _segment(meta)
    out: list[str] = []
    keywords = [k for k in seg.keywords if _in_script(k, language)]
    for value in [seg.content_type] + keywords[:5]:
        value = value.strip().lower()
        if value and value not in out:
            out.append(value)
    return out


def build_docs(source_id: str, videos: Sequence[Mapping[str, Any]], segments_of: Callable[[str], list[dict]], base_url: str,
               fits: Callable[[str], bool] | None = None, skipped: dict[str, int] | None = None, *,
               language: str = "en", off_language: dict[str, dict[str, int]] | None = None,
               with_media: frozenset[str] | set[str] = frozenset(),
               zim_sources: Mapping[str, str] | None = None) -> list[Doc]:
    """One document per segment, in time order; a document's number is its segment's place in that
    order, so ids stay put when some segments are left out.

    Left out, and counted: a segment without a usable time range (times missing, not numbers, negative
    end, end before start: vtdb.records.time_span), in `skipped` (video -> count); a segment
    whose text is in another language than the pack's, in `off_language` (video -> {language: count}).
    `with_media`: the videos whose file goes into the pack (their pages play them)."""
    docs: list[Doc] = []
    for record in videos:
        video = Video.from_meta(record)
        name = video.name
        for n, (span, seg) in enumerate(_timed_segments(name, segments_of, skipped)):
            lang = text_language(seg)
            if lang and lang != language:
                if off_language is not None:
                    counts = off_language.setdefault(name, {})
                    counts[lang] = counts.get(lang, 0) + 1
                continue
            url, local = pack_pages.doc_urls(record, span[0], source_id, base_url, name in with_media, zim_sources)
            docs.append(_doc(f"{source_id}_{name}_seg_{n}", video, seg, span, url, local, fits, language))
    return docs


def _timed_segments(name: str, segments_of: Callable[[str], list[dict]],
                    skipped: dict[str, int] | None) -> list[tuple[tuple[float, float], Segment]]:
    """The video's segments with a usable time range, in time order; the others counted in `skipped`."""
    timed = []
    for meta in segments_of(name):
        seg = Segment.from_meta(meta)
        span = seg.span
        if span is None:
            if skipped is not None:
                skipped[name] = skipped.get(name, 0) + 1
            continue
        timed.append((span, seg))
    timed.sort(key=lambda item: item[0])
    return timed


def _doc(doc_id: str, video: Video, seg: Segment, span: tuple[float, float], url: str, local_url: str,
         fits: Callable[[str], bool] | None, language: str) -> Doc:
    """One segment's document; `shortened` when the model could not read all of its first text."""
    title = video.display_title
    start_sec, end_sec = int(span[0]), int(round(span[1]))
    checks: list[bool] = []

    def fits_logged(text: str) -> bool:
        ok = fits(text)  # type: ignore[misc]
        checks.append(ok)
        return ok

    return Doc(
        id=doc_id,
        title=f"{title} ({clock_span(start_sec, end_sec, 'm:ss')})",  # the same times as start_sec/end_sec
        url=url,
        local_url=local_url,
        content=doc_content(title, seg, fits_logged if fits is not None else None, language),
        categories=categories_for(seg, language),
        doc_type=doc_type_for(seg.content_type),
        video_name=video.name,
        start_sec=start_sec,
        end_sec=end_sec,
        scraped_at=video.updated_at,
        on_screen_text=ON_SCREEN_SEPARATOR.join(on_screen_of(seg, language)),
        shortened=bool(checks) and not checks[0],  # the first check is the whole (word-capped) text
    )


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def off_language_warning(off: Mapping[str, Mapping[str, int]], language: str) -> str:
    """What the user reads when segments were left out for their language, and what to do."""
    total = sum(sum(c.values()) for c in off.values())
    by_lang: dict[str, int] = {}
    for counts in off.values():
        for lang, k in counts.items():
            by_lang[lang] = by_lang.get(lang, 0) + k
    langs = ", ".join(f"{language_name(k)}: {v}" for k, v in sorted(by_lang.items()))
    videos = ", ".join(f"{v} ({sum(c.values())})" for v, c in sorted(off.items()))
    return (f"warning: left out {total} segment{'s' if total != 1 else ''} with no {language_name(language)} text "
            f"({langs}) from {videos}: this pack is {language_name(language)} and holds {language_name(language)} "
            f"content only. Give them a translation (Phase 1 with translate: auto, output_language: {language}; "
            f"then Phases 2 and 3 again), or export them as a pack of their own with --language CODE")


def pages_size_warning(pages_dir: Path) -> str | None:
    """disaster-clippy's submission gate measures at most PAGES_SAMPLED files of pages/ and wants
    MIN_PACK_BYTES; say so when this pack falls short (even its largest pages). The media/ folder
    does not count there. Padding would only hide what the check is for (an empty backup)."""
    sizes = sorted((p.stat().st_size for p in pages_dir.iterdir() if p.is_file()), reverse=True)
    measured = sum(sizes[:PAGES_SAMPLED])
    if measured >= MIN_PACK_BYTES:
        return None
    return (f"note: the pages of this pack measure {measured / 1024:.1f} KiB; disaster-clippy submits a pack to its "
            f"shared catalogue only from 0.1 MB of pages (it samples up to {PAGES_SAMPLED} of them). The pack loads "
            "and searches in a local disaster-clippy as it is; export more videos into it to submit it")


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


SUBTITLES_DIR = "subtitles"  # {source_id}/subtitles/{video}.{lang}.vtt: the pages' subtitle tracks


def _subtitle_src(name: str, language: str) -> str:
    return f"../{SUBTITLES_DIR}/{quote(name)}.{language}.vtt"


def _subtitles_of(work_dir: Path | None, name: str, log: Callable[[str], None]) -> dict[str, list[SubtitleCue]]:
    """The video's subtitle tracks from its Phase 1 work file; {} (with a line in the log) when it cannot be read:
    subtitles are a by-product, never a reason to fail an export."""
    from vtdb.workfiles import WorkFileError, phase1_data_path, read_phase1

    if work_dir is None or not phase1_data_path(work_dir, name).exists():
        return {}
    try:
        data = read_phase1(work_dir, name)
        return subtitle_tracks(data.transcript, data.shots)
    except WorkFileError as exc:
        log(f"{name}: no subtitles ({exc})")
        return {}


def _dump(path: Path, obj: dict) -> None:
    # Header keys first (dict order is kept), compact JSON: the big objects come last.
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _media_plans(opts: ExportOptions, videos: Sequence[Mapping[str, Any]], log: Callable[[str], None]) -> dict[str, MediaPlan]:
    """The videos whose file can go into the pack (--include-media); a missing one is said, not fatal:
    its page then says the video is not in the pack."""
    if not opts.include_media:
        return {}
    plans: dict[str, MediaPlan] = {}
    for record in videos:
        name = Video.from_meta(record).name
        plan, why = plan_media(record)
        if plan is None:
            log(f"warning: video {name} stays out of media/: {why}")
        else:
            plans[name] = plan
    return plans


def export(opts: ExportOptions, videos: Sequence[Mapping[str, Any]], segments_of: Callable[[str], list[dict]],
           transcript_of: Callable[[str], str], embed: Callable[[list[str]], "object"], log=print,
           fits: Callable[[str], bool] | None = None) -> Path:
    """Write the source folder; returns its path. `embed` maps texts to unit vectors (all-mpnet-base-v2);
    `fits(text)`, when given, says whether that model reads the whole text (see doc_content)."""
    final = check_options(opts)
    language = opts.language.strip().lower() or "en"
    skipped: dict[str, int] = {}
    off_language: dict[str, dict[str, int]] = {}
    plans = _media_plans(opts, videos, log)
    with quiet_libraries():
        docs = build_docs(opts.source_id, videos, segments_of, opts.base_url, fits, skipped, language=language,
                          off_language=off_language, with_media=set(plans), zim_sources=opts.zim_sources)
    if skipped:
        count = sum(skipped.values())
        log(f"left out {count} segment{'s' if count != 1 else ''} with no usable time range "
            f"({', '.join(f'{v}: {k}' for v, k in sorted(skipped.items()))}); reload them with "
            f"{command('reset', 'NAME', '--phase', '3')}, then {command('phase3')}")
    if off_language:
        log(off_language_warning(off_language, language))
    if not docs:
        if off_language:
            raise ExportError(f"nothing to export in {language_name(language)}: every selected segment's text is in "
                              "another language (see the warning above)")
        raise ExportError(f"nothing to export: no loaded segments for the selected videos (run {command('phase3')} first)")
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
    try:
        _write(tmp, opts, language, docs, vectors, stamp, videos, transcript_of, plans, log)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size_note = pages_size_warning(tmp / "pages")
    replace_dir(tmp, final)
    videos_out = len({d.video_name for d in docs})
    log(f"exported {len(docs)} documents from {videos_out} videos to {final}")
    if size_note:
        log(size_note)
    return final


def _write(tmp: Path, opts: ExportOptions, language: str, docs: Sequence[Doc], vectors, stamp: str,
           videos: Sequence[Mapping[str, Any]], transcript_of: Callable[[str], str], plans: Mapping[str, MediaPlan],
           log: Callable[[str], None]) -> None:
    total_chars = sum(len(d.content) for d in docs)
    _dump(tmp / "_manifest.json", {
        "schema_version": SCHEMA_VERSION, "source_id": opts.source_id, "name": opts.name, "description": opts.description,
        "license": opts.license, "attribution": opts.attribution, "language": language, "tags": list(opts.tags),
        "total_docs": len(docs), "created_at": stamp,
    })
    _dump(tmp / "_metadata.json", {
        "schema_version": SCHEMA_VERSION, "source_id": opts.source_id, "document_count": len(docs), "total_chars": total_chars,
        "last_updated": stamp,
        "documents": {d.id: {"title": d.title, "url": d.url, "local_url": d.local_url,
                             "content_hash": hashlib.sha256(d.content.encode("utf-8")).hexdigest(), "char_count": len(d.content),
                             "categories": d.categories, "doc_type": d.doc_type, "scraped_at": d.scraped_at,
                             "video_name": d.video_name, "start_sec": d.start_sec, "end_sec": d.end_sec,
                             **({"on_screen_text": d.on_screen_text} if d.on_screen_text else {})} for d in docs},
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
    for record in videos:
        name = Video.from_meta(record).name
        if name not in by_video:
            continue
        plan = plans.get(name)
        if plan is not None:
            how = place_media(plan, tmp / MEDIA_DIR, opts.work_dir)
            log(f"{name}: video {how} into {MEDIA_DIR}/{plan.file_name}")
        player = pack_pages.player_for(record, plan.file_name if plan else None, opts.zim_sources)
        tracks = _subtitles_of(opts.work_dir, name, log) if player is not None else {}
        audio = player is not None and player.audio  # <audio> shows no cues: its page links no tracks
        if tracks:
            # VTT for the page's player; with --include-media also VTT and SRT beside the video (yt-dlp's naming).
            if not audio:
                write_subtitle_files(tmp / SUBTITLES_DIR, name, tracks, ["vtt"])
            if plan is not None:
                write_subtitle_files(tmp / MEDIA_DIR, Path(plan.file_name).stem, tracks)
        track_html = "" if audio else track_elements(list(tracks), partial(_subtitle_src, name), language)
        (tmp / "pages" / f"{name}.html").write_text(
            pack_pages.page_html(record, by_video[name], transcript_of(name), player, language, opts.base_url, track_html),
            encoding="utf-8")
