"""Values that used to fool the gates, each through `keel validate` in a real directory: the
document's own types are kept (YAML 1.2 core schema, pydantic strict mode), floats are finite,
names and references match in full. Each case is a one-line finding, exit 1, no traceback
(an invalid Evaluation also leaves its Deployment's gate without evidence: a second finding)."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from toolkit.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

CASES = [
    # (file stem, text in the written YAML, replacement, expected finding after "path:line: ")
    (
        "eval-search-canary",
        "  value: 0.89\n",
        "  value: .nan\n",
        "Evaluation/search-canary: spec.metrics[0].value: expected a finite number, got the "
        "number nan",
    ),
    (
        "eval-search-canary",
        "  value: 0.89\n",
        "  value: true\n",
        "Evaluation/search-canary: spec.metrics[0].value: expected a number, got the boolean true",
    ),
    (
        "canary",
        "  rows: 40\n",
        "  rows: '40'\n",
        "Dataset/canary: spec.rows: expected an integer, got the string '40': remove the quotes",
    ),
    (
        "canary",
        "  containsPii: false\n",
        "  containsPii: 1\n",
        "Dataset/canary: spec.containsPii: expected true or false, got the number 1",
    ),
    (
        "canary",
        "  containsPii: false\n",
        "  containsPii: no\n",  # YAML 1.1 read this as false; 1.2 (editors) as the string
        "Dataset/canary: spec.containsPii: expected true or false, got the string 'no'",
    ),
    (
        "model",
        "    sha256: 9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c\n",
        "    sha256: " + "0" * 64 + "\n",
        "Model/base: spec.files[0].sha256: expected a string, got the number 0: quote it (YAML "
        "read it as a number, and may have changed it)",
    ),
    (
        "model",
        "  - path: model.safetensors\n",
        "  - path: ''\n",
        "Model/base: spec.files[0].path: String should have at least 1 character, got ''",
    ),
    (
        "canary",
        "kind: Dataset\n",
        "kind: Datset\n",
        "Datset/canary: kind: expected one of Requirements, ArchitectureDecision, Model, "
        "Tokenizer, Dataset, Evaluation, Quantization, TrainingRun, Adapter, Runbook, "
        "Deployment, Audit, got 'Datset'; did you mean 'Dataset'?",
    ),
    (
        "eval-search-canary",
        "  dataset: Dataset/canary\n",
        "  dataset: Dataset/canery\n",
        "Evaluation/search-canary: spec.dataset: Dataset/canery does not exist in the manifests; "
        "did you mean Dataset/canary?",
    ),
    (
        "deployment",
        "  model: Model/base\n",
        '  model: "Model/base\\n"\n',
        "Deployment/search: spec.model: expected a reference like Model/<name>, got "
        "'Model/base\\n'",
    ),
]


@pytest.mark.parametrize(("stem", "old", "new", "expected"), CASES)
def test_a_value_that_used_to_fool_the_gates_is_one_finding(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    stem: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    root = make_repo(manifests)
    path = root / "manifests" / f"{stem}.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{stem}.yaml no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")

    code = main(["validate", "--root", str(root)])
    out, err = capsys.readouterr()

    *findings, summary = out.splitlines()
    assert code == 1
    assert expected in [f.split(": ", 1)[1] for f in findings], out
    assert all(f.startswith(str(root)) for f in findings), out  # one line each
    assert summary.endswith("problem" if len(findings) == 1 else "problems")
    assert "Traceback" not in out + err


def test_yaml_reads_plain_scalars_as_editors_do(tmp_path: Path) -> None:
    from toolkit.core.loading import load_text

    text = "a: no\nb: 010\nc: 2.10\nd: 4e1\ne: 2026-11-24\nf: !!str 010\ng: 0x1F\nh: ~\ni: yes\n"
    data = load_text(text, tmp_path / "x.yaml").documents[0].data
    assert data == {
        "a": "no",
        "b": 10,
        "c": 2.1,
        "d": 40.0,
        "e": "2026-11-24",
        "f": "010",
        "g": 31,
        "h": None,
        "i": "yes",
    }
    assert load_text('{"n": 4e1}', tmp_path / "x.json").documents[0].data == {"n": 40.0}


def test_keel_new_refuses_a_name_with_a_newline(tmp_path: Path) -> None:
    from toolkit.workflows.authoring.init import init

    root = tmp_path / "repo"
    init(root)
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", "new", "Model", "abc\n", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1
    assert not list((root / "manifests" / "models").glob("abc*"))
