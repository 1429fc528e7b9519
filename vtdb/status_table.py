"""The videos × phases status table (`python db_manager.py status`)."""

from __future__ import annotations

from typing import Iterable, Mapping

from rich.table import Table

from .state import PHASE_ORDER, PHASES, f

_STYLE = {"pending": "dim", "processing": "yellow", "completed": "green"}
_SHORT = {"phase1": "P1 frames", "phase2": "P2 analysis", "db_load": "P3 load", "phase4": "P4 summary"}


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds or 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def phase_cell(meta: Mapping, phase: str) -> str:
    status = str(meta.get(f(phase, "status"), "pending"))
    text = f"[{_STYLE.get(status, '')}]{status}[/]"
    count = meta.get(PHASES[phase].count_field)
    if status == "completed" and count:
        text += f" ({count})"
    attempts = int(meta.get(f(phase, "attempts")) or 0)
    if attempts:
        text += f" [red]×{attempts}[/]"
    flags = meta.get("flags", {})
    if phase in flags.get("stale", {}):
        text += " [bold yellow]STALE[/]"
    if phase in flags.get("held", []):
        text += " [bold red]HELD[/]"
    return text


def last_error(meta: Mapping) -> str:
    for phase in reversed(PHASE_ORDER):
        err = meta.get(f(phase, "last_error"))
        if err:
            return f"{_SHORT[phase]}: {err}"
    return ""


def status_table(records: Iterable[Mapping], title: str = "video_files") -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("video", overflow="fold")
    table.add_column("duration", justify="right")
    table.add_column("segments", justify="right")
    for phase in PHASE_ORDER:
        table.add_column(_SHORT[phase])
    table.add_column("last error", overflow="fold", max_width=60)
    for meta in records:
        table.add_row(
            str(meta.get("name")),
            fmt_duration(float(meta.get("video_duration") or 0)),
            str(meta.get("total_segments") or 0),
            *[phase_cell(meta, p) for p in PHASE_ORDER],
            last_error(meta),
        )
    return table


def totals_line(records: list[Mapping]) -> str:
    parts = []
    for phase in PHASE_ORDER:
        done = sum(1 for m in records if m.get(f(phase, "status")) == "completed")
        parts.append(f"{_SHORT[phase]} {done}/{len(records)}")
    held = sum(1 for m in records if m.get("flags", {}).get("held"))
    stale = sum(1 for m in records if m.get("flags", {}).get("stale"))
    line = " · ".join(parts)
    if held:
        line += f" · [bold red]{held} held[/]"
    if stale:
        line += f" · [bold yellow]{stale} stale[/]"
    return line
