"""Pickles that hold only plain data, and an unpickler that refuses anything else.

Phase outputs are pickles of dict/list/str/int/float/bool/None/bytes. Loading a pickle
normally executes arbitrary code; this unpickler resolves no globals at all, so a
malicious pickle fails with UnsafePickleError instead of running.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, NoReturn, cast

from vtdb.atomic import atomic_write_bytes
from vtdb.errors import VtdbError


class UnsafePickleError(VtdbError, pickle.UnpicklingError):
    pass


class PlainDataUnpickler(pickle.Unpickler):
    # Plain types have their own opcodes; anything reached through find_class is code.
    def find_class(self, module: str, name: str) -> NoReturn:
        raise UnsafePickleError(f"refusing to load {module}.{name}: only plain data is allowed in this pickle")

    def persistent_load(self, pid: Any) -> NoReturn:
        raise UnsafePickleError("refusing persistent ids in this pickle")


_PLAIN = (str, int, float, bool, bytes, type(None))


def to_plain(obj: object, where: str = "data") -> object:
    """A copy of `obj` with numpy scalars and tuples turned into plain types; TypeError for anything else.

    Exact type checks: numpy.float64 is a float subclass, yet it pickles as a numpy global.
    """
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is dict:
        out: dict[str, Any] = {}
        for key, value in cast(dict[object, object], obj).items():
            if type(key) is not str:
                raise TypeError(f"{where}: dict key {key!r} is not a string")
            out[key] = to_plain(value, f"{where}.{key}")
        return out
    if kind in (list, tuple):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(cast(list[object], obj))]
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # numpy scalar
        return to_plain(obj.item(), where)
    raise TypeError(f"{where}: {kind.__name__} is not plain data")


def dumps_plain(obj: object) -> bytes:
    return pickle.dumps(to_plain(obj), protocol=5)


def loads_plain(data: bytes) -> object:
    return PlainDataUnpickler(io.BytesIO(data)).load()


def dump_plain(path: Path, obj: object) -> None:
    atomic_write_bytes(path, dumps_plain(obj))


def load_plain(path: Path) -> object:
    with open(path, "rb") as fh:
        return PlainDataUnpickler(fh).load()
