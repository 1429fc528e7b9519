"""Kiwix/openZIM archives as video sources, read with libzim (the official reader: it streams
items, closes cleanly and writes nothing next to the archive — unlike zimply-core, which by
default writes .idx/.chk index files beside it, loads whole items into memory and has no close).

Layouts understood:
- youtube2zim v3: `videos/<id>/video.webm|mp4` plus one JSON per video at `videos/<slug>.json`
  (id, title, description, videoPath, subtitlePath + subtitleList, chaptersPath + chapterList,
  duration as ISO 8601, publicationDate). Subtitles: `{subtitlePath}/video.{code}.vtt`.
- youtube2zim v2 (legacy): `videos/<id>/video.<ext>` plus `assets/data.js` holding
  `var json_<playlist> = [{id, title, slug, description, subtitles, thumbnail}]`.
- anything else (ted2zim, zimit, ...): every entry whose mimetype starts with `video/`.
Redirects are skipped. Listing is bounded in memory whatever the archive's size (zimit archives hold
millions of entries): the archive's own listing when it has one, else one streaming pass that keeps
only video items and per-video JSON paths.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vtdb.atomic import atomic_write_json, temp_path_for
from vtdb.errors import PermanentVideoError, VideoError
from vtdb.languages import suggest_language
from vtdb.naming import sanitize_name
from vtdb.sources.fingerprint import FingerprintCache, fingerprint_buffer
from vtdb.sources.subtitles import SubtitleError, parse_vtt

MAX_TITLE = 300
ZIM_CHECKSUM_CACHE = "zim_checksums.json"  # in work_dir: archives whose checksum was verified
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class ZimError(VideoError, RuntimeError):
    """An archive or item that cannot be read now (not found: an unmounted drive?, no permission, an I/O error);
    Phase 1 fails that video with it and a later run retries. What retrying cannot fix is a subclass below."""


class ZimArchiveCorrupt(ZimError, PermanentVideoError):
    """The archive's bytes are not a usable ZIM (empty, truncated, not a ZIM file, a checksum that does not
    match): held at once. A replaced archive gets a new fingerprint, and the sync takes its videos again."""


class ZimEntryMissing(ZimError, PermanentVideoError):
    """The archive no longer has the video's entry (it was replaced by another version): held at once."""


class ZimEntryEmpty(ZimError, PermanentVideoError):
    """The video's item holds 0 bytes: nothing to index, whatever the retry."""


@dataclass
class ZimSubtitle:
    """A subtitle item an archive lists for a video: its language code, display name and item path (the
    record keeps these; Phase 1 reads them as vtdb.sources.subtitles.SubtitleTrack, like any source's)."""

    code: str
    name: str
    entry: str


@dataclass
class ZimVideo:
    video_id: str
    entry: str  # path of the video item inside the archive
    title: str
    description: str = ""
    mimetype: str = ""
    size: int = 0
    layout: str = "generic"
    subtitles: list[ZimSubtitle] = field(default_factory=list)
    chapters: list[dict] = field(default_factory=list)  # [{start, end, title}]
    chapters_entry: str = ""
    publication_date: str = ""
    duration: float = 0.0
    content_fingerprint: str = ""  # of the item's bytes (vtdb.sources.fingerprint); "" until computed

    @property
    def youtube_id(self) -> str:
        return self.video_id if self.layout.startswith("youtube2zim") and YOUTUBE_ID.match(self.video_id) else ""


@dataclass
class ZimInfo:
    path: str
    uuid: str
    size: int
    mtime_ns: int
    title: str = ""
    publisher: str = ""
    language: str = ""
    scraper: str = ""
    date: str = ""

    @property
    def fingerprint(self) -> str:
        return zim_fingerprint(self.size, self.mtime_ns, self.uuid)

    @property
    def stem(self) -> str:
        return sanitize_name(Path(self.path).stem, 60)


def iso_duration(text: object) -> float:
    """'PT11M3S' -> 663.0; 0.0 when absent or malformed."""
    if not isinstance(text, str):
        return 0.0
    m = _ISO_DURATION.match(text.strip())
    if not m:
        return 0.0
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _clean_text(value: object, limit: int | None = None) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return ""
    value = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in value).strip()
    if limit and len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


@contextlib.contextmanager
def open_archive(path: str | Path) -> Iterator[Any]:
    """A libzim Archive, with every failure turned into a ZimError that names the file."""
    from libzim.reader import Archive

    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        if path.is_symlink():
            raise ZimError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist (a moved file, or a "
                           "drive that is not mounted?)") from None
        raise ZimError(f"{path}: ZIM archive not found (check the 'zim' path in videos_config.json)") from None
    except PermissionError:
        raise ZimError(f"{path}: permission denied: a folder on the way cannot be entered by this user; give it "
                       "read access or run as a user who can read it") from None
    except OSError as exc:
        raise ZimError(f"{path}: cannot be looked at ({exc.strerror or exc})") from None
    if size == 0:
        raise ZimArchiveCorrupt(f"{path}: file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ZimError(f"{path}: permission denied: this user may not read the archive; give it read access or run "
                       "as a user who can read it")
    try:
        archive = Archive(str(path))
    except Exception as exc:  # libzim raises RuntimeError subclasses with C++ messages
        raise ZimArchiveCorrupt(f"{path}: not a readable ZIM archive (truncated, corrupt, or not a ZIM file): {exc}") from None
    try:
        yield archive
    finally:
        del archive  # libzim closes the file when the Archive is released


def _meta(archive, key: str, warnings: list[str] | None = None) -> str:
    try:
        raw = bytes(archive.get_metadata(key))
    except Exception:
        return ""
    return _clean_text(_decode(raw, f"metadata {key}", warnings if warnings is not None else []), MAX_TITLE)


def archive_info(archive, path: str | Path, warnings: list[str] | None = None) -> ZimInfo:
    st = Path(path).stat()
    return ZimInfo(
        path=str(Path(path).resolve()),
        uuid=str(archive.uuid),
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        title=_meta(archive, "Title", warnings),
        publisher=_meta(archive, "Publisher", warnings),
        language=_meta(archive, "Language", warnings),
        scraper=_meta(archive, "Scraper", warnings),
        date=_meta(archive, "Date", warnings),
    )


def zim_language(code: str) -> str | None:
    """ZIM Language metadata is ISO 639-3, possibly a list ('eng,fra'): the Whisper code of the first."""
    first = (code or "").split(",")[0].strip()
    return suggest_language(first) if first else None


def _walk(archive) -> Iterator[Any]:
    """Every non-redirect entry, one at a time (memory stays flat however many millions there are).

    libzim 3.13.1's Python binding offers no public way to walk an archive (get_entry_by_path and
    get_entry_by_title need a known name, suggestions cover front articles only, full-text search
    needs an index that archives may lack); entry ids 0..entry_count-1 are the C++ API's public
    iteration order, reached here through the binding's id accessor. Used only when the archive has
    no listing of its own (`_listed_v3_docs`, `assets/data.js`).
    """
    for i in range(archive.entry_count):
        try:
            entry = archive._get_entry_by_id(i)
            if entry.is_redirect:
                continue
        except Exception:
            continue
        yield entry


def read_entry(archive, path: str) -> bytes:
    return bytes(archive.get_entry_by_path(path).get_item().content)


def _has(archive, path: str) -> bool:
    """Is there a (non-redirect) entry at `path`? A lookup, never a walk."""
    try:
        return bool(path) and archive.has_entry_by_path(path) and not archive.get_entry_by_path(path).is_redirect
    except Exception:
        return False


def _norm(path: str) -> str:
    return path.lstrip("./").lstrip("/")


def _decode(data: bytes, where: str, warnings: list[str]) -> str:
    """UTF-8 text; undecodable bytes are replaced, and said (a warning naming the entry), never silently."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warnings.append(f"{where}: not valid UTF-8 (byte {exc.start}); undecodable bytes shown as \ufffd")
        return data.decode("utf-8", errors="replace")


_V3_DOC = re.compile(r"videos/[^/]+\.json")


def _listed_v3_docs(archive) -> list[str] | None:
    """youtube2zim v3's own listing of its videos: the playlists named by home.json, each listing its
    videos' slugs (`videos/<slug>.json`). None when the archive has no such listing."""
    if not _has(archive, "home.json"):
        return None
    try:
        home = json.loads(read_entry(archive, "home.json"))
        slugs: list[str] = []
        for pl in home.get("playlists") or []:
            path = f"playlists/{pl.get('slug')}.json" if isinstance(pl, dict) and pl.get("slug") else ""
            if not _has(archive, path):
                continue
            for v in json.loads(read_entry(archive, path)).get("videos") or []:
                if isinstance(v, dict) and v.get("slug"):
                    slugs.append(f"videos/{v['slug']}.json")
    except (ValueError, AttributeError, TypeError):
        return None
    docs = sorted(p for p in dict.fromkeys(slugs) if _has(archive, p))
    return docs or None


def _v3_videos(archive, docs: list[str], problems: list[str], warnings: list[str]) -> list[ZimVideo]:
    videos = []
    for path in docs:
        try:
            data = json.loads(_decode(read_entry(archive, path), path, warnings))
        except ValueError as exc:
            problems.append(f"{path}: invalid JSON ({exc})")
            continue
        if not isinstance(data, dict) or "videoPath" not in data:
            continue
        video_path = _norm(str(data.get("videoPath") or ""))
        if not _has(archive, video_path):
            alt = _norm(f"videos/{video_path}")
            if not _has(archive, alt):
                problems.append(f"{path}: videoPath {data.get('videoPath')!r} is not in the archive")
                continue
            video_path = alt
        video_id = _clean_text(data.get("id")) or Path(path).stem
        subtitle_dir = _norm(str(data.get("subtitlePath") or ""))
        tracks = []
        for sub in data.get("subtitleList") or []:
            if isinstance(sub, dict) and sub.get("code"):
                entry = f"{subtitle_dir}/video.{sub['code']}.vtt" if subtitle_dir else ""
                if _has(archive, entry):
                    tracks.append(ZimSubtitle(str(sub["code"]), _clean_text(sub.get("name")), entry))
        chapters = []
        for ch in data.get("chapterList") or []:
            if isinstance(ch, dict):
                try:
                    chapters.append({"start": float(ch.get("startTime", 0)), "end": float(ch.get("endTime", 0)),
                                     "title": _clean_text(ch.get("title"), MAX_TITLE)})
                except (TypeError, ValueError):
                    continue
        chapters_dir = _norm(str(data.get("chaptersPath") or ""))
        chapters_entry = f"{chapters_dir}/chapters.vtt" if chapters_dir and _has(archive, f"{chapters_dir}/chapters.vtt") else ""
        if not chapters and chapters_entry:
            try:
                cues = parse_vtt(read_entry(archive, chapters_entry), chapters_entry)
                chapters = [{"start": c.start, "end": c.end, "title": c.text[:MAX_TITLE]} for c in cues]
            except SubtitleError as exc:
                problems.append(f"{exc}; chapters ignored")
        videos.append(
            ZimVideo(video_id, video_path, _clean_text(data.get("title"), MAX_TITLE) or video_id, _clean_text(data.get("description")),
                     layout="youtube2zim-v3", subtitles=tracks, chapters=chapters, chapters_entry=chapters_entry,
                     publication_date=_clean_text(data.get("publicationDate")), duration=iso_duration(data.get("duration")))
        )
    return videos


_DATA_JS = re.compile(r"var\s+json_[\w$]*\s*=\s*(\[.*?\])\s*;?\s*$", re.DOTALL | re.MULTILINE)
_V2_EXTENSIONS = ("webm", "mp4", "ogv", "mkv", "m4v", "mov")


def _v2_videos(archive, problems: list[str], warnings: list[str]) -> list[ZimVideo]:
    if not _has(archive, "assets/data.js"):
        return []
    text = _decode(read_entry(archive, "assets/data.js"), "assets/data.js", warnings)
    videos = []
    seen: set[str] = set()  # a video listed in several playlists is still one video
    for match in _DATA_JS.finditer(text):
        try:
            items = json.loads(match.group(1))
        except ValueError as exc:
            problems.append(f"assets/data.js: a playlist is not valid JSON ({exc})")
            continue
        for item in items:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            vid = str(item["id"])
            if vid in seen:
                continue
            seen.add(vid)
            candidates = [f"videos/{vid}/video.{ext}" for ext in sorted(_V2_EXTENSIONS) if _has(archive, f"videos/{vid}/video.{ext}")]
            if not candidates:
                problems.append(f"assets/data.js: video {vid!r} has no videos/{vid}/video.* entry")
                continue
            tracks = []
            for code in item.get("subtitles") or []:
                code = code.get("code") if isinstance(code, dict) else code
                entry = f"videos/{vid}/video.{code}.vtt"
                if isinstance(code, str) and _has(archive, entry):
                    tracks.append(ZimSubtitle(code, code, entry))
            videos.append(ZimVideo(vid, candidates[0], _clean_text(item.get("title"), MAX_TITLE) or vid,
                                   _clean_text(item.get("description")), layout="youtube2zim-v2", subtitles=tracks))
    return videos


def _scan(archive, warnings: list[str]) -> tuple[list[str], list[ZimVideo]]:
    """One streaming pass for an archive without a listing: the v3 per-video JSON paths, and every
    video item (by mimetype). Only those are kept, never the other entries."""
    docs: list[str] = []
    generic: list[ZimVideo] = []
    for entry in _walk(archive):
        try:
            path = entry.path
        except UnicodeDecodeError:
            warnings.append(f"entry #{entry._index}: its path is not valid UTF-8; skipped")
            continue
        if _V3_DOC.fullmatch(path):
            docs.append(path)
            continue
        if docs:
            continue  # a v3 archive: its videos come from the JSON, not the mimetypes
        try:
            mimetype = entry.get_item().mimetype
        except Exception:
            continue
        if mimetype.startswith("video/"):
            try:
                title = entry.title
            except UnicodeDecodeError:
                warnings.append(f"{path}: its title is not valid UTF-8; the file name is used instead")
                title = ""
            generic.append(ZimVideo(path.rsplit(".", 1)[0], path, _clean_text(title, MAX_TITLE) or Path(path).name, layout="generic"))
    return sorted(docs), ([] if docs else sorted(generic, key=lambda v: v.entry))


def _load_checksum_cache(cache_file: Path | None) -> dict:
    if cache_file is None:
        return {}
    try:
        data = json.loads(Path(cache_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def verify_checksum(archive, info: ZimInfo, cache_file: Path | None = None, remember: bool = True) -> None:
    """ZimArchiveCorrupt when the archive's MD5 checksum does not match its bytes (damaged in a copy, a
    download or on disk). Flipped bytes inside an item are otherwise invisible: libzim serves them
    as they are. The check reads the whole archive once (streaming); with `cache_file` the result
    is remembered per archive path and fingerprint (size, mtime, UUID), so later runs skip it."""
    if not archive.has_checksum:
        return
    cache = _load_checksum_cache(cache_file)
    known = cache.get(info.path)
    if isinstance(known, dict) and known.get("fingerprint") == info.fingerprint and isinstance(known.get("ok"), bool):
        ok = known["ok"]
    else:
        try:
            ok = bool(archive.check())
        except Exception as exc:
            raise ZimError(f"{info.path}: reading the archive to verify its checksum failed: {exc}") from None
        if cache_file is not None and remember:
            cache[info.path] = {"fingerprint": info.fingerprint, "ok": ok}
            with contextlib.suppress(OSError):
                atomic_write_json(Path(cache_file), cache)
    if not ok:
        raise ZimArchiveCorrupt(f"{info.path}: checksum mismatch: the archive is corrupt (damaged in a copy or download, or on disk); "
                       "replace it with a good copy")


def list_zim_videos(path: str | Path, include: list[str] | None = None, exclude: list[str] | None = None,
                    checksum_cache: Path | None = None, remember_checksum: bool = True,
                    fingerprints: FingerprintCache | None = None, excluded: list[ZimVideo] | None = None,
                    warnings: list[str] | None = None) -> tuple[ZimInfo, list[ZimVideo], list[str]]:
    """(archive info, its videos after include/exclude, problems found) — ZimError when unreadable
    or corrupt (checksum verified once per archive version when `checksum_cache` is given).

    Bounded memory at any size: the archive's own listing is read when it has one (youtube2zim v3's
    home.json and playlists, v2's assets/data.js); otherwise one streaming pass keeps only video items
    and per-video JSON paths. `fingerprints`: fill each video's content fingerprint (cached per archive
    version). `excluded` collects the videos left out by include/exclude; `warnings` what was readable but
    odd (undecodable titles), which fails nothing.
    """
    problems: list[str] = []
    warnings = [] if warnings is None else warnings
    with open_archive(path) as archive:
        info = archive_info(archive, path, warnings)
        verify_checksum(archive, info, checksum_cache, remember_checksum)
        try:
            docs = _listed_v3_docs(archive)
            generic: list[ZimVideo] = []
            if docs is None and not _has(archive, "assets/data.js"):
                docs, generic = _scan(archive, warnings)
            videos = (_v3_videos(archive, docs, problems, warnings) if docs else []) or _v2_videos(archive, problems, warnings) or generic
            for video in videos:
                item = archive.get_entry_by_path(video.entry).get_item()
                video.mimetype, video.size = item.mimetype, int(item.size)
        except ZimError:
            raise
        except Exception as exc:
            raise ZimError(f"{path}: damaged ZIM archive, reading entries failed: {exc}") from None
        selected = []
        for video in videos:
            keys = (video.video_id, video.title)
            if (include and not any(fnmatch.fnmatchcase(k, pat) for k in keys for pat in include)) or \
                    (exclude and any(fnmatch.fnmatchcase(k, pat) for k in keys for pat in exclude)):
                if excluded is not None:
                    excluded.append(video)
                continue
            # A zero-byte item is kept: Phase 1 fails it with an error retrying cannot fix, which holds it
            # at once (reported by that one run, then listed by status) instead of failing every sync.
            if fingerprints is not None and video.size:
                video.content_fingerprint = _item_fingerprint(archive, info, video, fingerprints)
            selected.append(video)
    return info, selected, problems


def _item_fingerprint(archive, info: ZimInfo, video: ZimVideo, cache: FingerprintCache) -> str:
    """The item's content fingerprint, cached per archive version (path + size, mtime, UUID)."""
    key = f"zim:{info.path}#{video.entry}"
    fp = cache.get(key, info.fingerprint)
    if fp is None:
        try:
            fp = fingerprint_buffer(archive.get_entry_by_path(video.entry).get_item().content)
        except Exception:
            return ""
        cache.put(key, info.fingerprint, fp)
    return fp


def video_name(info: ZimInfo, video: ZimVideo) -> str:
    """`{zim_stem}__{video_id}`, sanitized: a valid file name, unique across archives of different names."""
    return sanitize_name(f"{info.stem}__{sanitize_name(video.video_id, 80)}", 120)


def zim_uri(archive: str, entry: str) -> str:
    return f"zim://{archive}#{entry}"


def parse_zim_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("zim://") or "#" not in uri:
        raise ZimError(f"{uri!r} is not a zim://ARCHIVE#ENTRY source")
    archive, entry = uri[len("zim://"):].rsplit("#", 1)
    return archive, entry


# The fingerprint formats in one place: the sync (config → records) and the source (at Phase 1) must
# produce exactly the same text, or every sync would take the video for changed and reset it.
def zim_fingerprint(size: int, mtime_ns: int, uuid: str) -> str:
    """An archive's fingerprint: size, modification time and UUID (a replaced archive gets a new one)."""
    return f"zim:size={size}:mtime_ns={mtime_ns}:uuid={uuid}"


def entry_fingerprint(archive_fingerprint: str, entry: str) -> str:
    """A video's fingerprint inside an archive."""
    return f"{archive_fingerprint}:entry={entry}"


def archive_fingerprint(path: str | Path) -> str | None:
    """Size, mtime and the archive's UUID: a replaced archive gets a new one."""
    try:
        with open_archive(path) as archive:
            st = Path(path).stat()
            return zim_fingerprint(st.st_size, st.st_mtime_ns, str(archive.uuid))
    except (ZimError, OSError):
        return None


def extract_to(archive_path: str | Path, entry: str, folder: Path, chunk: int = 1 << 20) -> Path:
    """Stream one item into a temp file in `folder` (named so a crashed run's leftover is cleaned)."""
    with open_archive(archive_path) as archive:
        try:
            item = archive.get_entry_by_path(entry).get_item()
        except KeyError:
            raise ZimEntryMissing(f"{archive_path}: entry {entry!r} is not in the archive (was the archive replaced?)") from None
        if int(item.size) == 0:
            raise ZimEntryEmpty(f"{archive_path}#{entry}: video item is empty (0 bytes)")
        suffix = Path(entry).suffix or ".bin"
        target = temp_path_for(Path(folder) / f"zim-extract{suffix}")
        # Keep the media suffix at the end so ffprobe/OpenCV can guess the container.
        target = target.with_name(target.name + suffix)
        view = item.content  # a memoryview over libzim's buffer for this item only
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "wb") as out:
                for start in range(0, len(view), chunk):
                    out.write(view[start : start + chunk])
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target


def chapters_json(video: ZimVideo) -> str:
    return json.dumps(video.chapters, ensure_ascii=False)


def subtitles_json(video: ZimVideo) -> str:
    return json.dumps([asdict(t) for t in video.subtitles], ensure_ascii=False)


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
