"""Plain git hooks, for teams without the pre-commit framework: install, and run on a commit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import GitError, UsageError
from toolkit.fsutil import write_atomic
from toolkit.layout import MANIFEST_DIR, MANIFEST_SUFFIXES

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
    hooks_dir = _hooks_dir(root)
    target = hooks_dir / "pre-commit"
    interpreter = python or sys.executable
    lines = hook_script().splitlines(keepends=True)
    text = "".join([lines[0], f'KEEL_PYTHON="${{KEEL_PYTHON:-{interpreter}}}"\n', *lines[1:]])
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
            backup = target.with_name("pre-commit.before-keel")
            os.replace(target, backup)
    write_atomic(target, text)
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return Installed(target, backup, True)


def _hooks_dir(root: Path) -> Path:
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


def staged_files(root: Path) -> list[Path]:
    """Files added, copied, modified or renamed in the index, as paths under `root`."""
    try:
        done = subprocess.run(
            ["git", "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise GitError(f"{root}: cannot list staged files ({error})") from error
    return [root / name for name in done.stdout.decode().split("\0") if name]


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


def _is_manifest(root: Path, path: Path) -> bool:
    absolute = Path(os.path.abspath(path))
    return (
        absolute.suffix in MANIFEST_SUFFIXES
        and absolute.is_relative_to(root / MANIFEST_DIR)
        and absolute.is_file()
    )


def _is_schema_source(root: Path, path: Path) -> bool:
    absolute = Path(os.path.abspath(path))
    return absolute.is_relative_to(root / "schemas") or absolute.is_relative_to(
        root / "toolkit" / "manifests"
    )


def _validate(root: Path, manifests: list[Path]) -> CheckRun:
    from toolkit.reporters import text
    from toolkit.workflows.validate import validate

    result = validate(root, manifests, neighbours=True)
    return CheckRun("keel-validate", tuple(text(result).splitlines()), result.ok)


def _secrets(manifests: list[Path]) -> CheckRun:
    from toolkit.workflows.secrets import scan

    result = scan(manifests)
    lines = tuple(f.render() for f in result.findings)
    return CheckRun("keel-no-secrets", lines, not result.findings)


def _checksums(root: Path, paths: list[Path]) -> CheckRun:
    from toolkit.workflows.verify import verify

    result = verify(root, paths=paths, skip_missing=True)
    return CheckRun("keel-checksums", tuple(p.render() for p in result.problems), result.ok)


def _schemas(root: Path) -> CheckRun:
    from toolkit.schemas import stale

    outdated = stale(root / "schemas")
    lines = tuple(f"{p}: out of date; run `keel schema export`" for p in outdated)
    return CheckRun("keel-schemas-fresh", lines, not outdated)
