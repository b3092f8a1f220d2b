"""Plain git hooks, for teams without the pre-commit framework: install, and run on a commit."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.bridges import git
from toolkit.core.errors import UsageError
from toolkit.core.fsutil import write_atomic
from toolkit.core.layout import MANIFEST_DIR, MANIFEST_SUFFIXES

if TYPE_CHECKING:
    from collections.abc import Sequence

MARKER = "# keel-managed-hook"


def hook_script() -> str:
    """The pre-commit hook shipped with keel (the same text as the repository's hooks/)."""
    return resources.files("toolkit").joinpath("data/hooks/pre-commit").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Installed:
    path: Path
    backup: Path | None
    changed: bool


def install(root: Path, *, force: bool = False, python: str | None = None) -> Installed:
    """Install the pre-commit hook into the repository's hooks directory.

    A hook keel did not write is left alone unless `force`; then it is kept as a backup.
    The hook remembers this Python, so it works without an activated virtualenv.
    """
    hooks_dir = git.hooks_dir(root)
    target = hooks_dir / "pre-commit"
    interpreter = python or sys.executable
    lines = hook_script().splitlines(keepends=True)
    # Remember this Python while it exists; if the virtualenv goes, fall back to `keel` on PATH.
    remembered = (
        f'if [ -z "${{KEEL_PYTHON:-}}" ] && [ -x {shlex.quote(interpreter)} ]; then '
        f"KEEL_PYTHON={shlex.quote(interpreter)}; fi\n"
    )
    text = "".join([lines[0], remembered, *lines[1:]])
    backup = None
    if target.exists():
        current = target.read_text(encoding="utf-8", errors="replace")
        if current == text:
            return Installed(target, None, False)
        if MARKER not in current:
            if not force:
                raise UsageError(
                    f"{target} exists and was not written by keel; keep it, or pass --force "
                    "to replace it (it is then saved as pre-commit.before-keel)"
                )
            backup = _free_name(target.with_name("pre-commit.before-keel"))
            os.replace(target, backup)
    write_atomic(target, text)
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return Installed(target, backup, True)


def _free_name(path: Path) -> Path:
    """`path`, or `path.1`, `path.2`, ...: a backup never replaces an earlier backup."""
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate


def staged_files(root: Path) -> list[Path]:
    """Files added, copied, modified or renamed in the index, as paths under `root`."""
    return git.names(root, "diff", "--cached", "--name-only", "--diff-filter=ACMR")


def staged_deletions(root: Path) -> list[Path]:
    return git.names(root, "diff", "--cached", "--name-only", "--diff-filter=D")


def unstaged_changes(root: Path) -> list[Path]:
    """Tracked files whose working copy differs from the index: what the hook would check
    instead of what is committed."""
    return git.names(root, "diff", "--name-only")


def commit_check_runs(root: Path) -> list[CheckRun]:
    """The plain git hook: the checks on what this commit stages.

    The checks read files on disk, so a manifest or .dvc file whose working copy differs from
    the index would be judged in place of what is committed: that blocks the commit with a
    clear message (the pre-commit framework stashes such changes itself). A deleted manifest
    can break the manifests that reference it, so a deletion validates the whole tree.
    """
    root = root.resolve()
    staged = staged_files(root)
    relevant = [
        p for p in unstaged_changes(root) if _is_manifest_path(root, p) or p.suffix == ".dvc"
    ]
    if relevant:
        names = ", ".join(str(p.relative_to(root)) for p in relevant[:5])
        return [
            CheckRun(
                "keel-hooks",
                (
                    f"unstaged changes in {names}: the hook checks the files on disk; stage them, "
                    "or stash them with `git stash --keep-index`",
                ),
                False,
            )
        ]
    deleted = [p for p in staged_deletions(root) if _is_manifest_path(root, p)]
    if deleted and (root / MANIFEST_DIR).is_dir():
        tree = (root / MANIFEST_DIR).rglob("*")
        staged = [*staged, *(p for p in tree if p.suffix in MANIFEST_SUFFIXES)]
    return run_checks(root, sorted(set(staged)))


@dataclass(frozen=True)
class CheckRun:
    hook: str
    lines: tuple[str, ...]
    ok: bool


def run_checks(root: Path, files: Sequence[Path]) -> list[CheckRun]:
    """The four hooks over `files`, in one process; each runs only if a file concerns it."""
    root = root.resolve()
    manifests = [f for f in files if _is_manifest(root, f)]
    dvc_files = [f for f in files if f.suffix == ".dvc"]
    runs = []
    if manifests:
        runs.append(_validate(root, manifests))
        runs.append(_secrets(manifests))
    if manifests or dvc_files:
        runs.append(_checksums(root, [*manifests, *dvc_files]))
    if any(_is_schema_source(root, f) for f in files):
        runs.append(_schemas(root))
    return runs


def _is_manifest_path(root: Path, path: Path) -> bool:
    absolute = Path(os.path.abspath(path))
    return absolute.suffix in MANIFEST_SUFFIXES and absolute.is_relative_to(root / MANIFEST_DIR)


def _is_manifest(root: Path, path: Path) -> bool:
    return _is_manifest_path(root, path) and path.is_file()


def _is_schema_source(root: Path, path: Path) -> bool:
    absolute = Path(os.path.abspath(path))
    return absolute.is_relative_to(root / "schemas") or absolute.is_relative_to(
        root / "toolkit" / "manifests"
    )


def _validate(root: Path, manifests: list[Path]) -> CheckRun:
    from toolkit.core.reporters import text
    from toolkit.workflows.validation.validate import validate

    result = validate(root, manifests, neighbours=True)
    return CheckRun("keel-validate", tuple(text(result).splitlines()), result.ok)


def _secrets(manifests: list[Path]) -> CheckRun:
    from toolkit.workflows.validation.secrets import scan

    result = scan(manifests)
    lines = tuple(f.render() for f in result.findings)
    return CheckRun("keel-no-secrets", lines, not result.findings)


def _checksums(root: Path, paths: list[Path]) -> CheckRun:
    from toolkit.core.reporters import brief
    from toolkit.workflows.artifacts.verify import verify

    result = verify(root, paths=paths, skip_missing=True)
    return CheckRun("keel-checksums", tuple(map(brief, result.findings())), result.ok)


def _schemas(root: Path) -> CheckRun:
    from toolkit.core.schemas import stale

    outdated = stale(root / "schemas")
    lines = tuple(f"{p}: out of date; run `keel schema export`" for p in outdated)
    return CheckRun("keel-schemas-fresh", lines, not outdated)
