"""What leaves the database: disaster-clippy source packs (clippy, with select, pages and media).

`ExportError` lives here, below clippy and media, which both raise it."""

from vtdb.errors import VtdbError

__all__ = ["ExportError"]


class ExportError(VtdbError, ValueError):
    """An export that cannot be made as asked (options, nothing to export, a video that cannot go into the pack);
    a usage error, reported by the command."""
