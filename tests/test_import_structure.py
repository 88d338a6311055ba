"""grader/'s packages keep to the trust boundary: no import cycles, and the shipped packages
(checks/, harness/) never import the instructor-only ones."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADER = ROOT / "grader"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """{module: grader modules it imports (at any level of the file)}."""
    modules = {_module_name(p): p for p in GRADER.rglob("*.py") if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def _top_level(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_no_import_cycles_between_grader_modules():
    graph = _imports()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if dep.startswith(node + ".") or node.startswith(dep + "."):
                continue  # a package and its own modules
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*stack, node, dep]))
            if dep not in state:
                visit(dep, [*stack, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_shipped_packages_import_nothing_instructor_only():
    forbidden = ("grader.course", "grader.sandbox", "grader.mutants")
    for module, deps in _imports().items():
        if _top_level(module) in ("grader.checks", "grader.harness"):
            bad = sorted(d for d in deps if d.startswith(forbidden))
            assert not bad, (module, bad)
    for module, deps in _imports().items():
        if _top_level(module) == "grader.harness":
            assert all(d.startswith("grader.harness") for d in deps), (module, deps)
