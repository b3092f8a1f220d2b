"""Issue 17, point 5: `keel verify Kind/name` checks that manifest's files, and reports never
print Python's `None` for an absent bound."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pytest
from factories import audited_repo, deployment_set, with_real_files, write_set

from toolkit.cli import main
from toolkit.cli.commands import command_problem
from toolkit.core.checks.requirements import bounds
from toolkit.manifests import Deployment
from toolkit.workflows.artifacts.verify import load_graph, verify
from toolkit.workflows.audit.audit import audit
from toolkit.workflows.audit.checks import PASS, evaluation_checks
from toolkit.workflows.audit.report import RENDERERS

if TYPE_CHECKING:
    from pathlib import Path

AS_OF = dt.date(2026, 11, 24)


@pytest.fixture
def repo(manifests: dict[str, Any], make_repo: Any, tmp_path: Path) -> Path:
    root: Path = make_repo(with_real_files(tmp_path / "repo", manifests))
    return root


def test_verify_of_a_tokenizer_checks_the_tokenizers_files_only(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "artifacts/models/base/model.safetensors").write_bytes(b"broken")
    tokenizer = verify(repo, ["Tokenizer/base"])
    assert (tokenizer.ok, tokenizer.checked) == (True, 1)
    assert not verify(repo, ["Model/base"]).ok
    adapter = verify(repo, ["Adapter/lora"])  # its base Model is not its own file either
    assert (adapter.ok, adapter.checked) == (True, 1)
    deployment = verify(repo, ["Deployment/search"])  # a Deployment stands for all it needs
    assert not deployment.ok
    assert {p.file.relative for p in deployment.problems} == {
        "artifacts/models/base/model.safetensors"
    }
    monkeypatch.chdir(repo)
    assert main(["verify", "Tokenizer/base"]) == 0
    assert capsys.readouterr().out.strip().endswith("1 file checked (1 unchanged since last "
                                                    "time, 0.0 MB hashed): all match")  # fmt: skip
    assert main(["verify", "Tokenizer/base", "Model/base"]) == 1
    assert "model.safetensors: expected sha256" in capsys.readouterr().out


def test_bounds_name_an_absent_one_in_words() -> None:
    assert bounds(0.8, None) == "min 0.8, no maximum"
    assert bounds(None, 0.25) == "no minimum, max 0.25"
    assert bounds(0.1, 1.0) == "min 0.1, max 1"


def test_audit_report_for_a_gate_with_only_a_minimum_prints_no_none(tmp_path: Path) -> None:
    root = audited_repo(tmp_path)
    result = audit(root, as_of=AS_OF, parse_command=command_problem)
    markdown = RENDERERS["md"](result)
    assert "Evaluation/search-canary recall_at_1 = 0.89 (min 0.8, no maximum)" in markdown
    for name, render in RENDERERS.items():
        report = render(result)
        assert "None" not in report, name
        if name == "json":
            assert "null" not in json.dumps(_evidence(json.loads(report)))


def _evidence(report: dict[str, Any]) -> list[Any]:
    return [
        check.get("evidence")
        for deployment in report.get("deployments", [])
        for check in deployment.get("checks", [])
        if check.get("check") == "evaluation.requirements"
    ]


def test_a_gate_with_only_a_maximum_reads_no_minimum(tmp_path: Path) -> None:
    data = deployment_set()
    data["requirements"]["spec"]["quality"] = [
        {"metric": "recall_at_1", "dataset": "Dataset/canary", "max": 0.95}
    ]
    graph = load_graph(write_set(tmp_path / "repo", data).parent)
    deployment = graph.get_as("Deployment/search", Deployment)
    assert deployment is not None
    checks = {c.check: c for c in evaluation_checks(graph, deployment, AS_OF, 90)}
    requirements = checks["evaluation.requirements"]
    assert requirements.status == PASS
    assert requirements.evidence[0] == (
        "Evaluation/search-canary recall_at_1 = 0.89 (no minimum, max 0.95)"
    )
    assert not any("None" in line for line in requirements.evidence)
