"""What every served contract must show at reproduce stage 7, whatever its kind: the contract
made from the Deployment, every answer a 200 that passes outputSchema, /healthz ok, a body
outside inputSchema refused with the contract's invalid_input status, /metrics reporting the
shared metric names; and how the problems found become the stage's failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.workflows.reproduce.results import StageFailed, manifest_finding

if TYPE_CHECKING:
    from toolkit.bridges.serving_client import TrafficResult
    from toolkit.bridges.serving_contract import Contract
    from toolkit.workflows.reproduce.results import CheckedOut, Served

Problem = tuple[str | None, str]
"""The Deployment field involved (None when none is) and what is wrong."""

METRICS = {
    "embedding": ("keel_requests_total", "keel_request_duration_seconds"),
    "classification": ("keel_requests_total", "keel_request_duration_seconds"),
    "generation": (
        "keel_requests_total",
        "keel_request_duration_seconds",
        "keel_time_to_first_token_seconds",
        "keel_output_tokens_total",
        "keel_decode_seconds_total",
    ),
}
"""The metric names /metrics must report after the canary, by contract."""


@dataclass(frozen=True)
class Answers:
    """What the server answered."""

    health: int
    traffic: TrafficResult
    invalid: TrafficResult
    metrics_status: int
    metrics_text: str


def contract_of(checked: CheckedOut) -> Contract:
    """The Deployment's contract (its kind told by the canary's task), or StageFailed."""
    from toolkit.bridges.serving_contract import Contract

    deployment = checked.deployment
    protocol = checked.canary.spec.protocol if checked.canary else None
    try:
        return Contract.of(deployment, protocol.task if protocol else None)
    except ValueError as error:
        message = str(error)
        raise StageFailed(
            f"{deployment.ref} {message}",
            findings=(manifest_finding(checked.graph, message, deployment.ref, "spec.api"),),
        ) from None


def contract_problems(contract: Contract, answers: Answers) -> list[Problem]:
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
    missing = [name for name in METRICS[contract.kind] if name not in answers.metrics_text]
    if answers.metrics_status != 200 or missing:
        problems.append((None, f"/metrics does not report {', '.join(missing) or 'metrics'}"))
    return problems


def fail_on(checked: CheckedOut, served: Served, problems: list[Problem]) -> Served:
    """`served`, or StageFailed naming every problem (the first as the summary)."""
    if not problems:
        return served
    ref = checked.deployment.ref
    lines = [f"{ref} {field}: {message}" if field else message for field, message in problems]
    raise StageFailed(
        lines[0],
        findings=tuple(
            manifest_finding(checked.graph, message, ref, field) for field, message in problems
        ),
        details={**served.details, "problems": lines},
    )
