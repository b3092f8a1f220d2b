"""The house style is enforced, not hoped for: ruff and mypy run with the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: install the dev extra (`pip install -e '.[dev]'`)")
    return found


def test_ruff_finds_nothing() -> None:
    done = subprocess.run(
        [
            _tool("ruff"),
            "check",
            "toolkit",
            "tests",
            "benchmarks",
            "scripts",
            "--output-format=concise",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing() -> None:
    done = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_layers_hold() -> None:
    """The contracts in pyproject.toml: cli -> workflows -> bridges -> core -> manifests, and
    only toolkit.bridges imports torch, transformers, peft, torchao, safetensors, tokenizers,
    dvc, git and huggingface_hub."""
    done = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_every_kind_has_a_manifests_folder() -> None:
    from toolkit.core.layout import KIND_DIRECTORIES
    from toolkit.manifests import KINDS

    assert set(KIND_DIRECTORIES) == set(KINDS)
    assert len(set(KIND_DIRECTORIES.values())) == len(KIND_DIRECTORIES)


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def test_modules_and_functions_stay_small() -> None:
    """One sitting per module, one screen per function (docs/architecture.md)."""
    import ast

    too_big = []
    for path in sorted((ROOT / "toolkit").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_big.append(f"{relative}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{relative}:{node.lineno} {node.name}: {length} lines")
    assert too_big == []


def test_no_import_cycles() -> None:
    """A cycle between two modules means one holds the other's type: move the type down."""
    import grimp

    graph = grimp.build_graph("toolkit", exclude_type_checking_imports=True)
    cycles = _strongly_connected(
        {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    )
    assert [sorted(c) for c in cycles if len(c) > 1] == []


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the import graph is deep enough to matter)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    found = sorted(sorted(c) for c in _strongly_connected(edges) if len(c) > 1)
    assert found == [["a", "b", "c"]]
