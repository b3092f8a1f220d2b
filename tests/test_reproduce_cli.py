"""`keel reproduce` arguments, stage 1 and the report, on small repositories (no model loaded)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import git
import pytest

from toolkit.cli import main
from toolkit.core.errors import UsageError
from toolkit.workflows.reproduce.report import to_markdown, write_report
from toolkit.workflows.reproduce.reproduce import FAILED, SKIPPED, reproduce

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _committed(make_repo: Callable[[dict[str, Any]], Path], data: dict[str, Any]) -> Path:
    root = make_repo(data)
    repo = git.Repo.init(root)
    repo.git.add(A=True)
    repo.index.commit("the deployment")
    return root


def test_only_a_deployment_can_be_reproduced(make_repo: Any, manifests: Any) -> None:
    root = _committed(make_repo, manifests)

    with pytest.raises(UsageError, match="give a deployment as Deployment/<name>"):
        reproduce(root, "Model/base")


def test_an_unknown_revision_is_a_usage_error(
    make_repo: Any, manifests: Any, tmp_path: Path
) -> None:
    root = _committed(make_repo, manifests)

    with pytest.raises(UsageError, match="^--rev no-such-rev: not a revision of"):
        reproduce(root, "Deployment/search", rev="no-such-rev", workdir=tmp_path / "w")


def test_a_non_empty_workdir_is_refused_and_left_alone(
    make_repo: Any, manifests: Any, tmp_path: Path
) -> None:
    root = _committed(make_repo, manifests)
    workdir = tmp_path / "busy"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("mine", encoding="utf-8")

    with pytest.raises(UsageError, match="--workdir .*: not empty"):
        reproduce(root, "Deployment/search", workdir=workdir)

    assert (workdir / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_invalid_manifests_at_rev_fail_stage_1_and_skip_the_rest(
    make_repo: Any, manifests: Any, tmp_path: Path
) -> None:
    manifests["model"]["spec"]["files"][0]["sha256"] = "not-a-digest"
    root = _committed(make_repo, manifests)

    result = reproduce(root, "Deployment/search", workdir=tmp_path / "w")

    assert not result.ok
    assert result.stages[0].status == FAILED
    assert result.stages[0].summary.startswith("manifests/model.yaml:")
    assert "Model/base" in result.stages[0].summary
    assert "sha256" in result.stages[0].summary
    assert [s.status for s in result.stages[1:]] == [SKIPPED] * 6
    assert "FAILED at stage 1 (validate)" in to_markdown(result)
    finding = result.stages[0].findings[0]
    assert (str(finding.path), finding.ref, finding.check) == (
        "manifests/model.yaml",
        "Model/base",
        "reproduce.validate",
    )
    assert finding.field is not None
    assert "sha256" in finding.field
    assert finding.line > 1


def test_the_report_is_written_as_markdown_and_json(
    make_repo: Any, manifests: Any, tmp_path: Path
) -> None:
    manifests["model"]["spec"]["files"][0]["sha256"] = "not-a-digest"
    root = _committed(make_repo, manifests)
    result = reproduce(root, "Deployment/search", workdir=tmp_path / "w")

    markdown, json_path = write_report(result, tmp_path / "out" / "report.json")

    assert markdown.name == "report.md"
    assert "| 1 | validate | FAIL |" in markdown.read_text(encoding="utf-8")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["ok"] is False
    assert data["failedStage"] == "validate"
    assert len(data["stages"]) == 7
    assert [s["status"] for s in data["stages"]] == ["failed"] + ["skipped"] * 6
    assert data["stages"][0]["findings"][0]["ref"] == "Model/base"
    assert data["stages"][0]["findings"][0]["severity"] == "error"


def test_the_cli_exits_1_naming_the_stage(
    make_repo: Any, manifests: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests["model"]["spec"]["files"][0]["sha256"] = "not-a-digest"
    root = _committed(make_repo, manifests)
    report = tmp_path / "r.md"

    code = main(["reproduce", "Deployment/search", "--root", str(root), "--report", str(report)])

    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED at stage 1 (validate)" in captured.out
    assert "1. validate  failed" in captured.err
    assert report.is_file()
    assert report.with_suffix(".json").is_file()


def test_reproduce_and_evaluate_are_listed_without_importing_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from toolkit.cli import cli; from click.testing import CliRunner; "
        "r = CliRunner().invoke(cli, ['reproduce', '--help']); "
        "r2 = CliRunner().invoke(cli, ['evaluate', '--help']); "
        "print(r.exit_code, r2.exit_code, 'torch' in sys.modules, 'dvc' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert output.split() == ["0", "0", "False", "False"]


def test_a_library_failing_inside_a_stage_fails_that_stage(
    make_repo: Any, manifests: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit.workflows.reproduce import reproduce as module

    def broken(request: Any, done: Any) -> Any:
        raise OSError("disk on fire")

    monkeypatch.setattr(module, "STAGES", (module.Stage("validate", broken), *module.STAGES[1:]))
    root = _committed(make_repo, manifests)

    result = reproduce(root, "Deployment/search", workdir=tmp_path / "w")

    assert result.stages[0].status == FAILED
    assert result.stages[0].summary.startswith("unexpected OSError: disk on fire")
    assert [s.status for s in result.stages[1:]] == [SKIPPED] * 6
    assert [f.check for f in result.stages[0].findings] == ["reproduce.validate"]
