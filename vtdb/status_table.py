"""The videos × phases status table (`python db_manager.py status`) and its --filter parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from rich.table import Table

from vtdb.config import yes_no
from vtdb.errors import VtdbError
from vtdb.naming import check_name, path_inside
from vtdb.state import PHASE_ORDER, PHASES, STATUSES, all_phase_defaults, phase_field
from vtdb.text import close_matches, did_you_mean, suggestion
from vtdb.timefmt import duration

_STYLE = {"pending": "dim", "processing": "yellow", "completed": "green"}
_SHORT = {"phase1": "P1 frames", "phase2": "P2 analysis", "db_load": "P3 load", "phase4": "P4 summary"}


def phase_cell(meta: Mapping, phase: str) -> str:
    status = str(meta.get(phase_field(phase, "status"), "pending"))
    text = f"[{_STYLE.get(status, '')}]{status}[/]"
    count = meta.get(PHASES[phase].count_field)
    if status == "completed" and count:
        text += f" ({count})"
    attempts = int(meta.get(phase_field(phase, "attempts")) or 0)
    if attempts:
        text += f" [red]×{attempts}[/]"
    flags = meta.get("flags", {})
    if phase in flags.get("stale", {}):
        text += " [bold yellow]STALE[/]"
    if phase in flags.get("held", []):
        text += " [bold red]HELD[/]"
    return text


def last_error(meta: Mapping) -> str:
    """The latest phase's error; else what a completed video lacks (a file indexed only as far as it decodes)."""
    for phase in reversed(PHASE_ORDER):
        err = meta.get(phase_field(phase, "last_error"))
        if err:
            return f"{_SHORT[phase]}: {err}"
    return f"partial: {meta['phase1_partial']}" if meta.get("phase1_partial") else ""


def status_table(records: Iterable[Mapping], title: str = "video_files") -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("video", overflow="fold")
    table.add_column("duration", justify="right")
    table.add_column("segments", justify="right")
    for phase in PHASE_ORDER:
        table.add_column(_SHORT[phase])
    table.add_column("last error", overflow="fold", max_width=60)
    for meta in records:
        label = str(meta.get("name")) + (" [dim](audio)[/]" if meta.get("has_video") is False else "")
        if meta.get("retired_at"):
            label += f" [bold magenta]RETIRED[/] [dim]{meta.get('retired_reason') or ''}[/]"
        table.add_row(
            label,
            duration(meta.get("video_duration")),
            str(meta.get("total_segments") or 0),
            *[phase_cell(meta, p) for p in PHASE_ORDER],
            last_error(meta),
        )
    return table


# Above this many videos the table is plain text: rich measures and pads every cell of a Table, which took
# ~12 s (and more under load) for 10,000 videos; plain columns take well under a second.
PLAIN_TABLE_ROWS = 300


def _plain_cell(meta: Mapping, phase: str) -> str:
    status = str(meta.get(phase_field(phase, "status"), "pending"))
    count = meta.get(PHASES[phase].count_field)
    text = status + (f" ({count})" if status == "completed" and count else "")
    attempts = int(meta.get(phase_field(phase, "attempts")) or 0)
    flags = meta.get("flags", {})
    return (text + (f" x{attempts}" if attempts else "") + (" STALE" if phase in flags.get("stale", {}) else "")
            + (" HELD" if phase in flags.get("held", []) else ""))


def plain_status_table(records: Sequence[Mapping], title: str = "video_files") -> str:
    """The same columns as status_table, as plain text in aligned columns (for big libraries)."""
    header = ["video", "duration", "segments", *(_SHORT[p] for p in PHASE_ORDER), "last error"]
    rows = []
    for meta in records:
        label = str(meta.get("name")) + (" (audio)" if meta.get("has_video") is False else "")
        if meta.get("retired_at"):
            label += f" RETIRED {meta.get('retired_reason') or ''}"
        error = last_error(meta)
        rows.append([label, duration(meta.get("video_duration")), str(meta.get("total_segments") or 0),
                     *(_plain_cell(meta, p) for p in PHASE_ORDER), error if len(error) <= 80 else error[:79] + "…"])
    widths = [min(max(len(r[i]) for r in [header, *rows]), 60) for i in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in (1, 2) else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))) + "  " + cells[-1]

    return "\n".join([title, line(header), *(line(r).rstrip() for r in rows)])


def totals_line(records: Sequence[Mapping]) -> str:
    parts = []
    for phase in PHASE_ORDER:
        done = sum(1 for m in records if m.get(phase_field(phase, "status")) == "completed")
        parts.append(f"{_SHORT[phase]} {done}/{len(records)}")
    held = sum(1 for m in records if m.get("flags", {}).get("held"))
    stale = sum(1 for m in records if m.get("flags", {}).get("stale"))
    retired = sum(1 for m in records if m.get("retired_at"))
    line = " · ".join(parts)
    if retired:
        line += f" · [bold magenta]{retired} retired[/] (db_manager.py prune deletes them)"
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


# ---- prune: delete retired videos (what `db_manager.py prune` shows, then does) ----


@dataclass
class PruneItem:
    """One retired video and everything of it that prune deletes."""

    name: str
    reason: str
    retired_at: str
    segments: int
    files: list[Path] = field(default_factory=list)  # its intermediates in work_dir that exist


def work_files_of(work_dir: Path, name: str) -> list[Path]:
    """A video's intermediates in work_dir: the Phase 1 pickle, the Phase 2 analysis, the Phase 4 report and
    subtitles (the names of vtdb.workfiles and vtdb.phases.phase4), whichever exist."""
    from vtdb.formats.subtitles import existing_subtitle_files

    work_dir = Path(work_dir)
    safe = check_name(name)
    candidates = [work_dir / f"{safe}_phase1_data.pkl", work_dir / f"{safe}_phase2_vllm_analysis.json",
                  work_dir / "reports" / f"{safe}.md", *existing_subtitle_files(work_dir / "subtitles", safe)]
    return [path_inside(work_dir, p) for p in candidates if p.exists()]


def plan_prune(db: Any, work_dir: Path, names: Sequence[str] = ()) -> list[PruneItem]:
    """The retired videos (all, or those of `names`) with what deleting them removes. A name that is not
    retired is a FilterError: prune deletes only what the sync retired (`delete` forgets any video)."""
    retired = {m["name"]: m for m in db.list_videos({"retired": True})}
    chosen = list(dict.fromkeys(names)) if names else sorted(retired)
    unknown = [n for n in chosen if n not in retired and not db.get_many([n])]
    if unknown:
        known = db.all_names() if hasattr(db, "all_names") else []
        close = list(dict.fromkeys(c for n in unknown for c in close_matches(n, known, n=3)))
        raise FilterError(f"no video named {', '.join(map(repr, unknown))} in the database" + suggestion(
            close, then="`db_manager.py status` lists the videos (retired ones are marked RETIRED)"))
    bad = [n for n in chosen if n not in retired]
    if bad:
        raise FilterError(f"not retired: {', '.join(map(repr, bad))}; prune deletes only retired videos "
                          "(`db_manager.py delete NAME` forgets any video)")
    return [PruneItem(n, str(retired[n].get("retired_reason") or ""), str(retired[n].get("retired_at") or ""),
                      db.count_segments(n), work_files_of(work_dir, n)) for n in chosen]


def apply_prune(db: Any, items: Sequence[PruneItem], on_done: Callable[[PruneItem], None] | None = None) -> int:
    """Delete each video's segments, record and intermediates; the number of videos deleted."""
    for item in items:
        for path in item.files:
            path.unlink(missing_ok=True)
        db.delete_video(item.name)
        if on_done:
            on_done(item)
    return len(items)
