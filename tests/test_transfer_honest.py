"""`keel push` and `keel pull` through the CLI in real repositories: every file they do not
move is named with the reason, and the exit code says so."""

from __future__ import annotations

import hashlib
import shutil
from typing import TYPE_CHECKING, Any

import git
import pytest
import yaml
from click.testing import CliRunner
from factories import with_real_files, write_set

from toolkit.cli.track import track
from toolkit.cli.transfer import pull, push
from toolkit.workflows.authoring.init import init

if TYPE_CHECKING:
    from pathlib import Path

    import click

MODEL_DIR = "artifacts/models/base"
WEIGHTS = f"{MODEL_DIR}/model.safetensors"


@pytest.fixture
def repo(tmp_path: Path, manifests: dict[str, Any]) -> Path:
    root = tmp_path / "repo"
    init(root)
    write_set(root, with_real_files(root, manifests))
    return root


def _run(command: click.Command, root: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(command, [*args, "--root", str(root)])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    return done.exit_code, done.output


def _md5(root: Path, relative: str = WEIGHTS) -> str:
    data = yaml.safe_load((root / f"{relative}.dvc").read_text())
    md5: str = data["outs"][0]["md5"]
    return md5


def _cache_object(root: Path, md5: str) -> Path:
    return root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]


def _remote_object(root: Path, md5: str) -> Path:
    from pathlib import Path

    remote = Path((root / ".dvc/config").read_text().split("url = ")[1].strip())
    return remote / "files/md5" / md5[:2] / md5[2:]


def _flip(path: Path, offset: int = -1) -> bytes:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    return bytes(data)


def test_push_after_the_cache_is_cleared_names_the_files_and_fails(repo: Path) -> None:
    assert _run(track, repo, str(repo / WEIGHTS), "--into", "Model/base")[0] == 0
    shutil.rmtree(repo / ".dvc/cache")
    code, output = _run(push, repo, "Model/base")
    assert code == 1
    md5 = _md5(repo)
    assert (
        f"{WEIGHTS}: not pushed: .dvc/cache/files/md5/{md5[:2]}/{md5[2:]} is missing "
        "(the cache was cleared?); run `keel track " in output
    )
    assert "1 not pushed" in output
    # keel track stores the bytes again, then push succeeds
    code, output = _run(track, repo, str(repo / WEIGHTS), "--into", "Model/base")
    assert (code, "1 added to DVC" in output) == (0, True), output
    code, output = _run(push, repo, "Model/base")
    assert code == 0, output
    assert _remote_object(repo, _md5(repo)).is_file()


def test_a_corrupted_cache_object_is_named_and_not_pushed(repo: Path) -> None:
    _run(track, repo, str(repo / WEIGHTS), "--into", "Model/base")
    md5 = _md5(repo)
    _flip(_cache_object(repo, md5))
    code, output = _run(push, repo, "Model/base")
    assert code == 1
    assert f"the cache object .dvc/cache/files/md5/{md5[:2]}/{md5[2:]} is corrupted" in output
    assert not _remote_object(repo, md5).exists(), "corrupted bytes never go up"


def test_pull_force_repairs_a_corrupted_workspace_file(repo: Path) -> None:
    _run(track, repo, str(repo / WEIGHTS), "--into", "Model/base")
    assert _run(push, repo, "Model/base")[0] == 0
    good = (repo / WEIGHTS).read_bytes()
    _flip(repo / WEIGHTS, 100)
    code, output = _run(pull, repo, "Model/base")
    assert code == 1
    assert output.count("in the workspace (not replaced; `keel pull --force` replaces it") == 1
    code, output = _run(pull, repo, "Model/base", "--force")
    assert code == 0, output
    assert (repo / WEIGHTS).read_bytes() == good
    assert not list((repo / MODEL_DIR).glob(".*.tmp"))


def test_pull_names_a_corrupted_cache_object_and_uses_the_remote(repo: Path) -> None:
    _run(track, repo, str(repo / WEIGHTS), "--into", "Model/base")
    _run(push, repo, "Model/base")
    md5 = _md5(repo)
    _flip(_cache_object(repo, md5))
    (repo / WEIGHTS).unlink()
    code, output = _run(pull, repo, "Model/base")
    assert code == 0, output
    assert f".dvc/cache/files/md5/{md5[:2]}/{md5[2:]} is corrupted" in output
    assert hashlib.md5(_cache_object(repo, md5).read_bytes()).hexdigest() == md5


def test_a_directory_tracked_output_is_refused_by_name(repo: Path, tmp_path: Path) -> None:
    from toolkit.bridges import dvc

    dvc.add(repo, [repo / MODEL_DIR], {})
    code, output = _run(push, repo, "Model/base")
    assert code == 1
    assert (
        f"{WEIGHTS}: tracked by DVC as part of the directory {MODEL_DIR} ({MODEL_DIR}.dvc); "
        f"keel moves files tracked one by one: run `dvc remove {MODEL_DIR}.dvc` then "
        f"`keel track {MODEL_DIR} --into Model/base`"
    ) in output
    git.Repo(repo).git.add(A=True)
    git.Repo(repo).index.commit("directory out")
    clone = tmp_path / "clone"
    git.Repo.clone_from(repo, clone)
    code, output = _run(pull, clone, "Model/base")
    assert code == 1
    assert f"{WEIGHTS}: tracked by DVC as part of the directory {MODEL_DIR}" in output
    assert "run keel pull" not in output
