"""ferrotem's Python layers import one way only (docs/architecture.md, "Layers").

Every module of ``python/ferrotem`` is parsed with ``ast`` (nothing is imported) and every import
of a ferrotem module becomes an edge of a graph: module-level imports, imports inside functions
(lazy imports), imports under ``if TYPE_CHECKING:``, and ``importlib.import_module("ferrotem...")``
with a literal name. All of them count, because each one is a dependency of the design, whether
it runs at import time, later, or only for the type checker. The rules:

1. **Downwards only.** Each module has the rank of its package in ``LAYERS`` (bottom first:
   the binding, ``common``, ``utils``, ``io``, ``udf``, ``executor``, then ``api``/``contrib``/
   ``gui``, then ``cli``); an import may go to the same rank or a lower one, never a higher one.
   Where a lower layer needs something of a higher one (a dataset is initialised *on* an
   executor, the UDF runner hands tasks *to* an executor), the lower layer defines a
   ``typing.Protocol`` (``ferrotem.common.protocols``, ``ferrotem.udf.protocols``) and the
   higher one implements it.
2. **No cycles**, within a layer too, except the edges in ``ALLOWED_CYCLE_EDGES``: lazy
   LiberTEM-compatible re-exports through a module ``__getattr__``, each with its reason.
3. **The lists cannot go stale**: every allowed edge must still exist, and every module must
   have a layer.

Not seen: imports whose module name is computed at run time (the dataset registry of
``ferrotem.io.dataset`` maps names to classes of its own layer as strings).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "python"

#: rank of each package, bottom first; a module takes the rank of its longest matching prefix
LAYERS: dict[str, int] = {
    "ferrotem._core": 0,  # the compiled binding (crates/ferrotem-python)
    "ferrotem": 0,  # the package root: only the version, from the binding
    "ferrotem.common": 1,  # shapes, slices, buffers, exceptions, protocols
    "ferrotem.utils": 2,  # helpers for users built on common (synthetic data, geometry)
    "ferrotem.masks": 2,  # mask factories (numpy, on common's sparse helpers)
    "ferrotem.corrections": 2,  # CorrectionSet and coordinate helpers (numpy + _core)
    "ferrotem.io": 3,  # datasets and partitions
    "ferrotem.udf": 4,  # the UDF interface, the runner, the task
    "ferrotem.executor": 5,  # where tasks run
    "ferrotem.api": 6,  # Context
    "ferrotem.contrib": 6,  # make_dask_array
    "ferrotem.cli": 7,  # the command line (demo on api, server on gui)
    "ferrotem.gui": 6,  # the web GUI's server on api's Context and the Analyses
    "ferrotem.export": 6,  # export_dataset / ferrotem convert: datasets, Dask arrays, Context
    "ferrotem.viz": 6,  # live plots (fed by api's Context.run_udf), Context.display
    "ferrotem.analysis": 6,  # Analyses (UDFs + pictured results), made and run by api's Context
}

#: edges left out of the cycle check, with the reason each one is needed
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {
    ("ferrotem.udf.base", "ferrotem.udf.runner"): (
        "LiberTEM imports UDFRunner/UDFResults/UDFResultDict from udf.base; module __getattr__"
    ),
    ("ferrotem.udf.base", "ferrotem.udf.partrunner"): (
        "LiberTEM imports UDFPartRunner from udf.base; module __getattr__"
    ),
    ("ferrotem.udf.base", "ferrotem.udf.task"): (
        "LiberTEM imports UDFTask from udf.base; module __getattr__"
    ),
    ("ferrotem.udf.base", "ferrotem.udf.resources"): (
        "LiberTEM imports get_resources_for_backends from udf.base; module __getattr__"
    ),
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "module", "function" or "type-checking"
    line: int


def module_files() -> dict[str, Path]:
    """Module name -> file, for every module of the package (``_core`` from its stub)."""
    out = {}
    for path in sorted((PACKAGE_ROOT / "ferrotem").rglob("*.py*")):
        if path.suffix not in (".py", ".pyi"):
            continue
        parts = list(path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = module_files()


def _resolve(source: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The ferrotem modules an import statement names (``from a import b`` names ``a.b`` when
    that is a module, else ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = source.split(".") if is_package else source.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [
        f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in MODULES else prefix
        for alias in node.names
    ]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def edges_of(source: str, path: Path) -> Iterator[Edge]:
    is_package = path.stem == "__init__"
    tree = ast.parse(path.read_text(), filename=str(path))

    def walk(node: ast.AST, kind: str) -> Iterator[Edge]:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                child_kind = "function"
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                # the else branch runs; only the body is for the type checker
                yield from walk_body(child.body, "type-checking")
                yield from walk_body(child.orelse, kind)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _resolve(source, is_package, child):
                    if target == "ferrotem" or target.startswith("ferrotem."):
                        yield Edge(source, target, child_kind, child.lineno)
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute | ast.Name)
                and (getattr(child.func, "attr", None) or getattr(child.func, "id", None))
                == "import_module"
                and child.args
                and isinstance(child.args[0], ast.Constant)
                and str(child.args[0].value).startswith("ferrotem")
            ):
                yield Edge(source, str(child.args[0].value), child_kind, child.lineno)
            yield from walk(child, child_kind)

    def walk_body(body: list[ast.stmt], kind: str) -> Iterator[Edge]:
        for stmt in body:
            wrapper = ast.Module(body=[stmt], type_ignores=[])
            yield from walk(wrapper, kind)

    yield from walk(tree, "module")


EDGES = [edge for name, path in MODULES.items() for edge in edges_of(name, path)]


def rank(module: str) -> int:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    if not matches:
        raise KeyError(module)
    return LAYERS[max(matches, key=len)]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_parser_sees_every_kind_of_import():
    """Guards the other tests against passing on an empty graph: known edges of each kind."""
    seen = {(e.source, e.target, e.kind) for e in EDGES}
    assert ("ferrotem.udf.runner", "ferrotem.udf.task", "module") in seen
    assert ("ferrotem.udf.runner", "ferrotem.io.dataset.base", "type-checking") in seen
    assert ("ferrotem.api", "ferrotem.executor.delayed", "function") in seen
    assert ("ferrotem.io.dataset.base", "ferrotem._core", "module") in seen
    assert len(MODULES) > 40 and len(EDGES) > 150


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if not any(m == p or m.startswith(p + ".") for p in LAYERS)]
    assert not missing, f"add these packages to LAYERS (and docs/architecture.md): {missing}"


def test_imports_go_downwards_only():
    upward = [
        f"{e.source} (layer {rank(e.source)}) imports {e.target} (layer {rank(e.target)}), "
        f"line {e.line}, {e.kind}"
        for e in EDGES
        if rank(e.target) > rank(e.source)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_every_import_names_an_existing_module():
    unknown = sorted({f"{e.source} -> {e.target}" for e in EDGES if e.target not in MODULES})
    assert not unknown, unknown


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for e in EDGES:
        if (e.source, e.target) not in ALLOWED_CYCLE_EDGES and e.source != e.target:
            graph.setdefault(e.source, set()).add(e.target)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("edge", sorted(ALLOWED_CYCLE_EDGES), ids=lambda e: f"{e[0]}->{e[1]}")
def test_allowed_edge_still_exists(edge):
    found = [e for e in EDGES if (e.source, e.target) == edge]
    assert found, f"{edge} is no longer imported: remove it from ALLOWED_CYCLE_EDGES"
    # the allowance covers lazy re-exports only, never an import that runs with the module
    assert all(e.kind == "function" for e in found), found


def test_cycle_finder_finds_a_planted_cycle():
    """The checker itself: a cycle hidden in an acyclic graph is reported, and only then."""
    acyclic = {"a": {"b", "c"}, "b": {"c"}, "c": set()}
    assert find_cycle(acyclic) is None
    assert find_cycle({**acyclic, "c": {"a"}}) in (["a", "b", "c", "a"], ["a", "c", "a"])


def test_resolver_on_planted_imports(tmp_path):
    """Each import form of a synthetic module resolves to the module it names."""
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "from ferrotem.common import shape\n"
        "from ferrotem.udf.base import UDF\n"
        "if TYPE_CHECKING:\n"
        "    from ferrotem.executor.base import JobExecutor\n"
        "else:\n"
        "    import ferrotem.io.dataset.base\n"
        "def f():\n"
        "    from ..api import Context\n"
        "    importlib.import_module('ferrotem.cli')\n"
    )
    got = {(e.target, e.kind) for e in edges_of("ferrotem.udf.fake", src)}
    assert got == {
        ("ferrotem.common.shape", "module"),
        ("ferrotem.udf.base", "module"),
        ("ferrotem.executor.base", "type-checking"),
        ("ferrotem.io.dataset.base", "module"),
        ("ferrotem.api", "function"),
        ("ferrotem.cli", "function"),
    }
