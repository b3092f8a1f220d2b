"""Reproduce stage 7 (with --serve): the API contract served on localhost, the canary sent
through it, every answer checked against the contract and against stage 6's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.workflows.reproduce.canary import describe, failure, first_difference
from toolkit.workflows.reproduce.results import Served, StageFailed, manifest_finding

if TYPE_CHECKING:
    from toolkit.bridges.ml import Encoder
    from toolkit.bridges.serving import Contract
    from toolkit.bridges.serving_client import TrafficResult
    from toolkit.workflows.reproduce.results import CanaryOutcome, CheckedOut, Request

Problem = tuple[str | None, str]
"""The Deployment field involved (None when none is) and what is wrong."""


@dataclass(frozen=True)
class _Plan:
    """What to send: the canary queries in the protocol's batches, as the contract wants."""

    contract: Contract
    batch: int
    max_length: int
    texts: tuple[str, ...]
    bodies: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _Answers:
    """What the server answered."""

    health: int
    traffic: TrafficResult
    invalid: TrafficResult
    metrics_status: int
    metrics_text: str


def serve_canary(request: Request, checked: CheckedOut, canary: CanaryOutcome) -> Served:
    """Serve the API contract on localhost, send the canary through it, check the answers."""
    if not request.serve:
        return Served(asked=False)
    ref = checked.deployment.ref
    if canary.encoder is None:
        raise failure(
            checked,
            ref,
            "spec.api",
            "keel serves embedding and retrieval contracts so far; this deployment's canary is "
            "not an embedding task",
        )
    plan = _plan(checked, canary)
    answers = _exchange(plan, canary.encoder)
    traffic, invalid = answers.traffic, answers.invalid
    served = Served(
        asked=True,
        requests=len(plan.bodies),
        texts=len(plan.texts),
        latency_ms={k: round(v, 2) for k, v in traffic.latency_percentiles().items()}
        if traffic.exchanges
        else {},
        healthz=answers.health,
        invalid_input_status=invalid.exchanges[0].status if invalid.exchanges else None,
    )
    problems = _contract_problems(ref, plan.contract, answers) or _embedding_problems(
        plan, canary, answers
    )
    if problems:
        lines = [f"{ref} {field}: {message}" if field else message for field, message in problems]
        raise StageFailed(
            lines[0],
            findings=tuple(
                manifest_finding(checked.graph, message, ref, field) for field, message in problems
            ),
            details={**served.details, "problems": lines},
        )
    return served


def _plan(checked: CheckedOut, canary: CanaryOutcome) -> _Plan:
    from toolkit.bridges.serving import Contract

    deployment = checked.deployment
    protocol = checked.canary.spec.protocol if checked.canary else None
    batch = min(deployment.spec.serving.max_batch_size, protocol.batch_size if protocol else 16)
    max_length = protocol.max_length if protocol else deployment.spec.serving.max_input_tokens
    try:
        contract = Contract.of(deployment)
    except ValueError as error:
        message = str(error)
        raise StageFailed(
            f"{deployment.ref} {message}",
            findings=(manifest_finding(checked.graph, message, deployment.ref, "spec.api"),),
        ) from None
    texts = tuple(row.get("query", row.get("text", "")) for row in canary.rows)
    bodies = tuple(
        {contract.texts_field: list(texts[i : i + batch])} for i in range(0, len(texts), batch)
    )
    return _Plan(contract, batch, max_length, texts, bodies)


def _exchange(plan: _Plan, encoder: Encoder) -> _Answers:
    """Serve the contract, send the plan, a body outside the input schema, and read
    /healthz and /metrics."""
    from toolkit.bridges.serving import ContractServer
    from toolkit.bridges.serving_client import fetch, send_requests

    def embed(chunk: list[str]) -> list[list[float]]:
        return encoder.embed(chunk, batch_size=plan.batch, max_length=plan.max_length).tolist()

    with ContractServer(plan.contract, embed) as server:
        health = fetch(server.url, "/healthz")
        traffic = send_requests(server.url, list(plan.bodies), contract=plan.contract)
        invalid = send_requests(server.url, [{"unexpected": True}])
        metrics_status, metrics_text = fetch(server.url, "/metrics")
    return _Answers(health[0], traffic, invalid, metrics_status, metrics_text)


def _contract_problems(ref: str, contract: Contract, answers: _Answers) -> list[Problem]:
    """Where the server broke the contract: errors, health, error statuses, metrics."""
    problems: list[Problem] = [(None, error) for error in answers.traffic.errors]
    if answers.health != 200:
        problems.append((None, f"/healthz answered {answers.health}"))
    expected = contract.status("invalid_input")
    invalid = answers.invalid.exchanges
    if not invalid or invalid[0].status != expected:
        got = invalid[0].status if invalid else "no answer"
        problems.append(
            (
                "spec.api.errors",
                f"a body outside inputSchema got {got}, the contract says invalid_input {expected}",
            )
        )
    if answers.metrics_status != 200 or "keel_request_duration_seconds" not in answers.metrics_text:
        problems.append((None, "/metrics does not report keel_request_duration_seconds"))
    return problems


def _embedding_problems(plan: _Plan, canary: CanaryOutcome, answers: _Answers) -> list[Problem]:
    """The served embeddings must be bit-identical to stage 6's query outputs."""
    from toolkit.bridges import tensors

    served = [vector for e in answers.traffic.exchanges for vector in e.body.get("embeddings", [])]
    served_tensor = tensors.from_rows(served)
    queries = canary.outputs[: len(plan.texts)]
    if tensors.equal(served_tensor, queries):
        return []
    first = first_difference(served_tensor, queries, canary.rows, "retrieval")
    return [(None, f"served embeddings differ from the canary run; first: {describe(first)}")]
