"""Colour: on at a terminal (or forced), off with NO_COLOR, with `keel --no-color`, and in a
pipe; rich is not loaded when nothing is painted."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from toolkit.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable

KEEL = Path(sys.executable).with_name("keel")
RED, GREEN, ESC = "\x1b[1;31m", "\x1b[32m", "\x1b["


@pytest.fixture
def broken_repo(
    manifests: dict[str, Any], make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A repository with one invalid manifest; no colour variable set from outside."""
    manifests["model"]["spec"]["source"]["hub"]["revision"] = "v1.0"
    root = make_repo(manifests)
    monkeypatch.chdir(root)
    for name in ("NO_COLOR", "FORCE_COLOR", "KEEL_FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return root


def _validate(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*args, "validate"]) == 1
    out: str = capsys.readouterr().out
    return out


def test_forced_colour_paints_errors_red(
    broken_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_FORCE_COLOR", "1")
    lines = _validate([], capsys).splitlines()
    assert lines[0].startswith(f"{RED}manifests/model.yaml:11: Model/base:")
    assert lines[1] == f"{RED}15 manifests in 16 files: 1 problem\x1b[0m"


def test_a_valid_summary_is_green(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == f"{GREEN}16 manifests in 16 files: valid\x1b[0m\n"


@pytest.mark.parametrize(
    ("environment", "args"),
    [
        ({"KEEL_FORCE_COLOR": "1", "NO_COLOR": "1"}, []),
        ({"KEEL_FORCE_COLOR": "1"}, ["--no-color"]),
        ({}, []),  # capsys is not a terminal
    ],
    ids=["NO_COLOR", "--no-color", "not-a-tty"],
)
def test_no_colour_codes(
    broken_repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    args: list[str],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    out = _validate(args, capsys)
    assert ESC not in out
    assert out.splitlines()[-1] == "15 manifests in 16 files: 1 problem"


def _on_a_terminal(args: list[str], cwd: Path, **extra: str) -> str:
    """`keel ARGS` with its stdout on a real pseudo-terminal: what it wrote there."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.pop("KEEL_FORCE_COLOR", None)
    env.update(extra)
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [str(KEEL), *args], cwd=cwd, env=env, stdout=follower, stderr=subprocess.PIPE,
            timeout=120, check=False,
        )  # fmt: skip
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal is drained and closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert done.returncode == 1, done.stderr
    return b"".join(chunks).decode()


def test_a_real_terminal_gets_colour_and_no_color_turns_it_off(broken_repo: Path) -> None:
    painted = _on_a_terminal(["validate"], broken_repo)
    assert RED in painted
    plain = _on_a_terminal(["validate"], broken_repo, NO_COLOR="1")
    assert ESC not in plain
    assert "15 manifests in 16 files: 1 problem" in plain
    assert ESC not in _on_a_terminal(["--no-color", "validate"], broken_repo)


def test_plain_output_does_not_import_rich(broken_repo: Path) -> None:
    probe = (
        "import sys\n"
        "from toolkit.cli import main\n"
        "main(['validate'])\n"
        "print('RICH=' + str('rich' in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "RICH=False", done.stderr
