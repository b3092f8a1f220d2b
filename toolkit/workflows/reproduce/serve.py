"""Reproduce stage 7 (with --serve): the API contract served on localhost, the canary sent
through it, every answer checked against the contract and against stage 6's outputs.

Embedding and retrieval contracts are checked here; generation and classification in
`serve_models`; what every contract must show in `serve_contract`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.workflows.reproduce.canary import describe, failure, first_difference
from toolkit.workflows.reproduce.results import Served
from toolkit.workflows.reproduce.serve_contract import (
    Answers,
    Problem,
    contract_of,
    contract_problems,
    fail_on,
)

if TYPE_CHECKING:
    from toolkit.bridges.ml import Encoder
    from toolkit.bridges.serving_contract import Contract
    from toolkit.workflows.reproduce.results import (
        CanaryOutcome,
        CheckedOut,
        Loaded,
        Quantized,
        Request,
    )


@dataclass(frozen=True)
class _Plan:
    """What to send: the canary queries in the protocol's batches, as the contract wants."""

    contract: Contract
    batch: int
    max_length: int
    texts: tuple[str, ...]
    bodies: tuple[dict[str, Any], ...]


def serve_canary(
    request: Request,
    checked: CheckedOut,
    canary: CanaryOutcome,
    loaded: Loaded | None = None,
    quantized: Quantized | None = None,
) -> Served:
    """Serve the API contract on localhost, send the canary through it, check the answers.

    Generation and classification need the model stage 6 ran (`loaded`'s tokenizer and the
    `quantized` model); embedding serves stage 6's encoder."""
    if not request.serve:
        return Served(asked=False)
    contract = contract_of(checked)
    if contract.kind != "embedding":
        from toolkit.workflows.reproduce.serve_models import serve_model_canary

        if loaded is None or quantized is None:
            raise failure(checked, checked.deployment.ref, "spec.api", "no model to serve")
        return serve_model_canary(checked, canary, contract, loaded.tokenizer, quantized.model)
    if canary.encoder is None:
        raise failure(
            checked,
            checked.deployment.ref,
            "spec.api",
            "an embedding contract (an array of texts in api.inputSchema) needs an embedding "
            "or retrieval canary Evaluation; give the schema a prompt (generation) or "
            '"task": "classification"',
        )
    plan = _plan(checked, canary, contract)
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
    problems = contract_problems(contract, answers) or _embedding_problems(plan, canary, answers)
    return fail_on(checked, served, problems)


def _plan(checked: CheckedOut, canary: CanaryOutcome, contract: Contract) -> _Plan:
    deployment = checked.deployment
    protocol = checked.canary.spec.protocol if checked.canary else None
    batch = min(deployment.spec.serving.max_batch_size, protocol.batch_size if protocol else 16)
    max_length = protocol.max_length if protocol else deployment.spec.serving.max_input_tokens
    texts = tuple(row.get("query", row.get("text", "")) for row in canary.rows)
    bodies = tuple(
        {contract.texts_field: list(texts[i : i + batch])} for i in range(0, len(texts), batch)
    )
    return _Plan(contract, batch, max_length, texts, bodies)


def _exchange(plan: _Plan, encoder: Encoder) -> Answers:
    """Serve the contract, send the plan, a body outside the input schema, and read
    /healthz and /metrics."""
    from toolkit.bridges.serving import ContractServer
    from toolkit.bridges.serving_client import fetch, send_requests
    from toolkit.bridges.serving_models import embed_function

    embed = embed_function(encoder, plan.batch, plan.max_length)
    with ContractServer(plan.contract, embed) as server:
        health = fetch(server.url, "/healthz")
        traffic = send_requests(server.url, list(plan.bodies), contract=plan.contract)
        invalid = send_requests(server.url, [{"unexpected": True}])
        metrics_status, metrics_text = fetch(server.url, "/metrics")
    return Answers(health[0], traffic, invalid, metrics_status, metrics_text)


def _embedding_problems(plan: _Plan, canary: CanaryOutcome, answers: Answers) -> list[Problem]:
    """The served embeddings must be bit-identical to stage 6's query outputs."""
    from toolkit.bridges import tensors

    served = [vector for e in answers.traffic.exchanges for vector in e.body.get("embeddings", [])]
    served_tensor = tensors.from_rows(served)
    queries = canary.outputs[: len(plan.texts)]
    if tensors.equal(served_tensor, queries):
        return []
    first = first_difference(served_tensor, queries, canary.rows, "retrieval")
    return [(None, f"served embeddings differ from the canary run; first: {describe(first)}")]
