"""The layers the design names, enforced on the import graph (issue 14 item 2).

Why an AST walk and not import-linter: import-linter builds its graph with
grimp, which scans the directory of the top package only; in a checkout
``vipdeck.engine`` and ``vipdeck.console`` come from the repository's
``engine/`` and ``console/`` through ``vipdeck.__path__``, which grimp does
not follow (it finds 15 modules, all of vipdeck/cli), so it would check an
installed wheel, not the code under test.  This walk reads every module of
the three trees at its installed name, function-local imports included, and
follows imports transitively.

The rules:

1. The engine never imports the console, the command line or the demo.
2. The console reaches the engine only through the control client and
   schema, and those two import nothing else of the engine.
3. The sans-IO core (the VRRP machine, codec, sync groups and start delay,
   the checkers' decisions, the IPVS model, reconciler and table) imports
   no asyncio, clock, socket, subprocess or thread, not even through a
   module of ours: it takes bytes, events and the time, and returns actions.
4. No function-local import of our own modules in the engine or the console:
   such an import hides an edge of this graph (third-party ones stay where
   they are for import cost: pyroute2, scapy, prometheus_client, psutil).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREES = {"engine": "vipdeck.engine", "console": "vipdeck.console", "vipdeck": "vipdeck"}

SANS_IO = ("vipdeck.engine.vrrp.machine", "vipdeck.engine.vrrp.packet", "vipdeck.engine.vrrp.sync",
           "vipdeck.engine.vrrp.startdelay", "vipdeck.engine.check.realserver", "vipdeck.engine.check.quorum",
           "vipdeck.engine.ipvs.model", "vipdeck.engine.ipvs.reconcile", "vipdeck.engine.ipvs.table")
IO_MODULES = ("asyncio", "time", "socket", "subprocess", "selectors", "threading", "ssl")
# what the codec may take from socket: address conversions, no I/O (imported by name, so this is checked)
PURE_SOCKET = {"AF_INET", "AF_INET6", "inet_ntop", "inet_pton", "inet_aton", "inet_ntoa"}
CONSOLE_MAY_USE = ("vipdeck.engine.control.client", "vipdeck.engine.control.schema")


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    out = {}
    for tree, pkg in TREES.items():
        for path in (ROOT / tree).rglob("*.py"):
            rel = path.relative_to(ROOT / tree).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if tree == "vipdeck" and parts and parts[0] in ("engine", "console"):
                continue
            out[".".join([pkg, *parts])] = path
    return out


@lru_cache(maxsize=None)
def _imports(name: str) -> list[tuple[str, int, bool, tuple[str, ...]]]:
    """(imported module, line, function-local, names taken from it) for every import in ``name``."""
    path = modules()[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    local: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local |= {id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in local, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], base]).rstrip(".")
            out.append((base, node.lineno, id(node) in local, tuple(a.name for a in node.names)))
            # "from vipdeck.engine import operator" imports the module vipdeck.engine.operator
            out += [(f"{base}.{a.name}", node.lineno, id(node) in local, ()) for a in node.names
                    if f"{base}.{a.name}" in modules()]
    return out


def ours(imported: str) -> str | None:
    """The module of ours that ``imported`` names (a package's __init__ too), or None."""
    mods = modules()
    while imported:
        if imported in mods:
            return imported
        imported = imported.rpartition(".")[0]
    return None


@lru_cache(maxsize=None)
def reach(name: str) -> frozenset[str]:
    """Every module of ours ``name`` imports, directly or not (and itself)."""
    seen, todo = {name}, [name]
    while todo:
        for imp, _line, _local, _names in _imports(todo.pop()):
            m = ours(imp)
            if m is not None and m not in seen:
                seen.add(m)
                todo.append(m)
    return frozenset(seen)


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_walk_sees_all_three_trees():
    mods = modules()
    assert "vipdeck.engine.runtime" in mods and "vipdeck.console.app" in mods and "vipdeck.cli.daemon" in mods
    assert "vipdeck.engine.runtime" in reach("vipdeck.engine.daemon")


def test_the_engine_never_imports_the_console_the_cli_or_the_demo():
    bad = {m: sorted(x for x in reach(m) if under(x, "vipdeck.console", "vipdeck.cli", "vipdeck.demo_lab"))
           for m in modules() if under(m, "vipdeck.engine")}
    assert {m: v for m, v in bad.items() if v} == {}


def test_the_console_reaches_the_engine_only_through_the_client_and_the_schema():
    engine_parts = {"vipdeck.engine", "vipdeck.engine.control"}        # the packages' __init__ files
    bad = {m: sorted(x for x in reach(m) if under(x, "vipdeck.engine") and x not in engine_parts
                     and x not in CONSOLE_MAY_USE)
           for m in modules() if under(m, "vipdeck.console")}
    assert {m: v for m, v in bad.items() if v} == {}


@pytest.mark.parametrize("core", SANS_IO)
def test_the_sans_io_core_touches_no_clock_socket_or_process(core):
    found = [(m, imp, line) for m in sorted(reach(core)) for imp, line, _local, names in _imports(m)
             if imp.split(".")[0] in IO_MODULES and not (imp == "socket" and names and set(names) <= PURE_SOCKET)]
    assert found == []


def test_no_function_local_import_hides_an_edge_of_ours():
    found = [(m, imp, line) for m in modules() if under(m, "vipdeck.engine", "vipdeck.console")
             for imp, line, local, _names in _imports(m) if local and ours(imp) is not None]
    assert found == []
