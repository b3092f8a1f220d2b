"""Every workflow gate: the valid set passes, and each break gives its one-line finding."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

Manifests = dict[str, dict[str, Any]]


def findings_of(root: Path) -> list[str]:
    """Rendered findings with paths relative to the repository, as `keel validate` prints them."""
    return [replace(f, path=f.path.relative_to(root)).render() for f in validate(root).findings]


def test_the_complete_deployment_is_valid(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    result = validate(make_repo(manifests))
    assert result.findings == ()
    assert result.manifests == len(manifests) == 16
    assert result.ok


def _set(data: Manifests, stem: str, path: str, value: Any) -> None:
    target: Any = data[stem]["spec"]
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


GATE_CASES = [
    pytest.param(
        "eval-search-canary",
        "metrics.0.value",
        0.75,
        "manifests/deployment.yaml:16: Deployment/search: spec.evaluations[0]: "
        "Evaluation/search-canary "
        "recall_at_1 = 0.75 is below the minimum 0.8 required by Requirements/search",
        id="requirements-quality",
    ),
    pytest.param(
        "eval-search-canary",
        "latency.p99Ms",
        250.0,
        "Deployment/search: spec.evaluations[0]: Evaluation/search-canary latency p99 = 250 ms "
        "exceeds the ceiling 100 ms of Requirements/search",
        id="requirements-latency",
    ),
    pytest.param(
        "eval-search-canary",
        "metrics.0.name",
        "mrr",
        "Deployment/search: spec.evaluations: no Evaluation of Deployment/search measures "
        "recall_at_1 on Dataset/canary, which Requirements/search requires",
        id="requirements-metric-missing",
    ),
    pytest.param(
        "adapter",
        "base.digest",
        "sha256:" + "0" * 64,
        "Adapter/lora: spec.base.digest: recorded base digest sha256:"
        + "0" * 64
        + " is not the weights digest of Model/base",
        id="adapter-base-digest",
    ),
    pytest.param(
        "eval-lora-canary",
        "metrics.0.value",
        0.79,
        "Adapter/lora: spec.evaluations.task.evaluation: task score recall_at_1 = 0.79 does not "
        "beat the base's 0.8 (Evaluation/base-canary)",
        id="adapter-task-score",
    ),
    pytest.param(
        "eval-lora-general",
        "metrics.0.value",
        0.9,
        "Adapter/lora: spec.evaluations.general.tolerance: general score cosine drops by 0.1 "
        "from the base's 1 (Evaluation/base-general) to 0.9; tolerance is 0.05",
        id="adapter-general-score",
    ),
    pytest.param(
        "eval-int8-canary",
        "metrics.0.value",
        0.85,
        "Quantization/int8: spec.maxDegradation.by: recall_at_1 degrades by 0.05 from 0.9 "
        "(Evaluation/lora-canary) to 0.85 (Evaluation/int8-canary); at most 0.02 is allowed",
        id="quantization-degradation",
    ),
    pytest.param(
        "tokenizer",
        "model",
        "Model/other",
        "Deployment/search: spec.tokenizer: Tokenizer/base is paired with Model/other, not with "
        "the Deployment's Model/base",
        id="tokenizer-pairing",
    ),
]


@pytest.mark.parametrize(("stem", "path", "value", "expected"), GATE_CASES)
def test_each_gate_fails_with_its_one_line_message(
    manifests: Manifests,
    make_repo: Callable[..., Path],
    stem: str,
    path: str,
    value: Any,
    expected: str,
) -> None:
    _set(manifests, stem, path, value)
    root = make_repo(manifests)
    found = findings_of(root)
    assert any(expected in f for f in found), found
    assert not validate(root).ok


def test_hub_model_must_pin_a_full_commit(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    _set(manifests, "model", "source.hub.revision", "main")
    found = findings_of(make_repo(manifests))
    assert len(found) == 1
    assert found[0] == (
        "manifests/model.yaml:11: Model/base: spec.source.hub.revision: "
        "expected a full 40-hex commit sha, "
        "got 'main' (a branch, tag or short sha can move; pin the commit)"
    )


def test_short_sha_is_not_a_pin(manifests: Manifests, make_repo: Callable[..., Path]) -> None:
    _set(manifests, "model", "source.hub.revision", "c9745ed")
    assert "expected a full 40-hex commit sha" in findings_of(make_repo(manifests))[0]


def test_a_deployment_needs_an_evaluation_of_itself(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    manifests["deployment"]["spec"]["evaluations"] = ["Evaluation/int8-canary"]
    found = findings_of(make_repo(manifests))
    assert any(
        "spec.evaluations: no cited Evaluation has subject Deployment/search" in f for f in found
    ), found


def test_quantization_compares_on_one_dataset(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    manifests["other-data"] = {
        **manifests["canary"],
        "metadata": {**manifests["canary"]["metadata"], "name": "other"},
    }
    _set(manifests, "eval-int8-canary", "dataset", "Dataset/other")
    found = findings_of(make_repo(manifests))
    assert any("compare on the same Dataset" in f for f in found), found


def test_adapter_evaluation_needs_a_baseline(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    del manifests["eval-lora-canary"]["spec"]["baseline"]
    found = findings_of(make_repo(manifests))
    assert any("Evaluation/lora-canary has no spec.baseline" in f for f in found), found


@pytest.mark.parametrize(
    ("stem", "path", "value", "expected"),
    [
        (
            "adapter",
            "base.model",
            "Model/other",
            "spec.base.model: Model/other does not exist in the manifests",
        ),
        ("deployment", "runbook", "Runbook/nope", "spec.runbook: Runbook/nope does not exist"),
        (
            "requirements",
            "quality.0.dataset",
            "Dataset/gone",
            "Requirements/search: spec.quality[0].dataset: Dataset/gone does not exist",
        ),
    ],
)
def test_references_resolve(
    manifests: Manifests,
    make_repo: Callable[..., Path],
    stem: str,
    path: str,
    value: Any,
    expected: str,
) -> None:
    _set(manifests, stem, path, value)
    assert any(expected in f for f in findings_of(make_repo(manifests)))


def test_duplicate_names_are_reported_once(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    manifests["copy"] = manifests["runbook"]
    found = findings_of(make_repo(manifests))
    assert len(found) == 1
    assert found[0] == (
        "manifests/runbook.yaml:4: Runbook/search: metadata.name: duplicate name: Runbook/search "
        "is already defined at manifests/copy.yaml:4"
    )


CONSISTENCY_CASES = [
    ("quantization", "model", "Model/base2", "quantizes Model/base2, not Model/base"),
    (
        "quantization",
        "adapter",
        None,
        "was derived with no adapter merged, but the Deployment serves Adapter/lora",
    ),
    (
        "requirements",
        "contextLength",
        1024,
        "needs 1024-token inputs but Tokenizer/base truncates at 512",
    ),
    (
        "requirements",
        "memoryCeilingBytes",
        1000,
        "needs 29527181 bytes, over the 1000-byte ceiling",
    ),
    (
        "deployment",
        "api.inputSchema",
        {"type": "objekt"},
        "spec.api.inputSchema: not a valid JSON Schema",
    ),
]


@pytest.mark.parametrize(("stem", "path", "value", "expected"), CONSISTENCY_CASES)
def test_parts_of_a_deployment_agree(
    manifests: Manifests,
    make_repo: Callable[..., Path],
    stem: str,
    path: str,
    value: Any,
    expected: str,
) -> None:
    if value == "Model/base2":
        manifests["model2"] = {
            **manifests["model"],
            "metadata": {**manifests["model"]["metadata"], "name": "base2"},
        }
    _set(manifests, stem, path, value)
    found = findings_of(make_repo(manifests))
    assert any(expected in f for f in found), found


def test_an_unreadable_manifest_does_not_make_its_neighbours_fail(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    root = make_repo(manifests)
    path = root / "manifests" / "canary.yaml"
    path.write_text(path.read_text() + "kind: Dataset\n")  # a duplicate key: the file won't load
    found = findings_of(root)
    assert found == ["manifests/canary.yaml:19: duplicate key 'kind'"]


def test_training_run_base_digest_must_match(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    _set(manifests, "training", "baseDigest", "sha256:" + "1" * 64)
    found = findings_of(make_repo(manifests))
    assert len(found) == 1
    assert "TrainingRun/lora: spec.baseDigest: recorded base digest sha256:111" in found[0]


def test_adapter_baseline_must_evaluate_the_base_model(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    _set(manifests, "eval-lora-general", "baseline", "Evaluation/search-canary")
    found = findings_of(make_repo(manifests))
    assert any(
        "the baseline of Evaluation/lora-general must evaluate Model/base on Dataset/canary; "
        "Evaluation/search-canary evaluates Deployment/search on Dataset/canary" in f
        for f in found
    ), found


def test_digits_in_field_names_stay_lower_case(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    manifests["requirements"]["spec"]["costPer1kRequests"] = 0.05
    assert findings_of(make_repo(manifests)) == []


def test_json_manifests_may_name_their_schema(tmp_path: Path, manifests: Manifests) -> None:
    import json

    root = tmp_path / "repo"
    (root / "manifests").mkdir(parents=True)
    for stem, data in manifests.items():
        document = {"$schema": "../schemas/x.schema.json", **data}
        (root / "manifests" / f"{stem}.json").write_text(json.dumps(document, indent=2))
    assert [f.render() for f in validate(root).findings] == []


def test_every_reporter_renders_the_gates_findings(
    manifests: Manifests, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One report (findings and a summary line) in every format of `REPORTERS`."""
    import json

    from toolkit.core.reporters import REPORTERS

    del manifests["eval-search-canary"]["spec"]["latency"]
    root = make_repo(manifests)
    monkeypatch.chdir(root)
    result = validate(root)
    where = "manifests/deployment.yaml:15"
    message = (
        "no Evaluation of Deployment/search records latency, which Requirements/search caps "
        "(p95 50 ms, p99 100 ms); Evaluation/search-canary has no spec.latency"
    )
    summary = "16 manifests in 16 files: 1 problem"

    rendered = {name: reporter(result) for name, reporter in REPORTERS.items()}

    assert set(rendered) == {"text", "json", "github", "markdown", "html"}
    assert rendered["text"].splitlines() == [
        f"{where}: Deployment/search: spec.evaluations: {message}",
        summary,
    ]
    assert json.loads(rendered["json"])["findings"][0]["message"] == message
    assert (
        rendered["github"]
        .splitlines()[0]
        .startswith(
            "::error file=manifests/deployment.yaml,line=15,title=keel gates%3A Deployment/search::"
            "spec.evaluations: no Evaluation"
        )
    )
    assert rendered["markdown"].splitlines() == [
        f"- **error** `{where}` Deployment/search `spec.evaluations`: {message}",
        "",
        summary,
    ]
    assert rendered["html"].startswith(
        '<ul class="findings"><li class="finding"><span class="severity severity-error">error'
        f"</span> <code>{where}</code> Deployment/search <code>spec.evaluations</code>: "
    )
    assert rendered["html"].endswith(f'</ul><p class="summary">{summary}</p>')


def test_an_untimed_evaluation_is_no_finding_when_another_own_one_is_timed(
    manifests: Manifests, make_repo: Callable[..., Path]
) -> None:
    """The Requirements cap latency and the Deployment's second own Evaluation records it: the
    first one's missing latency is no finding (latency is measured), and the timed one's
    values are held against the ceilings."""
    timed = {"p50Ms": 4.0, "p95Ms": 60.0, "p99Ms": 8.0, "requests": 40}
    second = {**manifests["eval-search-canary"]}
    second["metadata"] = {**second["metadata"], "name": "search-timed"}
    second["spec"] = {**second["spec"], "latency": timed}
    manifests["eval-search-timed"] = second
    del manifests["eval-search-canary"]["spec"]["latency"]
    manifests["deployment"]["spec"]["evaluations"].append("Evaluation/search-timed")
    found = findings_of(make_repo(manifests))
    assert found == [
        "manifests/deployment.yaml:18: Deployment/search: spec.evaluations[2]: "
        "Evaluation/search-timed latency p95 = 60 ms exceeds the ceiling 50 ms of "
        "Requirements/search"
    ]
