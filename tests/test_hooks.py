"""The hooks through the real pre-commit framework and as a plain git hook, in real repos."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest
import yaml
from factories import with_real_files, write_set

from toolkit.core.errors import UsageError
from toolkit.workflows.artifacts.track import track
from toolkit.workflows.authoring.init import init
from toolkit.workflows.validation.hooks import hook_script, install

PROJECT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
HF_TOKEN = "hf_" + "Qx7" * 12  # built here so no literal token sits in this file


@pytest.fixture
def repo(tmp_path: Path, manifests: dict[str, Any]) -> Path:
    """A keel repository with a complete deployment, weights under DVC, all committed."""
    root = tmp_path / "repo"
    init(root)
    write_set(root, with_real_files(root, manifests))
    model_dir = root / "artifacts/models/base"
    track(root, [model_dir / "model.safetensors", model_dir / "config.json"], "Model/base")
    git.Repo(root).git.add(A=True)
    git.Repo(root).index.commit("a valid deployment")
    return root


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def try_repo(root: Path, hook: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo` with this working tree as the hook repository, on what is staged."""
    return subprocess.run(
        [str(BIN / "pre-commit"), "try-repo", str(PROJECT), hook],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
    )


def stage(root: Path, *paths: str) -> None:
    git.Repo(root).git.add(*paths)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_valid_change_commits_through_the_framework(repo: Path) -> None:
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    local = [h for h in hooks if h["id"].endswith("-system")]
    config = {"repos": [{"repo": "local", "hooks": local}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    subprocess.run(
        [str(BIN / "pre-commit"), "install"], cwd=repo, check=True, env=_env(), capture_output=True
    )
    edit(repo / "manifests/runbook.yaml", "oncall@example.com", "search-oncall@example.com")
    stage(repo, ".pre-commit-config.yaml", "manifests/runbook.yaml")
    done = subprocess.run(
        ["git", "commit", "-m", "new on-call"], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "keel validate" in output
    assert "Passed" in output
    assert git.Repo(repo).head.commit.message.strip() == "new on-call"


def test_an_invalid_manifest_is_blocked_with_its_one_line_message(repo: Path) -> None:
    edit(
        repo / "manifests/model.yaml",
        "revision: c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        "revision: main",
    )
    stage(repo, "manifests/model.yaml")
    done = try_repo(repo, "keel-validate-system")
    assert done.returncode == 1
    assert (
        "manifests/model.yaml:11: Model/base: spec.source.hub.revision: expected a full 40-hex "
        "commit sha, got 'main'" in done.stdout
    )


def test_a_neighbour_broken_by_the_staged_manifest_is_blocked(repo: Path) -> None:
    edit(repo / "manifests/eval-search-canary.yaml", "value: 0.89", "value: 0.5")
    stage(repo, "manifests/eval-search-canary.yaml")
    done = try_repo(repo, "keel-validate-system")
    assert done.returncode == 1
    assert "manifests/deployment.yaml:" in done.stdout
    assert "Evaluation/search-canary recall_at_1 = 0.5 is below the minimum 0.8" in done.stdout


def test_weights_edited_without_their_manifest_are_blocked(repo: Path) -> None:
    weights = repo / "artifacts/models/base/model.safetensors"
    expected = yaml.safe_load((repo / "manifests/model.yaml").read_text())["spec"]["files"][0][
        "sha256"
    ]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.chmod(0o644)
    weights.write_bytes(bytes(data))
    subprocess.run([str(BIN / "dvc"), "add", "-q", str(weights)], cwd=repo, check=True, env=_env())
    stage(repo, "artifacts/models/base/model.safetensors.dvc")
    done = try_repo(repo, "keel-checksums-system")
    assert done.returncode == 1
    import hashlib

    found = hashlib.sha256(bytes(data)).hexdigest()
    assert (
        f"artifacts/models/base/model.safetensors: expected sha256 {expected}, found {found}"
        in done.stdout
    )


def test_a_manifest_with_an_hf_token_is_blocked(repo: Path) -> None:
    edit(
        repo / "manifests/runbook.yaml",
        "command: git revert HEAD",
        f"command: HF_TOKEN={HF_TOKEN} git revert HEAD",
    )
    stage(repo, "manifests/runbook.yaml")
    done = try_repo(repo, "keel-no-secrets-system")
    assert done.returncode == 1
    assert "manifests/runbook.yaml:" in done.stdout
    assert HF_TOKEN not in done.stdout, "the token itself is never printed"


def test_plain_git_hook_behaves_the_same(repo: Path) -> None:
    installed = install(repo)
    assert installed.changed
    assert os.access(installed.path, os.X_OK)
    edit(repo / "manifests/eval-search-canary.yaml", "value: 0.89", "value: 0.5")
    stage(repo, "manifests/eval-search-canary.yaml")
    blocked = subprocess.run(
        ["git", "commit", "-m", "worse"], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert blocked.returncode == 1
    output = blocked.stdout + blocked.stderr  # git shows a hook's output on stderr
    assert "keel-validate: failed" in output
    assert "Evaluation/search-canary recall_at_1 = 0.5 is below the minimum 0.8" in output
    edit(repo / "manifests/eval-search-canary.yaml", "value: 0.5", "value: 0.9")
    stage(repo, "manifests/eval-search-canary.yaml")
    done = subprocess.run(
        ["git", "commit", "-m", "better"], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "keel-validate: passed" in done.stderr


def test_plain_git_hook_blocks_a_token(repo: Path) -> None:
    install(repo)
    edit(
        repo / "manifests/runbook.yaml",
        "command: git revert HEAD",
        f"command: HF_TOKEN={HF_TOKEN} git revert HEAD",
    )
    stage(repo, "manifests/runbook.yaml")
    blocked = subprocess.run(
        ["git", "commit", "-m", "oops"], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert blocked.returncode == 1
    assert "keel-no-secrets: failed" in blocked.stderr
    assert HF_TOKEN not in blocked.stdout + blocked.stderr


def test_install_refuses_a_foreign_hook_without_force(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'the team linter'\n")
    with pytest.raises(UsageError, match="was not written by keel"):
        install(repo)
    assert "the team linter" in hook.read_text()
    result = install(repo, force=True)
    assert result.backup is not None
    assert "the team linter" in result.backup.read_text()
    assert "keel-managed-hook" in hook.read_text()
    assert not install(repo, force=False).changed, "installing again changes nothing"


def test_the_repository_hook_is_the_shipped_one() -> None:
    assert (PROJECT / "hooks" / "pre-commit").read_text() == hook_script()


def test_plain_hook_refuses_to_judge_unstaged_changes(repo: Path) -> None:
    """The plain hook reads files on disk: a staged bad value hidden by a good unstaged one
    must not slip through."""
    install(repo)
    path = repo / "manifests/eval-search-canary.yaml"
    edit(path, "value: 0.89", "value: 0.5")
    stage(repo, "manifests/eval-search-canary.yaml")
    edit(path, "value: 0.5", "value: 0.89")
    blocked = subprocess.run(
        ["git", "commit", "-m", "sneaky"], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert blocked.returncode == 1
    assert "unstaged changes in manifests/eval-search-canary.yaml" in blocked.stderr


def test_plain_hook_catches_a_deleted_manifest_still_referenced(repo: Path) -> None:
    install(repo)
    git.Repo(repo).git.rm("manifests/runbook.yaml")
    blocked = subprocess.run(
        ["git", "commit", "-m", "drop the runbook"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert blocked.returncode == 1
    assert "spec.runbook: Runbook/search does not exist in the manifests" in blocked.stderr


def test_forced_install_never_overwrites_an_earlier_backup(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho first\n")
    first = install(repo, force=True).backup
    hook.write_text("#!/bin/sh\necho second\n")
    second = install(repo, force=True).backup
    assert first is not None
    assert second is not None
    assert first != second
    assert "first" in first.read_text()
    assert "second" in second.read_text()


def test_a_copied_manifest_is_blamed_for_its_duplicate_name(repo: Path) -> None:
    """A staged copy of a committed manifest defines its name twice: every hook mode blocks
    it and names the copy, not the original that the commit did not touch."""
    original = repo / "manifests/runbook.yaml"
    (repo / "manifests/runbook-copy.yaml").write_text(original.read_text())
    stage(repo, "manifests/runbook-copy.yaml")
    expected = "manifests/runbook-copy.yaml:"
    framework = try_repo(repo, "keel-validate-system")
    assert framework.returncode == 1, framework.stdout
    assert f"{expected}" in framework.stdout
    assert "duplicate name: Runbook/search is already defined at manifests/runbook.yaml" in (
        framework.stdout
    )
    install(repo)
    blocked = subprocess.run(
        ["git", "commit", "-m", "copy"], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert blocked.returncode == 1
    assert "keel-validate: failed" in blocked.stderr
    assert f"  {expected}" in blocked.stderr
    assert "duplicate name: Runbook/search" in blocked.stderr


def test_a_stale_schema_fails_the_schemas_fresh_hook(repo: Path) -> None:
    schema = repo / "schemas" / "model.schema.json"
    schema.write_text(schema.read_text().replace('"title"', '"titel"', 1))
    stage(repo, "schemas/model.schema.json")
    done = try_repo(repo, "keel-schemas-fresh-system")
    assert done.returncode == 1, done.stdout
    assert "schemas/model.schema.json: out of date; run `keel schema export`" in done.stdout


def test_plain_git_hook_blocks_an_escaped_token(repo: Path) -> None:
    """A token spelled with a YAML escape is not in the raw text: the value scan finds it."""
    install(repo)
    escaped = "\\x68" + HF_TOKEN[1:]
    edit(
        repo / "manifests/runbook.yaml",
        "command: git revert HEAD",
        f'command: "HF_TOKEN={escaped} git revert HEAD"',
    )
    stage(repo, "manifests/runbook.yaml")
    blocked = subprocess.run(
        ["git", "commit", "-m", "oops"], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert blocked.returncode == 1
    assert "keel-no-secrets: failed" in blocked.stderr
    assert "hf-token found (hf_" in blocked.stderr
    assert HF_TOKEN not in blocked.stdout + blocked.stderr
