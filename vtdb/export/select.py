"""What an export takes from the database: the loaded videos, their segments and transcripts, and
the embedding model that disaster-clippy queries with (all-mpnet-base-v2)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from vtdb import state
from vtdb.commandline import command
from vtdb.export import ExportError
from vtdb.export.clippy import EMBEDDING_MODEL
from vtdb.records import Segment, Video, sort_start
from vtdb.store.segments import as_meta
from vtdb.workfiles import WorkFileError, read_phase1


def loaded_videos(db, names: Sequence[str] | None = None, include_retired: bool = False,
                  log: Callable[[str], None] | None = None) -> list[dict]:
    """The video_files records of the videos Phase 3 loaded (all of them, or those `names`, by name order).
    Retired videos (`retired_at` set: they left the library) stay out unless `include_retired`.

    A name asked for is never skipped silently: ExportError when it is not loaded (or unknown), retired,
    or has no segments in video_segments."""
    read = [(Video.from_meta(r), r) for r in db.list_videos({state.phase_field("db_load", "status"): state.COMPLETED})]
    if not include_retired:
        retired = sorted(v.name for v, _ in read if v.retired)
        asked = [n for n in retired if names and n in set(names)]
        if asked:
            raise ExportError(f"retired (they left the library): {', '.join(asked)}; add --include-retired to export them")
        if retired and not names and log is not None:
            log(f"left out {len(retired)} retired video{'s' if len(retired) != 1 else ''} "
                f"({', '.join(retired)}); --include-retired exports them too")
        read = [(v, r) for v, r in read if not v.retired]
    if not names:
        return [r for _, r in read]
    known = {v.name for v, _ in read}
    missing = [n for n in names if n not in known]
    if missing:
        raise ExportError(f"not loaded (or unknown): {', '.join(missing)}; run {command('phase3')} for them first")
    read = [(v, r) for v, r in read if v.name in set(names)]
    empty = [v.name for v, _ in read if not db.count_segments(v.name)]
    if empty:
        raise ExportError(f"no segments in video_segments for: {', '.join(empty)}; run {command('phase3')} for them "
                          f"({command('reset', 'NAME', '--phase', '3')}), or leave them out of --videos")
    return [r for _, r in read]


def segments_of(db, name: str) -> list[dict]:
    """The stored metadata of a video's segments (each a dict, {} for a record that is none), in storage order."""
    return [as_meta(m) for m in db.segment_metadatas(name)]


def transcript_of(db, work_dir: Path, name: str) -> str:
    """The video's whole transcript from its Phase 1 data; without that (deleted, unreadable), the
    segments' transcripts in time order, each overlap's text once."""
    try:
        return read_phase1(work_dir, name).transcript.text
    except WorkFileError:
        ordered = sorted(segments_of(db, name), key=sort_start)
        return " ".join(dict.fromkeys(Segment.from_meta(m).transcript for m in ordered))


class ExportEmbedder:
    """The export's embedding model, loaded once on first use (embed or fits)."""

    def __init__(self, name: str = EMBEDDING_MODEL, log: Callable[[str], None] | None = None):
        self.name = name
        self.log = log
        self._embedder = None

    @property
    def embedder(self):
        if self._embedder is None:
            from vtdb.embedders import load_embedder

            self._embedder = load_embedder(self.name)
        return self._embedder

    def embed(self, texts: list[str]):
        if self.log is not None:
            self.log(f"embedding {len(texts)} documents with {self.name} …")
        return self.embedder.embed_passages(texts)

    def fits(self, text: str) -> bool:
        """Does the model read the whole text (no silent cut at its max_seq_length)? True when it cannot tell."""
        return self.embedder.fits(text)
