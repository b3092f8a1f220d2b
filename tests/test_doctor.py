"""`keel doctor` on real situations: a healthy repository (the factory deployment pushed to a
local DVC remote, keel's hook installed), then each problem made for real (no git identity, the
remote directory gone, no hook, a hook that cannot start, a stale schema, a cloud remote, no
repository at all). Where the fix is a command, the test runs it and the check passes."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import audited_repo

from toolkit.cli import main
from toolkit.workflows.doctor import Check, Diagnosis, Status, diagnose

ENVIRONMENT = ["git", "git-identity", "repository", "ml-extra", "chromium"]
EVERY_CHECK = ["git", "git-identity", "repository", "dvc", "dvc-remote", "hooks", "schemas",
               "ml-extra", "chromium"]  # fmt: skip
REPOSITORY = ["repository", "dvc", "dvc-remote", "hooks", "schemas"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The factory deployment (git, DVC, a local remote holding its weights), keel's plain
    git hook installed, `keel` on PATH (this virtualenv's), the working directory inside."""
    from toolkit.workflows.validation.hooks import install

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    root = audited_repo(tmp_path)
    install(root)
    monkeypatch.chdir(root)
    return root


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def by_name(diagnosis: Diagnosis) -> dict[str, Check]:
    return {check.name: check for check in diagnosis.checks}


def apply(fix: str, cwd: Path) -> None:
    """Run a check's fix line as the user would paste it into a shell."""
    subprocess.run(fix, shell=True, cwd=cwd, check=True, capture_output=True)


def test_a_healthy_repository_passes_every_check(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(["--format", "json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert report["ok"] is True
    assert report["root"] == str(repo.resolve())
    assert [check["name"] for check in report["checks"]] == EVERY_CHECK
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert {name: statuses[name] for name in [*REPOSITORY, "git", "git-identity"]} == dict.fromkeys(
        [*REPOSITORY, "git", "git-identity"], "ok"
    )
    checks = by_name(diagnose(repo))
    assert checks["git-identity"].detail == "Keel Test <keel-test@example.invalid>"  # conftest
    assert checks["dvc-remote"].detail.endswith(": a writable local directory")
    assert str(repo.parent / "remote") in checks["dvc-remote"].detail
    assert "keel's git hook" in checks["hooks"].detail
    # the optional parts only warn, whatever this machine has
    assert {checks["ml-extra"].status, checks["chromium"].status} <= {Status.OK, Status.WARN}


def test_the_text_report_is_one_aligned_line_per_check(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run([], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"keel doctor: {repo.resolve()}"
    rows = [line for line in lines[1:-1] if not line.strip().startswith("fix: ")]
    assert [row.split()[1] for row in rows] == EVERY_CHECK
    starts = {len(row) - len(row.split(maxsplit=2)[2]) for row in rows}
    assert len(starts) == 1, "the details start in one column"
    assert lines[-1].endswith(" 0 failed")


def test_no_git_identity_fails_with_the_git_config_commands(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in ("AUTHOR", "COMMITTER"):
        for part in ("NAME", "EMAIL"):
            monkeypatch.delenv(f"GIT_{variable}_{part}")
    subprocess.run(["git", "config", "--unset", "user.name"], cwd=repo, check=True)
    subprocess.run(["git", "config", "--unset", "user.email"], cwd=repo, check=True)

    code, out = run([], capsys)
    check = by_name(diagnose(repo))["git-identity"]
    assert code == 1
    assert check.status is Status.FAIL
    assert check.detail.startswith("user.name, user.email not set (")
    assert check.fix == (
        'git config --global user.name "Your Name" && '
        "git config --global user.email you@example.com"
    )
    assert f"fix: {check.fix}" in out
    apply(check.fix, repo)
    assert empty.read_text().count("you@example.com") == 1
    assert by_name(diagnose(repo))["git-identity"].detail == "Your Name <you@example.com>"


def test_a_missing_remote_directory_fails_with_mkdir(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = repo.parent / "remote"
    shutil.rmtree(remote)
    code, out = run([], capsys)
    check = by_name(diagnose(repo))["dvc-remote"]
    assert code == 1
    assert check.status is Status.FAIL
    assert check.detail == f"keel -> {remote}: the directory does not exist on this machine"
    assert check.fix == f"mkdir -p {remote}"
    assert "fail  dvc-remote" in out
    apply(check.fix, repo)
    assert by_name(diagnose(repo))["dvc-remote"].status is Status.OK


def test_no_default_remote_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "default", "--unset"], cwd=repo, check=True
    )
    code, _ = run([], capsys)
    check = by_name(diagnose(repo))["dvc-remote"]
    assert code == 1
    assert check.detail == "no default remote: keel push and pull have nowhere to go"
    assert check.fix == "dvc remote add -d keel /path/to/shared/remote"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_remote_directory_fails(repo: Path) -> None:
    remote = repo.parent / "remote"
    remote.chmod(0o555)
    try:
        check = by_name(diagnose(repo))["dvc-remote"]
    finally:
        remote.chmod(0o755)
    assert (check.status, check.fix) == (Status.FAIL, f"chmod u+rwx {remote}")


def test_a_cloud_remote_is_judged_by_its_plugin_without_contacting_it(repo: Path) -> None:
    from toolkit.bridges.dvc import set_default_remote

    set_default_remote(repo, "s3://keel-doctor-test-bucket/remote", name="cloud")
    check = by_name(diagnose(repo))["dvc-remote"]
    named = "cloud -> s3://keel-doctor-test-bucket/remote"
    if importlib.util.find_spec("dvc_s3") is None:
        assert check.status is Status.FAIL
        assert check.detail == f"{named}: needs the DVC plugin dvc-s3, which is not installed"
        assert check.fix == "pip install dvc-s3"
    else:
        assert check.status is Status.OK
        assert "(the remote was not contacted)" in check.detail


def test_no_hook_installed_warns_and_pre_commit_install_fixes_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".git" / "hooks" / "pre-commit").unlink()
    code, _ = run([], capsys)
    check = by_name(diagnose(repo))["hooks"]
    assert code == 0, "a missing hook only warns"
    assert check.status is Status.WARN
    assert check.detail == "no pre-commit hook: commits are not checked by keel"
    # keel init wrote .pre-commit-config.yaml, and pre-commit is installed (dev extra)
    assert check.fix.endswith(("pre-commit install", "-m pre_commit install"))
    apply(check.fix, repo)
    fixed = by_name(diagnose(repo))["hooks"]
    assert fixed.status is Status.OK
    assert fixed.detail.startswith("pre-commit's hook (")


def test_a_hook_keel_did_not_write_warns(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexec lint-everything\n")
    check = by_name(diagnose(repo))["hooks"]
    assert check.status is Status.WARN
    assert check.detail == f"{hook} was not written by keel or pre-commit; keel's checks do not run"
    assert check.fix == "keel hooks install --force"


def test_a_hook_that_cannot_start_fails(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """keel's hook remembers a Python that is gone, and no keel is on PATH: every commit
    would fail with `keel: not found`."""
    from toolkit.workflows.validation.hooks import install

    install(repo, python=str(repo.parent / "gone" / "python"))
    monkeypatch.setenv("PATH", str(Path(shutil.which("git") or "/usr/bin/git").parent))
    code, out = run([], capsys)
    check = by_name(diagnose(repo))["hooks"]
    assert code == 1
    assert check.status is Status.FAIL
    assert check.detail.startswith("keel's git hook cannot start: the Python it remembers (")
    assert check.fix == f"{sys.executable} -m toolkit hooks install"
    assert "fail  hooks" in out
    apply(check.fix, repo)
    assert by_name(diagnose(repo))["hooks"].status is Status.OK


def test_a_stale_schema_fails_with_keel_schema_export(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = repo / "schemas" / "model.schema.json"
    data = json.loads(schema.read_text())
    data["title"] = "Edited by hand"
    schema.write_text(json.dumps(data, indent=2) + "\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: the fix says where to run it

    code, out = run(["--root", str(repo)], capsys)
    check = by_name(diagnose(repo))["schemas"]
    assert code == 1
    assert check.status is Status.FAIL
    assert check.detail == "out of date: model.schema.json (keel schema check fails)"
    assert check.fix == f"cd {repo.resolve()} && keel schema export"
    assert f"fix: {check.fix}" in out
    apply(check.fix, tmp_path)
    # asked of a new process, like the fix: both import the models as they are on disk now
    again = subprocess.run(
        [sys.executable, "-m", "toolkit", "doctor", "--root", str(repo), "-f", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    statuses = {check["name"]: check["status"] for check in json.loads(again.stdout)["checks"]}
    assert statuses["schemas"] == "ok"


def test_outside_a_repository_only_the_environment_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = tmp_path / "plain"
    nowhere.mkdir()
    monkeypatch.chdir(nowhere)
    code, out = run(["-f", "json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert report["root"] is None
    assert [check["name"] for check in report["checks"]] == ENVIRONMENT
    repository = report["checks"][2]
    assert repository["status"] == "warn"
    assert repository["detail"] == (
        f"{nowhere}: not a keel repository (no manifests/); only the environment was checked"
    )
    assert repository["fix"].endswith("init")
    assert "outside a keel repository" in run([], capsys)[1].splitlines()[0]


def test_manifests_outside_git_fail_the_repository_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder with manifests/ but no git, no DVC: what keel init would make is missing."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "loose"
    (root / "manifests").mkdir(parents=True)
    code, _ = run(["--root", str(root)], capsys)
    checks = by_name(diagnose(root))
    assert code == 1
    assert [name for name, check in checks.items() if check.status is Status.FAIL] == [
        "repository", "dvc", "dvc-remote", "hooks"
    ]  # fmt: skip
    assert checks["repository"].fix == f"cd {root} && keel init"
    apply(checks["repository"].fix, tmp_path)
    assert diagnose(root).ok


def test_doctor_imports_neither_torch_nor_dvc_outside_a_repository(tmp_path: Path) -> None:
    """The ML extra is found with importlib's finder; nothing heavy is imported for it."""
    probe = (
        "import sys\n"
        "from toolkit.cli import main\n"
        "code = main(['doctor'])\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print('HEAVY=' + ','.join(sorted(loaded & {'torch', 'transformers', 'peft', 'dvc'})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env=env,
        check=True,
    )  # fmt: skip
    assert "ml-extra" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY="
