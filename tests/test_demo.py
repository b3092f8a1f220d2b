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
    assert "is not empty and not a keel demo repository" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_cli_prints_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", str(tmp_path / "d"), "--manifests-only"]) == 0
    out = capsys.readouterr().out
    assert "created  DVC (.dvc/)" in out
    assert "manifests/deployments/semantic-search.yaml" in out
    assert "19 manifests in 19 files: valid" in out
    assert "4. committed " in out


def test_demo_cli_run_again_resumes_and_names_what_it_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolkit.bridges import dvc

    root = tmp_path / "d"
    assert main(["demo", str(root), "--manifests-only"]) == 0
    first = capsys.readouterr().out
    assert main(["demo", str(root), "--manifests-only"]) == 0
    again = capsys.readouterr().out

    remote = dvc.default_remote(root)
    assert remote is not None
    commit = git.Repo(root).head.commit.hexsha
    assert f"resuming {root}: an earlier run committed example" in again
    assert f"1-4. the example deployment: committed {commit[:12]}" in again
    for out in (first, again):
        assert out.splitlines()[-5:] == [
            "",
            "left in place:",
            f"     repository  {root}",
            f"     DVC remote  {remote[1]}",
            f"delete them all: rm -rf {root} {remote[1]}",
        ]
    assert [c.summary for c in git.Repo(root).iter_commits()] == [
        "keel demo: the example semantic-search deployment"
    ]


def test_progress_shows_only_on_a_terminal_and_nests(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured output gets no progress at all; on a terminal an activity opened inside
    another (hashing inside a step, say) joins its display instead of failing."""
    from toolkit.core import progress

    with progress.activity("step", total=2) as outer:
        outer.advance()
        outer.describe("step 2")
    assert capsys.readouterr() == ("", "")

    monkeypatch.setattr(progress, "watched", lambda: True)
    with progress.activity("step", total=2) as outer:
        with progress.activity("inner") as inner, progress.byte_progress(1 << 30, "hash") as add:
            inner.describe("inner, later")
            assert add is not None
            add(1 << 20)
        outer.advance()
        print("a line on stdout")
    assert capsys.readouterr().out == "a line on stdout\n"


def test_a_spinner_becomes_a_bar_when_the_length_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.core import progress

    monkeypatch.setattr(progress, "watched", lambda: True)
    with progress.activity("train") as bar:
        bar.update(3, 40)
        task = bar._progress.tasks[-1]
        assert (task.completed, task.total) == (3, 40)
