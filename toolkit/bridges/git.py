"""Bridge to git: GitPython and the git command line. The only module that imports them; every
git failure leaves here as a keel error (UsageError for what the user can fix, GitError for
the rest)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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
    """The commit `rev` names, present in this clone (a shallow clone lacks the history before
    its boundary: GitPython would name a parent it cannot read)."""
    import git

    try:
        commit = repo.commit(rev)
        repo.git.cat_file("-e", commit.hexsha)
    except (git.BadName, ValueError, git.GitCommandError):
        hint = "; this clone is shallow: `git fetch --unshallow`" if shallow(repo) else ""
        raise UsageError(f"{rev}: not a revision of {repo.working_tree_dir}{hint}") from None
    return commit


def shallow(repo: Repo) -> frozenset[str]:
    """The commits where a shallow clone's history stops (empty for a full clone)."""
    try:
        lines = (Path(repo.git_dir) / "shallow").read_text(encoding="utf-8").split()
    except OSError:
        return frozenset()
    return frozenset(lines)


def parents(repo: Repo, commit: Commit) -> list[Commit]:
    """A commit's parents as this clone has them: none at a shallow clone's boundary."""
    return [] if commit.hexsha in shallow(repo) else list(commit.parents)


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


def _remove_stale_indexes(git_dir: Path) -> None:
    """Temporary indexes of keel processes that are gone (killed mid-commit): their names
    carry the pid, so another keel's index in use is left alone."""
    for index in git_dir.glob("keel-index.*"):
        pid = index.name.split(".")[1]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            index.unlink(missing_ok=True)
        except PermissionError:  # alive, someone else's
            continue


def commit_and_tag(
    root: Path, files: Sequence[str], message: str, tags: Sequence[tuple[str, str]]
) -> str:
    """Commit exactly `files` (paths relative to `root`, as they are in the work tree) on top of
    HEAD and create each (tag, message) on that commit (replacing a tag of the same name);
    returns the commit sha.

    The commit is built in a temporary index seeded from HEAD, never in the user's: whatever
    they staged stays staged, as it was, and goes into no commit. The repository's pre-commit
    hook runs first, as `git commit` runs it (work tree root, GIT_INDEX_FILE the temporary
    index); when it fails, or anything else does, there is no commit, no tag, nothing staged.
    Afterwards the user's index holds `files` as committed, so they do not show as changes.
    """
    head = head_commit(root)
    for tag, _ in tags:
        _git(root, "check-ref-format", f"refs/tags/{tag}", what=f"cannot tag {tag}")
    git_dir = Path(_git(root, "rev-parse", "--absolute-git-dir", what="git rev-parse"))
    _remove_stale_indexes(git_dir)
    fd, name = tempfile.mkstemp(prefix=f"keel-index.{os.getpid()}.", dir=git_dir)
    os.close(fd)
    index = Path(name)
    try:
        env = {"GIT_INDEX_FILE": str(index)}
        _git(root, "read-tree", head, env=env, what="cannot read HEAD into a temporary index")
        _git(root, "add", "--", *files, env=env, what=f"cannot add {', '.join(files)}")
        run_pre_commit_hook(root, index)
        tree = _git(root, "write-tree", env=env, what="cannot write the tree")
    finally:
        index.unlink(missing_ok=True)
    commit = _git(root, "commit-tree", tree, "-p", head, "-m", message, what="commit failed")
    # the user's index takes the files first, then HEAD moves: killed in between, the index
    # holds the audit's own files staged on the old HEAD (a rerun completes); never a HEAD
    # whose files the index lacks (which the user's next commit would delete)
    _git(root, "reset", "-q", commit, "--", *files, what="cannot refresh the index")
    _git(root, "update-ref", "-m", f"commit: {message}", "HEAD", commit, head, what="commit failed")
    for tag, tag_message in tags:
        _git(root, "tag", "-f", "-a", tag, "-m", tag_message, commit, what=f"cannot tag {tag}")
    return commit


def run_pre_commit_hook(root: Path, index: Path) -> None:
    """Run the repository's pre-commit hook (core.hooksPath honoured) as `git commit` does for
    the index file `index`: in the work tree's root, its output on stderr; a GitError when it
    fails."""
    hook = hooks_dir(root) / "pre-commit"
    if not (hook.is_file() and os.access(hook, os.X_OK)):
        return
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    try:
        done = subprocess.run(
            [str(hook)],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as error:
        raise GitError(f"{hook}: cannot run the pre-commit hook: {error}") from None
    sys.stderr.write(done.stdout)  # git shows a hook's output on stderr, pass or fail
    if done.returncode != 0:
        raise GitError(
            f"the pre-commit hook ({hook}) failed with exit {done.returncode}; nothing was "
            "committed, tagged or staged: fix what it reported and run again"
        )


def changed_paths(root: Path, *, untracked_under: str = "") -> list[str]:
    """Paths that differ from HEAD, staged or not (`git status`), plus untracked files under
    `untracked_under` (a folder relative to `root`; '' for none): sorted, relative to `root`."""
    out = _git(
        root,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        what="git status",
        strip=False,
    )
    paths = set()
    entries = iter(out.split("\0"))
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":
            next(entries, None)  # the rename's source follows
        if status == "??" and not (untracked_under and path.startswith(untracked_under + "/")):
            continue
        paths.add(path)
    return sorted(paths)


def _git(
    root: Path, *args: str, env: dict[str, str] | None = None, what: str, strip: bool = True
) -> str:
    """stdout of `git ARGS` at `root` (stripped); a GitError starting with `what` on failure."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise GitError(f"{what}: {error}") from None
    if done.returncode != 0:
        raise GitError(f"{what}: {_first_line(done.stderr or done.stdout)}")
    return done.stdout.strip() if strip else done.stdout


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


def _first_line(error: BaseException | str) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def version() -> str | None:
    """`git --version` ('git version 2.39.5'), or None when no git is on PATH."""
    try:
        done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def committer(cwd: Path) -> tuple[str, str]:
    """('Name <email>', '') for the identity a commit made in `cwd` would carry (git's
    configuration or the GIT_AUTHOR_*/GIT_COMMITTER_* environment, nothing guessed from the
    host), or ('', git's reason) when git would refuse to commit."""
    for variable in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        try:
            done = subprocess.run(
                ["git", "-c", "user.useConfigOnly=true", "var", variable],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as error:
            return "", str(error)
        if done.returncode != 0:
            reasons = [line for line in done.stderr.splitlines() if line.startswith("fatal: ")]
            return "", reasons[-1].removeprefix("fatal: ") if reasons else done.stderr.strip()
    return done.stdout.strip().rsplit(" ", 2)[0], ""


def config_value(cwd: Path, key: str) -> str:
    """git's value of `key` as seen from `cwd` (repository, global and system files); ''."""
    try:
        done = subprocess.run(
            ["git", "config", "--get", key], cwd=cwd, capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def in_work_tree(path: Path) -> bool:
    """Whether `path` is inside a git work tree (False when git is missing)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=path,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"
