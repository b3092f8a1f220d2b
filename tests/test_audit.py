"""`keel audit`, `keel log` and `keel diff` on real git history and a real DVC remote."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

import git
import pytest
import yaml
from factories import audited_repo, deployment_set, identity, write_set

from toolkit.bridges import dvc
from toolkit.bridges.git import commit_all
from toolkit.cli import main
from toolkit.cli.commands import command_problem
from toolkit.manifests import Deployment
from toolkit.workflows.artifacts.verify import load_graph
from toolkit.workflows.audit.audit import AuditResult, record
from toolkit.workflows.audit.audit import audit as run_audit
from toolkit.workflows.audit.checks import FAIL, PASS, WARN, evaluation_checks
from toolkit.workflows.audit.history import diff, log
from toolkit.workflows.audit.report import to_markdown
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

AS_OF = dt.date(2026, 11, 24)  # the factory runbook was reviewed 2026-11-01, every 90 days


def audit(root: Path, **options: Any) -> AuditResult:
    """The audit as `keel audit` runs it: runbook steps parsed by keel's own CLI."""
    return run_audit(root, parse_command=command_problem, **options)


def _check(result: Any, name: str) -> Any:
    return next(c for c in result.deployments[0].checks if c.check == name)


def test_a_clean_deployment_passes_and_its_audit_manifest_validates(tmp_path: Path) -> None:
    root = audited_repo(tmp_path)
    audited_commit = git.Repo(root).head.commit.hexsha

    result = audit(root, as_of=AS_OF, remote=True)
    report = to_markdown(result)
    tags = record(result, report, "md", None)

    assert result.status == PASS, [c for c in result.deployments[0].checks if c.status != PASS]
    assert _check(result, "artifacts.remote").status == PASS
    assert tags == ["audit/search/2026-11-24"]
    repo = git.Repo(root)
    assert repo.tags["audit/search/2026-11-24"].commit == repo.head.commit
    assert list(repo.head.commit.stats.files) == ["manifests/audits/search-2026-11-24.yaml"]
    manifest = yaml.safe_load((root / "manifests/audits/search-2026-11-24.yaml").read_text())
    assert manifest["spec"]["commit"] == audited_commit
    assert manifest["spec"]["status"] == "pass"
    assert manifest["spec"]["auditor"] == "Ada Auditor <ada@example.com>"
    digest = hashlib.sha256(report.encode()).hexdigest()
    assert manifest["spec"]["report"]["digest"] == f"sha256:{digest}"
    assert validate(root).ok


def test_a_report_written_inside_the_repository_is_committed_with_the_audit(
    tmp_path: Path,
) -> None:
    root = audited_repo(tmp_path)

    code = main(
        ["audit", "--root", str(root), "--as-of", "2026-11-24", "--format", "json",
         "--out", str(root / "reports" / "audit.json")]
    )  # fmt: skip

    assert code == 0
    committed = set(git.Repo(root).head.commit.stats.files)
    assert committed == {"manifests/audits/search-2026-11-24.yaml", "reports/audit.json"}
    report = (root / "reports" / "audit.json").read_bytes()
    manifest = yaml.safe_load((root / "manifests/audits/search-2026-11-24.yaml").read_text())
    assert manifest["spec"]["report"] == {
        "digest": f"sha256:{hashlib.sha256(report).hexdigest()}",
        "format": "json",
        "path": "reports/audit.json",
    }
    assert json.loads(report)["status"] == "pass"


def test_the_report_is_deterministic_for_a_date(tmp_path: Path) -> None:
    root = audited_repo(tmp_path)

    first = to_markdown(audit(root, as_of=AS_OF))
    second = to_markdown(audit(root, as_of=AS_OF))

    assert first == second
    assert "# keel audit, as of 2026-11-24" in first


def test_an_overdue_runbook_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = audited_repo(tmp_path)

    result = audit(root, as_of=dt.date(2027, 3, 1))

    review = _check(result, "runbook.review")
    assert review.status == FAIL
    assert review.message == (
        "Runbook/search review overdue by 30 days (last reviewed 2026-11-01, every 90 days)"
    )
    assert not result.ok
    code = main(["audit", "--root", str(root), "--as-of", "2027-03-01", "--no-record"])
    assert code == 1
    out = capsys.readouterr().out
    assert "| runbook.review | FAIL |" in out
    assert (
        "### Findings\n\n- **error** `manifests/runbook.yaml:9` Runbook/search "
        "`spec.lastReviewed`: review overdue by 30 days (last reviewed 2026-11-01, every 90 "
        "days) (review the runbook with its owner, then set spec.lastReviewed)\n"
    ) in out
    assert "\n1 error, 1 warning\n" in out


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("keel deploy Deployment/search", "`deploy` is not a keel command"),
        ("keel pull Deployment/search --frobnicate", "No such option '--frobnicate'"),
        ("keel pull Deployment/nowhere", "Deployment/nowhere does not exist"),
        ("keel hooks instal", "`instal` is not a `keel hooks` command"),
        ("keel validate -x", "No such option '-x'"),
    ],
)
def test_a_runbook_step_keel_cannot_run_fails(tmp_path: Path, command: str, problem: str) -> None:
    def serve_with(data: dict[str, Any]) -> None:
        data["runbook"]["spec"]["steps"]["serve"][0]["command"] = command

    root = audited_repo(tmp_path, serve_with)

    commands = _check(audit(root, as_of=AS_OF), "runbook.commands")

    assert commands.status == FAIL
    assert commands.message.startswith(f"Runbook/search spec.steps.serve[0]: `{command}`: ")
    assert problem in commands.message


def test_non_keel_steps_are_listed_for_a_person(tmp_path: Path) -> None:
    root = audited_repo(tmp_path)

    commands = _check(audit(root, as_of=AS_OF), "runbook.commands")

    assert commands.status == PASS
    assert "spec.steps.rollback[0]: `git revert HEAD` (not a keel command: check by hand)" in (
        commands.evidence
    )


def test_a_weight_file_changed_in_the_remote_fails_the_remote_check(tmp_path: Path) -> None:
    from toolkit.core.dvcfiles import read_dvc_file

    root = audited_repo(tmp_path)
    out = read_dvc_file(root / "artifacts/models/base/model.safetensors.dvc")
    assert out is not None
    assert out.md5
    stored = tmp_path / "remote" / "files" / "md5" / out.md5[:2] / out.md5[2:]
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x01")

    result = audit(root, as_of=AS_OF, remote=True)

    remote = _check(result, "artifacts.remote")
    assert remote.status == FAIL
    assert remote.message.startswith("artifacts/models/base/model.safetensors: the remote holds")
    assert "Model/base spec.files[0].sha256 says" in remote.message
    assert _check(result, "artifacts.local").status == PASS
    assert dvc.default_remote(root) is not None


def test_an_evaluation_older_than_the_interval_warns(tmp_path: Path) -> None:
    def reviewed_lately(data: dict[str, Any]) -> None:
        data["runbook"]["spec"]["lastReviewed"] = "2027-02-20"

    root = audited_repo(tmp_path, reviewed_lately)

    result = audit(root, as_of=dt.date(2027, 3, 1))

    fresh = _check(result, "evaluation.fresh")
    assert fresh.status == WARN
    assert "is 101 days old, older than the 90-day review interval" in fresh.message
    assert result.status == WARN
    assert result.ok


def test_the_next_audit_reviews_only_what_changed_since_the_last(tmp_path: Path) -> None:
    root = audited_repo(tmp_path)
    first = audit(root, as_of=AS_OF)
    record(first, to_markdown(first), "md", None)
    repo = git.Repo(root)
    repo.git.mv("manifests/deployment.yaml", "manifests/search-deployment.yaml")
    path = root / "manifests/search-deployment.yaml"
    data = yaml.safe_load(path.read_text())
    data["spec"]["slos"]["latencyP95Ms"] = 40
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    commit_all(root, "tighter p95 SLO; deployment manifest renamed")

    second = audit(root, as_of=AS_OF + dt.timedelta(days=30))

    changes = _check(second, "changes")
    assert second.deployments[0].previous == "audit/search/2026-11-24"
    assert changes.message == "2 change(s) since audit/search/2026-11-24"
    assert changes.evidence == (
        "Deployment/search: moved manifests/deployment.yaml → manifests/search-deployment.yaml",
        "Deployment/search spec.slos.latencyP95Ms: 50 → 40",
    )


# ------------------------------------------------------------------------------ log and diff


def _history(tmp_path: Path) -> Path:
    """Four commits: the deployment, a changed scheme, a renamed file with a new weight, a tag."""
    root = tmp_path / "history"
    write_set(root, deployment_set())
    repo = git.Repo.init(root)
    identity(root)
    commit_all(root, "the search deployment")
    path = root / "manifests/quantization.yaml"
    data = yaml.safe_load(path.read_text())
    data["spec"]["scheme"] = "int8-dynamic"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    commit_all(root, "dynamic int8")
    repo.create_tag("audit/search/2026-11-01")
    repo.git.mv("manifests/quantization.yaml", "manifests/quantization-int8.yaml")
    model = root / "manifests/model.yaml"
    data = yaml.safe_load(model.read_text())
    data["spec"]["files"][0]["sha256"] = "f" * 64
    model.write_text(yaml.safe_dump(data, sort_keys=False))
    commit_all(root, "rename the quantization; new weights")
    return root


def test_log_lists_the_commits_that_changed_a_manifest_through_a_rename(tmp_path: Path) -> None:
    root = _history(tmp_path)

    entries = log(root, "Quantization/int8")

    assert [e.message for e in entries] == [
        "rename the quantization; new weights",
        "dynamic int8",
        "the search deployment",
    ]
    assert entries[0].fields == [
        "moved manifests/quantization.yaml → manifests/quantization-int8.yaml"
    ]
    assert entries[1].fields == ["spec.scheme"]
    assert entries[2].fields == ["created"]
    assert entries[1].author == "Keel Test <keel-test@example.invalid>"  # GIT_AUTHOR_* wins


def test_diff_names_fields_files_and_renames(tmp_path: Path) -> None:
    root = _history(tmp_path)

    result = diff(root, "HEAD~2", "HEAD")

    assert result.lines() == [
        "Quantization/int8: moved manifests/quantization.yaml → manifests/quantization-int8.yaml",
        "Model/base spec.files[model.safetensors].sha256 changed",
        "Quantization/int8 spec.scheme: int8 → int8-dynamic",
    ]


def test_diff_defaults_to_the_last_audit_tag_against_the_work_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _history(tmp_path)
    (root / "manifests/runbook.yaml").unlink()

    assert main(["diff", "--root", str(root), "--format", "json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert data["before"] == "audit/search/2026-11-01"
    assert data["after"] == "work tree"
    assert data["removed"] == ["Runbook/search"]
    assert {c["field"] for c in data["changes"]} == {"spec.files[model.safetensors].sha256"}


def test_diff_of_an_unknown_manifest_is_a_usage_error(tmp_path: Path) -> None:
    root = _history(tmp_path)

    assert main(["diff", "HEAD~1", "HEAD", "Model/nope", "--root", str(root)]) == 2


def test_checking_runbook_commands_leaves_keel_help_as_it_was(tmp_path: Path) -> None:
    """click caches a command's help option from the first context it sees: an audit run
    before anything else must not change `keel ... --help` (a fresh process shows it)."""
    import subprocess
    import sys
    from pathlib import Path

    root = audited_repo(tmp_path)
    code = (
        "import datetime, sys; from pathlib import Path; "
        "from toolkit.workflows.audit.audit import audit; "
        "from toolkit.cli.commands import command_problem; "
        "audit(Path(sys.argv[1]), as_of=datetime.date(2026, 11, 24), "
        "parse_command=command_problem); "
        "from toolkit.cli.reference import render_reference; print(render_reference(), end='')"
    )
    rendered = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    ).stdout

    committed = (Path(__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert rendered == committed


# ------------------------------------------- the requirements gate: one rule in validate and audit


def test_validate_and_the_audit_agree_on_a_missing_latency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Latency capped, not recorded: one finding in both, naming the Evaluation."""
    lacks_latency = (
        "no Evaluation of Deployment/search records latency, which Requirements/search caps "
        "(p95 50 ms, p99 100 ms); Evaluation/search-canary has no spec.latency"
    )
    root = audited_repo(tmp_path, lambda data: data["eval-search-canary"]["spec"].pop("latency"))
    monkeypatch.chdir(root)  # both reports then show paths relative to the repository

    validated = main(["validate", "--format", "json"])
    gates = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["check"] == "gates"]
    audited = main(["audit", "--as-of", "2026-11-24", "--format", "json", "--no-record"])
    report = json.loads(capsys.readouterr().out)["deployments"][0]
    checks = {c["check"]: c for c in report["findings"]}

    assert validated == audited == 1
    assert [(g["ref"], g["field"], g["message"]) for g in gates] == [
        ("Deployment/search", "spec.evaluations", lacks_latency)
    ]
    requirements, manifests = checks["evaluation.requirements"], checks["manifests.valid"]
    assert (requirements["message"], requirements["status"], manifests["status"]) == (
        lacks_latency, FAIL, FAIL
    )  # fmt: skip
    assert lacks_latency in manifests["message"]
    assert [p for p in report["problems"] if p["check"] == "gates"] == gates


def _gate_and_audit(tmp_path: Path, data: Any, as_of: dt.date = AS_OF) -> tuple[list[Any], Any]:
    """The validate gate's findings and the audit's evaluation checks (no git needed)."""
    graph = load_graph(write_set(tmp_path / "repo", data).parent)
    deployment = graph.get_as("Deployment/search", Deployment)
    assert deployment is not None
    gates = [f for f in validate(graph.root).findings if f.check == "gates"]
    return gates, {c.check: c for c in evaluation_checks(graph, deployment, as_of, 90)}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda data: data["deployment"]["spec"].update(evaluations=["Evaluation/int8-canary"]),
            "no cited Evaluation has subject Deployment/search; the gate against "
            "Requirements/search needs an Evaluation of the Deployment itself",
        ),
        (
            lambda data: data["eval-search-canary"]["spec"]["metrics"][0].update(name="mrr"),
            "no Evaluation of Deployment/search measures recall_at_1 on Dataset/canary, which "
            "Requirements/search requires; Evaluation/search-canary does not record it",
        ),
    ],
    ids=["only-another-subject", "own-lacks-the-metric"],
)
def test_an_evaluation_of_another_subject_counts_neither_in_validate_nor_in_the_audit(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    """Evaluation/int8-canary (of Quantization/int8, recall_at_1 0.89 > 0.8) is not counted."""
    change(data := deployment_set())
    gates, checks = _gate_and_audit(tmp_path, data)
    assert [f.message for f in gates] == [expected]
    assert checks["evaluation.requirements"].status == FAIL
    assert checks["evaluation.requirements"].findings == tuple(gates)


def test_an_evaluation_dated_after_the_audit_is_not_evidence_yet(tmp_path: Path) -> None:
    gates, before = _gate_and_audit(tmp_path, deployment_set(), dt.date(2026, 11, 1))
    after = _gate_and_audit(tmp_path, deployment_set())[1]
    assert gates == []
    assert before["evaluation.requirements"].message == (
        "every Evaluation of Deployment/search is dated after 2026-11-01; the gate against "
        "Requirements/search needs one measured by then"
    )
    assert (before["evaluation.fresh"].status, after["evaluation.requirements"].status) == (
        FAIL, PASS
    )  # fmt: skip
    assert after["evaluation.requirements"].evidence == (
        "Evaluation/search-canary recall_at_1 = 0.89 (min 0.8, no maximum)",
        "Evaluation/search-canary latency p95 = 6.0 ms (ceiling 50.0)",
        "Evaluation/search-canary latency p99 = 8.0 ms (ceiling 100.0)",
    )
    assert after["evaluation.fresh"].evidence == ("Evaluation/search-canary: 2026-11-20",)
