"""Prune: delete the retired videos (those the sync found gone from the library), each with its segments,
its record and its work files. `plan_prune` says what would go (`vtdb prune` shows it and asks),
`apply_prune` deletes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from vtdb.commandline import command
from vtdb.errors import VtdbError
from vtdb.records import Video
from vtdb.text import close_matches, suggestion
from vtdb.workfiles import work_files_of


class PruneRefused(VtdbError, ValueError):
    """A name prune cannot take: no such video, or a video that is not retired (exit code 2)."""


@dataclass
class PruneItem:
    """One retired video and everything of it that prune deletes."""

    name: str
    reason: str
    retired_at: str
    segments: int
    files: list[Path] = field(default_factory=list)  # its work files in work_dir that exist


def plan_prune(db: Any, work_dir: Path, names: Sequence[str] = ()) -> list[PruneItem]:
    """The retired videos (all, or those of `names`) with what deleting them removes. A name that is not
    retired is refused: prune deletes only what the sync retired (`delete` forgets any video)."""
    # The store finds them by its `retired` index; the rule (vtdb.records.Video.retired) decides.
    retired = {v.name: v for v in map(Video.from_meta, db.list_videos({"retired": True})) if v.retired}
    chosen = list(dict.fromkeys(names)) if names else sorted(retired)
    unknown = [n for n in chosen if n not in retired and not db.get_many([n])]
    if unknown:
        known = db.all_names() if hasattr(db, "all_names") else []
        close = list(dict.fromkeys(c for n in unknown for c in close_matches(n, known, n=3)))
        raise PruneRefused(f"no video named {', '.join(map(repr, unknown))} in the database" + suggestion(
            close, then=f"`{command('status')}` lists the videos (retired ones are marked RETIRED)"))
    bad = [n for n in chosen if n not in retired]
    if bad:
        raise PruneRefused(f"not retired: {', '.join(map(repr, bad))}; prune deletes only retired videos "
                           f"(`{command('delete', 'NAME')}` forgets any video)")
    return [PruneItem(n, retired[n].retired_reason, retired[n].retired_at,
                      db.count_segments(n), work_files_of(work_dir, n)) for n in chosen]


def apply_prune(db: Any, items: Sequence[PruneItem], on_done: Callable[[PruneItem], None] | None = None) -> int:
    """Delete each video's segments, record and work files; the number of videos deleted."""
    for item in items:
        for path in item.files:
            path.unlink(missing_ok=True)
        db.delete_video(item.name)
        if on_done:
            on_done(item)
    return len(items)
