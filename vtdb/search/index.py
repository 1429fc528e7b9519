"""The keyword side of search: an on-disk tantivy index (BM25, block-max WAND top-k) of each segment's stemmed
tokens, with a SQLite book of what it holds, kept in sync with `video_segments` one video at a time.

It is a derived cache, never a second source of truth. Every change of a video's segments writes a new
`segments_revision` into that video's `video_files` record (vtdb.store.segments) and a new collection
revision; a searcher that sees a new collection revision re-reads only the videos whose revision differs
from the one it indexed (added, replaced, deleted), each in its own transaction. Missing, damaged or of
an older layout: rebuilt from Chroma, with progress reported through a callback. Phase 3 brings each video
it loads up to date itself (`update_video`, the same per-video step), so the first search after a run finds
the videos' revisions already indexed; whatever a crash or a failure left behind, that search re-reads.

Why tantivy (measured with bench/phase3.py --compare-lexical against SQLite FTS5): FTS5 scores every
matching row of an OR query (common words match a fifth of the library), tantivy finds the top k without
that; its commits are atomic (a kill -9 leaves the last commit). The book (lexical.sqlite3: per-video
revisions, the synced collection revision, each segment's language) is one SQLite transaction per update,
taken first: it serializes writers across processes (WAL: readers never wait), and it is committed after
tantivy's commit, so a crash between the two leaves an old revision that the next sync re-reads.
Both need a local disk: the index refuses to open on NFS/SMB (set search_index_dir).
"""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from vtdb.errors import VtdbError
from vtdb.records import Segment
from vtdb.store.segments import as_meta
from vtdb.text import search_tokens

SCHEMA = 3  # 3: has_text (on-screen text) is indexed
FILE_NAME = "lexical.sqlite3"
TANTIVY_DIR = "tantivy"
WRITER_HEAP = 64 * 2**20
PAGE = 5000
_SEP = "\x1f"  # keywords are stored as \x1fk1\x1fk2\x1f so that one keyword is matched exactly
_NETWORK_FS = {"nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "ncpfs", "fuse.sshfs", "sshfs", "glusterfs", "ceph"}

Progress = Callable[[str, int, int], None]  # (what, done, total)


class SearchIndexError(VtdbError):
    """The lexical index cannot be kept where it is configured (a network file system, no permission)."""


@dataclass
class SyncReport:
    rebuilt: bool = False
    videos: int = 0  # videos re-read (added, replaced, deleted)
    segments: int = 0


def _fs_type(path: Path) -> str:
    """The file system type of the mount that holds `path` ('' when unknown)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    target, best, kind = str(path.resolve()), -1, ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) > best:
            best, kind = len(point), parts[2]
    return kind


def segment_row(sid: str, document: Any, meta: Any) -> tuple:
    """(id, video, start, end, content_type, language, keywords, tokens, has_text) of one stored segment; never
    fails on a record."""
    seg = Segment.from_meta(meta)
    span = seg.span
    # The keywords as stored, not as read: the keyword filter matches stored forms, as Chroma's $contains does.
    keywords = as_meta(meta).get("keywords")
    kw = _SEP + _SEP.join(k for k in keywords if isinstance(k, str)) + _SEP if isinstance(keywords, list) else ""
    tokens = " ".join(search_tokens(f"{document or ''}\n{seg.transcript}"))
    return (str(sid), seg.video_name, span[0] if span else None, span[1] if span else None,
            seg.content_type, seg.language, kw, tokens, seg.has_text)


def _busy(exc: BaseException) -> bool:
    """SQLite's 'database is locked' / 'busy': another process holds the write lock longer than the timeout."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class LexicalIndex:
    """BM25 over stemmed tokens, in {folder}/lexical.sqlite3; safe for readers and writers in several processes."""

    def __init__(self, folder: Path, timeout: float = 60.0):
        self.folder = Path(folder)
        self.timeout = timeout  # how long a writer waits for another process's transaction (a rebuild) to end
        self.path = self.folder / FILE_NAME
        self._lock = threading.RLock()  # one connection, shared by a web app's threads
        self._conn: sqlite3.Connection | None = None
        self._tv: Any = None  # the tantivy index
        self._tv_writer: Any = None

    # ------------------------------------------------------------------ opening

    def _connect(self) -> sqlite3.Connection:
        kind = _fs_type(self.folder if self.folder.exists() else self.folder.parent)
        if kind.lower() in _NETWORK_FS:
            raise SearchIndexError(
                f"the lexical index folder {self.folder} is on a network file system ({kind}); SQLite's locking is not "
                "safe there. Set search_index_dir in videos_config.json to a folder on a local disk of this host.")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.OperationalError) as exc:
            raise SearchIndexError(f"cannot open the lexical index {self.path}: {exc}; set search_index_dir to a "
                                   "writable folder on a local disk") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer, nor block one
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most the last commits, never consistency
            conn.executescript(f"""
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS videos(name TEXT PRIMARY KEY, revision TEXT NOT NULL, retired INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE IF NOT EXISTS segments(n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, video TEXT NOT NULL,
                    start_t REAL, end_t REAL, content_type TEXT, language TEXT, keywords TEXT);
                CREATE INDEX IF NOT EXISTS segments_video ON segments(video);
                CREATE INDEX IF NOT EXISTS segments_language ON segments(language);
                INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA}');
            """)
            if self._meta(conn, "schema") != str(SCHEMA):
                raise sqlite3.DatabaseError("an index of another layout")
        except BaseException:
            conn.close()  # a busy or damaged book: let nothing hold it open
            raise
        self._tv = self._open_tantivy()
        return conn

    def _open_tantivy(self):
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        for name in ("video", "content_type", "language", "keywords", "flags"):
            sb.add_text_field(name, stored=False, tokenizer_name="raw")
        sb.add_float_field("start_t", indexed=True, fast=True)
        sb.add_float_field("end_t", indexed=True, fast=True)
        sb.add_text_field("tokens", stored=False, tokenizer_name="whitespace")  # tokens come stemmed (vtdb.text)
        folder = self.folder / TANTIVY_DIR
        folder.mkdir(exist_ok=True)
        try:
            index = tantivy.Index(sb.build(), path=str(folder))
        except ValueError as exc:  # damaged or of another schema
            raise sqlite3.DatabaseError(f"tantivy: {exc}") from exc
        self._schema = index.schema
        return index

    def conn(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                try:
                    self._conn = self._connect()
                    self._conn.execute("SELECT count(*) FROM segments").fetchone()
                except sqlite3.DatabaseError as exc:  # damaged or of another layout: a derived cache, start it again
                    if _busy(exc):  # another process is writing it (a rebuild): never a reason to delete it
                        self.close()
                        raise
                    self.discard()
                    self._conn = self._connect()
            return self._conn

    def discard(self) -> None:
        """Delete the index files (they are rebuilt from Chroma)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._tv = self._tv_writer = None
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.unlink(f"{self.path}{suffix}")
                except FileNotFoundError:
                    pass
            shutil.rmtree(self.folder / TANTIVY_DIR, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._tv = self._tv_writer = None

    def reload(self) -> None:
        """See what other processes committed."""
        self.conn()
        with self._lock:
            self._tv.reload()

    @staticmethod
    def _meta(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def state(self) -> tuple[str | None, str | None]:
        """(collection id, collection revision) the index was last synced to."""
        conn = self.conn()
        with self._lock:
            return self._meta(conn, "collection"), self._meta(conn, "revision")

    # ------------------------------------------------------------------ writing

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """One IMMEDIATE transaction of the book (the lock that serializes writers of every process), inside it
        tantivy's writer; tantivy commits first, then the book. A crash anywhere leaves both at their last
        commits, and the book never claims a revision tantivy does not hold."""
        conn = self.conn()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
                if self._tv_writer is not None:
                    self._tv_writer.commit()
                    self._tv_writer.wait_merging_threads()
            except BaseException:
                conn.execute("ROLLBACK")
                if self._tv_writer is not None:
                    self._tv_writer.rollback()
                raise
            finally:
                self._tv_writer = None  # dropping the writer releases tantivy's lock for other processes
            conn.execute("COMMIT")
            self._tv.reload()
            return out

    def _writer(self):
        """tantivy's writer for this transaction (the book's lock is held, so no other process writes; a lock
        left by a killed process is released by the OS, a slow release is waited for)."""
        if self._tv_writer is None:
            for attempt in range(200):
                try:
                    self._tv_writer = self._tv.writer(heap_size=WRITER_HEAP, num_threads=1)
                    break
                except ValueError:
                    if attempt == 199:
                        raise
                    time.sleep(0.05)
        return self._tv_writer

    def _delete_video(self, conn: sqlite3.Connection, name: str) -> None:
        self._writer().delete_documents_by_term("video", name)
        conn.execute("DELETE FROM segments WHERE video = ?", (name,))

    def _insert(self, conn: sqlite3.Connection, rows: Sequence[tuple]) -> None:
        import tantivy

        writer = self._writer()
        conn.executemany("INSERT OR REPLACE INTO segments(id, video, start_t, end_t, content_type, language, keywords) "
                         "VALUES (?,?,?,?,?,?,?)", [r[:7] for r in rows])
        for sid, video, start, end, content_type, language, keywords, tokens, has_text in rows:
            doc = tantivy.Document(id=sid, video=video, content_type=content_type, language=language, tokens=tokens,
                                   # no usable times: never inside a time filter (the same rule as filters.matches)
                                   start_t=float(start) if start is not None else 1e300,
                                   end_t=float(end) if end is not None else -1e300)
            for k in keywords.split(_SEP):
                if k:
                    doc.add_text("keywords", k)
            if has_text:
                doc.add_text("flags", "has_text")
            writer.add_document(doc)

    def replace_video(self, name: str, revision: str, rows: Sequence[tuple], retired: bool = False,
                      keep: bool = True, hook: Callable[[int], None] | None = None) -> None:
        """The video's rows replaced by these, its revision recorded, all in one transaction (keep=False: forget it).
        `hook(i)` runs before each row is written (the crash tests kill the process there)."""
        def apply(conn: sqlite3.Connection) -> None:
            self._delete_video(conn, name)
            for i, row in enumerate(rows):
                if hook is not None:
                    hook(i)
                self._insert(conn, [row])
            if keep:
                conn.execute("INSERT OR REPLACE INTO videos VALUES (?, ?, ?)", (name, revision, int(retired)))
            else:
                conn.execute("DELETE FROM videos WHERE name = ?", (name,))
        self._write(apply)

    def set_retired(self, changes: Mapping[str, bool]) -> None:
        if changes:
            self._write(lambda conn: conn.executemany("UPDATE videos SET retired = ? WHERE name = ?",
                                                       [(int(r), n) for n, r in changes.items()]))

    def set_state(self, collection: str, revision: str) -> None:
        self._write(lambda conn: conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                                   [("collection", collection), ("revision", revision)]))

    # ------------------------------------------------------------------ reading

    def videos(self) -> dict[str, tuple[str, bool]]:
        """name -> (indexed revision, retired) of every video the index knows."""
        with self._lock:
            return {str(n): (str(r), bool(t)) for n, r, t in self.conn().execute("SELECT name, revision, retired FROM videos")}

    def retired(self) -> list[str]:
        with self._lock:
            return [str(r[0]) for r in self.conn().execute("SELECT name FROM videos WHERE retired = 1")]

    def count(self) -> int:
        with self._lock:
            return int(self.conn().execute("SELECT count(*) FROM segments").fetchone()[0])

    def languages(self) -> dict[str, int]:
        with self._lock:
            return {str(lang): int(c) for lang, c in self.conn().execute("SELECT language, count(*) FROM segments GROUP BY language")}

    def ids_of_language(self, language: str) -> list[str]:
        with self._lock:
            return [str(r[0]) for r in self.conn().execute("SELECT id FROM segments WHERE language = ? ORDER BY n", (language,))]

    def language_of(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        with self._lock:
            rows = self.conn().execute(f"SELECT id, language FROM segments WHERE id IN ({','.join('?' * len(ids))})", list(ids))
            return {str(i): str(lang) for i, lang in rows}

    def keyword_forms(self, keyword: str, limit: int = 20000) -> list[str]:
        """The spellings of `keyword` the segments hold, whatever their case ("music" -> ["Music", "music"]); the
        keyword itself when none does. SQLite's LIKE folds ASCII case; for other letters the usual case forms are
        looked for too, and every row found is checked with casefold()."""
        folded = keyword.casefold()
        variants = {keyword} if keyword.isascii() else {keyword, keyword.lower(), keyword.upper(), keyword.title(),
                                                        keyword.capitalize()}
        escaped = [v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in variants]
        forms: set[str] = set()
        with self._lock:
            for pattern in escaped:
                rows = self.conn().execute("SELECT DISTINCT keywords FROM segments WHERE keywords LIKE ? ESCAPE '\\' LIMIT ?",
                                           (f"%{_SEP}{pattern}{_SEP}%", limit))
                for (stored,) in rows:
                    forms.update(k for k in str(stored or "").split(_SEP) if k and k.casefold() == folded)
        return sorted(forms) or [keyword]

    def search(self, tokens: Sequence[str], limit: int, filters: Mapping[str, Any],
               exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The best `limit` segments for any of the tokens by BM25, best first: (id, score > 0)."""
        if not tokens or limit <= 0:
            return []
        from tantivy import Occur, Query

        self.conn()
        with self._lock:
            schema, tv = self._schema, self._tv
            text = Query.boolean_query([(Occur.Should, Query.term_query(schema, "tokens", t)) for t in dict.fromkeys(tokens)])
            clauses = [(Occur.Must, text)]
            for key, name in (("video", "video"), ("content_type", "content_type"), ("language", "language")):
                if key in filters:
                    clauses.append((Occur.Must, Query.const_score_query(Query.term_set_query(schema, name, list(filters[key])), 0.0)))
            if "time_from" in filters:
                clauses.append((Occur.Must, Query.const_score_query(Query.range_query(
                    schema, "end_t", _float_type(), float(filters["time_from"]), None), 0.0)))
            if "time_to" in filters:
                clauses.append((Occur.Must, Query.const_score_query(Query.range_query(
                    schema, "start_t", _float_type(), None, float(filters["time_to"])), 0.0)))
            if "keyword" in filters:
                forms = [str(k) for k in filters["keyword"]] if isinstance(filters["keyword"], list) else [str(filters["keyword"])]
                clauses.append((Occur.Must, Query.const_score_query(Query.term_set_query(schema, "keywords", forms), 0.0)))
            if filters.get("has_text") is not None:
                flag = (Occur.Must if filters["has_text"] else Occur.MustNot, Query.term_query(schema, "flags", "has_text"))
                clauses.append((flag[0], Query.const_score_query(flag[1], 0.0)))
            excluded = list(exclude)
            if excluded:
                clauses.append((Occur.MustNot, Query.term_set_query(schema, "video", excluded)))
            searcher = tv.searcher()
            hits = searcher.search(Query.boolean_query(clauses), int(limit)).hits
            return [(str(searcher.doc(addr)["id"][0]), float(score)) for score, addr in hits if math.isfinite(score)]


def _float_type():
    from tantivy import FieldType

    return FieldType.Float


# ---------------------------------------------------------------------- keeping it in sync with Chroma


def _rows_of(got: Mapping[str, Any]) -> list[tuple]:
    return [segment_row(sid, doc, meta) for sid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])]


def rebuild(index: LexicalIndex, db, progress: Progress | None = None) -> SyncReport:
    """Every segment read from Chroma into a fresh index, in one transaction (readers keep the old one until it commits)."""
    collection, revision = db.segments_state()
    records = db.segment_revisions()  # before the segments: a video changed meanwhile is re-read by the next sync
    total = db.count_segments()
    if progress is not None:
        progress("building the lexical index", 0, total)

    def apply(conn: sqlite3.Connection) -> int:
        if (LexicalIndex._meta(conn, "collection"), LexicalIndex._meta(conn, "revision")) == (collection, revision):
            return 0  # another process rebuilt it while this one waited for the lock
        index._writer().delete_all_documents()
        conn.execute("DELETE FROM segments")
        conn.execute("DELETE FROM videos")
        seen: set[str] = set()
        done, offset = 0, 0
        while True:
            got = db.page_segments(PAGE, offset)
            rows = _rows_of(got)
            index._insert(conn, rows)
            seen.update(r[1] for r in rows)
            done += len(rows)
            if progress is not None:
                progress("building the lexical index", done, max(total, done))
            if len(got["ids"]) < PAGE:
                break
            offset += PAGE
        # Every record, with or without segments: the next sync re-reads only what changes after this.
        conn.executemany("INSERT OR REPLACE INTO videos VALUES (?, ?, ?)",
                         [(n, records.get(n, ("", False))[0], int(records.get(n, ("", False))[1])) for n in seen | set(records)])
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("collection", collection), ("revision", revision)])
        return done

    return SyncReport(rebuilt=True, segments=index._write(apply))


def update_video(index: LexicalIndex, db, name: str) -> bool:
    """One video brought up to date after its segments were written (Phase 3): the step `sync` takes for each
    video whose revision changed, so the next search finds this one's revision indexed and re-reads nothing
    of it. The record's revision is read before the segments: a change meanwhile leaves an older revision,
    which the next sync re-reads. False (nothing done) when this host has no index of this collection yet:
    the first search builds it whole."""
    if not index.path.is_file():
        return False  # no search ran on this host: no index to keep (the first search builds it)
    collection, _ = db.segments_state()
    if index.state()[0] != collection:
        return False  # new, or of another collection (--reembed): the next search rebuilds it anyway
    record = db.get_video_status(name)
    revision = str((record or {}).get("segments_revision") or "")
    retired = bool(record) and (record or {}).get("retired") is True
    rows = _rows_of(db.get_segments(where={"video_name": name}))
    index.replace_video(name, revision, rows, retired, keep=bool(rows) or record is not None)
    return True


def sync(index: LexicalIndex, db, progress: Progress | None = None, hook: Callable[[int], None] | None = None) -> SyncReport | None:
    """Bring the index up to the database: nothing to do (None) when the collection revision is the one it
    was synced to; else only the videos whose per-video revision changed are re-read; a rebuild when the
    index is new, damaged, of another collection (--reembed), or does not add up to Chroma's count."""
    collection, revision = db.segments_state()
    known_collection, known_revision = index.state()
    if known_collection == collection and known_revision == revision:
        return None
    if known_collection != collection:
        return rebuild(index, db, progress)
    records = db.segment_revisions()
    known = index.videos()
    todo = [n for n, (rev, _) in records.items() if (n in known and known[n][0] != rev) or (n not in known and rev)]
    # Segments whose video has no record (older runs, hand-loaded): re-read each time; none in a normal library.
    todo += [n for n in known if n and n not in records]
    report = SyncReport()
    for i, name in enumerate(todo):
        if progress is not None:
            progress("updating the lexical index", i, len(todo))
        rev, retired = records.get(name, ("", False))
        rows = _rows_of(db.get_segments(where={"video_name": name}))
        index.replace_video(name, rev, rows, retired, keep=bool(rows) or name in records, hook=hook)
        report.videos += 1
        report.segments += len(rows)
    known = index.videos()
    index.set_retired({n: records[n][1] for n, (_, r) in known.items() if n in records and records[n][1] != r})
    if index.count() != db.count_segments():  # writes that bypassed the per-video revisions: start again
        return rebuild(index, db, progress)
    index.set_state(collection, revision)
    if progress is not None and todo:
        progress("updating the lexical index", len(todo), len(todo))
    return report
