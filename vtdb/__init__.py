"""Video Tagging DB: turn a video library into a searchable database of timestamped moments.

The public API is short; everything else lives in its sub-module (see docs/ARCHITECTURE.md):

    >>> import vtdb
    >>> config = vtdb.load_config("videos_config.json")
    >>> with vtdb.ChromaDBManager(config) as db:   # the few methods a Python shell needs; db.store is the rest
    ...     db.list_videos(status_filter={"phase2_status": "pending"})
    ...     moments = db.search("where does someone boil pasta?")

Names load on first use, so `import vtdb` stays quick (ChromaDB and the models are heavy).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> module that defines it
_API = {
    "ChromaDBManager": "vtdb.manager",
    "Claim": "vtdb.store",
    "Searcher": "vtdb.search",
    "Moment": "vtdb.search",
    "load_config": "vtdb.config",
    "Config": "vtdb.config",
    "Settings": "vtdb.config",
    "VtdbError": "vtdb.errors",
    "VideoError": "vtdb.errors",
    "RunAborted": "vtdb.errors",
    "ModelUnavailable": "vtdb.errors",
    "ConfigError": "vtdb.config",
    "DatabaseUnavailable": "vtdb.store",
    "EmbedderMismatch": "vtdb.store",
    "UnknownVideoError": "vtdb.store",
    "QueryError": "vtdb.search",
}

__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from vtdb.config import Config, ConfigError, Settings, load_config
    from vtdb.errors import ModelUnavailable, RunAborted, VideoError, VtdbError
    from vtdb.manager import ChromaDBManager
    from vtdb.search import Moment, QueryError, Searcher
    from vtdb.store import Claim, DatabaseUnavailable, EmbedderMismatch, UnknownVideoError


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vtdb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
