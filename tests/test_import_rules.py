"""The dependency rules of docs/architecture.md, checked over the source's import graph.

Read with `ast`, without importing anything: an import inside a function counts as "any level",
one at the top of a module (outside `if TYPE_CHECKING:`) as "module level".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("annotate", "rewards", "config", "workers", "generation", "webhooks", "client")
# Apps that sit above both sides: they may import annotate and rewards, never the reverse.
TOP_APPS = ("generation", "webhooks")
HEAVY = ("torch", "transformers", "scipy", "rewards.ml", "rewards.worker")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "client":  # its own package: client/prefloop_client/...
        parts = parts[1:]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".")[: -node.level] if module else []
        base = ".".join([*package, base] if base else package)
    yield base
    # `from annotate.importing import bulk` imports the submodule annotate.importing.bulk
    for alias in node.names:
        if f"{base}.{alias.name}" in _modules():
            yield f"{base}.{alias.name}"


def _top_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                yield from _top_level(handler.body)


@cache
def _imports(module: str, *, module_level: bool) -> frozenset[str]:
    tree = ast.parse(_modules()[module].read_text())
    if module_level:
        nodes = list(_top_level(tree.body))
    else:
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    return frozenset(name for node in nodes for name in _imported(node, module))


def _loaded_with(module: str) -> set[str]:
    """Every module that importing `module` loads (module-level imports, transitively)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = current.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        if current in _modules():
            todo.extend(_imports(current, module_level=True))
    return seen


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _web_facing() -> list[str]:
    """What a web process imports: everything but the model side's worker modules and CLIs."""
    return sorted(
        m
        for m in _modules()
        if not _matches(m, ("rewards.ml", "rewards.worker", "prefloop_client"))
        and ".management." not in f".{m}."
    )


def test_the_graph_is_read() -> None:
    # the rules below would pass on an empty graph: make sure it is the real one
    assert len(_modules()) > 80
    assert "annotate.judging.queue" in _imports("annotate.judging.recording", module_level=True)
    assert "rewards.worker.services" in _imports("rewards.tasks", module_level=False)
    assert "rewards.worker.services" not in _imports("rewards.tasks", module_level=True)


def test_annotate_never_imports_rewards() -> None:
    offenders = {
        m: sorted(n for n in _imports(m, module_level=False) if _matches(n, ("rewards",)))
        for m in _modules()
        if _matches(m, ("annotate",))
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_neither_side_imports_the_apps_above_them() -> None:
    offenders = {
        m: sorted(n for n in _imports(m, module_level=False) if _matches(n, TOP_APPS))
        for m in _modules()
        if _matches(m, ("annotate", "rewards", "workers"))
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_the_client_imports_nothing_of_the_server() -> None:
    server = ("django", "rest_framework", "celery", "config", "torch", *PACKAGES[:-1])
    offenders = {
        m: sorted(n for n in _imports(m, module_level=False) if _matches(n, server))
        for m in _modules()
        if _matches(m, ("prefloop_client",))
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_the_model_code_never_imports_django_or_the_apps() -> None:
    banned = ("django", "rest_framework", "celery", "annotate", "config", "workers")
    offenders = {
        m: sorted(
            n
            for n in _imports(m, module_level=False)
            if _matches(n, banned)
            or (_matches(n, ("rewards",)) and not _matches(n, ("rewards.ml",)))
        )
        for m in _modules()
        if _matches(m, ("rewards.ml",))
    }
    assert {m: names for m, names in offenders.items() if names} == {}


@pytest.mark.parametrize("module", _web_facing())
def test_web_facing_modules_load_no_torch_scipy_or_model_code(module: str) -> None:
    heavy = sorted(n for n in _loaded_with(module) if _matches(n, HEAVY))
    assert heavy == [], f"importing {module} loads {heavy}"


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(graph[current])
    return seen


def test_no_import_cycles_at_module_level() -> None:
    # explicit imports only: a package's __init__ that imports its submodules is no cycle
    graph = {
        m: {n for n in _imports(m, module_level=True) if n in _modules() and n != m}
        for m in _modules()
    }
    cycles = sorted(m for m in graph if m in _reachable(m, graph))
    assert cycles == []
