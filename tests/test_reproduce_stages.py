"""The reproduce runner and the values its stages pass on, without a model: here the stages
are small functions, and the real ones run on small repositories as far as stage 2."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import git
import pytest

from toolkit.cli import main
from toolkit.core.errors import KeelError, UsageError
from toolkit.core.findings import Finding, Severity
from toolkit.workflows.reproduce.report import to_json, to_markdown
from toolkit.workflows.reproduce.reproduce import (
    EXACT,
    PASSED,
    STAGES,
    WITHIN_TOLERANCE,
    Done,
    Stage,
    reproduce,
    run_stages,
)
from toolkit.workflows.reproduce.results import (
    Adapted,
    CheckedOut,
    Match,
    Quantized,
    Reproduction,
    Request,
    Served,
    StageFailed,
    StageResult,
    Status,
    manifest_finding,
)

if TYPE_CHECKING:
    from collections.abc import Callable

NOT_RUN = "not run: an earlier stage failed"


@dataclass(frozen=True)
class Counted:
    """A stand-in stage result: a number the next stage can build on."""

    value: int
    status: Status = Status.passed
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return f"counted {self.value}"


def _request(tmp_path: Path, serve: bool = False) -> Request:
    return Request(tmp_path / "source", "Deployment/search", "HEAD", tmp_path / "w", serve)


def _never(request: Request, done: Done) -> Counted:
    raise AssertionError("a stage after a failure ran")


def test_a_failing_stage_names_manifest_and_field_and_the_rest_are_skipped(
    tmp_path: Path,
) -> None:
    def compare(request: Request, done: Done) -> Counted:
        message = f"recorded sha256:aa, got sha256:b{done.of(Counted).value}"
        raise StageFailed(
            f"Evaluation/canary spec.outputs.digest: {message}",
            findings=(manifest_finding(None, message, "Evaluation/canary", "spec.outputs.digest"),),
            details={"outcome": "differs"},
        )

    stages = (
        Stage("one", lambda request, done: Counted(1)),
        Stage("two", compare),
        Stage("three", _never),
        Stage("four", _never),
    )

    results, done = run_stages(_request(tmp_path), stages)

    assert [r.status for r in results] == ["passed", "failed", "skipped", "skipped"]
    assert [r.number for r in results] == [1, 2, 3, 4]
    failed = results[1]
    assert failed.summary == (
        "Evaluation/canary spec.outputs.digest: recorded sha256:aa, got sha256:b1"
    )
    assert failed.details == {"outcome": "differs"}
    assert failed.findings == (
        Finding(
            None,
            0,
            "recorded sha256:aa, got sha256:b1",
            "Evaluation/canary",
            "spec.outputs.digest",
            "reproduce.two",
            Severity.error,
        ),
    )
    assert all(r.summary == NOT_RUN and not r.findings for r in results[2:])
    assert done.results == (Counted(1),)


def test_each_stage_gets_the_frozen_results_before_it(tmp_path: Path) -> None:
    seen: list[int] = []

    def double(request: Request, done: Done) -> Counted:
        seen.append(done.of(Counted).value)
        return Counted(done.of(Counted).value * 2, details={"from": done.of(Counted).value})

    results, done = run_stages(
        _request(tmp_path), (Stage("one", lambda r, d: Counted(21)), Stage("two", double))
    )

    assert seen == [21]
    assert [r.summary for r in results] == ["counted 21", "counted 42"]
    assert results[1].details == {"from": 21}
    assert done.of(Counted) == Counted(21)  # the first of its kind


def test_a_stage_skipped_on_purpose_does_not_stop_the_next(tmp_path: Path) -> None:
    reported: list[StageResult] = []
    stages = (
        Stage("adapter", lambda request, done: Adapted(model=None)),
        Stage("quantize", lambda request, done: Quantized(done.of(Adapted).model)),
        Stage("serve", lambda request, done: Served(asked=request.serve)),
        Stage("after", lambda request, done: Counted(7)),
    )

    results, _ = run_stages(_request(tmp_path), stages, reported.append)

    assert reported == list(results)
    assert [r.status for r in results] == [Status.skipped] * 3 + [Status.passed]
    assert [r.summary for r in results[:3]] == [
        "the deployment has no adapter",
        "the deployment is not quantized",
        "not asked for (--serve)",
    ]
    assert all(r.details == {} and not r.findings for r in results)


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (KeelError("the DVC remote answered 500"), "the DVC remote answered 500"),
        (OSError("disk on fire\nmore"), "unexpected OSError: disk on fire (KEEL_DEBUG=1 shows"),
        (LookupError(), "unexpected LookupError:  (KEEL_DEBUG=1 shows where)"),
    ],
)
def test_a_failure_without_findings_still_reports_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, summary: str
) -> None:
    monkeypatch.delenv("KEEL_DEBUG", raising=False)

    def broken(request: Request, done: Done) -> Counted:
        raise error

    results, _ = run_stages(_request(tmp_path), (Stage("validate", broken), Stage("b", _never)))

    assert results[0].status == Status.failed
    assert results[0].summary.startswith(summary)
    assert results[0].findings == (
        Finding(None, 0, results[0].summary, check="reproduce.validate"),
    )
    assert results[1].status == Status.skipped


def test_keel_debug_lets_a_library_failure_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_DEBUG", "1")

    def broken(request: Request, done: Done) -> Counted:
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        run_stages(_request(tmp_path), (Stage("validate", broken),))


def test_asking_for_a_result_no_stage_made_is_an_internal_error() -> None:
    with pytest.raises(LookupError, match="no CheckedOut yet"):
        Done((Counted(1),)).of(CheckedOut)
    assert Done().find(CheckedOut) is None


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (StageResult(1, "validate", Status.passed), "status"),
        (Request(Path("s"), "Deployment/d", "HEAD", Path("w"), False), "rev"),
        (Adapted(model=None), "model"),
        (Quantized(model=None), "tensor_digest"),
        (Served(asked=True), "requests"),
        (Counted(1), "value"),
        (Reproduction("Deployment/d", "HEAD", "", "w", (), 0.0), "stages"),
        (Done(), "results"),
    ],
)
def test_results_are_frozen(value: object, name: str) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, name, None)


def test_status_and_match_read_as_the_words_the_reports_use() -> None:
    assert PASSED is Status.passed
    assert EXACT is Match.exact
    assert WITHIN_TOLERANCE is Match.within_tolerance
    assert Status.passed == "passed"
    assert f"{Status.skipped:<8}|{Match.within_tolerance}" == "skipped |within tolerance"
    assert json.dumps([Status.failed, Match.exact]) == '["failed", "exact"]'


def test_the_stages_run_in_the_documented_order() -> None:
    assert [s.name for s in STAGES] == [
        "validate",
        "pull",
        "load",
        "adapter",
        "quantize",
        "canary",
        "serve",
    ]


def test_the_report_is_rendered_from_the_results_alone() -> None:
    finding = Finding(
        Path("manifests/e.yaml"), 1, "differs", "Evaluation/e", "spec.x", "reproduce.b"
    )
    reproduction = Reproduction(
        "Deployment/d",
        "HEAD",
        "c0ffee",
        "(temporary, removed)",
        (
            StageResult(1, "a", Status.passed, 0.5, "fine", {"commit": "c0ffee"}),
            StageResult(
                2, "b", Status.failed, 0.25, "Evaluation/e spec.x: differs", {}, (finding,)
            ),
            StageResult(3, "c", Status.skipped, 0.0, NOT_RUN),
        ),
        0.75,
    )

    markdown = to_markdown(reproduction)
    data = json.loads(to_json(reproduction))

    assert "- result: **FAILED at stage 2 (b)** in 0.8 s" in markdown
    assert "| 2 | b | FAIL | 0.25 | Evaluation/e spec.x: differs |" in markdown
    assert "| 3 | c | skip | 0.00 | not run: an earlier stage failed |" in markdown
    assert [s["status"] for s in data["stages"]] == ["passed", "failed", "skipped"]
    assert data["failedStage"] == "b"
    assert data["stages"][1]["findings"] == [finding.as_dict()]
    assert reproduction.findings == (finding,)


# ------------------------------------------------------- the real stages, small repositories


def _committed(make_repo: Callable[[dict[str, Any]], Path], data: dict[str, Any]) -> Path:
    root = make_repo(data)
    repo = git.Repo.init(root)
    repo.git.add(A=True)
    repo.index.commit("the deployment")
    return root


def test_files_missing_from_dvc_fail_stage_2_naming_each_manifest_file(
    make_repo: Any, manifests: Any, tmp_path: Path
) -> None:
    root = _committed(make_repo, manifests)

    result = reproduce(root, "Deployment/search", workdir=tmp_path / "w")

    assert [s.status for s in result.stages] == ["passed", "failed"] + ["skipped"] * 5
    pull = result.stages[1]
    assert pull.summary.endswith("(Adapter/lora spec.files[0].path)")
    assert len(pull.findings) == len(pull.details["problems"]) > 1
    first = pull.findings[0]
    assert (first.path, first.line, first.ref, first.field, first.check) == (
        Path("manifests/adapter.yaml"),
        1,
        "Adapter/lora",
        "spec.files[0].path",
        "reproduce.pull",
    )
    assert pull.summary.startswith(first.message)
    assert len(result.commit) == 40


def test_what_the_user_got_wrong_is_a_usage_error_not_a_failed_stage(
    make_repo: Any, manifests: Any, tmp_path: Path
) -> None:
    """A deployment missing at REV, a revision that does not exist, a work directory inside
    the repository: exit 2 with one line, not a 7-stage report saying the deployment failed."""
    root = _committed(make_repo, manifests)

    with pytest.raises(UsageError, match=r"Deployment/nope: no such deployment at HEAD \("):
        reproduce(root, "Deployment/nope", workdir=tmp_path / "w")
    with pytest.raises(UsageError, match="--rev nope: not a revision"):
        reproduce(root, "Deployment/search", rev="nope", workdir=tmp_path / "w2")
    with pytest.raises(UsageError, match="inside the repository"):
        reproduce(root, "Deployment/search", workdir=root / "manifests" / "clone")
    assert not (root / "manifests" / "clone").exists()
    for args in (["Deployment/nope"], ["Deployment/search", "--report", str(tmp_path / "r.txt")]):
        assert main(["reproduce", *args, "--root", str(root)]) == 2


def test_a_finding_about_a_manifest_points_at_its_file(make_repo: Any, manifests: Any) -> None:
    from toolkit.workflows.artifacts.verify import load_graph

    graph = load_graph(make_repo(manifests))

    known = manifest_finding(graph, "differs", "Model/base", "spec.files[0].sha256")
    unknown = manifest_finding(graph, "differs", "Model/none", "spec")

    assert (known.path, known.line) == (Path("manifests/model.yaml"), 1)
    assert (unknown.path, unknown.line) == (None, 0)


def test_reproduce_and_canary_do_not_import_each_other() -> None:
    import grimp

    graph = grimp.build_graph("toolkit", exclude_type_checking_imports=True)
    package = "toolkit.workflows.reproduce"
    modules = sorted(m for m in graph.modules if m.startswith(f"{package}."))

    for importer in modules:
        for imported in modules:
            if importer != imported and graph.find_shortest_chain(importer, imported):
                assert not graph.find_shortest_chain(imported, importer), (importer, imported)
