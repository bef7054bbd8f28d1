"""The local cloud's modules import each other without cycles: every service imports the shared
graph and clients (localcloud.graph) and never the wiring that builds it (localcloud.cloud)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "localcloud"


def _module(path: Path) -> str:
    parts = ["localcloud", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The localcloud modules a file imports anywhere in it (inside functions and TYPE_CHECKING
    blocks too: an import moved into a function to dodge a cycle is still a cycle)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    paths = {_module(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, modules) - {name} for name, path in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in stack:
            return [*stack[stack.index(name) :], name]
        if name in done:
            return None
        stack.append(name)
        for imported in sorted(graph[name]):
            if found := visit(imported):
                return found
        stack.pop()
        done.add(name)
        return None

    return next((found for name in sorted(graph) if (found := visit(name))), None)


def test_localcloud_modules_import_each_other_without_cycles():
    graph = _graph()
    assert "localcloud.graph" in graph and "localcloud.streams.service" in graph
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_local_clouds_own_process_imports_no_moto_module():
    """moto runs in its own process (localcloud.motoserver); a module of it imported by the data
    plane costs its memory for nothing (140 modules, some 80 MB, when the local FIS imported
    localcloud.iam.authorization for its trust check)."""
    import subprocess
    import sys

    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, localcloud.main, localcloud.cloud, localcloud.fis.experiments, localcloud.runner\n"
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'moto'))",
        ],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]", found.stdout[:2000]
