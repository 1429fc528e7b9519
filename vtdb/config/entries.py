"""The config's video list: each entry parsed by its kind (the key it has: "path" a video file, "zim" an
archive, or a kind a source module registers with `register_entry_kind`), its problems said per entry.

The parsers of the built-in kinds live here, beside the config, because every load of a config parses its
entries and the config sits below the sources (vtdb.sources plans the parsed entries at the sync)."""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Callable, ClassVar, Protocol

from vtdb.languages import language_of_tag, validate_language
from vtdb.naming import UnsafeNameError, check_name, sanitize_name, text_problem


def resolve_path(value: str, base_dir: Path) -> Path:
    """The one rule for paths in the config: `~` expanded, relative ones taken from the config file's folder."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base_dir / path


def entry_token(raw: dict[str, Any]) -> str:
    """Changes whenever a config entry changes: `force_reprocess` applies once per token."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class SourceEntry(Protocol):
    """One valid entry of the config's video list, of the source kind (vtdb.sources) that plans it at the sync."""

    kind: ClassVar[str]
    index: int
    force_reprocess: bool
    raw: dict[str, Any]

    @property
    def entry_token(self) -> str: ...


@dataclass
class VideoEntry:
    """A config entry with "path": one video file."""

    kind: ClassVar[str] = "file"
    index: int
    name: str
    path: str
    language: str | None = None
    description: str = ""
    title: str = ""
    force_reprocess: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    # Creator subtitles named in the config: {language code or "": resolved path} ("" = the video's language).
    subtitles: dict[str, str] = field(default_factory=dict)
    # The audio track to transcribe: "2" (the second, as players number them), a language code, or "" = choose
    # (vtdb.media.audio_tracks).
    audio_track: str = ""

    @property
    def entry_token(self) -> str:
        return entry_token(self.raw)

    @property
    def display_title(self) -> str:
        return self.title or self.name


@dataclass
class ZimEntry:
    """A config entry with "zim": it stands for every (included) video in the archive."""

    kind: ClassVar[str] = "zim"
    index: int
    zim: str  # resolved archive path
    include: list[str] = field(default_factory=list)  # globs over video id or title
    exclude: list[str] = field(default_factory=list)
    language: str | None = None
    license: str = ""
    description: str = ""
    force_reprocess: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def entry_token(self) -> str:
        return entry_token(self.raw)


@dataclass
class EntryProblem:
    index: int
    name: str | None
    messages: list[str]

    def __str__(self) -> str:
        label = f"videos[{self.index}]" + (f" ({self.name!r})" if self.name else "")
        return f"{label}: " + "; ".join(self.messages)


VIDEO_KEYS = {"name", "path", "language", "description", "title", "force_reprocess", "subtitles", "audio_track"}
ZIM_KEYS = {"zim", "include", "exclude", "language", "license", "description", "force_reprocess"}


def _common_checks(raw: dict[str, Any], text_keys: tuple[str, ...], problems: list[str]) -> tuple[str | None, bool]:
    """Checks shared by file and ZIM entries; returns (language code or None, force_reprocess)."""
    language, err = validate_language(raw.get("language"))
    if err:
        problems.append(f"language: {err}")
    for key in text_keys:
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            problems.append(f"{key}: must be a string")
    force = raw.get("force_reprocess", False)
    if not isinstance(force, bool):
        problems.append(f"force_reprocess: must be true or false, got {force!r}")
    return language, force


# Free text in an entry may hold tabs and line breaks; paths, names and codes may not.
_FREE_TEXT_KEYS = {"title", "description", "license"}
_FIX = {
    "path": "fix the path in videos_config.json (rename the file if its name holds it)",
    "zim": "fix the archive's path in videos_config.json",
    "name": "give the video another name",
    "subtitles": "fix the subtitle path or language in videos_config.json",
}


def _entry_text_problems(raw: dict[str, Any]) -> list[str]:
    """NUL bytes, lone surrogates and control characters in any key or string value of one entry (nested
    ones too: subtitles, include, exclude). Each says which field, what is wrong and what to do."""
    problems: list[str] = []

    def check(where: str, key: str, value: Any) -> None:
        if isinstance(value, str):
            problem = text_problem(value, "\t\n\r" if key in _FREE_TEXT_KEYS else "")
            if problem:
                problems.append(f"{where}: {problem}; {_FIX.get(key, f'remove it from {key} in videos_config.json')}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                check(f"{where}[{i}]", key, item)
        elif isinstance(value, dict):
            for sub, item in value.items():
                bad = text_problem(sub)
                if bad:
                    problems.append(f"{where}: the key {ascii(sub)} {bad}; {_FIX.get(key, 'fix it in videos_config.json')}")
                else:
                    check(f"{where}.{sub}", key, item)

    for key, value in raw.items():
        bad = text_problem(key)
        if bad:
            problems.append(f"the key {ascii(key)} {bad}; fix the key in videos_config.json")
            continue
        check(key, key, value)
    return problems


def _parse_zim_entry(index: int, raw: dict[str, Any], base_dir: Path, warnings: list[str]) -> tuple[ZimEntry | None, EntryProblem | None]:
    problems: list[str] = _entry_text_problems(raw)
    if problems:
        zim = raw.get("zim")
        return None, EntryProblem(index, f"zim:{zim}" if isinstance(zim, str) and not text_problem(zim) else None, problems)
    for key in raw:
        if key not in ZIM_KEYS:
            warnings.append(f"videos[{index}].{key}: unknown key for a zim entry, ignored")
    zim = raw.get("zim")
    if not isinstance(zim, str) or not zim.strip():
        problems.append("zim: must be the path of a .zim archive")
    patterns: dict[str, list[str]] = {}
    for key in ("include", "exclude"):
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{key}: must be a glob string or a list of them (matched against the video id or title)")
            value = []
        patterns[key] = value
    language, force = _common_checks(raw, ("license", "description"), problems)
    if problems:
        return None, EntryProblem(index, f"zim:{zim}" if isinstance(zim, str) else None, problems)
    resolved = resolve_path(str(zim), base_dir)
    return ZimEntry(index, str(resolved), patterns["include"], patterns["exclude"], language,
                    raw.get("license") or "", raw.get("description") or "", force, raw), None
EntryParser = Callable[[int, dict[str, Any], Path, list[str]], tuple[SourceEntry | None, EntryProblem | None]]


@dataclass(frozen=True)
class EntryKind:
    """How the config recognises and parses the entries of one source kind: an entry that has `key` is one
    (`what` names it in messages, e.g. "an archive entry"). A source kind registers one beside its VideoSource."""

    key: str
    what: str
    parse: EntryParser


# The key of each entry kind -> its parser. File entries ("path") are also the default: an entry with no
# kind's key is parsed as one, which says what it misses.
ENTRY_KINDS: dict[str, EntryKind] = {}


def register_entry_kind(kind: EntryKind) -> EntryKind:
    if kind.key in ENTRY_KINDS:
        raise ValueError(f"entry kind {kind.key!r} is registered twice")
    ENTRY_KINDS[kind.key] = kind
    return kind


def _parse_file_entry(index: int, raw: dict[str, Any], base_dir: Path, warnings: list[str]) -> tuple[SourceEntry | None, EntryProblem | None]:
    return _parse_entry(index, raw, base_dir, warnings)


register_entry_kind(EntryKind("path", "a video entry", _parse_file_entry))
register_entry_kind(EntryKind("zim", "an archive entry", _parse_zim_entry))


def _entry_kind(index: int, raw: Any) -> tuple[EntryKind, EntryProblem | None]:
    """The kind of one entry (by the key it has), or a problem when it has the keys of two kinds."""
    default = ENTRY_KINDS["path"]
    if not isinstance(raw, dict):
        return default, None
    kinds = [kind for key, kind in ENTRY_KINDS.items() if key in raw]
    if len(kinds) < 2:
        return (kinds or [default])[0], None
    a, b = kinds[:2]
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    return default, EntryProblem(index, name, [
        f"has both '{a.key}' and '{b.key}': {a.what} has '{a.key}', {b.what} has '{b.key}'; split it into two entries"])


def _parse_entry(index: int, raw: Any, base_dir: Path, warnings: list[str]) -> tuple[VideoEntry | None, EntryProblem | None]:
    if not isinstance(raw, dict):
        return None, EntryProblem(index, None, [f"must be an object with 'name' and 'path', got {type(raw).__name__}"])
    name = raw.get("name")
    if isinstance(name, str):
        name = unicodedata.normalize("NFC", name)  # "й" typed as и + combining breve (macOS) is the letter й
    shown_name = name if isinstance(name, str) and not text_problem(name) else None
    problems: list[str] = _entry_text_problems(raw)
    if problems:
        return None, EntryProblem(index, shown_name, problems)
    for key in raw:
        if key not in VIDEO_KEYS:
            warnings.append(f"videos[{index}].{key}: unknown key, ignored")
    path = raw.get("path")
    if "name" not in raw and isinstance(path, str) and path.strip():
        # No name: the file's own, made safe ("Интерв'ю 1986.mp4" -> "Интерв_ю_1986"), never refused.
        name = sanitize_name(unicodedata.normalize("NFC", PurePath(path.strip()).stem))
        warnings.append(f"videos[{index}]: no name, so it is {name!r} (from its file name); add \"name\" to choose one")
    elif "name" not in raw:
        problems.append("name: missing (required unless path names a file)")
    else:
        try:
            check_name(name)
        except UnsafeNameError as exc:
            safe = sanitize_name(name) if isinstance(name, str) and name.strip() else ""
            problems.append(f"name: {exc}" + (f"; for example {safe!r}" if safe and safe != name else ""))
    if "path" not in raw:
        problems.append("path: missing (required): the video file to process")
    elif not isinstance(path, str) or not path.strip():
        problems.append("path: must be a non-empty string")
    language, force = _common_checks(raw, ("description", "title"), problems)
    subtitles = _parse_subtitles(raw.get("subtitles"), base_dir, problems)
    audio_track, err = parse_audio_track(raw.get("audio_track"))
    if err:
        problems.append(f"audio_track: {err}")
    if problems:
        return None, EntryProblem(index, shown_name, problems)
    resolved = resolve_path(str(path), base_dir)
    return (
        VideoEntry(
            index=index,
            name=str(name),
            path=str(resolved),
            language=language,
            description=raw.get("description") or "",
            title=raw.get("title") or "",
            force_reprocess=force,
            raw=raw,
            subtitles=subtitles,
            audio_track=audio_track,
        ),
        None,
    )


def parse_audio_track(value: object) -> tuple[str, str | None]:
    """A config `audio_track` as its stored form ("2" or "en"; "" = not set) and an error message or None."""
    if value is None or value == "":
        return "", None
    if isinstance(value, bool):
        return "", "must be a track number (1 = the first audio track) or a language code such as 'en'"
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if number < 1:
            return "", f"track numbers start at 1 (the first audio track, as players list them), got {number}"
        return str(number), None
    if isinstance(value, str):
        code = language_of_tag(value)
        if code:
            return code, None
        return "", f"{value!r} is neither a track number (1, 2, ...) nor a language code such as 'en' or 'ru'"
    return "", f"must be a track number or a language code, got {type(value).__name__}"


def _parse_subtitles(value: Any, base_dir: Path, problems: list[str]) -> dict[str, str]:
    """A video entry's `subtitles`: one path (in the video's language) or {language: path}."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = {"": value}
    if not isinstance(value, dict) or not value:
        problems.append("subtitles: must be a subtitle file's path or an object {language: path}, e.g. "
                        '{"ru": "talk.ru.srt", "en": "talk.en.vtt"}')
        return {}
    out: dict[str, str] = {}
    for lang, path in value.items():
        code = ""
        if lang:
            found, err = validate_language(lang)
            if err or found is None:
                problems.append(f"subtitles.{lang}: {err or 'not a language code'}")
                continue
            code = found
        if not isinstance(path, str) or not path.strip():
            problems.append(f"subtitles{'.' + lang if lang else ''}: must be a non-empty path")
            continue
        out[code] = str(resolve_path(path, base_dir))
    return out


def _warn_shared_paths(videos: list[VideoEntry], warnings: list[str]) -> None:
    """Entries with the same file under different names: each is processed and searched on its own."""
    by_path: dict[str, list[VideoEntry]] = {}
    for entry in videos:
        by_path.setdefault(os.path.normpath(entry.path), []).append(entry)
    for path, entries in by_path.items():
        if len(entries) < 2:
            continue
        shown = ", ".join(f"videos[{e.index}] ({e.name!r})" for e in entries[:3])
        more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        warnings.append(f"{shown}{more} name the same file {path}: it is processed, stored and found once per name; "
                        "remove the extra entries unless that is what you want")


def parse_entries(videos_raw: list[Any], base_dir: Path, warnings: list[str]) -> tuple[list[VideoEntry], list[SourceEntry], list[EntryProblem]]:
    """The config's `videos` list: (the file entries, every valid entry of any kind in order, the problems).
    File entries' names must be unique, also when case is ignored (their work files share a folder)."""
    videos: list[VideoEntry] = []
    problems: list[EntryProblem] = []
    first_index: dict[str, int] = {}
    folded: dict[str, VideoEntry] = {}  # casefolded name -> its first entry
    entries: list[SourceEntry] = []
    for index, raw in enumerate(videos_raw):
        kind, problem = _entry_kind(index, raw)
        if problem is None:
            parsed, problem = kind.parse(index, raw, base_dir, warnings)
        if problem:
            problems.append(problem)
            continue
        if not isinstance(parsed, VideoEntry):
            if parsed is not None:
                entries.append(parsed)
            continue
        entry = parsed
        if entry.name in first_index:
            problems.append(
                EntryProblem(index, entry.name, [f"name: {entry.name!r} is already used by videos[{first_index[entry.name]}]; names must be unique"])
            )
            continue
        twin = folded.get(entry.name.casefold())
        if twin is not None:
            problems.append(EntryProblem(index, entry.name, [
                f"name: {entry.name!r} differs from videos[{twin.index}] ({twin.name!r}) only by case; on a file system "
                "that ignores case (macOS, Windows, most USB drives) their work files would be one file; rename one"]))
            continue
        folded[entry.name.casefold()] = entry
        first_index[entry.name] = index
        videos.append(entry)
        entries.append(entry)
    _warn_shared_paths(videos, warnings)
    return videos, entries, problems
