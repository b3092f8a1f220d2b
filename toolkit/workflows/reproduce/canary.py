"""Reproduce stage 6: the canary against its record.

Where the recorded environment fingerprint (library versions, CPU capability, quantized
engine) equals this one, the outputs must be bit-identical: a single differing bit is a
failure. Where it differs, the outputs must stay within the tolerance the Evaluation records.
"exact" and "within tolerance" are reported as different outcomes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.workflows.evaluation.tasks import REQUEST_FIELD
from toolkit.workflows.reproduce.results import (
    CanaryOutcome,
    Match,
    StageFailed,
    manifest_finding,
)

if TYPE_CHECKING:
    from toolkit.manifests import Evaluation
    from toolkit.workflows.reproduce.results import CheckedOut, Loaded, Quantized


def compare_canary(checked: CheckedOut, loaded: Loaded, quantized: Quantized) -> CanaryOutcome:
    """Run the canary Evaluation again with its recorded protocol on the reproduced model and
    compare the outputs with the record: bit for bit, or within the recorded tolerance."""
    from toolkit.bridges.heads import runner_for
    from toolkit.bridges.ml import Encoder, outputs_digest
    from toolkit.manifests import Dataset
    from toolkit.manifests.evaluation import Protocol
    from toolkit.workflows.evaluation import tasks
    from toolkit.workflows.evaluation.fingerprint import fingerprint_differences

    deployment, evaluation = checked.deployment, checked.canary
    if evaluation is None:
        raise failure(
            checked,
            deployment.ref,
            "spec.evaluations",
            f"none evaluates the deployment on its canary dataset {deployment.spec.canary.dataset}",
        )
    spec = evaluation.spec
    protocol = spec.protocol or Protocol(task="retrieval")
    dataset = checked.graph.get_as(spec.dataset, Dataset)
    if dataset is None:  # validation resolved every reference; kept for a clear message
        raise failure(checked, evaluation.ref, "spec.dataset", f"{spec.dataset} does not exist")
    rows = tasks.read_rows(checked.workdir, dataset, protocol.task)
    runner = runner_for(protocol.task, loaded.tokenizer, quantized.model)
    run = tasks.run(runner, rows, protocol)
    digest = outputs_digest(run.outputs)
    differences = fingerprint_differences(spec)
    details: dict[str, Any] = {
        "evaluation": evaluation.ref,
        "examples": len(rows),
        "outputsDigest": digest,
        "recordedDigest": spec.outputs.digest,
        "fingerprint": differences if differences else "same",
        "metrics": run.metrics,
    }
    if digest == spec.outputs.digest:
        match = Match.exact
        details["outcome"] = match
        _check_metrics(checked, evaluation, run.metrics, details)
    else:
        match = Match.within_tolerance
        compare = _tokens_within_rule if protocol.task == "generation" else _within_tolerance
        compared = compare(checked, evaluation, run.outputs, rows, digest, differences, details)
        details = {**details, **compared, "outcome": match}
    encoder = runner if isinstance(runner, Encoder) else None
    return CanaryOutcome(evaluation.ref, match, tuple(rows), run.outputs, encoder, details)


def failure(
    checked: CheckedOut, ref: str, field: str, message: str, details: dict[str, Any] | None = None
) -> StageFailed:
    """`ref field: message`, with its finding."""
    return StageFailed(
        f"{ref} {field}: {message}",
        findings=(manifest_finding(checked.graph, message, ref, field),),
        details=details,
    )


def _check_metrics(
    checked: CheckedOut, evaluation: Evaluation, metrics: dict[str, float], details: dict[str, Any]
) -> None:
    """Identical outputs must give every recorded metric this run recomputed."""
    findings, lines = [], []
    for index, metric in enumerate(evaluation.spec.metrics):
        value = metrics.get(metric.name)
        if value is not None and round(value, 4) != round(metric.value, 4):
            field = f"spec.metrics[{index}]"
            message = f"recorded {metric.value}, the identical outputs give {value}"
            findings.append(manifest_finding(checked.graph, message, evaluation.ref, field))
            lines.append(f"{evaluation.ref} {field} ({metric.name}): {message}")
    if lines:
        raise StageFailed(
            lines[0], findings=tuple(findings), details={**details, "metricDifferences": lines}
        )


def _within_tolerance(
    checked: CheckedOut,
    evaluation: Evaluation,
    outputs: Any,
    rows: list[dict[str, Any]],
    digest: str,
    differences: dict[str, str],
    details: dict[str, Any],
) -> dict[str, Any]:
    """The first differing example and the worst rows, when the outputs differ from the record
    but stay within the recorded tolerance on another environment; else StageFailed."""
    spec, ref = evaluation.spec, evaluation.ref

    def fail(field: str, message: str, **found: Any) -> StageFailed:
        return failure(checked, ref, field, message, {**details, **found})

    recorded = _recorded_outputs(checked, evaluation, digest, details)
    first = first_difference(outputs, recorded, rows, spec.protocol.task if spec.protocol else "")
    example = f"first differing example: {describe(first)}"
    if not differences:
        raise fail(
            "spec.outputs.digest",
            f"outputs differ on the recorded environment (bit-identical expected); {example}",
            firstDifference=first,
        )
    tolerance = spec.tolerance
    if tolerance is None:
        raise fail(
            "spec.tolerance",
            f"the environment differs ({_changes(differences)}) and no tolerance is recorded; "
            f"{example}",
            firstDifference=first,
        )
    worst = worst_rows(outputs, recorded)
    found = {"firstDifference": first, "worst": worst}
    if tolerance.max_abs_diff is not None and worst["maxAbsDiff"] > tolerance.max_abs_diff:
        message = f"{worst['maxAbsDiff']:.3g} exceeds {tolerance.max_abs_diff}; {example}"
        raise fail("spec.tolerance.maxAbsDiff", message, **found)
    if tolerance.min_cosine is not None and worst["minCosine"] < tolerance.min_cosine:
        message = f"{worst['minCosine']:.6f} is below {tolerance.min_cosine}; {example}"
        raise fail("spec.tolerance.minCosine", message, **found)
    return found


def _tokens_within_rule(
    checked: CheckedOut,
    evaluation: Evaluation,
    outputs: Any,
    rows: list[dict[str, Any]],
    digest: str,
    differences: dict[str, str],
    details: dict[str, Any],
) -> dict[str, Any]:
    """Generated token ids against the record: identical on the recorded environment; on
    another, identical over each row's first `tolerance.firstTokens` (all of them without it).
    A token id is not a measurement: no distance between ids is a tolerance."""
    spec, ref = evaluation.spec, evaluation.ref
    recorded = _recorded_outputs(checked, evaluation, digest, details)
    first = first_token_difference(outputs.tolist(), recorded.tolist(), rows)
    found = {"firstDifference": first}

    def fail(field: str, message: str) -> StageFailed:
        return failure(checked, ref, field, message, {**details, **found})

    example = f"first differing token: {describe_token(first)}"
    if not differences:
        raise fail(
            "spec.outputs.digest",
            f"generated tokens differ on the recorded environment (identical expected); {example}",
        )
    limit = spec.tolerance.first_tokens if spec.tolerance else None
    if limit is None:
        raise fail(
            "spec.tolerance.firstTokens",
            f"the environment differs ({_changes(differences)}) and every generated token must "
            f"be identical (no tolerance.firstTokens recorded); {example}",
        )
    if first is not None and first.get("token", 0) < limit:
        raise fail(
            "spec.tolerance.firstTokens",
            f"token {first['token']} differs, within the first {limit} that must be identical; "
            f"{example}",
        )
    return {**found, "identicalFirstTokens": limit}


def first_token_difference(
    outputs: list[list[float]], recorded: list[list[float]], rows: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The first row and position where the generated ids differ from the record (-1: no
    token, the generation had stopped), or the shapes when they differ."""
    shapes = [len(outputs), len(outputs[0]) if outputs else 0]
    recorded_shape = [len(recorded), len(recorded[0]) if recorded else 0]
    if shapes != recorded_shape:
        return {"shape": shapes, "recordedShape": recorded_shape}
    for index, (got, was) in enumerate(zip(outputs, recorded, strict=True)):
        position = next((i for i, (a, b) in enumerate(zip(got, was, strict=True)) if a != b), None)
        if position is not None:
            row = rows[index] if index < len(rows) else {}
            return {
                "row": index,
                "example": row.get("id"),
                "token": position,
                "id": int(got[position]),
                "recordedId": int(was[position]),
            }
    return None


def describe_token(first: dict[str, Any] | None) -> str:
    if first is None:
        return "none (the tokens are identical)"
    if "shape" in first:
        return f"shape {first['shape']} vs recorded {first['recordedShape']}"
    return (
        f"row {first['row']} ({first['example']}), new token {first['token']}: id "
        f"{first['id']}, recorded {first['recordedId']}"
    )


def _recorded_outputs(
    checked: CheckedOut, evaluation: Evaluation, digest: str, details: dict[str, Any]
) -> Any:
    """The outputs file the Evaluation recorded, checked against its recorded digest."""
    from toolkit.bridges.ml import outputs_digest
    from toolkit.workflows.evaluation import evaluate

    spec, ref = evaluation.spec, evaluation.ref
    recorded = evaluate.load_outputs(checked.workdir, evaluation)
    if recorded is None:
        message = (
            f"recorded {spec.outputs.digest}, got {digest}; no outputs file was recorded "
            "(spec.outputs.path), so the differing example cannot be named"
        )
        raise failure(checked, ref, "spec.outputs.digest", message, details)
    recorded_digest = outputs_digest(recorded)
    if recorded_digest != spec.outputs.digest:
        message = (
            f"{spec.outputs.path} holds outputs with digest {recorded_digest}, not the recorded "
            f"{spec.outputs.digest}"
        )
        raise failure(checked, ref, "spec.outputs.path", message, details)
    return recorded


def first_difference(
    outputs: Any, recorded: Any, rows: list[dict[str, Any]] | tuple[dict[str, Any], ...], task: str
) -> dict[str, Any] | None:
    """The first output row that is not bit-identical to the record, with what it was."""
    from toolkit.bridges.tensors import first_differing_row, shape

    if shape(outputs) != shape(recorded):
        return {"shape": shape(outputs), "recordedShape": shape(recorded)}
    difference = first_differing_row(outputs, recorded)
    if difference is None:
        return None
    index = difference.row
    row = index % len(rows) if rows else index
    part = (
        ("query" if index < len(rows) else "passage")
        if task == "retrieval"
        else REQUEST_FIELD.get(task, "text")
    )
    return {
        "row": index,
        "example": rows[row].get("id") if rows else None,
        "field": part,
        "text": str(rows[row].get(part, ""))[:80] if rows else "",
        "maxAbsDiff": difference.max_abs_diff,
        "cosine": difference.cosine,
    }


def worst_rows(outputs: Any, recorded: Any) -> dict[str, float]:
    from toolkit.bridges import tensors

    max_abs_diff, min_cosine = tensors.worst_rows(outputs, recorded)
    return {"maxAbsDiff": max_abs_diff, "minCosine": min_cosine}


def describe(first: dict[str, Any] | None) -> str:
    """A first difference in one phrase, for a summary."""
    if first is None:
        return "none (the rows are identical)"
    if "shape" in first:
        return f"shape {first['shape']} vs recorded {first['recordedShape']}"
    return (
        f"row {first['row']} ({first['field']} of {first['example']}: {first['text']!r}), "
        f"max abs diff {first['maxAbsDiff']:.3g}, 1 - cosine {1 - first['cosine']:.2g}"
    )


def _changes(differences: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(differences.items()))
