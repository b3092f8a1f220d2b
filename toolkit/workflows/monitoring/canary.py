"""`keel canary Deployment/NAME --endpoint URL`: the Deployment's canary Dataset sent through
the live endpoint, the way its API contract says, and held against the record.

One request per canary row (a retrieval row sends its query and its passage together), so
the canary never sends more than the canary: the request budget, retries included, is at
most the number of rows. Every answer is checked against the contract's output schema; the
answers give the canary Evaluation's own metrics (`evaluation.tasks`), latency percentiles
and outputs; `canary_checks` holds them against the recorded canary Evaluation (quality:
no metric below its record; outputs: the record's tolerance) and the Requirements (quality
bounds strictly; latency ceilings where the hardware rule says the measurement is
comparable) and the Deployment's latency SLOs (what the service promises its callers, end
to end). Findings, not exceptions: a dead endpoint is a failed canary, not a usage error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.contracts import CLASSIFY_PATH, COMPLETIONS_PATH, EMBED_PATH, contract_kind
from toolkit.core.errors import UsageError
from toolkit.manifests import Dataset, Deployment, Evaluation, Requirements
from toolkit.workflows.monitoring.canary_result import CanaryRun, Problem

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.bridges.endpoint_client import Budget
    from toolkit.core.repository import Graph
    from toolkit.manifests.evaluation import Protocol

__all__ = ["CanaryRun", "Options", "Plan", "Problem", "make_plan", "run_canary"]

PATHS = {
    "embedding": EMBED_PATH,
    "retrieval": EMBED_PATH,
    "classification": CLASSIFY_PATH,
    "generation": COMPLETIONS_PATH,
}
DEFAULTS = {"timeout_seconds": 10.0, "concurrency": 2, "retries": 2}


@dataclass(frozen=True)
class Options:
    """What the command line may set; None takes the Deployment's monitoring.canaryBudget,
    then keel's safe default."""

    timeout_seconds: float | None = None
    concurrency: int | None = None
    retries: int | None = None
    max_requests: int | None = None
    backoff_seconds: float = 0.5


@dataclass(frozen=True)
class Plan:
    """What the canary sends, and what it is held against."""

    graph: Graph
    deployment: Deployment
    evaluation: Evaluation
    requirements: Requirements | None
    protocol: Protocol
    contract: str
    endpoint: str
    rows: tuple[dict[str, Any], ...]
    bodies: tuple[dict[str, Any], ...]
    budget: Budget


def run_canary(root: Path, ref: str, endpoint: str, options: Options | None = None) -> CanaryRun:
    """Plan the canary for `ref`, send it to `endpoint` (a URL, or an environment named in
    the Deployment's monitoring.endpoints), measure and compare."""
    from toolkit.bridges.endpoint_client import post_all
    from toolkit.workflows.monitoring.canary_checks import measure

    plan = make_plan(root, ref, endpoint, options or Options())
    started = time.time()
    clock = time.perf_counter()
    replies = post_all(
        plan.endpoint,
        PATHS[plan.contract],
        plan.bodies,
        plan.budget,
        plan.deployment.spec.api.output_schema,
    )
    return measure(plan, replies, started, time.perf_counter() - clock)


def make_plan(root: Path, ref: str, endpoint: str, options: Options) -> Plan:
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation.tasks import read_rows

    graph = load_graph(root)
    deployment = graph.get_as(ref, Deployment)
    if deployment is None:
        known = ", ".join(d.ref for d in graph.of_kind(Deployment)) or "none"
        raise UsageError(f"{ref}: no such Deployment in {root}/manifests (known: {known})")
    evaluation = recorded_canary(graph, deployment)
    protocol = _protocol(evaluation)
    dataset = graph.get_as(evaluation.spec.dataset, Dataset)
    if dataset is None:
        raise UsageError(f"{evaluation.ref} spec.dataset: {evaluation.spec.dataset} does not exist")
    try:
        _check_pinned(root, dataset)
        rows = tuple(read_rows(root, dataset, protocol.task))
    except OSError as error:
        raise UsageError(
            f"{dataset.ref}: cannot read its rows ({error.strerror}: {error.filename}); "
            f"run `keel pull {dataset.ref}` first"
        ) from None
    if not rows:
        raise UsageError(f"{dataset.ref}: the canary dataset has no rows")
    contract = contract_of(deployment, protocol.task)
    bodies = tuple(request_bodies(deployment, contract, rows, protocol))
    return Plan(
        graph,
        deployment,
        evaluation,
        graph.get_as(deployment.spec.requirements, Requirements),
        protocol,
        contract,
        endpoint_url(deployment, endpoint),
        rows,
        bodies,
        budget_for(deployment, options, len(rows)),
    )


def _check_pinned(root: Path, dataset: Dataset) -> None:
    """The canary's files are the ones the Dataset pins: the live service is measured on the
    recorded rows or not at all."""
    from toolkit.core.errors import ChecksumError
    from toolkit.core.hashing import hash_file

    for index, entry in enumerate(dataset.spec.files):
        found = hash_file(root / dataset.spec.directory / entry.path).sha256
        if found != entry.sha256:
            raise ChecksumError(
                f"{dataset.ref} spec.files[{index}]: {entry.path} has sha256 {found}, the "
                f"manifest pins {entry.sha256}; run `keel pull {dataset.ref}`"
            )


def recorded_canary(graph: Graph, deployment: Deployment) -> Evaluation:
    """The Evaluation of the Deployment itself on its canary Dataset that it lists (the
    record a live canary is held against); UsageError when it lists none."""
    evaluation = graph.canary_evaluation(deployment)
    if evaluation is not None:
        return evaluation
    raise UsageError(
        f"{deployment.ref} spec.evaluations: lists no Evaluation of the Deployment on its "
        f"canary dataset {deployment.spec.canary.dataset}; run `keel evaluate` on it first"
    )


def _protocol(evaluation: Evaluation) -> Protocol:
    from toolkit.manifests.evaluation import Protocol

    return evaluation.spec.protocol or Protocol(task="retrieval")


def contract_of(deployment: Deployment, task: str) -> str:
    """Which contract the Deployment serves (`core.contracts.contract_kind`); an embedding
    contract is used as the canary's task wants it (retrieval or embedding)."""
    kind = contract_kind(deployment, task)
    if kind is None:
        raise UsageError(
            f"{deployment.ref} spec.api.inputSchema: fits no contract keel knows (a prompt or "
            "messages property for generation, one array of strings for embedding or "
            "classification)"
        )
    contract = task if kind == "embedding" and task in ("retrieval", "embedding") else kind
    if contract != task:
        raise UsageError(
            f"{deployment.ref} spec.api: the contract serves {kind}, but the canary "
            f"Evaluation's protocol.task is {task}"
        )
    return contract


def request_bodies(
    deployment: Deployment, contract: str, rows: tuple[dict[str, Any], ...], protocol: Protocol
) -> list[dict[str, Any]]:
    """One request body per row, as the contract wants it."""
    if contract == "generation":
        from toolkit.workflows.evaluation.tasks import prompt_of

        asked = [prompt_of(row) for row in rows]  # chat rows send their messages
        return [
            {
                "prompt" if isinstance(a, str) else "messages": a,
                "max_tokens": protocol.max_new_tokens,
            }
            for a in asked
        ]
    from toolkit.bridges.serving_contract import Contract

    try:
        texts_field = Contract.of(deployment).texts_field
    except ValueError as error:
        raise UsageError(str(error)) from None
    if contract == "retrieval":
        return [{texts_field: [row["query"], row["passage"]]} for row in rows]
    return [{texts_field: [row["text"]]} for row in rows]


def endpoint_url(deployment: Deployment, endpoint: str) -> str:
    """A URL as given, or the URL of an environment in monitoring.endpoints."""
    from toolkit.bridges.endpoint_client import split_url

    if "://" not in endpoint:
        endpoints = getattr(deployment.spec.monitoring, "endpoints", None) or {}
        if endpoint not in endpoints:
            named = ", ".join(sorted(endpoints)) or "none"
            raise UsageError(
                f"--endpoint {endpoint!r}: not a URL, and not an environment in "
                f"{deployment.ref} spec.monitoring.endpoints (it names: {named})"
            )
        endpoint = endpoints[endpoint]
    split_url(endpoint)
    return endpoint.rstrip("/")


def budget_for(deployment: Deployment, options: Options, rows: int) -> Budget:
    """The command line's values, else the Deployment's monitoring.canaryBudget, else the
    defaults; the request budget never above the canary's rows."""
    from toolkit.bridges.endpoint_client import Budget

    recorded = getattr(deployment.spec.monitoring, "canary_budget", None)

    def pick(name: str) -> Any:
        given = getattr(options, name)
        if given is not None:
            return given
        value = getattr(recorded, name, None)
        return value if value is not None else DEFAULTS.get(name)

    limit = pick("max_requests")
    for name in ("timeout_seconds", "concurrency", "retries", "max_requests"):
        value = pick(name)
        if value is not None and (value < 0 or (value == 0 and name != "retries")):
            raise UsageError(f"--{name.replace('_', '-')}: expected a positive number, got {value}")
    return Budget(
        max_requests=min(rows, limit) if limit is not None else rows,
        timeout_seconds=float(pick("timeout_seconds")),
        concurrency=int(pick("concurrency")),
        retries=int(pick("retries")),
        backoff_seconds=options.backoff_seconds,
    )
