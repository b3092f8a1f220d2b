"""Bridge to git through GitPython."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.errors import GitError

if TYPE_CHECKING:
    from pathlib import Path

    from git import Repo


def open_or_init(root: Path) -> tuple[Repo, bool]:
    """The git repository at `root`, created when there is none. Returns (repo, created)."""
    import git

    try:
        return git.Repo(root), False
    except git.InvalidGitRepositoryError:
        return git.Repo.init(root, initial_branch="main"), True
    except git.GitError as error:
        raise GitError(f"{root}: {error}") from error


def commit_all(root: Path, message: str) -> str:
    """Stage everything not ignored and commit it; returns the commit sha."""
    import git

    repo = git.Repo(root)
    try:
        repo.git.add(A=True)
        with repo.config_reader() as config:
            has_identity = config.has_option("user", "email")
        if not has_identity:
            with repo.config_writer() as writer:
                writer.set_value("user", "name", "keel demo")
                writer.set_value("user", "email", "keel-demo@example.invalid")
        repo.index.commit(message)
    except git.GitError as error:
        raise GitError(f"{root}: commit failed: {error}") from error
    return repo.head.commit.hexsha
