"""`keel demo`: a real git repository with DVC, the example deployment, validated and committed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import git

from toolkit.cli import main
from toolkit.workflows.demo.demo import demo

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_demo_builds_a_valid_committed_repository(tmp_path: Path) -> None:
    result = demo(tmp_path / "demo")
    assert result.validation is not None
    assert [f.render() for f in result.validation.findings] == []
    repo = git.Repo(result.root)
    assert not repo.is_dirty(untracked_files=True)
    tracked = set(repo.git.ls_files().splitlines())
    assert "manifests/deployments/semantic-search.yaml" in tracked
    assert ".dvc/config" in tracked
    assert "schemas/model.schema.json" in tracked
    assert result.commit == repo.head.commit.hexsha


def test_demo_twice_changes_nothing(tmp_path: Path) -> None:
    first = demo(tmp_path / "demo")
    second = demo(tmp_path / "demo")
    assert second.copied == []
    assert second.commit is None
    assert git.Repo(first.root).head.commit.hexsha == first.commit


def test_demo_refuses_a_non_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", str(tmp_path)]) == 2
    assert "is not empty and not a repository" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_cli_prints_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", str(tmp_path / "d"), "--manifests-only"]) == 0
    out = capsys.readouterr().out
    assert "created  DVC (.dvc/)" in out
    assert "manifests/deployments/semantic-search.yaml" in out
    assert "19 manifests in 19 files: valid" in out
    assert "4. committed " in out
