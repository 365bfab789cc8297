"""The shape of the code, measured: no import loops between modules, no long signatures.

import-linter (`make lint`) keeps the layers in order; these tests catch what a layer contract
cannot see — a loop between two modules of one layer — and the signatures the run context and
the request objects replaced. Every import counts: at module level, inside functions, and under
TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "forecast"
MAX_PARAMETERS = 8


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("forecast.") and target != name and not target.startswith(name + "."):
                found.add(target)
    return found


def test_no_module_imports_itself_through_others() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for other in sorted(graph[node]):
            if state.get(other) == 1:
                loop = [*path[path.index(other):], other]
                raise AssertionError("import loop: " + " -> ".join(loop))
            if other not in state:
                visit(other)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert len(graph) > 40  # the walk saw the package


def test_no_signature_takes_more_than_eight_parameters() -> None:
    """Except the Typer commands, whose parameters are the command line's options."""
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "command"
                   for d in node.decorator_list):
                continue
            args = node.args
            count = (len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs) + bool(args.vararg)
                     + bool(args.kwarg) - (1 if args.args and args.args[0].arg in ("self", "cls") else 0))
            if count > MAX_PARAMETERS:
                long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({count})")
    assert not long, long
