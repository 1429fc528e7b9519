"""Store: the two collections and the state-machine operations applied to them, for the phases, the runner,
the sync and the faces. (A person in a Python shell uses `vtdb.manager.ChromaDBManager`, a few methods
over this one.)

`video_files` holds one record per video (metadata + phase statuses); `video_segments` one
per window. The store is composed of one part per concern, each a module of `vtdb.store`:

    connection   the client (embedded or a `chroma run` server, with its retry layer), the collections, close()
    videos       video_files records: create, update, read, list, filter, delete
    transitions  the state machine applied to a record: claim, heartbeat, complete, fail, ...
    segments     video_segments: add, delete, count, revision, nearest segments; Phase 4's summary vector
    migration    embedder bookkeeping: check_embedder, rebuild_for_embedder (--reembed)

Chroma has no compare-and-set, so a claim is optimistic (write, then read back the claim id) and
processing is at-least-once; every phase's output is idempotent. Embeddings are always passed
explicitly: Chroma's default embedding function needs the network, and writing a status must never
load a model.
"""

from __future__ import annotations

from vtdb.store.connection import _Connection
from vtdb.store.migration import _Migration
from vtdb.store.segments import _Segments
from vtdb.store.transitions import _Transitions
from vtdb.store.videos import _Videos


class Store(_Transitions, _Segments, _Migration, _Videos, _Connection):
    """Videos, segments and statuses in ChromaDB, built from a loaded config: `Store(config)`.

    The caller reads the config (`vtdb.config.load_config` / `settings_only`); the store reads no file.
    Close it when done (`store.close()`, or `with Store(config) as store:`); a closed store opens the
    database again on its next use.
    """
