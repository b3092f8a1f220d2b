"""SIGKILL `keel track`, `keel push` and `keel pull` while they write, then check that nothing
is lost (the file or its cached bytes exist with the right sha256), that every manifest and
`.dvc` file parses, and that running the command again succeeds."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import kill_when, with_real_files, write_set

from toolkit.workflows.authoring.init import init

pytestmark = pytest.mark.slow

SIZE = 200 << 20
BIG = "artifacts/models/base/extra.dat"
TIMEOUT = 60.0


@pytest.fixture
def repo(tmp_path: Path, manifests: dict[str, Any]) -> tuple[Path, str]:
    root = tmp_path / "repo"
    init(root)
    write_set(root, with_real_files(root, manifests))
    digest = hashlib.sha256()
    with (root / BIG).open("wb") as out:
        for _ in range(SIZE >> 22):
            chunk = os.urandom(1 << 22)
            digest.update(chunk)
            out.write(chunk)
    return root, digest.hexdigest()


def _keel(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args, "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _cache_objects(root: Path) -> list[Path]:
    return [p for p in (root / ".dvc/cache/files/md5").rglob("*") if p.is_file()]


def _assert_whole(root: Path, sha256: str) -> None:
    """The bytes exist somewhere with the right digest; every record parses."""
    holders = [root / BIG] if (root / BIG).is_file() else []
    holders += [p for p in _cache_objects(root) if not p.name.endswith(".tmp")]
    assert any(p.stat().st_size == SIZE and _sha256(p) == sha256 for p in holders), "bytes lost"
    for record in [*(root / "manifests").rglob("*.yaml"), *root.rglob("*.dvc")]:
        if record.is_file():
            yaml.safe_load(record.read_text())


def _temps(directory: Path) -> list[Path]:
    return list(directory.rglob(".*.tmp")) if directory.is_dir() else []


def test_killed_track_loses_nothing_and_a_rerun_completes(repo: tuple[Path, str]) -> None:
    root, sha256 = repo
    args = ["track", str(root / BIG), "--into", "Model/base"]
    cache = root / ".dvc/cache"
    killed = []
    for seen in (
        lambda: bool(_temps(cache)),  # while the bytes are copied into the cache
        lambda: (root / f"{BIG}.dvc").exists(),  # after the .dvc file, before the manifest
    ):
        shutil.rmtree(cache / "files", ignore_errors=True)
        (root / f"{BIG}.dvc").unlink(missing_ok=True)
        killed.append(kill_when(root, args, seen))
        _assert_whole(root, sha256)
        assert _sha256(root / BIG) == sha256, "the workspace file is never touched"
    assert any(killed), "keel track finished before any kill point was seen"
    done = _keel(root, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not _temps(cache)
    md5 = yaml.safe_load((root / f"{BIG}.dvc").read_text())["outs"][0]["md5"]
    assert _sha256(cache / "files/md5" / md5[:2] / md5[2:]) == sha256
    assert "extra.dat" in (root / "manifests/model.yaml").read_text()


def test_killed_push_and_pull_lose_nothing_and_a_rerun_completes(
    repo: tuple[Path, str],
) -> None:
    root, sha256 = repo
    assert _keel(root, "track", str(root / BIG), "--into", "Model/base").returncode == 0
    remote = Path((root / ".dvc/config").read_text().split("url = ")[1].strip())
    kill_when(root, ["push", "Model/base"], lambda: bool(_temps(remote) or _files(remote)))
    _assert_whole(root, sha256)
    done = _keel(root, "push", "Model/base")
    assert done.returncode == 0, done.stdout + done.stderr
    md5 = yaml.safe_load((root / f"{BIG}.dvc").read_text())["outs"][0]["md5"]
    assert _sha256(remote / "files/md5" / md5[:2] / md5[2:]) == sha256

    shutil.rmtree(root / ".dvc/cache")
    (root / BIG).unlink()
    directory = (root / BIG).parent
    assert kill_when(root, ["pull", "Model/base"], lambda: bool(_temps(directory)))
    assert not (root / BIG).exists() or _sha256(root / BIG) == sha256, "never half-written"
    done = _keel(root, "pull", "Model/base")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _sha256(root / BIG) == sha256
    assert not _temps(directory), "temp files of the killed pull are removed"


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.is_dir() else []
