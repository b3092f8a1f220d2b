"""`keel new` then `keel track`: a template becomes a pinned manifest, in a real repository with
real DVC, through the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

from toolkit.cli import main
from toolkit.workflows.authoring.init import init

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    import git

    root = tmp_path / "repo"
    init(root)
    git.Repo(root).git.config("user.email", "data-team@example.com")
    return root


def test_new_fills_the_owner_from_git(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "Dataset", "rows", "--root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "metadata.owner: data-team@example.com (git's user.email)" in out
    text = (repo / "manifests" / "datasets" / "rows.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["metadata"]["owner"] == "data-team@example.com"


def test_new_warns_when_the_name_is_taken_elsewhere(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "Dataset", "rows", "--root", str(repo)]) == 0
    first = repo / "manifests" / "datasets" / "rows.yaml"
    first.rename(first.with_name("renamed.yaml"))
    capsys.readouterr()

    assert main(["new", "Dataset", "rows", "--root", str(repo)]) == 0

    err = capsys.readouterr().err
    assert err.startswith("keel: warning: Dataset/rows is already defined in ")
    assert "renamed.yaml" in err


def test_track_into_a_new_template_replaces_its_placeholder_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = repo / "data" / "rows"
    data.mkdir(parents=True)
    (data / "rows.jsonl").write_text('{"text": "hello"}\n', encoding="utf-8")
    manifest = repo / "manifests" / "datasets" / "rows.yaml"
    assert main(["new", "Dataset", "rows", "--root", str(repo)]) == 0
    track = ["track", str(data / "rows.jsonl"), "--into", "Dataset/rows", "--root", str(repo)]
    capsys.readouterr()

    # the directory is the one placeholder track needs: it says so, and changes nothing
    before = manifest.read_bytes()
    assert main(track) == 2
    err = capsys.readouterr().err
    assert "spec.directory is not filled in" in err
    assert err.count("\n") == 1
    assert manifest.read_bytes() == before

    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace(
            'directory: "<fill: text>"', "directory: data/rows"
        ),
        encoding="utf-8",
    )
    assert main(track) == 0
    out = capsys.readouterr().out
    assert "1 added to DVC" in out
    assert "still to fill in rows.yaml: metadata.description, spec.purpose" in out

    files = yaml.safe_load(manifest.read_text(encoding="utf-8"))["spec"]["files"]
    assert [f["path"] for f in files] == ["rows.jsonl"]
    assert len(files[0]["sha256"]) == 64
    assert (data / "rows.jsonl.dvc").is_file()


def test_track_into_a_template_with_a_bad_directory_names_the_field(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "Dataset", "rows", "--root", str(repo)]) == 0
    manifest = repo / "manifests" / "datasets" / "rows.yaml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace(
            'directory: "<fill: text>"', "directory: /etc"
        ),
        encoding="utf-8",
    )
    (repo / "rows.jsonl").write_text("{}\n", encoding="utf-8")
    capsys.readouterr()

    code = main(["track", str(repo / "rows.jsonl"), "--into", "Dataset/rows", "--root", str(repo)])

    assert code == 2
    err = capsys.readouterr().err
    assert "spec.directory: expected a path relative to the repository, got '/etc'" in err
