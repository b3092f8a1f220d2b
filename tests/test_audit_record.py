"""How `keel audit` records: only its own files, through a temporary index, after the
repository's pre-commit hook (keel's own, installed by `keel hooks install`) has passed; in a
real git repository with a real DVC remote."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import git
import pytest
import yaml
from factories import audited_repo

from toolkit.cli import main

if TYPE_CHECKING:
    from pathlib import Path

AUDIT = "manifests/audits/search-2026-11-24.yaml"
TAG = "audit/search/2026-11-24"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def _state(root: Path) -> dict[str, str]:
    """What a failed audit must leave as it was: HEAD, tags, the index, the work tree's status."""
    return {
        "head": _git(root, "rev-parse", "HEAD"),
        "tags": _git(root, "tag", "--list"),
        "index": _git(root, "ls-files", "--stage"),
        "staged": _git(root, "diff", "--cached", "--name-status"),
        "status": _git(root, "status", "--porcelain=v1", "--untracked-files=all"),
    }


@pytest.fixture
def root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The audited repository with keel's own pre-commit hook installed, as a user does."""
    root = audited_repo(tmp_path)
    assert main(["hooks", "install", "--root", str(root)]) == 0
    capsys.readouterr()
    return root


def _audit(root: Path, *extra: str) -> int:
    return main(["audit", "--root", str(root), "--as-of", "2026-11-24", *extra])


def test_the_audit_commits_only_its_manifest_and_keels_hook_passes(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git.Repo(root).head.commit.hexsha

    assert _audit(root) == 0

    assert f"tagged {TAG}" in capsys.readouterr().err
    repo = git.Repo(root)
    assert repo.head.commit.parents[0].hexsha == head
    assert list(repo.head.commit.stats.files) == [AUDIT]
    assert repo.tags[TAG].commit == repo.head.commit
    manifest = yaml.safe_load((root / AUDIT).read_text())
    assert manifest["spec"]["commit"] == head
    assert "worktree" not in [f["check"] for f in manifest["spec"]["findings"]]
    assert _git(root, "status", "--porcelain=v1", "--untracked-files=all") == ""


def test_what_the_user_staged_stays_staged_and_out_of_the_audit_commit(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "NOTES.md").write_text("a note, staged, not for the audit\n")
    gitignore = root / ".gitignore"
    gitignore.write_text(gitignore.read_text() + "/scratch/\n")
    _git(root, "add", "NOTES.md", ".gitignore")
    staged = _git(root, "diff", "--cached", "--name-status")
    head = git.Repo(root).head.commit.hexsha

    assert _audit(root, "--allow-dirty") == 0

    repo = git.Repo(root)
    assert list(repo.head.commit.stats.files) == [AUDIT]
    assert _git(root, "diff", "--cached", "--name-status") == staged
    assert _git(root, "status", "--porcelain=v1") == "M  .gitignore\nA  NOTES.md\n"
    manifest = yaml.safe_load((root / AUDIT).read_text())
    assert manifest["spec"]["commit"] == head
    worktree = manifest["spec"]["findings"][0]
    assert (worktree["check"], worktree["status"]) == ("worktree", "warn")
    assert worktree["evidence"] == [".gitignore", "NOTES.md"]
    assert f"the work tree differs from {head[:12]} in 2 path(s)" in worktree["message"]


def test_keels_hook_refuses_an_audit_of_unstaged_manifests_and_nothing_changes(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --allow-dirty, an edited manifest is not in the audit's commit, so keel's hook sees
    it unstaged and blocks the commit, as it blocks `git commit` of other files."""
    runbook = root / "manifests/runbook.yaml"
    runbook.write_text(runbook.read_text() + "# edited, staged\n")
    _git(root, "add", "manifests/runbook.yaml")
    before = _state(root)

    assert _audit(root, "--allow-dirty") == 2

    err = capsys.readouterr().err
    assert "unstaged changes in manifests/runbook.yaml" in err
    assert err.splitlines()[-1].startswith("keel: error: the pre-commit hook")
    assert _state(root) == before
    assert not (root / AUDIT).exists()


def test_a_dirty_work_tree_is_refused_without_allow_dirty(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runbook = root / "manifests/runbook.yaml"
    runbook.write_text(runbook.read_text() + "# not committed\n")
    (root / "manifests/draft.yaml").write_text("# new, not yet added: the audit would read it\n")
    (root / "scratch.txt").write_text("untracked outside manifests/: not read, not counted\n")
    before = _state(root)

    assert _audit(root) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "work tree differs from HEAD (manifests/draft.yaml, manifests/runbook.yaml)" in err
    assert "--allow-dirty" in err
    assert _state(root) == before
    assert not (root / AUDIT).exists()


def test_a_failing_pre_commit_hook_leaves_the_repository_as_it_was(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """core.hooksPath is honoured; the hook sees the audit's files staged, in its own index."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    seen = tmp_path / "seen.txt"
    hook = hooks / "pre-commit"
    hook.write_text(
        "#!/bin/sh\n"
        f"git diff --cached --name-only > {seen}\n"
        "echo 'checking the audit...'\n"
        "echo 'audits need a second pair of eyes' >&2\n"
        "exit 1\n"
    )
    hook.chmod(0o755)
    _git(root, "config", "core.hooksPath", str(hooks))
    (root / "NOTES.md").write_text("staged by the user\n")
    _git(root, "add", "NOTES.md")
    before = _state(root)

    assert _audit(root, "--allow-dirty") == 2

    err = capsys.readouterr().err
    assert "checking the audit...\naudits need a second pair of eyes\n" in err  # as git shows it
    lines = [line for line in err.splitlines() if line.startswith("keel: error")]
    assert len(lines) == 1, err
    assert "pre-commit hook" in lines[0]
    assert err.endswith(lines[0] + "\n")
    assert "Traceback" not in err
    assert seen.read_text() == f"{AUDIT}\n"
    assert _state(root) == before
    assert not (root / AUDIT).exists()
    assert [p.name for p in (root / "manifests/audits").iterdir()] == [".gitkeep"]


def test_a_failing_hook_restores_the_same_days_earlier_audit(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _audit(root) == 0
    earlier = (root / AUDIT).read_bytes()
    hook = f"{git.Repo(root).git_dir}/hooks/pre-commit"
    with open(hook, "w") as handle:
        handle.write("#!/bin/sh\necho 'refused' >&2\nexit 1\n")
    before = _state(root)
    capsys.readouterr()

    assert _audit(root, "--format", "json") == 2

    assert "pre-commit hook" in capsys.readouterr().err
    assert _state(root) == before
    assert (root / AUDIT).read_bytes() == earlier
