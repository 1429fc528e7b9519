"""Chroma `where` clause builders, plain shapes usable by any query on any collection.

In the store, so that its own filters (list_videos) need nothing from the search layer above it.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def equals_any(field_name: str, values: Sequence[Any]) -> dict[str, Any]:
    """Chroma clause: `field_name` is one of `values` (a plain equality for one value). `values` must not be empty."""
    values = list(values)
    return {field_name: values[0]} if len(values) == 1 else {field_name: {"$in": values}}


def all_of(clauses: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Chroma `where` that needs every clause: None for none, the clause itself for one, else $and."""
    clauses = list(clauses)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
