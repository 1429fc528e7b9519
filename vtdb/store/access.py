"""Writing to the database from a face (the CLI, the web app): an embedded database is one folder that one
process writes at a time, so a writer holds its lock (vtdb.lock) for as long as it writes; a Chroma server
needs none. The CLI holds it for a whole command, the web app for the moment of one reset or release."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from vtdb.config import ConfigError
from vtdb.lock import DatabaseLock, LockHeld
from vtdb.store.store import Store


def holder_text(held: LockHeld) -> str:
    """Who holds the lock, without the CLI's "exiting. Use --wait …" advice (the caller says what to do)."""
    return str(held).split("; exiting")[0]


@contextmanager
def writing(db: Store, purpose: str, wait: bool = False,
            on_wait: Callable[[LockHeld], None] | None = None) -> Iterator[Store]:
    """`db`, with the embedded database's lock held for the block. LockHeld when another process holds it
    and not `wait`; with `wait`, on_wait(held) is told once and the lock waited for."""
    if db.is_server:
        yield db
        return
    lock = DatabaseLock(db.chroma_dir, purpose)
    try:
        lock.acquire(wait=False)
    except LockHeld as held:
        if not wait:
            raise
        if on_wait is not None:
            on_wait(held)
        lock.acquire(wait=True)
    except OSError as exc:  # a read-only file system, a folder removed under us, …
        raise ConfigError(f"settings.chroma_dir: cannot create the lock file {lock.path}: {exc.strerror or exc}") from None
    try:
        yield db
    finally:
        lock.release()
