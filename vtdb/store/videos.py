"""video_files records: create, update, read, list, filter and delete; the metadata conversions Chroma needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from vtdb import clock, state
from vtdb import records as rec
from vtdb.embedders import placeholder_vector
from vtdb.errors import VtdbError
from vtdb.records import VideoFlags
from vtdb.state import PHASE_ORDER, STATUSES
from vtdb.store.connection import MAX_BATCH, VIDEO_FILES, _Connection
from vtdb.store.where import all_of, equals_any


class UnknownVideoError(VtdbError, KeyError):
    """No record of that name in video_files."""

    def __str__(self) -> str:
        return f"no video named {self.args[0]!r} in {VIDEO_FILES}"


def _plain(value: Any) -> Any:
    """Chroma metadata takes str/int/float/bool (and non-empty lists of one type); no numpy scalars, no None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None:
        return ""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value] if value else ""
    return str(value)


def _clean(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata Chroma accepts: every value through `_plain`."""
    return {k: _plain(v) for k, v in meta.items()}


class _Videos(_Connection):
    """The video_files records (one per video)."""

    if TYPE_CHECKING:  # provided by _Segments

        def delete_video_segments(self, name: str) -> None: ...

        def _bump_revision(self, name: str | None = None) -> None: ...

    def _get_meta(self, name: str) -> dict[str, Any] | None:
        got = self._files.get(ids=[name], include=["metadatas"])
        if not got["ids"]:
            return None
        return dict(got["metadatas"][0] or {})

    def _require_meta(self, name: str) -> dict[str, Any]:
        meta = self._get_meta(name)
        if meta is None:
            raise UnknownVideoError(name)
        return meta

    def _update(self, name: str, update: Mapping[str, Any]) -> None:
        # update() merges keys into the stored metadata, so concurrent writers of different keys
        # (the heartbeat thread and the main thread) do not overwrite each other.
        self._files.update(ids=[name], metadatas=[_clean(update)])

    def _new_record(self, name: str, video_path: str, metadata: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        meta = rec.new_video_record(name, video_path, metadata)
        return meta, rec.record_document(meta, name)

    def add_video_files(self, records: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Create many new records (name, video_path, metadata) in batched writes (a first sync of a big library)."""
        vector = placeholder_vector(self._collection_dimension())
        for start in range(0, len(records), MAX_BATCH):
            built = [self._new_record(n, p, m) for n, p, m in records[start : start + MAX_BATCH]]
            self._files.add(ids=[m["name"] for m, _ in built], embeddings=[vector] * len(built),
                                 metadatas=[_clean(m) for m, _ in built], documents=[d for _, d in built])

    def get_many(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Records by name, read in a few batched calls; missing names are absent."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), MAX_BATCH):
            got = self._files.get(ids=list(names[start : start + MAX_BATCH]), include=["metadatas"])
            out.update({i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"])})
        return out

    def create_or_update_video_file(self, name: str, video_path: str, existing: dict[str, Any] | None = None,
                                    **metadata: Any) -> dict[str, Any]:
        """Create the video's record (all phases pending) or update its descriptive metadata.

        `existing`: the record when the caller has just read it (saves a read per video in a sync).
        """
        existing = existing if existing is not None else self._get_meta(name)
        if existing is None:
            meta, document = self._new_record(name, video_path, metadata)
            self._files.add(ids=[name], embeddings=[placeholder_vector(self._collection_dimension())],
                                 metadatas=[_clean(meta)], documents=[document])
            return meta
        changes = {"video_path": video_path, **metadata}
        changed = {k: v for k, v in _clean(changes).items() if existing.get(k) != v}
        if changed:
            changed["updated_at"] = clock.iso(clock.now_utc())
            self._update(name, changed)
            existing.update(changed)
        return existing

    def get_records(self, names: Sequence[str], include: Sequence[str] = ("metadatas", "documents")) -> dict[str, Any]:
        """video_files records as Chroma returns them (`ids` plus the `include`d lists, which may name
        "embeddings"): for checks and maintenance; the phases read records through get_video_status."""
        got: dict[str, Any] = self._files.get(ids=list(names), include=list(include))
        return got

    def get_video_status(self, name: str) -> dict[str, Any] | None:
        """The video's record (its stored metadata), or None; `video_flags(record)` says what is stale or held."""
        return self._get_meta(name)

    def video_flags(self, record: Mapping[str, Any]) -> VideoFlags:
        """What the state machine says of a record right now: stale claims (phase -> why) and held phases."""
        recovery = self._recovery
        stale = {p: why for p in PHASE_ORDER if (why := state.stale_reason(record, p, recovery, host=self._host))}
        return VideoFlags(stale, [p for p in PHASE_ORDER if record.get(state.phase_field(p, "held"))])

    def list_videos(self, status_filter: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Records matching every key of `status_filter`; a list value means "any of"."""
        where = self._where(status_filter or {})
        records: list[dict[str, Any]] = []
        offset, page = 0, 1000
        while True:
            got = self._files.get(where=where, include=["metadatas"], limit=page, offset=offset)
            for vid, meta in zip(got["ids"], got["metadatas"]):
                meta = dict(meta or {})
                meta.setdefault("name", vid)
                records.append(meta)
            if len(got["ids"]) < page:
                break
            offset += page
        records.sort(key=lambda m: m["name"])
        return records

    @staticmethod
    def _where(status_filter: Mapping[str, Any]) -> dict[str, Any] | None:
        clauses = []
        for key, value in status_filter.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"status_filter: bad field {key!r}")
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            if key.endswith("_status"):
                bad = [v for v in values if v not in STATUSES]
                if bad:
                    raise ValueError(f"status_filter[{key!r}]: {bad} not in {list(STATUSES)}")
            if not values:
                raise ValueError(f"status_filter[{key!r}]: empty list matches nothing")
            clauses.append(equals_any(key, values))
        return all_of(clauses)

    def retired_names(self) -> set[str]:
        """Videos that left the library (out of the config, gone from their archive or for good from disk):
        their records carry `retired_at`. Search, the web app and the export leave them out by default.

        Filtered on the boolean `retired`, not on `retired_at != ""`: Chroma's $ne also matches records that
        lack the key (every record written before retirement existed), checked with chromadb 1.5.9."""
        got = self._files.get(where={"retired": True}, include=[])
        return set(got["ids"])

    def update_segment_paths(self, name: str, video_path: str) -> int:
        """A moved video (same content, new path): its segments' `video_path` follows, so search results and
        exports point at the file where it is now. Returns the number of segments updated."""
        col = self._segments_col
        ids = col.get(where={"video_name": name}, include=[])["ids"]
        for start in range(0, len(ids), MAX_BATCH):
            chunk = ids[start : start + MAX_BATCH]
            col.update(ids=chunk, metadatas=[{"video_path": video_path}] * len(chunk))
        if ids:
            self._bump_revision(name)  # derived caches (the lexical index) re-read the video
        return len(ids)

    def all_names(self) -> list[str]:
        """Every video's name, sorted."""
        return sorted(self._files.get(include=[])["ids"])

    def delete_video(self, name: str) -> None:
        """Delete the video's record and its segments."""
        self.delete_video_segments(name)
        self._files.delete(ids=[name])
