"""SIGKILL `keel audit` while it records (the Audit manifest written, the temporary index in
use, the commit made), then check that the repository is sound (git fsck), that the user's
index is as it was, and that the same audit run again completes and tags its commit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from factories import audited_repo, kill_when

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.slow

AS_OF = "2026-11-24"
TAG = f"audit/search/{AS_OF}"
TIMEOUT = 60.0


def _audit(root: Path) -> list[str]:
    return [sys.executable, "-m", "toolkit", "audit", "--as-of", AS_OF, "--root", str(root)]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _wait_for_git_children(root: Path) -> None:
    """A git command keel had started runs on after keel is killed; wait for it to end (as a
    user would see it end) before looking, bounded. Its lock file is not enough: `git tag`
    writes the tag object before it takes the ref's lock, so a fsck started between the two
    lists the objects before the object exists and the refs after the ref does ("missing
    tag"). Orphaned git processes are found by their working directory."""
    deadline = time.monotonic() + 10
    while _git_processes_in(root) and time.monotonic() < deadline:
        time.sleep(0.01)
    while list((root / ".git").rglob("*.lock")) and time.monotonic() < deadline:
        time.sleep(0.01)


def _git_processes_in(root: Path) -> list[int]:
    running = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")[0]
            where = (entry / "cwd").resolve()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if Path(command.decode(errors="replace")).name == "git" and where == root.resolve():
            running.append(int(entry.name))
    return running


def _manifest_written(root: Path) -> Callable[[], bool]:
    return lambda: any((root / "manifests" / "audits").glob("*.yaml"))


def _temporary_index(root: Path) -> Callable[[], bool]:
    return lambda: any((root / ".git").glob("keel-index.*"))


def _committed(root: Path, head: str) -> Callable[[], bool]:
    return lambda: (root / ".git" / "logs" / "HEAD").read_text().count("\n") > head.count("\n")


@pytest.mark.parametrize("point", ["manifest written", "temporary index", "commit made"])
def test_a_killed_audit_leaves_a_sound_repository_and_runs_again(
    tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = audited_repo(tmp_path)
    assert _git(root, "diff", "--cached", "--name-only").stdout == ""
    head_log = (root / ".git" / "logs" / "HEAD").read_text()
    seen: dict[str, Any] = {
        "manifest written": _manifest_written(root),
        "temporary index": _temporary_index(root),
        "commit made": _committed(root, head_log),
    }

    killed = kill_when(root, ["audit", "--as-of", AS_OF], seen[point])
    _wait_for_git_children(root)

    # the commit is the last step but two (tag, then the user's index): the audit may finish
    # before the kill lands there, which is a valid outcome too
    assert killed or point == "commit made"
    assert _git(root, "fsck", "--no-dangling").returncode == 0
    # the user's index: as it was, or with the audit's own manifest staged (killed between
    # staging it and moving HEAD); never missing a file HEAD has
    staged = _git(root, "diff", "--cached", "--name-status").stdout.splitlines()
    assert staged in ([], [f"A\tmanifests/audits/search-{AS_OF}.yaml"]), staged
    again = subprocess.run(_audit(root), capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, f"killed={killed}: {again.stdout}{again.stderr}"
    assert _git(root, "tag", "--list", TAG).stdout.strip() == TAG
    assert _git(root, "status", "--porcelain").stdout == ""
    assert not list((root / ".git").glob("keel-index.*"))
