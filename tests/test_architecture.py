"""The import graph of kilowatch/: no cycle, and no app importing another app.

Apps are the processes (and the CLI); everything else is core they stand on. Core never
imports an app. The CLI, being the launcher, may import an app's package itself (its
`__init__`: the run function and settings it exports), never the modules inside it. Read from
the source (ast), so a new module is checked without a list of files.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kilowatch"
# Top-level packages that are apps. A Lambda or Step Functions app package joins this set.
APPS = frozenset({"bridge", "agent", "simulator", "cli", "lambdas"})
LAUNCHER = "cli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """kilowatch modules imported by a module at import time (not under TYPE_CHECKING), with
    imports inside functions included: they run, lazily, in the same process."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "kilowatch"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "kilowatch":
                out.add(name)
                out |= {f"{name}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in modules.items():
        # an import of a name from a module is an edge to that module
        graph[module] = {m for m in _imports(path, module) if m in modules and m != module}
    return graph


def _app(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in APPS else None


def test_no_app_imports_another_app_and_core_imports_no_app() -> None:
    wrong = []
    for module, imported in sorted(_graph().items()):
        for target in sorted(imported):
            theirs = _app(target)
            mine = _app(module)
            if theirs is None or theirs == mine:
                continue
            if mine == LAUNCHER and target == f"kilowatch.{theirs}":
                continue  # the launcher starts an app through its package's exports
            wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_there_is_no_import_cycle_between_modules() -> None:
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []
