"""`keel track`, `push` and `pull` through real DVC with a local remote, in a real git repo."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import with_real_files, write_set

from toolkit.core.errors import UsageError
from toolkit.workflows.artifacts.track import track
from toolkit.workflows.artifacts.transfer import pull, push
from toolkit.workflows.artifacts.verify import verify
from toolkit.workflows.authoring.init import init
from toolkit.workflows.validation.validate import validate

MODEL_DIR = "artifacts/models/base"


@pytest.fixture
def repo(tmp_path: Path, manifests: dict[str, Any]) -> Path:
    root = tmp_path / "repo"
    init(root)
    write_set(root, with_real_files(root, manifests))
    model = root / "manifests" / "model.yaml"
    model.write_text("# Owned by the search team; ask before changing.\n" + model.read_text())
    return root


def _model_files(root: Path) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = yaml.safe_load((root / "manifests/model.yaml").read_text())[
        "spec"
    ]["files"]
    return files


def test_track_adds_to_dvc_and_records_md5_keeping_comments(repo: Path) -> None:
    result = track(repo, [repo / MODEL_DIR / "model.safetensors"], "Model/base")
    assert result.manifest_changed
    dvc_file = yaml.safe_load((repo / MODEL_DIR / "model.safetensors.dvc").read_text())
    entry = next(e for e in _model_files(repo) if e["path"] == "model.safetensors")
    assert entry["md5"] == dvc_file["outs"][0]["md5"]
    assert entry["size"] == dvc_file["outs"][0]["size"]
    assert (repo / "manifests/model.yaml").read_text().startswith("# Owned by the search team")
    assert "model.safetensors" in (repo / MODEL_DIR / ".gitignore").read_text()
    assert validate(repo).ok


def test_tracking_unchanged_files_again_changes_nothing(repo: Path) -> None:
    track(repo, [repo / MODEL_DIR], "Model/base")
    before = (repo / "manifests/model.yaml").read_bytes()
    dvc_before = (repo / MODEL_DIR / "config.json.dvc").read_bytes()
    again = track(
        repo,
        [repo / MODEL_DIR / "config.json", repo / MODEL_DIR / "model.safetensors"],
        "Model/base",
    )
    assert (again.manifest_changed, again.added_to_dvc) == (False, ())
    assert (repo / "manifests/model.yaml").read_bytes() == before
    assert (repo / MODEL_DIR / "config.json.dvc").read_bytes() == dvc_before


def test_a_changed_file_is_tracked_again(repo: Path) -> None:
    config = repo / MODEL_DIR / "config.json"
    track(repo, [config], "Model/base")
    config.write_text('{"model_type": "roberta"}\n')
    result = track(repo, [config], "Model/base")
    assert result.added_to_dvc == (config.resolve(),)
    assert verify(repo, ["Model/base"]).ok


def test_new_files_are_appended(repo: Path) -> None:
    extra = repo / MODEL_DIR / "generation_config.json"
    extra.write_text("{}\n")
    track(repo, [extra], "Model/base")
    assert [e["path"] for e in _model_files(repo)][-1] == "generation_config.json"


def test_pickle_weights_are_refused(repo: Path) -> None:
    weights = repo / MODEL_DIR / "pytorch_model.bin"
    weights.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(UsageError, match="pickle-based weights can execute code"):
        track(repo, [weights], "Model/base")
    assert not (repo / MODEL_DIR / "pytorch_model.bin.dvc").exists()


def test_files_outside_the_manifest_directory_are_refused(repo: Path) -> None:
    with pytest.raises(
        UsageError, match="not under the manifest's directory artifacts/models/base/"
    ):
        track(repo, [repo / "artifacts/datasets/canary/canary.jsonl"], "Model/base")


def test_only_artifact_kinds_can_be_tracked_into(repo: Path) -> None:
    with pytest.raises(
        UsageError, match="expected an existing, valid Model, Tokenizer, Dataset, Adapter"
    ):
        track(repo, [repo / MODEL_DIR], "Runbook/search")


def test_validate_cross_checks_the_dvc_file(repo: Path) -> None:
    track(repo, [repo / MODEL_DIR / "config.json"], "Model/base")
    dvc_path = repo / MODEL_DIR / "config.json.dvc"
    dvc_path.write_text(
        dvc_path.read_text().replace("md5: ", "md5: 0").replace("md5: 0", "md5: ", 0)
    )
    data = yaml.safe_load(dvc_path.read_text())
    data["outs"][0]["md5"] = "0" * 32
    dvc_path.write_text(yaml.safe_dump(data))
    findings = [f.render() for f in validate(repo).findings]
    assert len(findings) == 1
    assert (
        "spec.files[1].md5: artifacts/models/base/config.json.dvc records md5 " + "0" * 32
        in findings[0]
    )


def test_push_then_pull_into_a_fresh_clone_verifies(repo: Path, tmp_path: Path) -> None:
    import git

    track(repo, [repo / MODEL_DIR / n for n in ("model.safetensors", "config.json")], "Model/base")
    track(repo, [repo / "artifacts/adapters/lora"], "Adapter/lora")
    pushed = push(repo, ["Deployment/search"])
    assert pushed.transferred == 3
    git.Repo(repo).git.add(A=True)
    git.Repo(repo).index.commit("pin the base model and adapter")
    clone = tmp_path / "clone"
    git.Repo.clone_from(repo, clone)
    assert not (clone / MODEL_DIR / "model.safetensors").exists()
    result = pull(clone, ["Deployment/search"])
    assert result.verification is not None
    assert result.verification.ok, [p.render() for p in result.verification.problems]
    pulled = clone / MODEL_DIR / "model.safetensors"
    assert pulled.read_bytes() == (repo / MODEL_DIR / "model.safetensors").read_bytes()
    data = bytearray(pulled.read_bytes())
    data[-2] ^= 0x10
    pulled.chmod(0o644)
    pulled.write_bytes(bytes(data))
    problems = [p.render() for p in verify(clone, ["Deployment/search"]).problems]
    assert problems[0].startswith("artifacts/models/base/model.safetensors: expected sha256 ")


def test_a_flipped_byte_in_the_remote_fails_pull(repo: Path, tmp_path: Path) -> None:
    import git

    track(repo, [repo / MODEL_DIR / "model.safetensors"], "Model/base")
    push(repo, ["Model/base"])
    md5 = yaml.safe_load((repo / MODEL_DIR / "model.safetensors.dvc").read_text())["outs"][0]["md5"]
    remote = Path((repo / ".dvc/config").read_text().split("url = ")[1].strip())
    stored = remote / "files" / "md5" / md5[:2] / md5[2:]
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))
    git.Repo(repo).git.add(A=True)
    git.Repo(repo).index.commit("pin")
    clone = tmp_path / "clone"
    git.Repo.clone_from(repo, clone)
    shutil.rmtree(clone / ".dvc" / "cache", ignore_errors=True)
    result = pull(clone, ["Model/base"])
    assert result.verification is not None
    problems = [p.render() for p in result.verification.problems]
    assert len(problems) == 1
    expected = _model_files(repo)[0]["sha256"]
    found = hashlib.sha256(bytes(data)).hexdigest()
    assert problems == [
        f"artifacts/models/base/model.safetensors: expected sha256 {expected}, "
        f"found {found} in the DVC remote (not pulled; the remote copy is left for inspection)"
    ]
    assert stored.read_bytes() == bytes(data), "the evidence stays in the remote"


def test_pull_from_a_local_remote_that_is_not_there_says_so(repo: Path, tmp_path: Path) -> None:
    import git

    from toolkit.core.errors import DvcError

    track(repo, [repo / MODEL_DIR / "model.safetensors"], "Model/base")
    git.Repo(repo).git.add(A=True)
    git.Repo(repo).index.commit("pin, never pushed")
    clone = tmp_path / "clone"
    git.Repo.clone_from(repo, clone)
    remote = Path((repo / ".dvc/config").read_text().split("url = ")[1].strip())
    shutil.rmtree(remote)
    with pytest.raises(DvcError, match="does not exist on this machine"):
        pull(clone, ["Model/base"])


def test_track_leaves_the_file_in_place_and_restores_a_cleared_cache(repo: Path) -> None:
    weights = repo / MODEL_DIR / "model.safetensors"
    inode, data = weights.stat().st_ino, weights.read_bytes()
    track(repo, [weights], "Model/base")
    assert (weights.stat().st_ino, weights.read_bytes()) == (inode, data), "never moved"
    md5 = yaml.safe_load((repo / MODEL_DIR / "model.safetensors.dvc").read_text())["outs"][0]["md5"]
    cached = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert cached.read_bytes() == data
    assert not cached.stat().st_mode & 0o222, "cache objects are read-only, as DVC makes them"
    shutil.rmtree(repo / ".dvc/cache")
    again = track(repo, [weights], "Model/base")
    assert again.added_to_dvc == (weights.resolve(),)
    assert cached.read_bytes() == data
