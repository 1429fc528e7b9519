"""ChromaDBManager: the two collections and the state-machine operations applied to them.

`video_files` holds one record per video (metadata + phase statuses); `video_segments` one
per window. Chroma has no compare-and-set, so a claim is optimistic (write, then read back
the claim id) and processing is at-least-once; every phase's output is idempotent.
Embeddings are always passed explicitly: Chroma's default embedding function needs the
network, and writing a status must never load a model.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Container, Iterable, Mapping, Sequence

from vtdb import state
from vtdb.config import Config, Settings, settings_only
from vtdb.embedders import embedder_dimension, placeholder_vector
from vtdb.state import COMPLETED, PENDING, PHASE_ORDER, PHASES, STATUSES, Decision, Owner

VIDEO_FILES = "video_files"
VIDEO_SEGMENTS = "video_segments"
REBUILD_FILES = "video_files__rebuild"  # video_files being moved to a new dimension by --reembed
MAX_BATCH = 4000  # below Chroma's max batch (5461 here)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened (exit code 2 in the CLIs)."""


class EmbedderMismatch(RuntimeError):
    """The configured embedder is not the one the collections were built with."""


class UnknownVideoError(KeyError):
    def __str__(self) -> str:
        return f"no video named {self.args[0]!r} in {VIDEO_FILES}"


@dataclass
class Claim:
    name: str
    phase: str
    claim_id: str
    reason: str
    reclaimed: bool
    meta: dict = field(default_factory=dict)
    previous_claim_id: str = ""  # the abandoned claim this one took over, if any


def _is_connection_error(exc: BaseException, depth: int = 0) -> bool:
    """Is this the server being unreachable (as opposed to a bad request)? Checks wrapped causes too."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import httpx

        if isinstance(exc, httpx.TransportError):
            return True
    except ImportError:  # pragma: no cover - httpx comes with chromadb
        pass
    cause = exc.__cause__ or exc.__context__
    return depth < 5 and cause is not None and _is_connection_error(cause, depth + 1)


def _is_collection(value: Any) -> bool:
    return all(hasattr(value, attr) for attr in ("query", "upsert", "modify", "count")) and not isinstance(value, _Retrying)


class _Retrying:
    """A Chroma server client or collection whose calls ride out a short outage (see `_with_retry`)."""

    def __init__(self, target: Any, retry: Callable[[Callable[[], Any], str], Any]):
        self._target = target
        self._retry = retry

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._retry(lambda: attr(*args, **kwargs), name)

        return call


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
    return {k: _plain(v) for k, v in meta.items()}


def json_list(value: Any) -> list:
    """A list stored as a JSON string in metadata (chapters, subtitle tracks); [] when absent or bad."""
    try:
        out = json.loads(str(value or "[]"))
    except ValueError:
        return []
    return out if isinstance(out, list) else []


class ChromaDBManager:
    """Videos, segments and statuses in ChromaDB.

    >>> db = ChromaDBManager()            # reads ./videos_config.json when present
    >>> db.list_videos(status_filter={"phase2_status": ["pending", "processing"]})
    """

    def __init__(
        self,
        config: Config | str | Path | None = None,
        *,
        settings: Settings | None = None,
        chroma_dir: str | Path | None = None,
        chroma_host: str | None = None,
        chroma_port: int | None = None,
    ):
        if isinstance(config, Config):
            cfg = config
        elif config is None and settings is not None:
            cfg = Config(path=None, settings=settings, videos=[])  # explicit settings: no config file read
        else:
            cfg = settings_only(config)
        self.config = cfg
        self.settings = settings or cfg.settings
        self.chroma_host = chroma_host or self.settings.chroma_host
        self.chroma_port = int(chroma_port or self.settings.chroma_port)
        self.chroma_dir = Path(chroma_dir) if chroma_dir else cfg.chroma_dir
        self._client = None
        self._collections: dict[str, Any] = {}
        self._host = socket.gethostname()
        self._searcher = None
        # Where the store's own notices go (a server outage and its end); the CLIs print them their way.
        self.on_notice: Callable[[str], None] | None = None
        self._outage = False
        self._outage_lock = threading.Lock()

    # ---- connection ----

    @property
    def is_server(self) -> bool:
        return bool(self.chroma_host)

    @property
    def location(self) -> str:
        return f"chroma server http://{self.chroma_host}:{self.chroma_port}" if self.is_server else f"embedded database {self.chroma_dir}"

    @property
    def client(self):
        if self._client is None:
            client = self._connect()
            self._client = _Retrying(client, self._with_retry) if self.is_server else client
        return self._client

    def _notice(self, message: str) -> None:
        if self.on_notice is not None:
            self.on_notice(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def _with_retry(self, call: Callable[[], Any], what: str) -> Any:
        """Run one call on the Chroma server, riding out an outage of up to chroma_retry_timeout seconds.

        One line says that it waits and one that the server is back; past the timeout DatabaseUnavailable
        stops the run (exit code 2), and whatever was in progress is picked up by the next run.
        """
        timeout = self.settings.chroma_retry_timeout
        deadline: float | None = None
        delay = 0.25
        while True:
            try:
                result = call()
            except Exception as exc:  # noqa: BLE001 - only connection failures are retried, the rest re-raised
                if not _is_connection_error(exc):
                    raise
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + timeout
                if now >= deadline:
                    raise DatabaseUnavailable(
                        f"lost the connection to {self.location} for more than {timeout:.0f} s ({what}: {exc}). "
                        "Is `chroma run` still running? Nothing was lost: the next run picks up where this one stopped."
                    ) from exc
                with self._outage_lock:
                    if not self._outage:
                        self._outage = True
                        self._notice(f"the Chroma server at {self.chroma_host}:{self.chroma_port} is unreachable; "
                                     f"retrying for up to {timeout:.0f} s (chroma_retry_timeout) …")
                time.sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, 5.0)
                continue
            if deadline is not None or self._outage:
                with self._outage_lock:
                    if self._outage:
                        self._outage = False
                        self._notice(f"the Chroma server at {self.chroma_host}:{self.chroma_port} is back; going on")
            return _Retrying(result, self._with_retry) if _is_collection(result) else result

    def _connect(self):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if self.is_server:
                client = chromadb.HttpClient(host=self.chroma_host, port=self.chroma_port, settings=chroma_settings)
                client.heartbeat()
                return client
            self.chroma_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.chroma_dir), settings=chroma_settings)
        except Exception as exc:  # chromadb raises several types for "cannot connect"
            hint = (
                "is `chroma run --host {h} --port {p}` running? Check chroma_host/chroma_port or CHROMA_HOST/CHROMA_PORT."
                if self.is_server
                else "check chroma_dir and its permissions."
            ).format(h=self.chroma_host, p=self.chroma_port)
            raise DatabaseUnavailable(f"cannot open {self.location}: {exc}. {hint}") from exc

    def _open_collection(self, name: str, create: bool = True):
        try:
            if not create:
                return self.client.get_collection(name, embedding_function=None)
            dim = embedder_dimension(self.settings.embedder)
            return self.client.get_or_create_collection(
                name,
                metadata={"embedder": self.settings.embedder, "dimension": dim},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if not create:
                return None
            raise DatabaseUnavailable(f"cannot open collection {name!r} in {self.location}: {exc}") from exc

    def collection(self, name: str):
        if name not in self._collections:
            if name == VIDEO_FILES and self._open_collection(VIDEO_FILES, create=False) is None:
                # A --reembed that died between dropping the old collection and renaming the new one.
                pending = self._open_collection(REBUILD_FILES, create=False)
                if pending is not None:
                    pending.modify(name=VIDEO_FILES)
            self._collections[name] = self._open_collection(name)
        return self._collections[name]

    @property
    def video_files(self):
        return self.collection(VIDEO_FILES)

    @property
    def video_segments(self):
        return self.collection(VIDEO_SEGMENTS)

    def collection_dimension(self, name: str = VIDEO_FILES) -> int:
        meta = self.collection(name).metadata or {}
        return int(meta.get("dimension") or embedder_dimension(self.settings.embedder))

    # ---- records ----

    def _get_meta(self, name: str) -> dict | None:
        got = self.video_files.get(ids=[name], include=["metadatas"])
        if not got["ids"]:
            return None
        return dict(got["metadatas"][0] or {})

    def _require_meta(self, name: str) -> dict:
        meta = self._get_meta(name)
        if meta is None:
            raise UnknownVideoError(name)
        return meta

    def _update(self, name: str, update: Mapping[str, Any]) -> None:
        # update() merges keys into the stored metadata, so concurrent writers of different keys
        # (the heartbeat thread and the main thread) do not overwrite each other.
        self.video_files.update(ids=[name], metadatas=[_clean(update)])

    def _new_record(self, name: str, video_path: str, metadata: Mapping[str, Any]) -> tuple[dict, str]:
        now = state.iso(state.now_utc())
        meta = {
            "name": name,
            "video_path": video_path,
            "source_kind": "file",
            "title": name,
            "description": "",
            "language": "",
            "video_duration": 0.0,
            "width": 0,
            "height": 0,
            "fps": 0.0,
            "total_segments": 0,
            "source_fingerprint": "",
            "force_token_applied": "",
            "embedding_placeholder": True,
            "created_at": now,
            "updated_at": now,
            **state.all_phase_defaults(),
            **metadata,
        }
        return meta, f"{meta.get('title') or name}\n{meta.get('description') or ''}".strip()

    def add_video_files(self, records: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Create many new records (name, video_path, metadata) in batched writes (a first sync of a big library)."""
        vector = placeholder_vector(self.collection_dimension())
        for start in range(0, len(records), MAX_BATCH):
            built = [self._new_record(n, p, m) for n, p, m in records[start : start + MAX_BATCH]]
            self.video_files.add(ids=[m["name"] for m, _ in built], embeddings=[vector] * len(built),
                                 metadatas=[_clean(m) for m, _ in built], documents=[d for _, d in built])

    def get_many(self, names: Sequence[str]) -> dict[str, dict]:
        """Records by name, read in a few batched calls; missing names are absent."""
        out: dict[str, dict] = {}
        for start in range(0, len(names), MAX_BATCH):
            got = self.video_files.get(ids=list(names[start : start + MAX_BATCH]), include=["metadatas"])
            out.update({i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"])})
        return out

    def create_or_update_video_file(self, name: str, video_path: str, existing: dict | None = None, **metadata: Any) -> dict:
        """Create the video's record (all phases pending) or update its descriptive metadata.

        `existing`: the record when the caller has just read it (saves a read per video in a sync).
        """
        existing = existing if existing is not None else self._get_meta(name)
        if existing is None:
            meta, document = self._new_record(name, video_path, metadata)
            self.video_files.add(ids=[name], embeddings=[placeholder_vector(self.collection_dimension())],
                                 metadatas=[_clean(meta)], documents=[document])
            return meta
        changes = {"video_path": video_path, **metadata}
        changed = {k: v for k, v in _clean(changes).items() if existing.get(k) != v}
        if changed:
            changed["updated_at"] = state.iso(state.now_utc())
            self._update(name, changed)
            existing.update(changed)
        return existing

    def get_video_status(self, name: str) -> dict | None:
        """The video's record (metadata) plus derived flags: {'stale': {phase: why}, 'held': [phases]}."""
        meta = self._get_meta(name)
        return None if meta is None else self._with_flags(meta)

    def _with_flags(self, meta: dict) -> dict:
        stale = {p: why for p in PHASE_ORDER if (why := state.stale_reason(meta, p, self.settings, host=self._host))}
        held = [p for p in PHASE_ORDER if meta.get(state.f(p, "held"))]
        return {**meta, "flags": {"stale": stale, "held": held}}

    def list_videos(self, status_filter: Mapping[str, Any] | None = None, with_flags: bool = True) -> list[dict]:
        """Records matching every key of `status_filter`; a list value means "any of"."""
        where = self._where(status_filter or {})
        records: list[dict] = []
        offset, page = 0, 5000
        while True:
            got = self.video_files.get(where=where, include=["metadatas"], limit=page, offset=offset)
            for vid, meta in zip(got["ids"], got["metadatas"]):
                meta = dict(meta or {})
                meta.setdefault("name", vid)
                records.append(self._with_flags(meta) if with_flags else meta)
            if len(got["ids"]) < page:
                break
            offset += page
        records.sort(key=lambda m: m["name"])
        return records

    @staticmethod
    def _where(status_filter: Mapping[str, Any]) -> dict | None:
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
            clauses.append({key: {"$in": values}} if len(values) > 1 else {key: values[0]})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def all_names(self) -> list[str]:
        return sorted(self.video_files.get(include=[])["ids"])

    def delete_video(self, name: str) -> None:
        self.delete_video_segments(name)
        self.video_files.delete(ids=[name])

    # ---- state machine operations ----

    def update_video_status(self, name: str, phase: str | int, status: str, **fields: Any) -> None:
        """Low-level setter (prefer claim/complete/fail). Sets `{phase}_status` and any extra fields."""
        info = state.phase_by_number(phase)
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        self._require_meta(name)
        self._update(name, {state.f(info.key, "status"): status, "updated_at": state.iso(state.now_utc()), **fields})

    def decide(self, name_or_meta: str | Mapping[str, Any], phase: str, force: bool = False) -> Decision:
        meta = self._require_meta(name_or_meta) if isinstance(name_or_meta, str) else name_or_meta
        return state.decide(meta, phase, self.settings, force=force, host=self._host)

    def candidates(self, phase: str, only: Sequence[str] | None = None, force: bool = False) -> list[tuple[dict, Decision]]:
        """Every (selected) video with this run's decision for `phase`, in name order."""
        if only:
            metas = []
            for n in dict.fromkeys(only):  # keep order, drop repeats
                meta = self._get_meta(n)
                if meta is not None:
                    meta.setdefault("name", n)
                    metas.append(meta)
        else:
            info = PHASES[phase]
            status_filter = {state.f(info.upstream, "status"): COMPLETED} if info.upstream else None
            metas = self.list_videos(status_filter, with_flags=False)
        return [(m, self.decide(m, phase, force)) for m in sorted(metas, key=lambda m: m["name"])]

    def claim(self, name: str, phase: str, force: bool = False, owner: Owner | None = None,
              excused: Container[str] = ()) -> Claim | None:
        """Take the video for `phase` if the rules allow it; None when it is not (or no longer) ours.

        `excused`: claim ids that a run handed back but could not write (the database was down), so
        their reclaim counts no abandon.
        """
        meta = self._require_meta(name)
        decision = self.decide(meta, phase, force)
        if not decision.take:
            return None
        owner = owner or Owner.current()
        previous = str(meta.get(state.f(phase, "claim_id")) or "") if decision.reclaim else ""
        claim_id = state.new_claim_id()
        now = state.now_utc()
        update = state.claim_update(phase, owner, claim_id, now, forced=force)
        if decision.reclaim and not force and decision.abandon_counts and meta.get(state.f(phase, "claim_id")) not in excused:
            # The previous run died or hung on this video. That is counted apart from errors (a kill -9 or a
            # reboot is not the video's fault), but a video that keeps killing its worker (OOM, a decoder
            # crash) is held after max_abandons instead of retried forever.
            abandoned = state.abandon_update(phase, meta, decision.reason, self.settings)
            if abandoned.get(state.f(phase, "held")):
                self._update(name, {**abandoned, "updated_at": state.iso(now)})
                return None
            update.update(abandoned)
        self._update(name, update)
        if self.is_server:
            # No compare-and-set in Chroma: let racing claimers write, then the last writer wins.
            time.sleep(random.uniform(0.05, 0.15))
            current = self._require_meta(name)
            if current.get(state.f(phase, "claim_id")) != claim_id:
                return None
            meta = current
        else:
            meta.update(_clean(update))
        return Claim(name, phase, claim_id, decision.reason, decision.reclaim, meta, previous_claim_id=previous)

    def still_owned(self, claim: Claim) -> bool:
        meta = self._get_meta(claim.name)
        return bool(meta) and meta.get(state.f(claim.phase, "claim_id")) == claim.claim_id

    def heartbeat(self, claim: Claim, **fields: Any) -> bool:
        """Refresh the lease (and record progress fields); False when another worker took the video over."""
        if not self.still_owned(claim):
            return False
        self._update(claim.name, {state.f(claim.phase, "heartbeat"): state.iso(state.now_utc()), **fields})
        return True

    def complete(self, claim: Claim, count: int, **fields: Any) -> bool:
        """Mark the phase completed. False (nothing written) when the claim was superseded meanwhile."""
        if not self.still_owned(claim):
            return False
        self._update(claim.name, {**state.complete_update(claim.phase, count, state.now_utc()), **fields})
        return True

    def fail(self, claim: Claim, error: str) -> bool:
        """Record a failed attempt and return the video to pending; True when it is now held."""
        meta = self._require_meta(claim.name)
        if meta.get(state.f(claim.phase, "claim_id")) != claim.claim_id:
            return False
        update = state.fail_update(claim.phase, meta, error, self.settings, state.now_utc())
        self._update(claim.name, update)
        return bool(update[state.f(claim.phase, "held")])

    def give_back(self, claim: Claim) -> None:
        """Return an interrupted claim to pending without counting an attempt."""
        if self.still_owned(claim):
            self._update(claim.name, state.release_update(claim.phase, state.now_utc()))

    def reset(self, name: str, phase: str | int = "phase1") -> None:
        """Reset a phase and everything downstream of it to pending (clears attempts and holds)."""
        info = state.phase_by_number(phase)
        self._require_meta(name)
        self._update(name, state.reset_update(info.key, state.now_utc()))

    def hold(self, name: str, phase: str | int, reason: str) -> None:
        info = state.phase_by_number(phase)
        self._require_meta(name)
        self._update(name, {state.f(info.key, "held"): True, state.f(info.key, "hold_kind"): state.HOLD_MANUAL,
                            state.f(info.key, "last_error"): reason})

    def release(self, name: str, phase: str | int | None = None) -> list[str]:
        """Release held phases (all of them, or one) so that the next run retries them."""
        meta = self._require_meta(name)
        phases = [state.phase_by_number(phase).key] if phase is not None else PHASE_ORDER
        released = [p for p in phases if meta.get(state.f(p, "held"))]
        update: dict[str, Any] = {}
        for p in released:
            update.update({state.f(p, "held"): False, state.f(p, "hold_kind"): "", state.f(p, "attempts"): 0,
                           state.f(p, "abandons"): 0})
        if update:
            self._update(name, update)
        return released

    # ---- embedder bookkeeping ----

    def check_embedder(self, name: str, dimension: int) -> None:
        """Refuse to mix vectors of two embedders in one collection.

        Both collections follow the segment embedder: video_files (status records now, Phase 4 summaries later)
        is checked first, so that a changed embedder is refused even before any segment was loaded, and before
        touching video_segments creates it recorded for the new embedder.
        """
        for collection_name in (VIDEO_FILES, VIDEO_SEGMENTS):
            meta = self.collection(collection_name).metadata or {}
            built_with, built_dim = meta.get("embedder"), int(meta.get("dimension") or 0)
            if built_with != name or built_dim != dimension:
                raise EmbedderMismatch(
                    f"{collection_name} was built with embedder {built_with!r} ({built_dim}-d) but the config says {name!r} "
                    f"({dimension}-d). Either set embedder back to {built_with!r}, or rebuild every segment with the new one: "
                    "python phase3_load.py --reembed"
                )

    def segments_revision(self) -> str:
        """Changes whenever segments are added or deleted: derived caches (the lexical index) key on it.

        Read fresh from the database, not from the cached collection object: another process (a Phase 3
        worker on a Chroma server) or another client may have changed the segments since it was fetched.
        """
        col = self.video_segments
        try:
            col = self.client.get_collection(VIDEO_SEGMENTS, embedding_function=None)
            self._collections[VIDEO_SEGMENTS] = col
        except Exception:  # dropped meanwhile (--reembed elsewhere): the cached object is all there is
            pass
        return str((col.metadata or {}).get("revision") or "")

    def _bump_revision(self) -> None:
        self.segments_revision()  # refresh the cached collection, so its other metadata is current
        col = self.video_segments
        meta = dict(col.metadata or {})
        meta["revision"] = state.new_claim_id()
        col.modify(metadata=meta)

    def rebuild_for_embedder(self, name: str, dimension: int) -> int:
        """--reembed: new empty video_segments for this embedder; video_files moved to the new dimension
        if needed (its vectors become placeholders again, Phase 4 pending); every video with Phase 2
        completed goes back to db_load pending. Returns how many videos will be reloaded."""
        self.client.delete_collection(VIDEO_SEGMENTS)
        self._collections.pop(VIDEO_SEGMENTS, None)
        old_files = self.video_files
        if int((old_files.metadata or {}).get("dimension") or 0) != dimension or (old_files.metadata or {}).get("embedder") != name:
            # Build the new collection beside the old one, then swap: a crash never loses the status records.
            got = old_files.get(include=["metadatas", "documents"])
            self.settings.embedder = name
            if self._open_collection(REBUILD_FILES, create=False) is not None:
                self.client.delete_collection(REBUILD_FILES)
            new_files = self._open_collection(REBUILD_FILES)
            now = state.now_utc()
            for start in range(0, len(got["ids"]), MAX_BATCH):
                ids = got["ids"][start : start + MAX_BATCH]
                metas = []
                for meta in got["metadatas"][start : start + MAX_BATCH]:
                    meta = dict(meta or {})
                    if meta.get(state.f("phase4", "status")) == COMPLETED:
                        meta.update(state.reset_update("phase4", now))
                    meta["embedding_placeholder"] = True
                    metas.append(_clean(meta))
                new_files.add(ids=ids, embeddings=[placeholder_vector(dimension)] * len(ids), metadatas=metas,
                              documents=[d or "" for d in got["documents"][start : start + MAX_BATCH]])
            self.client.delete_collection(VIDEO_FILES)
            new_files.modify(name=VIDEO_FILES)
            self._collections[VIDEO_FILES] = self._open_collection(VIDEO_FILES, create=False)
        self.settings.embedder = name
        self.video_segments  # recreate with the new embedder's name and dimension
        names = [m["name"] for m in self.list_videos({state.f("phase2", "status"): COMPLETED}, with_flags=False)]
        for n in names:
            self._update(n, state.reset_update("db_load", state.now_utc()))
        return len(names)

    # ---- segments ----

    def add_segments(
        self,
        name: str,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> int:
        """Replace the video's segments with these (delete first, so a shorter re-run leaves no stale ones)."""
        if not (len(ids) == len(embeddings) == len(documents) == len(metadatas)):
            raise ValueError("ids, embeddings, documents and metadatas must have the same length")
        self.delete_video_segments(name)
        col = self.video_segments
        for start in range(0, len(ids), MAX_BATCH):
            end = start + MAX_BATCH
            col.add(
                ids=list(ids[start:end]),
                embeddings=[list(map(float, e)) for e in embeddings[start:end]],
                documents=list(documents[start:end]),
                metadatas=[_clean({**m, "video_name": name}) for m in metadatas[start:end]],
            )
        self._bump_revision()
        return len(ids)

    def delete_video_segments(self, name: str) -> None:
        col = self.video_segments
        if col.get(where={"video_name": name}, include=[], limit=1)["ids"]:
            col.delete(where={"video_name": name})
            self._bump_revision()

    def count_segments(self, name: str | None = None) -> int:
        if name is None:
            return self.video_segments.count()
        return len(self.video_segments.get(where={"video_name": name}, include=[])["ids"])

    def search(self, query, n_results: int = 10, where: Mapping[str, Any] | None = None, mode: str = "hybrid",
               filters: Mapping[str, Any] | None = None):
        """Search the moments.

        With text: hybrid search (vector + BM25 fused by reciprocal rank), overlapping windows merged
        into moments (`vtdb.search.searcher.Moment`); `filters` may hold video, content_type, language,
        time_from, time_to, keyword; `mode` is hybrid, vector or keyword.
        With a vector: the nearest segments (dicts with id, score, document, metadata), `where` as in Chroma.
        """
        if isinstance(query, str):
            if self._searcher is None:
                from vtdb.search.searcher import Searcher

                self._searcher = Searcher(self)
            return self._searcher.search(query, n_results, filters, mode)
        got = self.video_segments.query(
            query_embeddings=[list(map(float, query))],
            n_results=n_results,
            where=dict(where) if where else None,
            include=["metadatas", "documents", "distances"],
        )
        return [
            {"id": i, "score": 1.0 - d, "document": doc, "metadata": m}
            for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])
        ]

    def set_video_summary(self, name: str, vector: Sequence[float], document: str, metadata: Mapping[str, Any]) -> None:
        """Phase 4: the record's real vector and document replace the placeholder."""
        self._require_meta(name)
        self.video_files.update(ids=[name], embeddings=[list(map(float, vector))], documents=[document],
                                metadatas=[_clean({**metadata, "embedding_placeholder": False,
                                                   "updated_at": state.iso(state.now_utc())})])

    def search_videos(self, query_embedding: Sequence[float], n_results: int = 10) -> list[dict]:
        """Whole-video search over video_files documents (summaries): only records Phase 4 gave a real vector."""
        got = self.video_files.query(
            query_embeddings=[list(map(float, query_embedding))],
            n_results=n_results,
            where={"embedding_placeholder": False},
            include=["metadatas", "documents", "distances"],
        )
        return [
            {"name": i, "score": 1.0 - d, "document": doc, "metadata": m}
            for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])
        ]


def iter_phase_status(meta: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for p in PHASE_ORDER:
        yield p, str(meta.get(state.f(p, "status"), PENDING))
