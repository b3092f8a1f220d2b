"""The generation SLO gate: a Deployment's canary Evaluation against its generation SLOs.

A generative Deployment may bound, in `spec.slos`:

- `timeToFirstTokenP95Ms`: the canary Evaluation's `latency.timeToFirstTokenP95Ms` may not
  exceed it;
- `outputTokensPerSecondMin`: its `latency.outputTokensPerSecond` may not fall below it;
- `costPer1kTokensMax`: `serving.hardwarePricePerHour / 3600 / outputTokensPerSecond x 1000`
  (USD for 1000 new tokens, one request at a time) may not exceed it.

The canary Evaluation is the Deployment's own Evaluation (subject the Deployment) on its canary
dataset, as `keel reproduce` compares it. A value on its bound passes. Timing depends on the
machine, so, as for the latency ceilings of the Requirements (`comparable.py`), a measurement
taken on other hardware than the Requirements' `latency.hardware`, or on a busy machine, is
not held against the bounds: the gate says so as a warning. An SLO with nothing to check it
against (no canary Evaluation, a field it does not record, no hardware price) is an error.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from toolkit.core.checks.comparable import latency_not_comparable
from toolkit.core.findings import Severity
from toolkit.manifests import Deployment, Evaluation, Requirements

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph

CHECK = "gates"
RECORDED = {
    "timeToFirstTokenP95Ms": "timeToFirstTokenP95Ms",
    "outputTokensPerSecondMin": "outputTokensPerSecond",
}
"""SLO field -> the latency field of the canary Evaluation it bounds."""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def cost_per_1k_tokens(price_per_hour: float, tokens_per_second: float) -> float:
    """USD for 1000 new tokens at `tokens_per_second` on hardware priced per hour."""
    return price_per_hour / 3600 / tokens_per_second * 1000


def generation_slos_met(graph: Graph) -> Iterator[Finding]:
    """The gate: each Deployment's canary Evaluation meets the generation SLOs it sets."""
    for deployment in graph.of_kind(Deployment):
        slos = deployment.spec.slos
        given = {
            "timeToFirstTokenP95Ms": slos.time_to_first_token_p95_ms,
            "outputTokensPerSecondMin": slos.output_tokens_per_second_min,
            "costPer1kTokensMax": slos.cost_per_1k_tokens_max,
        }
        bounded = {name: bound for name, bound in given.items() if bound is not None}
        if bounded:
            yield from _check(graph, deployment, bounded)


def _check(graph: Graph, deployment: Deployment, bounded: dict[str, float]) -> Iterator[Finding]:
    def finding(field: str, message: str, where: str = "slos") -> Finding:
        return graph.finding(deployment, ("spec", where, field), message, CHECK)

    first = next(iter(bounded))
    evaluation = graph.canary_evaluation(deployment)
    if evaluation is None:
        yield finding(
            first,
            f"no Evaluation of {deployment.ref} on its canary dataset "
            f"{deployment.spec.canary.dataset} is listed in spec.evaluations; the generation "
            f"SLOs ({', '.join(bounded)}) are measured on it",
        )
        return
    requirements = graph.get_as(deployment.spec.requirements, Requirements)
    hardware = requirements.spec.latency.hardware if requirements is not None else None
    reason = latency_not_comparable(evaluation, hardware)
    if reason:
        message = f"{evaluation.ref} timing is not comparable with spec.slos: {reason}"
        yield replace(finding(first, message), severity=Severity.warning)
        return
    latency = evaluation.spec.latency
    measured = {
        "timeToFirstTokenP95Ms": latency.time_to_first_token_p95_ms if latency else None,
        "outputTokensPerSecondMin": latency.output_tokens_per_second if latency else None,
    }
    for name, bound in bounded.items():
        if name == "costPer1kTokensMax":
            yield from _cost(deployment, evaluation, bound, measured, finding)
            continue
        value, recorded = measured[name], RECORDED[name]
        if value is None:
            yield finding(
                name,
                f"{evaluation.ref} records no latency.{recorded}, which spec.slos.{name} bounds; "
                f"run `keel evaluate {evaluation.ref}` again",
            )
        elif name == "timeToFirstTokenP95Ms" and value > bound:
            yield finding(
                name,
                f"{evaluation.ref} latency.{recorded} = {_fmt(value)} ms exceeds "
                f"spec.slos.{name} {_fmt(bound)} ms",
            )
        elif name == "outputTokensPerSecondMin" and value < bound:
            yield finding(
                name,
                f"{evaluation.ref} latency.{recorded} = {_fmt(value)} tokens/s is below "
                f"spec.slos.{name} {_fmt(bound)} tokens/s",
            )


def _cost(
    deployment: Deployment,
    evaluation: Evaluation,
    bound: float,
    measured: dict[str, float | None],
    finding: Callable[..., Finding],
) -> Iterator[Finding]:
    """Cost per 1k tokens from the hardware price and the measured tokens per second."""
    price = deployment.spec.serving.hardware_price_per_hour
    speed = measured["outputTokensPerSecondMin"]
    if price is None:
        yield finding(
            "hardwarePricePerHour",
            "spec.slos.costPer1kTokensMax needs the price of the serving hardware "
            "(spec.serving.hardwarePricePerHour, USD per hour)",
            "serving",
        )
    elif speed is None:
        yield finding(
            "costPer1kTokensMax",
            f"{evaluation.ref} records no latency.outputTokensPerSecond, from which "
            "spec.slos.costPer1kTokensMax is computed",
        )
    else:
        cost = cost_per_1k_tokens(price, speed)
        if cost > bound and not math.isclose(cost, bound, rel_tol=1e-9):
            yield finding(
                "costPer1kTokensMax",
                f"cost per 1k tokens = {_fmt(cost)} USD (hardwarePricePerHour {_fmt(price)} / "
                f"3600 / {_fmt(speed)} tokens/s of {evaluation.ref} x 1000) exceeds "
                f"spec.slos.costPer1kTokensMax {_fmt(bound)} USD",
            )
