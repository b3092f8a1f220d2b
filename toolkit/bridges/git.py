"""Bridge to git: GitPython and the git command line. The only module that imports them; every
git failure leaves here as a keel error (UsageError for what the user can fix, GitError for
the rest)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.errors import GitError, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from git import Commit, Repo


def open_repo(root: Path) -> Repo:
    import git

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{root}: not a git repository") from None


def refuse_bare(root: Path) -> None:
    """A bare repository has no work tree to put manifests in: say so before writing."""
    import git

    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return
    if repo.bare:
        raise UsageError(
            f"{root}: a bare git repository (no work tree); clone it and run keel init there"
        )


def open_or_init(root: Path) -> tuple[Repo, bool]:
    """The git repository at `root`, created when there is none. Returns (repo, created)."""
    import git

    try:
        return git.Repo(root), False
    except git.InvalidGitRepositoryError:
        return git.Repo.init(root, initial_branch="main"), True
    except git.GitError as error:
        raise GitError(f"{root}: {error}") from error


def resolve(repo: Repo, rev: str) -> Commit:
    import git

    try:
        return repo.commit(rev)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"{rev}: not a revision of {repo.working_tree_dir}") from None


def clone_at(source: Path, rev: str, workdir: Path) -> str:
    """A fresh clone of `source` at `rev` (detached) in `workdir`; the commit sha.

    A clone, not a worktree: it shares nothing with the user's checkout, so uncommitted
    changes there cannot leak in, and deleting it cannot hurt the source repository.
    """
    import git

    try:
        commit = git.Repo(source).commit(rev).hexsha
    except (git.BadName, ValueError, git.GitCommandError) as error:
        raise UsageError(f"--rev {rev}: not a revision of {source} ({error})") from None
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{source}: not a git repository") from None
    if workdir.exists() and any(workdir.iterdir()):
        raise UsageError(f"--workdir {workdir}: not empty; give a new or empty directory")
    try:
        clone = git.Repo.clone_from(str(source), str(workdir), no_checkout=True)
        clone.git.checkout(commit)
    except git.GitError as error:
        raise GitError(f"cannot clone {source} at {commit[:12]}: {_first_line(error)}") from None
    return commit


def user_email(root: Path) -> str:
    """git's user.email for the repository at `root` ('' when unset)."""
    import git

    try:
        return str(git.Repo(root).git.config("--get", "user.email"))
    except git.GitError:
        return ""


def user_identity(root: Path) -> str:
    """'Name <email>' from git's configuration, or a hint to set it."""
    with open_repo(root).config_reader() as config:
        name = config.get_value("user", "name", "")
        email = config.get_value("user", "email", "")
    who = f"{name} <{email}>".strip() if email else str(name)
    return who or "unknown (set git config user.name and user.email)"


def head_commit(root: Path) -> str:
    """The sha of HEAD; a usage error when nothing is committed yet."""
    repo = open_repo(root)
    if not repo.head.is_valid():
        raise UsageError(f"{root}: nothing committed yet")
    return str(repo.head.commit.hexsha)


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


def commit_and_tag(
    root: Path, files: Sequence[str], message: str, tags: Sequence[tuple[str, str]]
) -> str:
    """Commit `files` (paths relative to `root`) and create each (tag, message) on that commit
    (replacing a tag of the same name); returns the commit sha."""
    import git

    repo = open_repo(root)
    try:
        repo.index.add(list(files))
        commit = repo.index.commit(message)
    except git.GitError as error:
        raise GitError(f"{root}: commit failed: {_first_line(error)}") from None
    for tag, tag_message in tags:
        try:
            repo.create_tag(tag, force=True, message=tag_message)
        except git.GitCommandError as error:
            raise UsageError(f"cannot tag {tag}: {_first_line(error)}") from None
    return str(commit.hexsha)


def hooks_dir(root: Path) -> Path:
    """The repository's hooks directory (honours core.hooksPath and worktrees), created."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--git-path", "hooks"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise GitError(f"{root}: not a git repository ({error})") from error
    directory = Path(done.stdout.strip())
    directory = directory if directory.is_absolute() else root / directory
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def names(root: Path, *args: str) -> list[Path]:
    """The paths a `git ARGS -z` listing prints (diff --name-only and friends), absolute."""
    try:
        done = subprocess.run(["git", *args, "-z"], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise GitError(f"{root}: git {' '.join(args)} failed ({error})") from error
    return [root / name for name in done.stdout.decode().split("\0") if name]


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
