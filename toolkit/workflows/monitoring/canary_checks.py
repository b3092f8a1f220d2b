"""The live canary's answers measured and held against the record (see `canary`).

Transport problems are grouped (forty refused connections are one finding that says forty);
metrics are computed only when every row was answered as the contract says, with the same
code `keel evaluate` uses (`evaluation.tasks`, `core.metrics`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from toolkit.bridges.endpoint_client import is_loopback
from toolkit.core.checks.comparable import latency_not_comparable
from toolkit.core.metrics import percentile
from toolkit.workflows.monitoring.canary_result import CanaryRun, Problem

if TYPE_CHECKING:
    from toolkit.bridges.endpoint_client import Reply
    from toolkit.workflows.monitoring.canary import Plan

CLASSES = (
    ("connection refused", "unreachable"),
    ("connection failed", "unreachable"),
    ("no answer within", "timeout"),
    ("HTTP 5", "server-error"),
    ("HTTP 429", "rate-limited"),
    ("not a JSON object", "malformed"),
    ("breaks outputSchema", "schema"),
    ("not sent", "budget"),
    ("HTTP ", "http-status"),
)
EPSILON = 5e-5  # metrics are recorded to 4 places


def measure(plan: Plan, replies: list[Reply], started: float, seconds: float) -> CanaryRun:
    """The run's metrics, latency and findings; then the latency held against the ceilings
    (which needs the run's own record to decide comparability)."""
    from toolkit.workflows.monitoring.canary_record import evaluation_of

    problems = transport_problems(replies)
    outputs: Any = None
    metrics: dict[str, float] = {}
    if not problems:
        shape_problems, outputs, metrics = task_outputs(plan, replies)
        problems += shape_problems
    answered = [r for r in replies if r.ok and r.latency_ms is not None]
    latency = _percentiles([r.latency_ms for r in answered if r.latency_ms is not None])
    if outputs is not None and not problems:
        problems += quality_problems(plan, metrics) + output_problems(plan, outputs)
    hardware, environment = _where(plan.endpoint)
    run = CanaryRun(
        deployment=plan.deployment.ref,
        evaluation=plan.evaluation.ref,
        endpoint=plan.endpoint,
        contract=plan.contract,
        task=plan.protocol.task,
        rows=len(plan.rows),
        requests=sum(r.attempts for r in replies),
        answered=len(answered),
        metrics=metrics,
        recorded={m.name: m.value for m in plan.evaluation.spec.metrics},
        latency_ms=latency,
        problems=tuple(problems),
        started=started,
        seconds=round(seconds, 3),
        outputs_digest=_digest(outputs),
        hardware=hardware,
        environment=environment,
        plan=plan,
    )
    if latency:
        run = replace(run, problems=run.problems + tuple(latency_problems(plan, run)))
    # the record's own check: what --record would write is a valid Evaluation
    evaluation_of(run)
    return run


def transport_problems(replies: list[Reply]) -> list[Problem]:
    """One finding per kind of failure, counting the rows it hit and naming the first."""
    groups: dict[str, list[Reply]] = {}
    for reply in replies:
        if reply.problem is not None:
            groups.setdefault(reply.problem, []).append(reply)
    problems = []
    for message, hit in groups.items():
        check = next((name for marker, name in CLASSES if marker in message), "transport")
        total = len(replies)
        rows = (
            f"row {hit[0].index} of {total}"
            if len(hit) == 1
            else f"{len(hit)} of {total} rows, from row {hit[0].index}"
        )
        problems.append(Problem(check, f"{message} ({rows})"))
    return problems


def task_outputs(plan: Plan, replies: list[Reply]) -> tuple[list[Problem], Any, dict[str, float]]:
    """(wrong-shape findings, the outputs tensor in the record's layout, the task's metrics)."""
    from toolkit.bridges import tensors
    from toolkit.core.metrics import metric_for
    from toolkit.workflows.evaluation.tasks import TASK_METRICS, retrieval_metrics

    bodies = [reply.body or {} for reply in replies]
    rows = plan.rows
    if plan.contract in ("retrieval", "embedding"):
        wanted = 2 if plan.contract == "retrieval" else 1
        vectors = [b.get("embeddings") or [] for b in bodies]
        wrong = [i for i, v in enumerate(vectors) if len(v) != wanted]
        if wrong:
            count = len(vectors[wrong[0]])
            message = f"{count} embeddings for {wanted} texts (row {wrong[0]}, {len(wrong)} rows)"
            return [Problem("schema", message)], None, {}
        if plan.contract == "embedding":
            return [], tensors.from_rows([v[0] for v in vectors]), {}
        queries = tensors.from_rows([v[0] for v in vectors])
        passages = tensors.from_rows([v[1] for v in vectors])
        outputs = tensors.concat_rows([queries, passages])
        return [], outputs, retrieval_metrics(queries, passages)
    if plan.contract == "classification":
        labels = [str((b.get("labels") or [""])[0]) for b in bodies]
        expected = [str(row["label"]) for row in rows]
        scores = [(b.get("scores") or [[]])[0] for b in bodies]
        outputs = tensors.from_rows(scores) if len({len(s) for s in scores}) == 1 else None
        predicted, names = labels, TASK_METRICS["classification"]
    else:
        predicted = [str(b.get("text", "")).strip() for b in bodies]
        expected = [row["reference"] for row in rows]
        outputs = [list(b.get("token_ids") or []) for b in bodies]
        names = TASK_METRICS["generation"]
    metrics = {n: round(float(metric_for(n).compute(predicted, expected)), 4) for n in names}
    return [], outputs, metrics


def quality_problems(plan: Plan, metrics: dict[str, float]) -> list[Problem]:
    """No metric below the recorded canary Evaluation's; the Requirements' bounds on the
    canary dataset, strictly.

    Counted metrics (recall, MRR, accuracy, F1, exact match, ROUGE-L) are held exactly; a
    mean of cosines moves with the vectors, which the record lets move by its tolerance:
    measured on the example, a live int8 MiniLM answering two texts per request gives a mean
    positive cosine 3e-4 away from the batch-of-16 record. So a cosine metric may fall by
    1 - tolerance.minCosine, and by nothing more when no tolerance is recorded."""
    problems = []
    record = plan.evaluation
    tolerance = record.spec.tolerance
    slack = 1 - tolerance.min_cosine if tolerance and tolerance.min_cosine is not None else 0.0
    for metric in record.spec.metrics:
        live = metrics.get(metric.name)
        allowed = slack if "cosine" in metric.name else 0.0
        if live is not None and live < metric.value - allowed - EPSILON:
            within = f" by more than the tolerance {allowed:.4g}" if allowed else ""
            problems.append(
                Problem(
                    "quality",
                    f"{metric.name} = {live} live, below the recorded {metric.value} of "
                    f"{record.ref}{within}",
                )
            )
    if plan.requirements is None:
        return problems
    for threshold in plan.requirements.spec.quality:
        live = metrics.get(threshold.metric)
        if threshold.dataset != record.spec.dataset or live is None:
            continue
        seen = f"{threshold.metric} = {live} live"
        if threshold.min is not None and live < threshold.min:
            problems.append(
                Problem(
                    "requirements",
                    f"{seen}, below the minimum {threshold.min} of {plan.requirements.ref}",
                )
            )
        if threshold.max is not None and live > threshold.max:
            problems.append(
                Problem(
                    "requirements",
                    f"{seen}, above the maximum {threshold.max} of {plan.requirements.ref}",
                )
            )
    return problems


def output_problems(plan: Plan, outputs: Any) -> list[Problem]:
    """The outputs against the recorded ones, by the record's rule: greedy token ids equal;
    vectors within the recorded tolerance (bit-identical when none is recorded)."""
    from toolkit.workflows.evaluation.evaluate import load_outputs

    record = plan.evaluation
    recorded = load_outputs(plan.graph.root, record)
    if recorded is None:
        note = f"{record.ref} keeps no outputs file: the answers are compared by their metrics"
        return [Problem("outputs", note, blocking=False)]
    if plan.contract == "generation":
        return _token_problems(record.ref, outputs, recorded.tolist())
    from toolkit.bridges import tensors

    if tensors.shape(outputs) != tensors.shape(recorded):
        shapes = f"{tensors.shape(outputs)}, recorded {tensors.shape(recorded)}"
        return [Problem("outputs", f"the answers have shape {shapes} in {record.ref}")]
    tolerance = record.spec.tolerance
    max_abs_diff, min_cosine = tensors.worst_rows(outputs, recorded)
    if tolerance is None:
        if tensors.equal(outputs, recorded):
            return []
        return [
            Problem(
                "outputs",
                f"the answers differ from {record.ref}'s outputs (max abs diff "
                f"{max_abs_diff:.3g}) and it records no tolerance",
            )
        ]
    problems = []
    if tolerance.max_abs_diff is not None and max_abs_diff > tolerance.max_abs_diff:
        problems.append(
            Problem(
                "outputs",
                f"max abs diff {max_abs_diff:.3g} exceeds the tolerance "
                f"{tolerance.max_abs_diff} of {record.ref}",
            )
        )
    if tolerance.min_cosine is not None and min_cosine < tolerance.min_cosine:
        problems.append(
            Problem(
                "outputs",
                f"min cosine {min_cosine:.6f} is below the tolerance {tolerance.min_cosine} "
                f"of {record.ref}",
            )
        )
    return problems


def _token_problems(ref: str, live: list[list[int]], recorded: list[list[float]]) -> list[Problem]:
    """Greedy decoding is deterministic: the ids must match the record's (its rows are
    padded with -1, and with the end-of-sequence token after a row stops early)."""
    for index, (got, row) in enumerate(zip(live, recorded, strict=False)):
        want = [int(v) for v in row if v >= 0]
        short, long = (got, want) if len(got) <= len(want) else (want, got)
        tail = long[len(short) :]
        if long[: len(short)] != short or len(set(tail)) > 1:
            first = next(
                (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                min(len(got), len(want)),
            )
            return [
                Problem(
                    "outputs",
                    f"row {index}: token ids differ from {ref}'s greedy outputs from "
                    f"position {first}",
                )
            ]
    if len(live) != len(recorded):
        return [Problem("outputs", f"{len(live)} answers, {ref} records {len(recorded)} rows")]
    return []


def latency_problems(plan: Plan, run: CanaryRun) -> list[Problem]:
    """The SLOs (end to end, what callers are promised; on a loopback endpoint, not while the
    machine is busy); the Requirements' ceilings where the hardware rule finds the measurement
    comparable, else a note saying why not."""
    from toolkit.workflows.monitoring.canary_record import evaluation_of

    problems = []
    slos = plan.deployment.spec.slos
    busy = _busy(run) if is_loopback(plan.endpoint) else None
    for name, ceiling in (("p95", slos.latency_p95_ms), ("p99", slos.latency_p99_ms)):
        value = run.latency_ms[name]
        if value > ceiling:
            message = f"{name} {value} ms exceeds the SLO {ceiling} ms of {plan.deployment.ref}"
            if busy:
                problems.append(Problem("latency", f"{message}, but {busy}", blocking=False))
            else:
                problems.append(Problem("latency", message))
    requirements = plan.requirements
    if requirements is None:
        return problems
    ceilings = requirements.spec.latency
    hardware = ceilings.hardware
    if is_loopback(plan.endpoint):
        reason = latency_not_comparable(evaluation_of(run), hardware)
    else:
        reason = "the endpoint's hardware is not known to the client" if hardware else None
    if reason:
        note = f"latency not held against {requirements.ref}: {reason}"
        return [*problems, Problem("latency", note, blocking=False)]
    for name in ("p50", "p95", "p99"):
        ceiling = getattr(ceilings, f"{name}_ms")
        value = run.latency_ms[name]
        if ceiling is not None and value > ceiling:
            message = f"{name} {value} ms exceeds the ceiling {ceiling} ms of {requirements.ref}"
            problems.append(Problem("latency", message))
    return problems


def _busy(run: CanaryRun) -> str | None:
    """Why this machine was too busy to time a loopback endpoint, or None (the hardware rule's
    load test: a load average above the threads)."""
    load, threads = run.environment.get("loadAverage"), run.hardware.get("threads")
    if load is None or not isinstance(threads, int) or float(load) <= threads:
        return None
    return f"the machine was busy (load average {load} on {threads} threads)"


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    return {f"p{q}": round(percentile(samples, q), 2) for q in (50, 95, 99)}


def _where(endpoint: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The hardware and environment of the measurement: this machine's for a loopback
    endpoint, else only the host (the client cannot see the server's hardware)."""
    from toolkit.bridges.endpoint_client import split_url

    if not is_loopback(endpoint):
        return {"cpu": f"unknown (the endpoint's host {split_url(endpoint)[1]})"}, {}
    from toolkit.workflows.evaluation.fingerprint import environment, hardware

    here = {k: v for k, v in hardware().items() if v is not None}
    env = {k: v for k, v in environment()[1].items() if k in ("cpuCapability", "platform")}
    with contextlib.suppress(OSError, AttributeError):
        env["loadAverage"] = str(round(os.getloadavg()[0], 2))
    return here, env


def _digest(outputs: Any) -> str:
    from toolkit.bridges.ml import outputs_digest

    if outputs is None:
        return outputs_digest([])
    if isinstance(outputs, list):  # token ids per row, of different lengths
        return outputs_digest([[float(v) for v in row] for row in outputs])
    return outputs_digest(outputs)
