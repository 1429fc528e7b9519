"""The videos × phases status table: its rows as plain data (`status_row`, shown by the terminal table here and
by the web's HTML table in vtdb.web.html_pages), the terminal table (`vtdb status`), and its --filter parsing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from rich.markup import escape
from rich.table import Table

from vtdb.commandline import command
from vtdb.config import yes_no
from vtdb.errors import VtdbError
from vtdb.records import Video
from vtdb.state import PHASE_ORDER, PHASES, STATUSES, all_phase_defaults, is_retired, phase_field
from vtdb.text import did_you_mean
from vtdb.timefmt import duration

# ---- the rows as plain data: what the terminal table and the web's HTML table both show ----


@dataclass(frozen=True)
class PhaseCell:
    """One video's state in one phase, as the status tables show it."""

    phase: str
    status: str  # pending, processing or completed
    count: str  # what the phase made (windows, segments, …), "" unless completed with a count
    attempts: int  # failed attempts so far
    stale: str | None  # why its output is out of date, when it is
    held: bool  # out of attempts: the next run skips it until released


@dataclass(frozen=True)
class StatusRow:
    """One video's row of the status tables."""

    name: str
    title: str
    audio_only: bool
    retired: bool  # the video left the library (vtdb.records.Video.retired)
    retired_reason: str
    duration: str  # as shown ("12:34")
    segments: int
    cells: tuple[PhaseCell, ...]  # in PHASE_ORDER
    last_error: str


def phase_cell(record: Mapping[str, Any], phase: str) -> PhaseCell:
    status = str(record.get(phase_field(phase, "status")) or "pending")
    count = record.get(PHASES[phase].count_field)
    flags = record.get("flags") or {}
    stale = (flags.get("stale") or {}).get(phase)
    return PhaseCell(phase, status, str(count) if status == "completed" and count else "",
                     int(record.get(phase_field(phase, "attempts")) or 0),
                     None if stale is None else str(stale), phase in (flags.get("held") or []))


def last_error(record: Mapping[str, Any]) -> str:
    """The latest phase's error; else what a completed video lacks (a file indexed only as far as it decodes)."""
    for phase in reversed(PHASE_ORDER):
        err = record.get(phase_field(phase, "last_error"))
        if err:
            return f"{PHASES[phase].label}: {err}"
    partial = Video.from_meta(record).phase1_partial
    return f"partial: {partial}" if partial else ""


def status_row(record: Mapping[str, Any]) -> StatusRow:
    """A record (with its "flags", as Store.video_flags gives them) as a row of the status tables."""
    video = Video.from_meta(record)
    return StatusRow(name=video.name, title=video.title, audio_only=not video.has_video, retired=video.retired,
                     retired_reason=video.retired_reason, duration=duration(video.video_duration),
                     segments=video.total_segments, cells=tuple(phase_cell(record, p) for p in PHASE_ORDER), last_error=last_error(record))


# ---- the terminal: a rich table, or plain text for a big library ----

_STYLE = {"pending": "dim", "processing": "yellow", "completed": "green"}
COLUMNS = ("video", "duration", "segments", *(PHASES[p].label for p in PHASE_ORDER), "last error")


def _rich_cell(cell: PhaseCell) -> str:
    return (f"[{_STYLE.get(cell.status, '')}]{escape(cell.status)}[/]" + (f" ({cell.count})" if cell.count else "")
            + (f" [red]×{cell.attempts}[/]" if cell.attempts else "") + (" [bold yellow]STALE[/]" if cell.stale is not None else "")
            + (" [bold red]HELD[/]" if cell.held else ""))


def _plain_cell(cell: PhaseCell) -> str:
    return (cell.status + (f" ({cell.count})" if cell.count else "") + (f" x{cell.attempts}" if cell.attempts else "")
            + (" STALE" if cell.stale is not None else "") + (" HELD" if cell.held else ""))


def status_table(records: Iterable[Mapping[str, Any]], title: str = "video_files") -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column(COLUMNS[0], overflow="fold")
    table.add_column(COLUMNS[1], justify="right")
    table.add_column(COLUMNS[2], justify="right")
    for column in COLUMNS[3:-1]:
        table.add_column(column)
    table.add_column(COLUMNS[-1], overflow="fold", max_width=60)
    for row in map(status_row, records):
        label = escape(row.name) + (" [dim](audio)[/]" if row.audio_only else "")
        if row.retired:
            label += f" [bold magenta]RETIRED[/] [dim]{escape(row.retired_reason)}[/]"
        table.add_row(label, row.duration, str(row.segments), *map(_rich_cell, row.cells), escape(row.last_error))
    return table


# Above this many videos the table is plain text: rich measures and pads every cell of a Table, which took
# ~12 s (and more under load) for 10,000 videos; plain columns take well under a second.
PLAIN_TABLE_ROWS = 300


def plain_status_table(records: Sequence[Mapping[str, Any]], title: str = "video_files") -> str:
    """The same columns as status_table, as plain text in aligned columns (for big libraries)."""
    rows = []
    for row in map(status_row, records):
        label = row.name + (" (audio)" if row.audio_only else "") + (f" RETIRED {row.retired_reason}" if row.retired else "")
        error = row.last_error if len(row.last_error) <= 80 else row.last_error[:79] + "…"
        rows.append([label, row.duration, str(row.segments), *map(_plain_cell, row.cells), error])
    header = list(COLUMNS)
    widths = [min(max(len(r[i]) for r in [header, *rows]), 60) for i in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in (1, 2) else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))) + "  " + cells[-1]

    return "\n".join([title, line(header), *(line(r).rstrip() for r in rows)])


def phase_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """For each phase, how many of the records are pending, processing, completed, held and stale (the web's
    totals, /api/status's "totals", the terminal's totals line)."""
    out: dict[str, dict[str, int]] = {}
    for phase in PHASE_ORDER:
        counts = {"pending": 0, "processing": 0, "completed": 0, "held": 0, "stale": 0}
        for record in records:
            cell = phase_cell(record, phase)
            counts[cell.status] = counts.get(cell.status, 0) + 1
            counts["held"] += cell.held
            counts["stale"] += cell.stale is not None
        out[phase] = counts
    return out


def totals_line(records: Sequence[Mapping[str, Any]]) -> str:
    counts = phase_counts(records)
    parts = [f"{PHASES[phase].label} {counts[phase]['completed']}/{len(records)}" for phase in PHASE_ORDER]
    held = sum(1 for m in records if m.get("flags", {}).get("held"))
    stale = sum(1 for m in records if m.get("flags", {}).get("stale"))
    retired = sum(1 for m in records if is_retired(m))
    line = " · ".join(parts)
    if retired:
        line += f" · [bold magenta]{retired} retired[/] ({escape(command('prune'))} deletes them)"
    if held:
        line += f" · [bold red]{held} held[/]"
    if stale:
        line += f" · [bold yellow]{stale} stale[/]"
    return line


# ---- status --filter FIELD=VALUE[,VALUE] ----


class FilterError(VtdbError, ValueError):
    """A --filter that cannot work (exit code 2, with the usage)."""


STATUS_FIELDS = tuple(phase_field(p, "status") for p in PHASE_ORDER)


def record_fields(db: Any, stored: bool = True) -> dict[str, Any]:
    """Metadata fields of video_files records, each with an example value (its type types the filter value):
    the fields every new record has, plus (`stored`) those that stored records carry (ZIM metadata,
    Phase 4 summaries, …)."""
    new_record = getattr(db, "_new_record", None)
    fields: dict[str, Any] = dict(new_record("", "", {})[0]) if new_record else {"name": "", **all_phase_defaults()}
    if stored:
        for meta in db.list_videos():
            for key, value in meta.items():
                fields.setdefault(key, value)
    return fields


def _describe_fields(fields: Sequence[str]) -> str:
    """The known fields, with the per-phase ones folded into "{phase}_status, …"."""
    prefixes = [f"{p}_" for p in PHASE_ORDER]
    per_phase = [k[len(prefixes[0]):] for k in fields if k.startswith(prefixes[0])]
    common = [suffix for suffix in per_phase if all(f"{pre}{suffix}" in fields for pre in prefixes)]
    folded = {f"{pre}{suffix}" for pre in prefixes for suffix in common}
    others = [k for k in fields if k not in folded]
    text = "known fields: " + ", ".join(others)
    if common:
        text += f"; and for each phase ({', '.join(PHASE_ORDER)}): " + ", ".join(f"{{phase}}_{s}" for s in common)
    return text


def _typed(item: str, key: str, raw: str, example: Any) -> Any:
    if isinstance(example, bool):
        if (answer := yes_no(raw)) is not None:
            return answer
        raise FilterError(f"--filter {item!r}: {key} is true or false, not {raw!r}")
    if isinstance(example, int):
        try:
            return int(raw)
        except ValueError:
            raise FilterError(f"--filter {item!r}: {key} is a whole number, not {raw!r}") from None
    if isinstance(example, float):
        try:
            return float(raw)
        except ValueError:
            raise FilterError(f"--filter {item!r}: {key} is a number, not {raw!r}") from None
    return raw


def parse_filters(items: Sequence[str] | None, fields: Callable[[bool], Mapping[str, Any]]) -> dict[str, Any]:
    """`--filter` arguments into a list_videos status filter; a comma-separated value means any of.

    `fields(stored)` gives the known fields with example values (see record_fields): called only
    when there is a filter, and with stored=True only for a field that new records lack.
    FilterError for a missing '=', an unknown field (with did-you-mean), a status that does not
    exist or a value of the wrong type."""
    out: dict[str, Any] = {}
    known: Mapping[str, Any] | None = None
    for item in items or []:
        if "=" not in item:
            raise FilterError(f"--filter {item!r}: use FIELD=VALUE or FIELD=V1,V2 (e.g. phase2_status=pending,processing)")
        key, value = (part.strip() for part in item.split("=", 1))
        if not key:
            raise FilterError(f"--filter {item!r}: no field before '='; use FIELD=VALUE (e.g. phase2_status=pending)")
        if known is None:
            known = fields(False)
        if key not in known:
            known = fields(True)
        if key not in known:
            raise FilterError(f"--filter {item!r}: unknown field {key!r}"
                              f"{did_you_mean(key, known, n=3, then=_describe_fields(list(known)))}")
        values = [v.strip() for v in value.split(",") if v.strip()] or [""]
        if key in STATUS_FIELDS:
            bad = [v for v in values if v not in STATUSES]
            if bad:
                raise FilterError(f"--filter {item!r}: {', '.join(map(repr, bad))} is not a status; {key} is one of "
                                  f"{', '.join(STATUSES)} (a comma-separated list means any of)")
        typed = list(dict.fromkeys(_typed(item, key, v, known[key]) for v in values))
        out[key] = typed if len(typed) > 1 else typed[0]
    return out


def filter_text(status_filter: Mapping[str, Any]) -> str:
    def show(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return " ".join(f"{k}=" + ",".join(show(v) for v in (vals if isinstance(vals, list) else [vals]))
                    for k, vals in status_filter.items())


# ---- the pipeline's quiet report (cron): what changed in this run and what needs attention, never the library ----

# The per-video events a phase writes to the event log when it changes a record (vtdb.events).
CHANGE_EVENTS = {"VIDEO_COMPLETE": "completed", "VIDEO_ERROR": "failed", "VIDEO_SUPERSEDED": "superseded",
                 "VIDEO_RELEASED": "handed back", "VIDEO_RETIRED": "retired", "VIDEO_RESTORED": "restored",
                 "VIDEO_MOVED": "moved"}


def run_changes(events: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Video name -> what this run's events did to it, in order ("phase1 completed (12)", "phase2 failed, now
    held: …"); only the per-video events that change a record (CHANGE_EVENTS)."""
    out: dict[str, list[str]] = {}
    for event in events:
        what = CHANGE_EVENTS.get(str(event.get("event")))
        name = event.get("video")
        if what is None or not name:
            continue
        phase = str(event.get("phase") or "")
        label = PHASES[phase].label if phase in PHASES else phase
        text = f"{label} {what}".strip()
        if what == "completed" and event.get("count"):
            text += f" ({event['count']})"
        if what == "failed":
            text += (", now held" if event.get("held") else "") + (f": {event['error']}" if event.get("error") else "")
        out.setdefault(str(name), []).append(text)
    return out


def attention(row: StatusRow) -> list[str]:
    """What in a row needs a person: a held phase, a claim gone stale, a phase still processing (another worker,
    or a run that did not finish)."""
    out = []
    for cell in row.cells:
        label = PHASES[cell.phase].label
        if cell.held:
            out.append(f"{label} HELD" + (f" after {cell.attempts} failed attempt(s)" if cell.attempts else ""))
        elif cell.stale is not None:
            out.append(f"{label} STALE: {cell.stale}")
        elif cell.status == "processing":
            out.append(f"{label} processing")
    return out


def quiet_report(changes: Mapping[str, Sequence[str]], records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The lines of the pipeline's quiet form (rich markup, names escaped): one per video changed in this run
    (`run_changes`) or needing attention (`records`: those held or processing, with their "flags"), then one
    line of counts. Its length follows what changed and what needs attention, never the size of the library."""
    rows = {row.name: row for row in map(status_row, records)}
    needs = {name: what for name, row in rows.items() if (what := attention(row))}
    lines = []
    for name in sorted(set(changes) | set(needs)):
        parts = [*changes.get(name, ()), *needs.get(name, ())]
        error = rows[name].last_error if name in needs else ""
        text = "; ".join(parts) + (f" (last error: {error})" if error else "")
        lines.append(f"{escape(name)}: {escape(text)}")
    summary = f"pipeline: {len(changes)} video(s) changed in this run, {len(needs)} need attention"
    if needs:
        summary += f" (`{escape(command('status'))}` shows why, `{escape(command('release', 'NAME'))}` lets a held one be tried again)"
    return [*lines, summary]
