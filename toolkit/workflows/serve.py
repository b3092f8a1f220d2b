"""`keel serve Deployment/NAME`: the Deployment's API contract served from the current checkout.

The model, tokenizer, adapter and quantization are loaded and checked against their manifests
the way `keel evaluate` and `keel reproduce` load them (`evaluation.pipeline.load_subject`);
which contract is served (embedding, classification, generation) follows from the Deployment's
``api.inputSchema`` and its canary Evaluation's task (`toolkit.core.contracts`). Files that are
not in the checkout are one error naming them and `keel pull`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.manifests import Deployment

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from toolkit.bridges.serving import ContractServer, Model
    from toolkit.bridges.serving_contract import Contract
    from toolkit.manifests import Evaluation
    from toolkit.workflows.evaluation.pipeline import Subject

__all__ = ["Plan", "plan_serving", "serve_deployment"]

TASKS = {"generation": "generation", "classification": "classification"}
"""The task each contract loads the model for; anything else is an embedding model."""


@dataclass(frozen=True)
class Plan:
    """What `keel serve` serves: the contract, and the subject and batching to load it with."""

    deployment: Deployment
    contract: Contract
    subject: Subject
    task: str
    batch_size: int
    max_length: int


def _deployment(root: Path, ref: str) -> tuple[Deployment, Evaluation | None, Any]:
    from toolkit.workflows.artifacts.verify import load_graph

    if not ref.startswith("Deployment/"):
        raise UsageError(f"{ref}: give a deployment as Deployment/<name>")
    graph = load_graph(root)
    deployment = graph.get_as(ref, Deployment)
    if deployment is None:
        raise UsageError(f"{ref}: no such Deployment (or it does not validate: keel validate)")
    return deployment, graph.canary_evaluation(deployment), graph


def plan_serving(root: Path, ref: str) -> Plan:
    """Which contract `ref` serves and what to load for it; nothing heavy is loaded yet."""
    from toolkit.bridges.serving_contract import Contract
    from toolkit.workflows.evaluation import pipeline

    deployment, canary, graph = _deployment(root, ref)
    protocol = canary.spec.protocol if canary is not None else None
    try:
        contract = Contract.of(deployment, protocol.task if protocol else None)
    except ValueError as error:
        raise UsageError(f"{ref} {error}") from None
    task = TASKS.get(contract.kind, "embedding")
    subject = pipeline.resolve(graph, ref, merge_adapter=bool(protocol and protocol.merge_adapter))
    serving = deployment.spec.serving
    batch = min(serving.max_batch_size, protocol.batch_size if protocol else 16)
    max_length = protocol.max_length if protocol else serving.max_input_tokens
    return Plan(deployment, contract, subject, task, batch, max_length)


def _require_pulled(root: Path, subject: Subject) -> None:
    """Every file the subject's manifests pin is in the checkout, or one line saying which."""
    from toolkit.workflows.evaluation.pipeline import directory

    parts = [subject.model, subject.tokenizer, subject.adapter]
    for manifest in (part for part in parts if part is not None):
        folder = directory(root, manifest.spec)
        for entry in manifest.spec.files:
            if not (folder / entry.path).is_file():
                raise UsageError(
                    f"{manifest.ref}: {manifest.spec.directory}/{entry.path} is missing; "
                    f"run `keel pull {manifest.ref}` first"
                )


def load_model(root: Path, plan: Plan) -> Model:
    """The subject loaded and checked (PipelineError on a mismatch), as the server calls it."""
    from toolkit.bridges.serving_models import CausalLM, classify_function, embed_function
    from toolkit.workflows.evaluation.pipeline import load_subject

    _require_pulled(root, plan.subject)
    runner = load_subject(root, plan.subject, plan.task)
    if plan.task == "generation":
        return CausalLM(runner.tokenizer, runner.model)
    if plan.task == "classification":
        return classify_function(runner, plan.batch_size, plan.max_length)  # type: ignore[arg-type]
    return embed_function(runner, plan.batch_size, plan.max_length)  # type: ignore[arg-type]


@contextlib.contextmanager
def serve_deployment(
    root: Path, ref: str, host: str = "127.0.0.1", port: int = 8000
) -> Iterator[ContractServer]:
    """Serve `ref`'s contract on `host`:`port` (0: a free port) for the ``with`` block."""
    from toolkit.bridges.serving import ContractServer

    plan = plan_serving(root, ref)
    model = load_model(root, plan)
    server = ContractServer(plan.contract, model, host, port)
    try:
        server.__enter__()
    except OSError as error:  # the port is taken, the host is not this machine's
        raise UsageError(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    try:
        yield server
    finally:
        server.__exit__(None, None, None)
