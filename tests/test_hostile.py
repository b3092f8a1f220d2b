"""Hostile environments, driven through the CLI in real repositories: each ends in a one-line
error (exit 2) or finding (exit 1), never an internal error, a traceback or a hang, and leaves
the repository as it was."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from factories import deployment_set, with_real_files, write_set

from toolkit.workflows.authoring.init import init

if TYPE_CHECKING:
    from pathlib import Path

TIMEOUT = 120  # seconds per command: a hang fails the test instead of the suite


def keel(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1"}
    env.pop("KEEL_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_clean_failure(done: subprocess.CompletedProcess[str], code: int) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "internal error" not in done.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A keel repository whose manifests pin real files (so verify has something to cache)."""
    root = tmp_path / "repo"
    init(root)
    write_set(root, with_real_files(root, deployment_set()))
    return root


def _damage_after_first_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    assert len(data) > 4096, f"{path} has one page only"
    data[4096:] = b"\xde\xad\xbe\xef" * ((len(data) - 4096) // 4) + b"\0" * (len(data) % 4)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("cache", ["documents.sqlite", "statcache.sqlite"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(repo: Path, cache: str) -> None:
    first = keel("validate", "--checksums", cwd=repo)
    database = repo / ".keel" / cache
    assert database.is_file(), first.stdout + first.stderr
    _damage_after_first_page(database)

    again = keel("validate", "--checksums", cwd=repo)

    assert again.returncode == first.returncode, again.stdout + again.stderr
    assert again.stdout == first.stdout
    assert f"keel: warning: {database}: damaged cache (" in again.stderr
    assert "rebuilding it" in again.stderr
    assert "Traceback" not in again.stderr
    third = keel("validate", "--checksums", cwd=repo)
    assert "damaged cache" not in third.stderr  # rebuilt once, healthy after


def _nested_header(depth: int) -> bytes:
    header = ("[" * depth + "]" * depth).encode()
    return struct.pack("<Q", len(header)) + header


def test_a_deeply_nested_safetensors_header_is_refused_in_one_line(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(_nested_header(100_000))

    done = keel("inspect", str(weights), cwd=tmp_path)

    assert_clean_failure(done, 2)
    assert done.stderr.count("\n") == 1
    assert "model.safetensors" in done.stderr


def test_a_fifo_among_the_manifests_does_not_hang_validate(repo: Path) -> None:
    os.mkfifo(repo / "manifests" / "pipe.yaml")

    done = keel("validate", cwd=repo)

    assert_clean_failure(done, 1)
    assert "pipe.yaml" in done.stdout
    assert "not a regular file" in done.stdout


def test_init_in_a_directory_with_a_non_ascii_name(tmp_path: Path) -> None:
    target = tmp_path / "modèle-équipe"

    done = keel("init", str(target), cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / ".dvc" / "config").is_file()
    assert keel("validate", cwd=target).returncode == 0


def test_init_refuses_a_bare_repository(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "--bare", str(bare)], check=True, capture_output=True)
    before = sorted(p.name for p in bare.iterdir())

    done = keel("init", str(bare), cwd=tmp_path)

    assert_clean_failure(done, 2)
    assert "bare" in done.stderr
    assert sorted(p.name for p in bare.iterdir()) == before


def test_secrets_does_not_follow_a_symlink_out_of_the_repository(repo: Path) -> None:
    outside = repo.parent / "elsewhere.yaml"
    outside.write_text("token: hf_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zQq\n", encoding="utf-8")
    (repo / "manifests" / "linked.yaml").symlink_to(outside)

    done = keel("secrets", "manifests", cwd=repo)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "hf_" not in done.stdout + done.stderr
    assert "a symlink out of the repository (not followed)" in done.stdout + done.stderr


def test_verify_does_not_walk_a_directory_that_leads_out_of_the_repository(
    repo: Path, tmp_path: Path
) -> None:
    """spec.directory a symlink to a big tree elsewhere: each pinned file is a finding, and
    nothing under the target is listed (a walk of /etc, say)."""
    import shutil

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    (elsewhere / "deep" / "unrelated.txt").write_text("not ours\n", encoding="utf-8")
    model_dir = repo / "artifacts" / "models" / "base"
    for item in model_dir.iterdir():
        shutil.copy(item, elsewhere / item.name)
    shutil.rmtree(model_dir)
    model_dir.symlink_to(elsewhere, target_is_directory=True)

    done = keel("verify", "Model/base", cwd=repo)

    assert_clean_failure(done, 1)
    assert "leads outside the repository" in done.stdout + done.stderr
    assert "unrelated.txt" not in done.stdout + done.stderr


def test_a_runbook_step_asking_for_help_does_not_print_into_the_json_audit(
    tmp_path: Path,
) -> None:
    import json

    from factories import audited_repo

    def help_step(data: dict[str, object]) -> None:
        steps = data["runbook"]["spec"]["steps"]  # type: ignore[index]
        steps["load"].append({"description": "Read the options", "command": "keel validate --help"})

    root = audited_repo(tmp_path, help_step)

    done = keel("audit", "-f", "json", "--no-record", "--as-of", "2026-11-24", cwd=root)

    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)  # nothing but the JSON on stdout
    assert report["deployments"]


def test_log_and_diff_in_a_shallow_clone(repo: Path, tmp_path: Path) -> None:
    from toolkit.bridges.git import commit_all

    commit_all(repo, "the deployment")
    model = repo / "manifests" / "model.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("Test base.", "Base."), "utf-8")
    commit_all(repo, "describe the base")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)],
        check=True,
        capture_output=True,
    )

    log = keel("log", "Model/base", cwd=shallow)
    diff = keel("diff", "HEAD~1", "HEAD", cwd=shallow)

    assert log.returncode == 0, log.stdout + log.stderr
    assert "describe the base" in log.stdout  # the history the clone has
    assert_clean_failure(diff, 2)
    assert "this clone is shallow: `git fetch --unshallow`" in diff.stderr


@pytest.mark.parametrize("command", [["push"], ["pull", "Deployment/search"]])
def test_a_remote_whose_dvc_plugin_is_missing_is_a_one_line_error(
    repo: Path, command: list[str]
) -> None:
    """An S3 remote without dvc-s3 installed: DVC's own words, exit 2, not ImportError."""
    import shutil

    from toolkit.bridges.dvc import set_default_remote

    weights = repo / "artifacts" / "models" / "base" / "model.safetensors"
    assert keel("track", str(weights), "--into", "Model/base", cwd=repo).returncode == 0
    weights.unlink()  # so that pull has something to fetch, from the remote only:
    shutil.rmtree(repo / ".dvc" / "cache")
    set_default_remote(repo, "s3://keel-test-bucket/remote", name="s3remote")

    done = keel(*command, cwd=repo)

    assert_clean_failure(done, 2)
    assert "requires 'dvc-s3' to be installed" in done.stderr
    assert done.stderr.count("\n") == 1


def test_track_refuses_a_symlink_inside_the_directory_before_writing(repo: Path) -> None:
    model_dir = repo / "artifacts" / "models" / "base"
    other = next(
        p for p in (repo / "artifacts").rglob("*") if p.is_file() and model_dir not in p.parents
    )
    (model_dir / "link.bin.json").symlink_to(other)
    before = _listing(repo)

    done = keel("track", str(model_dir), "--into", "Model/base", cwd=repo)

    assert_clean_failure(done, 2)
    assert "link.bin.json: a symlink" in done.stderr
    assert _listing(repo) == before


def _listing(root: Path) -> list[tuple[str, bytes]]:
    """Every file and its bytes, leaving out git's and keel's own caches."""
    return sorted(
        (str(p.relative_to(root)), p.read_bytes() if p.is_file() else b"")
        for p in root.rglob("*")
        if not {".git", ".keel"} & set(p.relative_to(root).parts)
    )


def test_keel_new_where_the_kind_folder_is_a_file_is_one_line(repo: Path) -> None:
    """A manifests/ folder keel cannot write into (read-only for a user, a file in the way
    here: tests run as root) is a usage error naming the path, not an internal error."""
    import shutil

    folder = repo / "manifests" / "models"
    shutil.rmtree(folder)
    folder.write_text("not a folder\n", encoding="utf-8")

    done = keel("new", "Model", "x", cwd=repo)

    assert_clean_failure(done, 2)
    assert done.stderr.count("\n") == 1
    assert "cannot write" in done.stderr
    assert folder.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.parametrize(
    "command",
    [
        ["verify"],
        ["validate", "--checksums"],
        ["track", "artifacts/models/base/model.safetensors", "--into", "Model/base"],
    ],
)
def test_a_pinned_weights_file_with_a_deeply_nested_header(repo: Path, command: list[str]) -> None:
    """The bytes of a pinned safetensors file replaced by a header of 100,000 '[': a mismatch
    or a one-line refusal naming the file, never a RecursionError."""
    (repo / "artifacts" / "models" / "base" / "model.safetensors").write_bytes(
        _nested_header(100_000)
    )

    done = keel(*command, cwd=repo)

    assert done.returncode in (1, 2), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert "model.safetensors" in done.stdout + done.stderr
