"""Reproduce stage 7 for the generation and classification contracts.

Generation: each canary prompt (or chat messages) is sent to POST /v1/completions with
``max_tokens`` = the protocol's maxNewTokens, once whole and once streamed; both answers must
give the token ids stage 6 generated in process (up to and including the first EOS), and the
streamed text must be the whole answer's. Classification: the canary texts in the protocol's
batches to POST /v1/classify; the labels must be stage 6's predictions and the scores the
softmax of its logits, exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.workflows.evaluation.tasks import prompt_of
from toolkit.workflows.reproduce.results import Served
from toolkit.workflows.reproduce.serve_contract import (
    Answers,
    Problem,
    contract_problems,
    fail_on,
)

if TYPE_CHECKING:
    from toolkit.bridges.serving_client import Streamed, TrafficResult
    from toolkit.bridges.serving_contract import Contract
    from toolkit.workflows.reproduce.results import CanaryOutcome, CheckedOut

__all__ = ["expected_tokens", "serve_model_canary"]


def serve_model_canary(
    checked: CheckedOut, canary: CanaryOutcome, contract: Contract, tokenizer: Any, model: Any
) -> Served:
    """Serve `model` by `contract`, send the canary through it, check every answer."""
    protocol = checked.canary.spec.protocol if checked.canary else None
    serving = checked.deployment.spec.serving
    batch = min(serving.max_batch_size, protocol.batch_size if protocol else 16)
    max_length = protocol.max_length if protocol else serving.max_input_tokens
    if contract.kind == "generation":
        max_tokens = protocol.max_new_tokens if protocol else contract.max_tokens[0]
        bodies = [_completion(row, max_tokens) for row in canary.rows]
        answers, streamed = _exchange(contract, _generator(tokenizer, model), bodies, True)
        problems = contract_problems(contract, answers) or _token_problems(
            canary, answers.traffic, streamed, tokenizer, model
        )
        texts = len(bodies)
    else:
        texts_in = [str(row.get("text", "")) for row in canary.rows]
        bodies = [
            {contract.texts_field: texts_in[i : i + batch]} for i in range(0, len(texts_in), batch)
        ]
        classify = _classifier(tokenizer, model, batch, max_length)
        answers, streamed = _exchange(contract, classify, bodies, False)
        problems = contract_problems(contract, answers) or _label_problems(
            canary, answers.traffic, tokenizer, model
        )
        texts = len(texts_in)
    traffic = answers.traffic
    served = Served(
        asked=True,
        requests=len(bodies) + len(streamed),
        streamed=len(streamed),
        texts=texts,
        latency_ms={k: round(v, 2) for k, v in traffic.latency_percentiles().items()}
        if traffic.exchanges
        else {},
        healthz=answers.health,
        invalid_input_status=answers.invalid.exchanges[0].status
        if answers.invalid.exchanges
        else None,
    )
    return fail_on(checked, served, problems)


def _completion(row: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    asked = prompt_of(row)
    key = "prompt" if isinstance(asked, str) else "messages"
    return {key: asked, "max_tokens": max_tokens}


def _generator(tokenizer: Any, model: Any) -> Any:
    from toolkit.bridges.serving_models import CausalLM

    return CausalLM(tokenizer, model)


def _classifier(tokenizer: Any, model: Any, batch: int, max_length: int) -> Any:
    from toolkit.bridges.heads import Classifier
    from toolkit.bridges.serving_models import classify_function

    return classify_function(Classifier(tokenizer, model), batch, max_length)


def _exchange(
    contract: Contract, served_model: Any, bodies: list[dict[str, Any]], streaming: bool
) -> tuple[Answers, list[Streamed]]:
    """Serve, send the bodies (and stream them), a body outside the schema, read
    /healthz and /metrics."""
    from toolkit.bridges.serving import ContractServer
    from toolkit.bridges.serving_client import fetch, send_requests, stream_completion

    path = contract.paths[-1]
    with ContractServer(contract, served_model) as server:
        health = fetch(server.url, "/healthz")
        traffic = send_requests(server.url, bodies, contract=contract, path=path)
        streamed = [stream_completion(server.url, body) for body in bodies] if streaming else []
        invalid = send_requests(server.url, [{"unexpected": True}], path=path)
        metrics_status, metrics_text = fetch(server.url, "/metrics")
    return Answers(health[0], traffic, invalid, metrics_status, metrics_text), streamed


def expected_tokens(row: list[float], eos_ids: frozenset[int]) -> list[int]:
    """Stage 6's new token ids of one prompt: up to the -1 padding, and up to and including
    the first EOS (a batch pads a finished row with the pad token after it)."""
    ids: list[int] = []
    for value in row:
        if value < 0:
            break
        ids.append(int(value))
        if ids[-1] in eos_ids:
            break
    return ids


def _token_problems(
    canary: CanaryOutcome,
    traffic: TrafficResult,
    streamed: list[Streamed],
    tokenizer: Any,
    model: Any,
) -> list[Problem]:
    eos = _generator(tokenizer, model).eos_ids
    rows = canary.outputs.tolist()
    problems: list[Problem] = []
    for exchange, stream, row, example in zip(
        traffic.exchanges, streamed, rows, canary.rows, strict=False
    ):
        expected = expected_tokens(row, eos)
        whole = exchange.body.get("token_ids")
        name = example.get("id", exchange.index)
        if whole != expected:
            message = f"served token ids {whole} differ from the canary run's {expected}"
            problems.append((None, f"canary {name}: {message}"))
        if stream.error is not None or stream.token_ids != whole:
            detail = stream.error or f"streamed token ids {stream.token_ids}, whole {whole}"
            problems.append((None, f"canary {name}: streaming: {detail}"))
        elif stream.text != exchange.body.get("text"):
            problems.append((None, f"canary {name}: the streamed text differs from the whole"))
    if len(streamed) != len(traffic.exchanges):
        problems.append((None, f"{len(streamed)} streams for {len(traffic.exchanges)} answers"))
    return problems


def _label_problems(
    canary: CanaryOutcome, traffic: TrafficResult, tokenizer: Any, model: Any
) -> list[Problem]:
    from toolkit.bridges.heads import Classifier
    from toolkit.bridges.ml import torch_module

    logits = canary.outputs
    labels = Classifier(tokenizer, model).labels(logits)
    scores = torch_module().softmax(logits, dim=1).tolist()
    served_labels = [label for e in traffic.exchanges for label in e.body.get("labels", [])]
    served_scores = [row for e in traffic.exchanges for row in e.body.get("scores", [])]
    for index, (got, want) in enumerate(zip(served_labels, labels, strict=False)):
        if got != want:
            example = canary.rows[index].get("id", index)
            return [(None, f"canary {example}: served label {got!r}, the canary run's {want!r}")]
    if len(served_labels) != len(labels) or served_scores != scores:
        return [(None, "served scores differ from the softmax of the canary run's logits")]
    return []
