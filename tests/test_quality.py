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
