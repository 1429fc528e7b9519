"""The import graph of vtdb points one way: no cycles, and no module imports from a layer above its own.

The layers are written down in docs/ARCHITECTURE.md ("Layers"); LAYERS below is the same list, bottom to top.
Every import counts, at module level or inside a function (a lazy import is still a dependency); only
imports under `if TYPE_CHECKING:` are left out (they never run). Importing `vtdb.a.b` from outside `vtdb.a`
also runs `vtdb/a/__init__.py`, so it counts as an import of the package too.

ALLOWED holds the arrows that still break a rule, each with why; the test fails when one of them is gone, so
the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "vtdb"

# Bottom to top. A module belongs to the layer of its longest listed prefix; it may import its own layer and
# the layers below. Same-layer imports are fine as long as they make no cycle.
LAYERS: list[tuple[str, ...]] = [
    # standard library and third-party only (vtdb itself: the lazy public API, imports nothing at run time)
    ("vtdb", "vtdb.errors", "vtdb.text", "vtdb.timefmt", "vtdb.clock", "vtdb.proc", "vtdb.languages", "vtdb.commandline",
     "vtdb.naming", "vtdb.progress"),
    ("vtdb.config", "vtdb.state", "vtdb.records"),  # settings, the state machine, record layouts
    ("vtdb.atomic", "vtdb.events", "vtdb.lock", "vtdb.safe_pickle", "vtdb.workfiles", "vtdb.models"),  # files
    ("vtdb.media", "vtdb.llm", "vtdb.embedders"),  # components: media tools, LLM transports, embedders
    ("vtdb.store",),
    ("vtdb.sources",),  # the sync writes records through the store
    ("vtdb.search",),
    ("vtdb.manager",),  # ChromaDBManager: the Python-shell facade over the store and search
    ("vtdb.analyzers", "vtdb.summarize", "vtdb.summarizers"),
    ("vtdb.formats",),  # subtitle files and the report: written by Phase 4, read by the faces
    ("vtdb.runner", "vtdb.phases", "vtdb.prune"),  # prune deletes what the phases made, of retired videos
    ("vtdb.export",),
    ("vtdb.cli", "vtdb.commands", "vtdb.web", "vtdb.status_table", "vtdb.demo"),  # the faces
]

# (importer, imported): arrows that still point up or close a cycle; each says why it is still here.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_names() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _module_names()


def _resolve(name: str) -> str | None:
    """The vtdb module an import name lands in (`vtdb.x.y.func` -> `vtdb.x.y`), or None outside vtdb."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skip = _type_checking_nodes(tree)
    names: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names += [source] + [f"{source}.{alias.name}" for alias in node.names]
    out: set[str] = set()
    for name in names:
        target = _resolve(name) if name.startswith("vtdb") else None
        if target is None or target == module or module.startswith(target + "."):
            continue  # a module's own packages are initialised before it runs
        out.add(target)
        # Importing vtdb.a.b from outside vtdb.a runs vtdb/a/__init__.py first.
        parent = target.rpartition(".")[0]
        while parent and parent != "vtdb" and not module.startswith(parent + ".") and module != parent:
            out.add(parent)
            parent = parent.rpartition(".")[0]
    return out


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module: str) -> int:
    best, layer = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    return layer


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_allowed(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {t for t in targets if (m, t) not in ALLOWED} for m, targets in graph.items()}


def test_every_module_has_a_layer():
    assert [m for m in sorted(MODULES) if _layer(m) < 0] == []


def test_no_import_points_up():
    upward = [f"{m} (layer {_layer(m)}) -> {t} (layer {_layer(t)})"
              for m, targets in sorted(GRAPH.items()) for t in sorted(targets)
              if _layer(t) > _layer(m) and (m, t) not in ALLOWED]
    assert upward == []


def test_no_import_cycles_between_modules():
    assert _cycles(_without_allowed(GRAPH)) == []


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])  # vtdb.store.videos -> vtdb.store; vtdb.state -> vtdb.state


def test_no_import_cycles_between_packages():
    packages: dict[str, set[str]] = {}
    for m, targets in _without_allowed(GRAPH).items():
        packages.setdefault(_package(m), set()).update(_package(t) for t in targets if _package(t) != _package(m))
    assert _cycles(packages) == []


@pytest.mark.parametrize("edge", sorted(ALLOWED) or [None])
def test_every_allowed_arrow_still_exists(edge):
    """An ALLOWED entry whose import is gone must be deleted, so that the list only shrinks."""
    if edge is None:
        return
    importer, imported = edge
    assert imported in GRAPH.get(importer, set()), f"{importer} -> {imported} is gone: delete it from ALLOWED"


def test_the_checker_sees_lazy_imports_and_skips_type_checking(tmp_path):
    """The checker itself: a function-level import counts, one under TYPE_CHECKING does not."""
    source = tmp_path / "mod.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vtdb.web import app\n"
                      "def f():\n    from vtdb.store import videos\n", encoding="utf-8")
    assert _imports("vtdb.errors", source) == {"vtdb.store.videos", "vtdb.store"}
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
