"""The pre-commit hooks `keel init` configures run without the virtualenv on PATH (issue 17):
real `keel init`, the real pre-commit framework, a PATH holding only git and sh."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from factories import deployment_set, write_set

from toolkit.workflows.authoring.init import hook_entry, keel_program

if TYPE_CHECKING:
    import pytest

BIN = Path(sys.executable).parent
KEEL = BIN / "keel"


def _bare_env(tmp_path: Path) -> dict[str, str]:
    """The environment without the virtualenv: PATH has git and sh only."""
    git = Path(shutil.which("git") or "/usr/bin/git").parent
    sh = Path(shutil.which("sh") or "/bin/sh").parent
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(dict.fromkeys([str(git), str(sh)]))
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    assert shutil.which("keel", path=env["PATH"]) is None
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_hooks_keel_init_writes_run_without_keel_on_path(tmp_path: Path) -> None:
    env = _bare_env(tmp_path)
    root = tmp_path / "models"
    made = _run([str(KEEL), "init", str(root)], tmp_path, env)
    assert made.returncode == 0, made.stderr
    assert f"created  .pre-commit-config.yaml (its hooks run {KEEL})" in made.stdout.splitlines()
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for hook in config["repos"][0]["hooks"]]
    assert all(str(KEEL) in entry for entry in entries)

    write_set(root, deployment_set())
    _run(["git", "add", "-A"], root, env)
    passed = _run([str(BIN / "pre-commit"), "run", "--all-files"], root, env)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert "not found" not in output
    for hook in ("keel validate", "keel checksums", "keel no secrets", "keel schemas fresh"):
        assert any(line.startswith(hook) and line.endswith("Passed") for line in output.split("\n"))

    model = root / "manifests" / "model.yaml"
    model.write_text(model.read_text().replace("c9745ed1d9f207416be6d2e6f8de32d1f16199bf", "main"))
    _run(["git", "add", "-A"], root, env)
    failed = _run([str(BIN / "pre-commit"), "run", "--all-files"], root, env)
    assert failed.returncode == 1
    assert "spec.source.hub.revision: expected a full 40-hex commit sha, got 'main'" in (
        failed.stdout
    )
    assert "not found" not in failed.stdout + failed.stderr


def _entry_args(entry: str) -> list[str]:
    """What pre-commit runs for an `entry` (it splits it the shell's way)."""
    parsed: str = yaml.safe_load(f"entry: {entry}")["entry"]
    return shlex.split(parsed)


def test_an_entry_falls_back_to_keel_on_path_when_its_program_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone on another machine: the recorded path is missing, `keel` on PATH runs."""
    root = write_set(tmp_path / "repo", deployment_set()).parent
    entry = hook_entry(str(tmp_path / "gone" / "bin" / "keel"), "", "validate")
    env = _bare_env(tmp_path)
    without = _run([*_entry_args(entry), "manifests/model.yaml"], root, env)
    assert without.returncode == 127  # neither the recorded program nor keel on PATH
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    done = _run([*_entry_args(entry), "manifests/model.yaml"], root, env)
    assert (done.returncode, done.stdout.strip()) == (0, "1 manifest in 1 file: valid")


def test_without_a_keel_script_the_interpreter_runs_keel_isolated(tmp_path: Path) -> None:
    lonely = tmp_path / "bin" / "python3"
    lonely.parent.mkdir()
    lonely.symlink_to(sys.executable)
    assert keel_program(str(lonely)) == (str(lonely), " -I -m toolkit")
    assert keel_program(sys.executable) == (str(KEEL), "")

    root = write_set(tmp_path / "repo", deployment_set()).parent
    (root / "toolkit").mkdir()  # a folder of the user's that -m must not import
    (root / "toolkit" / "__init__.py").write_text("raise SystemExit('the wrong toolkit')\n")
    entry = hook_entry(sys.executable, " -I -m toolkit", "validate")
    done = _run([*_entry_args(entry), "manifests/model.yaml"], root, _bare_env(tmp_path))
    assert (done.returncode, done.stdout.strip()) == (0, "1 manifest in 1 file: valid"), done.stderr
