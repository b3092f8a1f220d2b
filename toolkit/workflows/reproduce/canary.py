"""Reproduce stages 6 and 7: the canary against its record, then through the served API.

Where the recorded environment fingerprint (library versions, CPU capability, quantized
engine) equals this one, the outputs must be bit-identical: a single differing bit is a
failure. Where it differs, the outputs must stay within the tolerance the Evaluation records.
"exact" and "within tolerance" are reported as different outcomes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.workflows.evaluation.tasks import REQUEST_FIELD
from toolkit.workflows.reproduce.reproduce import (
    EXACT,
    WITHIN_TOLERANCE,
    StageFailed,
    canary_evaluation,
)

if TYPE_CHECKING:
    from toolkit.manifests import Evaluation
    from toolkit.workflows.reproduce.reproduce import Context


def compare_canary(context: Context) -> tuple[str, dict[str, Any]]:
    from toolkit.bridges.heads import runner_for
    from toolkit.bridges.ml import Encoder, outputs_digest
    from toolkit.manifests import Dataset
    from toolkit.manifests.evaluation import Protocol
    from toolkit.workflows.evaluation import tasks
    from toolkit.workflows.evaluation.fingerprint import fingerprint_differences

    evaluation = canary_evaluation(context)
    assert context.graph is not None
    assert context.deployment is not None
    if evaluation is None:
        raise StageFailed(
            f"{context.deployment.ref} spec.evaluations: none evaluates the deployment on its "
            f"canary dataset {context.deployment.spec.canary.dataset}"
        )
    spec = evaluation.spec
    protocol = spec.protocol or Protocol(task="retrieval")
    dataset = context.graph.get_as(spec.dataset, Dataset)
    assert dataset is not None
    rows = tasks.read_rows(context.workdir, dataset, protocol.task)
    runner = runner_for(protocol.task, context.tokenizer, context.model)
    context.encoder = runner if isinstance(runner, Encoder) else None
    run = tasks.run(runner, rows, protocol)
    context.canary_outputs, context.canary_rows = run.outputs, rows
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
    metric_problems = _metric_differences(evaluation, run.metrics)
    if digest == spec.outputs.digest:
        outcome = EXACT
    else:
        outcome = _within_tolerance(context, evaluation, run.outputs, rows, differences, details)
    details["outcome"] = outcome
    if metric_problems and outcome == EXACT:
        raise StageFailed(metric_problems[0], **details, metricDifferences=metric_problems)
    return (
        f"{len(rows)} canary examples: {outcome} ({evaluation.ref})",
        details,
    )


def _metric_differences(evaluation: Evaluation, metrics: dict[str, float]) -> list[str]:
    """Recorded metrics this run recomputed and got a different value for."""
    problems = []
    for index, metric in enumerate(evaluation.spec.metrics):
        value = metrics.get(metric.name)
        if value is not None and round(value, 4) != round(metric.value, 4):
            problems.append(
                f"{evaluation.ref} spec.metrics[{index}] ({metric.name}): recorded "
                f"{metric.value}, the identical outputs give {value}"
            )
    return problems


def _within_tolerance(
    context: Context,
    evaluation: Evaluation,
    outputs: Any,
    rows: list[dict[str, Any]],
    differences: dict[str, str],
    details: dict[str, Any],
) -> str:
    from toolkit.workflows.evaluation import evaluate

    spec = evaluation.spec
    recorded = evaluate.load_outputs(context.workdir, evaluation)
    if recorded is None:
        raise StageFailed(
            f"{evaluation.ref} spec.outputs.digest: recorded {spec.outputs.digest}, got "
            f"{details['outputsDigest']}; no outputs file was recorded (spec.outputs.path), so "
            "the differing example cannot be named",
            **details,
        )
    recorded_digest = _digest(recorded)
    if recorded_digest != spec.outputs.digest:
        raise StageFailed(
            f"{evaluation.ref} spec.outputs.path: {spec.outputs.path} holds outputs with digest "
            f"{recorded_digest}, not the recorded {spec.outputs.digest}",
            **details,
        )
    first = first_difference(outputs, recorded, rows, spec.protocol.task if spec.protocol else "")
    details["firstDifference"] = first
    if not differences:
        raise StageFailed(
            f"{evaluation.ref} spec.outputs.digest: outputs differ on the recorded environment "
            f"(bit-identical expected); first differing example: {_describe(first)}",
            **details,
        )
    tolerance = spec.tolerance
    if tolerance is None:
        raise StageFailed(
            f"{evaluation.ref} spec.tolerance: the environment differs ({_changes(differences)}) "
            f"and no tolerance is recorded; first differing example: {_describe(first)}",
            **details,
        )
    worst = worst_rows(outputs, recorded)
    details["worst"] = worst
    if tolerance.max_abs_diff is not None and worst["maxAbsDiff"] > tolerance.max_abs_diff:
        raise StageFailed(
            f"{evaluation.ref} spec.tolerance.maxAbsDiff: {worst['maxAbsDiff']:.3g} exceeds "
            f"{tolerance.max_abs_diff}; first differing example: {_describe(first)}",
            **details,
        )
    if tolerance.min_cosine is not None and worst["minCosine"] < tolerance.min_cosine:
        raise StageFailed(
            f"{evaluation.ref} spec.tolerance.minCosine: {worst['minCosine']:.6f} is below "
            f"{tolerance.min_cosine}; first differing example: {_describe(first)}",
            **details,
        )
    return WITHIN_TOLERANCE


def _digest(tensor: Any) -> str:
    from toolkit.bridges.ml import outputs_digest

    return outputs_digest(tensor)


def first_difference(
    outputs: Any, recorded: Any, rows: list[dict[str, Any]], task: str
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


def _describe(first: dict[str, Any] | None) -> str:
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


def serve_canary(context: Context) -> tuple[str, dict[str, Any]]:
    """Serve the API contract on localhost, send the canary through it, check the answers."""
    from toolkit.bridges import tensors
    from toolkit.bridges.serving import Contract, ContractServer
    from toolkit.bridges.serving_client import fetch, send_requests

    deployment, encoder = context.deployment, context.encoder
    assert deployment is not None
    if encoder is None:
        raise StageFailed(
            f"{deployment.ref} spec.api: keel serves embedding and retrieval contracts so far; "
            "this deployment's canary is not an embedding task"
        )
    evaluation = canary_evaluation(context)
    protocol = evaluation.spec.protocol if evaluation else None
    batch = min(deployment.spec.serving.max_batch_size, protocol.batch_size if protocol else 16)
    max_length = protocol.max_length if protocol else deployment.spec.serving.max_input_tokens
    try:
        contract = Contract.of(deployment)
    except ValueError as error:
        raise StageFailed(f"{deployment.ref} {error}") from None
    texts = [row.get("query", row.get("text", "")) for row in context.canary_rows]
    bodies = [{contract.texts_field: texts[i : i + batch]} for i in range(0, len(texts), batch)]

    def embed(chunk: list[str]) -> list[list[float]]:
        return encoder.embed(chunk, batch_size=batch, max_length=max_length).tolist()

    with ContractServer(contract, embed) as server:
        health = fetch(server.url, "/healthz")
        traffic = send_requests(server.url, bodies, contract=contract)
        invalid = send_requests(server.url, [{"unexpected": True}])
        metrics_status, metrics_text = fetch(server.url, "/metrics")
    problems = list(traffic.errors)
    if health[0] != 200:
        problems.append(f"/healthz answered {health[0]}")
    expected_status = contract.status("invalid_input")
    if not invalid.exchanges or invalid.exchanges[0].status != expected_status:
        got = invalid.exchanges[0].status if invalid.exchanges else "no answer"
        problems.append(
            f"{deployment.ref} spec.api.errors: a body outside inputSchema got {got}, "
            f"the contract says invalid_input {expected_status}"
        )
    if metrics_status != 200 or "keel_request_latency_ms" not in metrics_text:
        problems.append("/metrics does not report keel_request_latency_ms")
    served = [vector for e in traffic.exchanges for vector in e.body.get("embeddings", [])]
    if not problems:
        served_tensor = tensors.from_rows(served)
        queries = context.canary_outputs[: len(texts)]
        if not tensors.equal(served_tensor, queries):
            first = first_difference(served_tensor, queries, context.canary_rows, "retrieval")
            problems.append(
                f"served embeddings differ from the canary run; first: {_describe(first)}"
            )
    details = {
        "requests": len(bodies),
        "texts": len(texts),
        "latencyMs": {k: round(v, 2) for k, v in traffic.latency_percentiles().items()}
        if traffic.exchanges
        else {},
        "healthz": health[0],
        "invalidInputStatus": invalid.exchanges[0].status if invalid.exchanges else None,
    }
    if problems:
        raise StageFailed(problems[0], **details, problems=problems)
    return (
        f"{len(bodies)} requests ({len(texts)} texts) through the API contract: answers "
        "valid and identical to the canary run",
        details,
    )
