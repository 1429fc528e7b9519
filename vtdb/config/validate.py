"""Settings checked as a whole once loaded: the declared bounds and choices, the rules between settings, the
text of every value; `settled_values` returns the normalized form of the settings that have one (a language
code, a device, a host), which the loader builds the final Settings with."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any, Callable

from vtdb.config.schema import ConfigError, Settings
from vtdb.config.whisper import MAX_WHISPER_BATCH, check_whisper_model, normalize_whisper_device
from vtdb.languages import validate_language
from vtdb.naming import text_problem
from vtdb.text import did_you_mean

Fail = Callable[[str, str], None]


def shown(value: Any, limit: int = 60) -> str:
    """A value for a message: repr (so that odd characters are visible), cut to `limit` characters."""
    text = ascii(value) if isinstance(value, str) and text_problem(value) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _check_declared(s: Settings, fail: Fail) -> None:
    """The bounds and choices declared next to the fields (_bounds, _choices)."""
    for f in fields(Settings):
        value, meta = getattr(s, f.name), f.metadata
        if "choices" in meta and value not in meta["choices"]:
            fail(f.name, f"{value!r} is not one of {', '.join(meta['choices'])}{did_you_mean(str(value), meta['choices'])}")
        if not meta.keys() & {"ge", "gt", "le"} or value is None:
            continue
        ge, gt, le, why = meta["ge"], meta["gt"], meta["le"], meta["why"]
        if (ge is not None and value < ge) or (gt is not None and value <= gt) or (le is not None and value > le):
            low = f">= {_num(ge)}" if ge is not None else f"> {_num(gt)}" if gt is not None else ""
            if low and le is not None:
                rule = f"between {_num(ge)} and {_num(le)}" if ge is not None else f"{low} and <= {_num(le)}"
            else:
                rule = low or f"<= {_num(le)}"
            fail(f.name, f"must be {rule}{f' ({why})' if why else ''}, got {_num(value)}")



def settled_values(s: Settings, warnings: list[str] | None = None, origins: dict[str, str] | None = None) -> dict[str, Any]:
    """Check the settings (ConfigError naming the first bad one and where it came from); returns the normalized
    values of those that have a normal form, for the loader to build the final Settings with."""
    warnings = [] if warnings is None else warnings
    settled: dict[str, Any] = {}
    origins = origins or {}

    def fail(key: str, why: str) -> None:
        origin = f" (from environment {origins[key]})" if key in origins else ""
        raise ConfigError(f"settings.{key}{origin}: {why}")

    _check_setting_text(s, fail)
    _check_declared(s, fail)
    if not s.window_overlap < s.window_length:
        fail("window_overlap", f"must be >= 0 and smaller than window_length ({_num(s.window_length)}), got {_num(s.window_overlap)}")
    stride = s.window_length - s.window_overlap
    if s.window_min_tail > stride:
        fail("window_min_tail", f"must be at most the stride, window_length - window_overlap ({_num(stride)} s), got "
             f"{_num(s.window_min_tail)}: the last window swallows a tail shorter than window_min_tail, so a larger value "
             f"would stretch it up to {_num(s.window_length + s.window_min_tail)} s instead of starting one more window")
    if s.heartbeat_interval <= 0 or s.heartbeat_lease <= s.heartbeat_interval:
        fail("heartbeat_lease", f"must be longer than heartbeat_interval ({s.heartbeat_interval} s)")
    if s.fallback_language is not None:
        code, err = validate_language(s.fallback_language)
        if err:
            fail("fallback_language", err)
        settled["fallback_language"] = code
    code, err = validate_language(s.output_language)
    if err or code is None:
        fail("output_language", err or "must be a language code such as 'en' or 'ru'")
    settled["output_language"] = str(code)
    device, err = normalize_whisper_device(s.whisper_device)
    if err:
        fail("whisper_device", err)
    settled["whisper_device"] = device
    batch = s.whisper_batch_size.strip().lower()
    # ASCII digits only: str.isdigit() accepts "²" and "١", which int() refuses or reads.
    if batch != "auto" and not (re.fullmatch(r"[0-9]{1,4}", batch, re.ASCII) and int(batch) <= MAX_WHISPER_BATCH):
        fail("whisper_batch_size", f"must be 'auto', 0 (sequential) or a batch size up to {MAX_WHISPER_BATCH} "
             f"(ASCII digits), got {shown(s.whisper_batch_size)}")
    settled["whisper_batch_size"] = batch
    ocr_languages = s.ocr_languages.strip()
    if ocr_languages.lower() == "auto":
        ocr_languages = "auto"
    elif not re.fullmatch(r"[a-z]{3}(_[a-z]+)?(\+[a-z]{3}(_[a-z]+)?)*", ocr_languages, re.ASCII):
        fail("ocr_languages", f"must be 'auto' or tesseract language codes joined by '+', e.g. 'rus+kaz+eng', got "
             f"{shown(s.ocr_languages)}")
    settled["ocr_languages"] = ocr_languages
    if not s.whisper_model.strip():
        fail("whisper_model", "must not be empty")
    check_whisper_model(s.whisper_model, fail, warnings)
    for url in s.openai_base_url:
        if not url.startswith(("http://", "https://")):
            fail("openai_base_url", f"{url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
    if s.chroma_host is not None:
        host, port, err = parse_chroma_host(s.chroma_host, s.chroma_port)
        if err:
            fail("chroma_host", err)
        settled.update(chroma_host=host, chroma_port=port)
    if s.image_min_pixels > s.image_max_pixels:
        fail("image_min_pixels", "must not exceed image_max_pixels")
    if not s.content_types:
        fail("content_types", "needs at least one label")
    return settled


def parse_chroma_host(value: str, port: int) -> tuple[str | None, int, str | None]:
    """chroma_host as a host name, also when written as a URL ("http://127.0.0.1:8000": the port comes from it).
    Returns (host or None, port, error or None)."""
    from urllib.parse import urlsplit

    text = value.strip()
    if not text:
        return None, port, None
    if "://" not in text and text.count(":") == 1 and not text.startswith("["):
        text = "http://" + text  # "127.0.0.1:8000"
    if "://" not in text:
        return text, port, None
    try:
        url = urlsplit(text)
        url_port = url.port
    except ValueError as exc:
        return None, port, f"{shown(value)} is not a host name or an http:// URL ({exc})"
    if url.scheme.lower() != "http":
        return None, port, (f"{shown(value)}: only http:// is supported (the Chroma client here speaks plain HTTP); "
                            "give the host name, e.g. 127.0.0.1, and chroma_port (or reach a TLS server through a tunnel)")
    if not url.hostname or url.path.strip("/") or url.query or url.username:
        return None, port, f"{shown(value)}: give a host name, e.g. 127.0.0.1 or http://127.0.0.1:8000, with no path or user"
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return host, url_port or port, None


def _check_setting_text(s: Settings, fail: Fail) -> None:
    """No NUL, lone surrogate or control character in any text setting (a NUL in work_dir is a config error,
    not a traceback when the folder is made)."""
    for f in fields(Settings):
        value = getattr(s, f.name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                problem = text_problem(item)
                if problem:
                    fail(f.name, f"{shown(item)} {problem}; fix it in videos_config.json or the environment")
