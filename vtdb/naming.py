"""Video names become file names and database ids: validate them strictly."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from vtdb.errors import VtdbError

# Letters/digits of any script, plus a few separators. No path separators, no leading dot.
_SAFE_NAME = re.compile(r"^[\w][\w.\- ]*$", re.UNICODE)
MAX_NAME_LENGTH = 120

# A name becomes part of file names, and file systems limit a name to 255 BYTES (ext4, XFS, btrfs; NTFS and
# APFS count 255 UTF-16 units / UTF-8 bytes), not characters: 120 Cyrillic letters are 240 bytes. The longest
# file name the code builds from a video's name is its Phase 2 analysis while it is written: the final name
# plus vtdb.atomic's temp tail ".vtdb-tmp.<host, at most 64>.<pid, at most 7 digits>.<8 hex>".
FILE_NAME_MAX_BYTES = 255
WORK_FILE_SUFFIXES = ("_phase1_data.pkl", "_phase2_vllm_analysis.json", ".md", ".html")
TEMP_TAIL_MAX_BYTES = len(".vtdb-tmp.") + 64 + 1 + 7 + 1 + 8
LONGEST_SUFFIX_BYTES = max(len(s) for s in WORK_FILE_SUFFIXES) + TEMP_TAIL_MAX_BYTES
MAX_NAME_BYTES = FILE_NAME_MAX_BYTES - LONGEST_SUFFIX_BYTES  # 138

# Names Windows reserves for devices (in any case, with or without an extension): a work file named
# "CON_phase1_data.pkl" is fine, but an export page "CON.html" or a copy to a Windows disk is not.
_WINDOWS_RESERVED = re.compile(r"^(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(?:\..*)?$", re.IGNORECASE)


class UnsafeNameError(VtdbError, ValueError):
    pass


def check_name(name: object) -> str:
    """Return `name` if it is safe to use as a file name and an id, else raise UnsafeNameError."""
    if not isinstance(name, str):
        raise UnsafeNameError(f"must be a string, got {type(name).__name__}")
    if not name.strip():
        raise UnsafeNameError("is empty")
    bad = text_problem(name)
    if bad:
        raise UnsafeNameError(bad)
    if unicodedata.normalize("NFC", name) != name:
        raise UnsafeNameError(f"{name!r} is not in Unicode NFC form (letters written as a base letter plus a "
                              "combining mark, as macOS file names are); the config normalizes names, so write "
                              f"it as {unicodedata.normalize('NFC', name)!r}")
    if "/" in name or "\\" in name:
        raise UnsafeNameError(f"{name!r} contains a path separator; use letters, digits, '-', '_' or '.'")
    if ".." in name:
        raise UnsafeNameError(f"{name!r} contains '..'")
    if name != name.strip():
        raise UnsafeNameError(f"{name!r} has leading or trailing spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeNameError(f"is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise UnsafeNameError(
            f"is {size} bytes long in UTF-8 ({len(name)} characters); the limit is {MAX_NAME_BYTES} bytes, so that "
            f"its work files and their temporary names fit the file system's 255 bytes (about "
            f"{MAX_NAME_BYTES // 2} Cyrillic or {MAX_NAME_BYTES // 3} CJK letters); use a shorter name")
    if not _SAFE_NAME.match(name):
        odd = next((ch for ch in name if not (ch.isalnum() or ch in "_.- ")), name[0])
        which = f"{odd!r} (U+{ord(odd):04X} {unicodedata.name(odd, 'unnamed character')})"
        raise UnsafeNameError(
            f"{name!r} may only contain letters, digits, spaces, '-', '_' and '.', and must not start with '.' or '-' "
            f"(it has {which})"
        )
    if _WINDOWS_RESERVED.match(name.rstrip(". ")):
        raise UnsafeNameError(f"{name!r} is a device name Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9, in "
                              "any case and with any extension): its exported page or a copy of its work files on a "
                              "Windows or exFAT disk cannot be created; use another name, e.g. "
                              f"{'video_' + name!r}")
    return name


def text_problem(value: str, allow: str = "") -> str | None:
    """What makes `value` unusable as text from a config or an archive, or None: a NUL byte, a lone surrogate
    (a string that is not valid Unicode: it cannot be written as UTF-8), or a control character (ESC, BEL,
    C1 controls; those in `allow`, e.g. "\t\n\r" for free text, are fine). Says which and where."""
    for i, ch in enumerate(value):
        code = ord(ch)
        if ch in allow:
            continue
        if code == 0:
            return f"contains a NUL byte (\\x00) at character {i + 1}, which no file name or text may hold"
        if 0xD800 <= code <= 0xDFFF:
            return (f"contains a lone surrogate (\\u{code:04x}) at character {i + 1}: not valid Unicode (often text "
                    "converted from a broken encoding)")
        if unicodedata.category(ch) == "Cc":
            shown = f"\\x{code:02x}" if code < 0x100 else f"U+{code:04X}"
            return f"contains the control character {shown} at character {i + 1}"
    return None


def sanitize_name(raw: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Turn an arbitrary string (a title, an archive entry) into a safe name (at most MAX_NAME_BYTES in UTF-8,
    cut at a character, never a Windows device name)."""
    text = unicodedata.normalize("NFKC", raw)
    text = re.sub(r"[^\w.\-]+", "_", text, flags=re.UNICODE)
    text = re.sub(r"\.{2,}", ".", text).strip("._- ")
    text = (text or "video")[:max_length]
    while len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text[:-1]
    text = text.rstrip("._- ") or "video"
    return text + "_" if _WINDOWS_RESERVED.match(text) else text


def path_inside(base: Path, candidate: Path) -> Path:
    """Resolve `candidate` and make sure it stays inside `base` (no traversal, no symlink escape)."""
    base_resolved = base.resolve()
    resolved = candidate.resolve()
    if resolved != base_resolved and base_resolved not in resolved.parents:
        if candidate.is_symlink():
            raise UnsafeNameError(f"{candidate} is a symlink to {resolved}, outside {base_resolved}: work files are "
                                  "read and written in work_dir only; replace the symlink with the file itself "
                                  "(or move work_dir to that disk)")
        raise UnsafeNameError(f"{candidate} is outside {base_resolved}")
    return resolved
