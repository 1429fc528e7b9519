"""A test-only source kind, "gz": a video kept gzip-compressed on disk (`{"name": "clip", "gz": "clip.mp4.gz"}`
in videos_config.json). Nothing in vtdb knows of it: this module is the whole kind, and `register()` its
registration (a VideoSource in SOURCES, an EntryKind for the config). ffmpeg cannot read the compressed
file, so Phase 1, the player and the export all see the video only through the source."""

from __future__ import annotations

import contextlib
import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterator

from vtdb.config import EntryKind, EntryProblem, SourceEntry, entry_token, register_entry_kind, resolve_path
from vtdb.sources import SOURCES, OpenHandles, SourceBytes, SourceUnavailable, VideoSource
from vtdb.sources.plan import EntryPlanner, PlannedVideo

SCHEME = "gz://"


@dataclass
class GzEntry:
    kind: ClassVar[str] = "gz"
    index: int
    name: str
    path: str
    force_reprocess: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def entry_token(self) -> str:
        return entry_token(self.raw)


def parse_gz_entry(index: int, raw: dict, base_dir: Path, warnings: list[str]) -> tuple[SourceEntry | None, EntryProblem | None]:
    name, path = raw.get("name"), raw.get("gz")
    if not isinstance(name, str) or not isinstance(path, str):
        return None, EntryProblem(index, None, ["a gz entry has a 'name' and the 'gz' file's path"])
    return GzEntry(index, name, str(resolve_path(path, base_dir)), raw.get("force_reprocess") is True, raw), None


class GzPlanner(EntryPlanner):
    def plan(self, entry: SourceEntry) -> list[PlannedVideo]:
        assert isinstance(entry, GzEntry)
        self.sync.claim(entry.name, f"videos[{entry.index}]")
        source = GzSource(SCHEME + entry.path)
        fields = {"source_kind": "gz", "title": entry.name, "description": "", "language": ""}
        return [PlannedVideo(entry.name, source.location, fields, source.fingerprint(), entry.force_reprocess,
                             entry.entry_token, missing="" if not source.missing() else f"gz file gone: {entry.path}")]


class GzSource(VideoSource):
    kind = "gz"
    scheme = SCHEME
    planner = GzPlanner

    def __init__(self, location: str):
        super().__init__(location)
        self.path = Path(location[len(SCHEME):])

    def fingerprint(self) -> str | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return f"gz:size={st.st_size}:mtime_ns={st.st_mtime_ns}"

    @contextlib.contextmanager
    def open_local(self, work_dir: Path) -> Iterator[Path]:
        work_dir.mkdir(parents=True, exist_ok=True)
        target = work_dir / f"gz-{os.getpid()}-{self.path.stem}"  # clip.mp4.gz -> gz-…-clip.mp4
        target.write_bytes(gzip.decompress(self.path.read_bytes()))
        try:
            yield target
        finally:
            target.unlink(missing_ok=True)

    def missing(self) -> str:
        return "" if self.path.is_file() else f"its file {self.path} is missing"

    def file_suffix(self) -> str:
        return Path(self.path.stem).suffix

    def open_bytes(self, handles: OpenHandles) -> SourceBytes:
        try:
            st = self.path.stat()
        except OSError:
            raise SourceUnavailable("the gz file is missing") from None
        data: bytes = handles.get("gz", str(self.path), (st.st_size, st.st_mtime_ns),
                                  lambda: gzip.decompress(self.path.read_bytes()), keep=2)

        def read(first: int, last: int) -> Iterator[bytes]:
            yield data[first : last + 1]

        return SourceBytes(len(data), f"gz{st.st_size:x}-{st.st_mtime_ns:x}", read)


def register() -> None:
    """The kind's registration: its source and its config entries."""
    SOURCES.add("gz", GzSource)
    register_entry_kind(EntryKind("gz", "a gzip entry", parse_gz_entry))
