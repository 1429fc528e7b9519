"""Seconds as people read them: the one place that reads a stored time and formats it.

Two rules, decided once:

- A position (where a moment, chapter or window starts or ends) is truncated to the whole
  second (`clock`, `clock_span`): a moment that starts at 12.7 s is shown at 0:12, never later
  than it is, so a player started at the shown time never misses the first words.
- A length (how long a video is) is rounded to the nearest second (`duration`): a 59.6 s clip
  lasts 1:00, not 0:59.

Neither is ever negative (a negative time reads as 0). A position that is no usable number
(None, NaN, inf, text that is no number) is shown as dashes; an unknown length as 0.

Styles: "hh:mm:ss" (00:01:05), "h:mm:ss" (0:01:05), "m:ss" (1:05; 1:00:05 from an hour on).
"""

from __future__ import annotations

import math
from typing import Any, Literal

Style = Literal["hh:mm:ss", "h:mm:ss", "m:ss"]
STYLES: tuple[Style, ...] = ("hh:mm:ss", "h:mm:ss", "m:ss")
_MISSING = {"hh:mm:ss": "--:--:--", "h:mm:ss": "-:--:--", "m:ss": "-:--"}


def seconds(value: Any) -> float | None:
    """A stored time as finite seconds, or None (None, NaN, inf, booleans, text that is no number, lists ...)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _format(whole: int, style: Style) -> str:
    h, m, s = whole // 3600, whole % 3600 // 60, whole % 60
    if style == "hh:mm:ss":
        return f"{h:02d}:{m:02d}:{s:02d}"
    if style == "h:mm:ss":
        return f"{h:d}:{m:02d}:{s:02d}"
    if style == "m:ss":
        return f"{whole // 60}:{s:02d}" if whole < 3600 else f"{h:d}:{m:02d}:{s:02d}"
    raise ValueError(f"style must be one of {STYLES}, got {style!r}")


def clock(value: Any, style: Style = "hh:mm:ss", *, nearest: bool = False) -> str:
    """A position: truncated to the second, never negative; dashes when `value` is no usable time.

    `nearest=True` rounds instead: only for the Phase 4 Markdown report, whose times have always been
    rounded (tests/test_phase4_export.py pins that); new code truncates."""
    number = seconds(value)
    if number is None:
        _format(0, style)  # an unknown style is an error here too
        return _MISSING[style]
    number = max(0.0, number)
    return _format(int(round(number)) if nearest else int(number), style)


def clock_span(start: Any, end: Any, style: Style = "hh:mm:ss", none: str = "(no time range)", *, nearest: bool = False) -> str:
    """"start–end" (both positions, see clock); `none` when either time is unusable."""
    if seconds(start) is None or seconds(end) is None:
        return none
    return f"{clock(start, style, nearest=nearest)}–{clock(end, style, nearest=nearest)}"


def duration(value: Any, style: Style = "m:ss") -> str:
    """A length: rounded to the nearest second, never negative; 0 when `value` is no usable number."""
    number = seconds(value)
    return _format(int(round(max(0.0, number or 0.0))), style)
