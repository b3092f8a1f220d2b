"""Every gate at its bound: equal to the bound passes, one unit past it fails.

A unit is 1e-9 for scores (far below any metric's precision, far above float noise) and one
day for dates. Each failure is also run through the CLI (`toolkit.cli.main`) and, for the
gates `keel validate` runs, through `keel hooks run` on a commit staged in a real git repo.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import git
import pytest
from factories import audited_repo, write_set

from toolkit.cli import main
from toolkit.core.layout import MANIFEST_DIR
from toolkit.core.repository import build_graph, manifest_files
from toolkit.manifests import Runbook
from toolkit.workflows.audit.checks import review_check
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

Manifests = dict[str, dict[str, Any]]
UNIT = 1e-9


def _metric(data: Manifests, stem: str, value: float) -> None:
    data[stem]["spec"]["metrics"][0]["value"] = value


def _gate_errors(root: Path) -> list[str]:
    return [f.render() for f in validate(root).findings if f.severity == "error"]


# gate -> (change that puts the value exactly at the bound, change one unit past it, message)
def _min_at(data: Manifests) -> None:
    _metric(data, "eval-search-canary", 0.8)  # Requirements: recall_at_1 min 0.8


def _min_past(data: Manifests) -> None:
    _metric(data, "eval-search-canary", 0.8 - UNIT)


def _with_max(data: Manifests) -> None:
    # A threshold with a maximum (lower is better): a rate of wrong answers, at most 0.05.
    threshold = {"metric": "error_rate", "dataset": "Dataset/canary", "max": 0.05}
    if threshold not in data["requirements"]["spec"]["quality"]:
        data["requirements"]["spec"]["quality"].append(threshold)
        data["eval-search-canary"]["spec"]["metrics"].append({"name": "error_rate", "value": 0})


def _max_at(data: Manifests) -> None:
    _with_max(data)
    data["eval-search-canary"]["spec"]["metrics"][-1]["value"] = 0.05


def _max_past(data: Manifests) -> None:
    _with_max(data)
    data["eval-search-canary"]["spec"]["metrics"][-1]["value"] = 0.05 + UNIT


def _degradation_at(data: Manifests) -> None:
    # Quantization/int8: baseline lora-canary 0.9, maxDegradation.by 0.02 -> 0.88 is the bound.
    _metric(data, "eval-int8-canary", 0.88)


def _degradation_past(data: Manifests) -> None:
    _metric(data, "eval-int8-canary", 0.88 - UNIT)


def _beats_base(data: Manifests) -> None:
    # Adapter/lora's task score must beat Evaluation/base-canary's 0.8: one unit above does.
    _metric(data, "eval-lora-canary", 0.8 + UNIT)
    _metric(data, "eval-int8-canary", 0.8 + UNIT)  # keep the quantization within its budget


def _equals_base(data: Manifests) -> None:
    _metric(data, "eval-lora-canary", 0.8)
    _metric(data, "eval-int8-canary", 0.8)


GATES = {
    "requirements-min": (_min_at, _min_past, "is below the minimum 0.8 required by"),
    "requirements-max": (_max_at, _max_past, "error_rate = 0.05 is above the maximum 0.05"),
    "quantization-max-degradation": (
        _degradation_at,
        _degradation_past,
        "Quantization/int8: spec.maxDegradation.by: recall_at_1 degrades by 0.02",
    ),
    # "beat" is strict: equal to the base is the first value that fails.
    "adapter-beats-base": (_beats_base, _equals_base, "does not beat the base's 0.8"),
}


@pytest.mark.parametrize("gate", sorted(GATES))
def test_at_the_bound_passes_one_unit_past_fails(
    gate: str, manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    at, past, message = GATES[gate]
    at(manifests)
    root = make_repo(manifests)
    assert _gate_errors(root) == [], gate
    past(manifests)
    write_set(root, manifests)
    errors = _gate_errors(root)
    assert len(errors) == 1, errors
    assert message in errors[0]


@pytest.mark.parametrize("gate", sorted(GATES))
def test_each_gate_fails_through_the_cli_and_the_hook(
    gate: str,
    manifests: Manifests,
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at, past, message = GATES[gate]
    at(manifests)
    root = make_repo(manifests)
    repo = git.Repo.init(root)
    repo.git.add(A=True)
    repo.git.commit("-m", "at the bound", "--no-verify")
    monkeypatch.chdir(root)
    assert main(["validate"]) == 0
    assert main(["hooks", "run", *(str(p) for p in sorted((root / MANIFEST_DIR).iterdir()))]) == 0
    capsys.readouterr()
    past(manifests)
    write_set(root, manifests)
    repo.git.add(A=True)
    assert main(["validate"]) == 1
    assert message in capsys.readouterr().out
    assert main(["hooks", "run"]) == 1, "the plain hook, on what the index stages"
    out = capsys.readouterr().out
    assert "keel-validate: failed" in out
    assert message in out


def _runbook_graph(root: Path) -> tuple[Any, Runbook]:
    graph = build_graph(root, manifest_files(root, [root / MANIFEST_DIR])[0])
    runbook = graph.get_as("Runbook/search", Runbook)
    assert runbook is not None
    return graph, runbook


def test_runbook_review_due_today_passes_one_day_late_fails(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    graph, runbook = _runbook_graph(make_repo(manifests))
    due = runbook.spec.last_reviewed + dt.timedelta(days=runbook.spec.review_interval_days)
    assert due == dt.date(2027, 1, 30)
    assert review_check(graph, runbook, due).status == "pass"
    late = review_check(graph, runbook, due + dt.timedelta(days=1))
    assert late.status == "fail"
    assert "review overdue by 1 days" in late.findings[0].message


def test_runbook_review_through_the_audit_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = audited_repo(tmp_path)
    monkeypatch.chdir(root)

    def review(as_of: str) -> Any:
        code = main(["audit", "--as-of", as_of, "--no-record", "--format", "json"])
        report = capsys.readouterr().out
        text = json.dumps(json.loads(report))
        return code, text

    code, on_time = review("2027-01-30")
    assert '"runbook.review", "status": "pass"' in on_time.replace('"check": ', ""), on_time
    code, late = review("2027-01-31")
    assert code == 1
    assert "review overdue by 1 days" in late


def _stale_schema(root: Path) -> Path:
    schema = root / "schemas" / "model.schema.json"
    schema.write_text(schema.read_text().replace('"title"', '"titel"', 1))
    return schema


def test_schema_check_exits_1_on_a_stale_schema_and_the_hook_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit.workflows.authoring.init import init

    root = tmp_path / "repo"
    init(root)
    monkeypatch.chdir(root)
    assert main(["schema", "check"]) == 0
    assert "schemas are current" in capsys.readouterr().out
    repo = git.Repo(root)
    repo.git.add(A=True)
    repo.git.commit("-m", "fresh", "--no-verify")
    _stale_schema(root)
    assert main(["schema", "check"]) == 1
    assert "schemas/model.schema.json: out of date; run `keel schema export`" in (
        capsys.readouterr().out
    )
    repo.git.add(A=True)
    assert main(["hooks", "run"]) == 1
    out = capsys.readouterr().out
    assert "keel-schemas-fresh: failed" in out
    assert "model.schema.json: out of date" in out


def test_adapter_general_score_at_its_tolerance_passes(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    _metric(manifests, "eval-lora-general", 0.95)  # base-general 1.0, tolerance 0.05
    root = make_repo(manifests)
    assert _gate_errors(root) == []
    _metric(manifests, "eval-lora-general", 0.95 - UNIT)
    write_set(root, manifests)
    assert any("drops by" in e for e in _gate_errors(root))
