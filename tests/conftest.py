"""Test isolation: no test touches $HOME, the network or the user's git configuration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from factories import deployment_set, tiny_bert, write_set  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Keel Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "keel-test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Keel Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "keel-test@example.invalid")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.delenv("KEEL_DEBUG", raising=False)


@pytest.fixture
def manifests() -> dict[str, dict[str, Any]]:
    """A complete valid deployment as plain data; change it, then call `repo`."""
    return deployment_set()


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[Any]:
    def make(data: dict[str, dict[str, Any]]) -> Path:
        root = tmp_path / "repo"
        write_set(root, data)
        return root

    return make


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight two-layer BERT with its own small WordPiece tokenizer."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden/expected files")
