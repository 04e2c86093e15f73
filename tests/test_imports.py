"""The import contract: imports point down the layers of docs/architecture.md, modules of one package import each
other without cycles, and the project's own packages are imported at the top of a module, not inside functions.

Read from the source with `ast` (nothing is imported). Every import counts, including those under
`if TYPE_CHECKING:` and inside functions: a type-only or deferred import still ties two modules together, and
that is how cycles hide."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRODUCT = ("core", "devices", "ingest", "rules", "alerts", "simulator", "cwatch")
PACKAGES = (*PRODUCT, "testkit", "bench", "tests")

MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "devices": frozenset({"core"}),
    "ingest": frozenset({"core", "devices"}),
    "rules": frozenset({"core", "devices"}),
    "alerts": frozenset({"core", "devices", "rules.alert", "rules.durations"}),
    "simulator": frozenset({"core", "devices"}),
    "simulator.judge": frozenset({"core", "devices", "ingest", "rules"}),
    "cwatch": frozenset(PRODUCT) - {"cwatch", "simulator"},
    "cwatch.cli": frozenset(PRODUCT) - {"cwatch"},
    "cwatch.demo": frozenset(PRODUCT) - {"cwatch"},
    "testkit": frozenset(),
    "bench": frozenset({*PRODUCT, "testkit"}),
    "tests": frozenset({*PRODUCT, "testkit", "bench"}),
}
"""What each package (or module, where it is given) may import of the others, besides its own modules. The
longest key that is a prefix of the importer applies; a value names a package or one module of it. The
simulator's judge runs the real decoder and rule engine (`cwatch simulate evaluate`, `bench.rules`); the rest of the
simulator knows `devices` only. Of `cwatch`, only the CLI and the demo run the simulator, so `cwatch serve` needs
no simulator extra. `alerts` takes the rules' output (`Alert`) and their way of writing durations
(escalation policies). `ingest` and `rules` are independent, as are `alerts` and `simulator`."""

LAZY_ALLOWED: dict[str, str] = {
    "cwatch.cli": "`cwatch --help` and small commands import only what they run",
    "simulator.cli": "`cwatch simulate`: each subcommand imports what it runs (paho, tqdm: the simulator extra)",
}
"""Modules that may import the project's own packages inside functions, with the reason. Tests may too
(nothing imports them, so they hide no cycle)."""


@dataclass(frozen=True, slots=True)
class Edge:
    importer: str
    imported: str
    path: Path
    line: int
    in_function: bool

    def __str__(self) -> str:
        where = "inside a function" if self.in_function else "at module level"
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.importer} imports {self.imported} {where}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _targets(importer: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules an import statement names: `from a.b import c` is module `a.b.c` when that is one, else `a.b`."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base = importer.split(".")
        if path.name != "__init__.py":
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, node.module] if node.module else base)
    else:
        module = node.module or ""
    for alias in node.names:
        name = f"{module}.{alias.name}"
        yield name if name in MODULES else module


def _edges_of(importer: str, path: Path) -> Iterator[Edge]:
    def walk(node: ast.AST, in_function: bool) -> Iterator[Edge]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(importer, path, child):
                    if target.split(".")[0] in PACKAGES:
                        yield Edge(importer, target, path, child.lineno, in_function)
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from walk(child, nested)

    yield from walk(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)


EDGES = [e for name, path in MODULES.items() for e in _edges_of(name, path)]


def _package(module: str) -> str:
    return module.split(".")[0]


def _allowed_for(importer: str) -> frozenset[str]:
    keys = [k for k in MAY_IMPORT if importer == k or importer.startswith(k + ".")]
    return MAY_IMPORT[max(keys, key=len)]


def _permits(allowed: frozenset[str], imported: str) -> bool:
    return any(imported == a or imported.startswith(a + ".") for a in allowed)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_package_is_in_the_contract() -> None:
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() or p.name == "bench"}
    assert on_disk - {".venv"} <= set(PACKAGES), "a new top-level package: give it a place in MAY_IMPORT"
    assert set(MAY_IMPORT) >= set(PACKAGES)


def test_the_layers_form_no_cycle() -> None:
    graph = {key: {_package(a) for a in allowed} for key, allowed in MAY_IMPORT.items()}
    assert _cycles(graph) == []


def test_imports_point_down_the_layers() -> None:
    wrong = sorted(
        {
            str(e)
            for e in EDGES
            if _package(e.imported) != _package(e.importer) and not _permits(_allowed_for(e.importer), e.imported)
        }
    )
    assert wrong == [], "imports against docs/architecture.md's layers:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_cycle_between_the_modules_of(package: str) -> None:
    graph: dict[str, set[str]] = {}
    for e in EDGES:
        if _package(e.importer) == package == _package(e.imported) and e.imported != e.importer:
            graph.setdefault(e.importer, set()).add(e.imported)
    assert _cycles(graph) == [], f"import cycles in {package}; break them with a protocol or by moving code down"


def test_no_imports_of_our_packages_inside_functions() -> None:
    lazy = [
        str(e) for e in EDGES if e.in_function and _package(e.importer) != "tests" and e.importer not in LAZY_ALLOWED
    ]
    assert lazy == [], "import these at the top of the module:\n" + "\n".join(lazy)


def test_the_contract_sees_a_back_edge_a_cycle_and_a_deferred_import(tmp_path: Path) -> None:
    """The checks themselves can fail: an upward import, a cycle and an import inside a function are seen."""
    assert not _permits(_allowed_for("devices.model"), "cwatch.app")
    assert not _permits(_allowed_for("simulator.generate"), "rules.engine")
    assert _permits(_allowed_for("simulator.judge"), "rules.engine")
    assert not _permits(_allowed_for("cwatch.app"), "simulator.publisher")
    assert _permits(_allowed_for("cwatch.demo"), "simulator.publisher")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = tmp_path / "x.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from alerts.service import TicketService\n"
        "def f():\n    from cwatch.app import Service\n"
    )
    edges = [(e.imported, e.in_function) for e in _edges_of("devices.x", source)]
    assert edges == [("alerts.service", False), ("cwatch.app", True)]
