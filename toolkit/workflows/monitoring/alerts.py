"""The alerting rules of one Deployment, from its SLOs, canary and drift threshold.

Each alert's expression yields one series per deployment (``sum``/``max``/``min by``), so its
labels are known in advance: `promtool test rules` (see `alert_tests`) expects them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from toolkit.workflows.monitoring.drift import canonical_method

if TYPE_CHECKING:
    from toolkit.manifests import Deployment, Runbook


# (name, long window, short window, burn-rate factor, severity, for)
BURN_RATES = (
    ("Fast", "1h", "5m", 14.4, "page", "2m"),
    ("Slow", "6h", "30m", 6.0, "ticket", "15m"),
)
WINDOWS = ("5m", "30m", "1h", "6h")
DEFAULT_CANARY_MAX_AGE_HOURS = 25.0
CANARY_OK = "keel_canary_ok"
CANARY_TIMESTAMP = "keel_canary_timestamp_seconds"
DRIFT_SCORE = "keel_drift_score"


@dataclass(frozen=True)
class Alert:
    """One alerting rule, and what `promtool test rules` feeds it to make it fire or not."""

    name: str
    expr: str
    duration: str
    labels: dict[str, str]
    annotations: dict[str, str]
    kind: str  # which synthetic series fire it: see toolkit.workflows.monitoring.alert_tests
    threshold: float
    output_labels: dict[str, str]  # the labels the expression's result carries
    window: str = "5m"  # the longest range the expression reads

    def rule(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL expressions) as literal blocks, the way people write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def selector(deployment: Deployment, extra: str = "") -> str:
    return "{" + f'deployment="{deployment.ref}"' + (f",{extra}" if extra else "") + "}"


def record_name(what: str, window: str) -> str:
    return f"keel:{what}:ratio_rate{window}"


def slo(deployment: Deployment, field: str) -> float | None:
    # generation SLOs are optional fields; read them so older models still export
    value = getattr(deployment.spec.slos, field, None)
    return float(value) if value is not None else None


@dataclass(frozen=True)
class RunbookLinks:
    """Where each alert sends the on-call engineer: the Runbook's steps and its file."""

    runbook: Runbook | None
    ref: str
    url: str

    def annotations(self, steps: str | None, summary: str, description: str) -> dict[str, str]:
        return {
            "summary": summary,
            "description": description,
            "runbook": self.steps_text(steps),
            "runbook_url": f"{self.url}#steps.{steps}" if steps else self.url,
        }

    def steps_text(self, steps: str | None) -> str:
        if steps is None:
            contact = self.runbook.spec.escalation.contact if self.runbook else "its owner"
            return f"{self.ref}: no outage step applies; questions to {contact}"
        if self.runbook is None:
            return f"{self.ref} steps.{steps}"
        listed = getattr(self.runbook.spec.steps, steps)
        numbered = "; ".join(f"{i}. {s.description} `{s.command}`" for i, s in enumerate(listed, 1))
        contact = self.runbook.spec.escalation.contact
        return f"{self.ref} steps.{steps}: {numbered}; if that fails, page {contact}"


def number(value: float) -> str:
    """A threshold as PromQL reads it: short, exact enough, never in exponent form."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def alerts_for(deployment: Deployment, links: RunbookLinks) -> list[Alert]:
    alerts = burn_rate_alerts(deployment, links) + latency_alerts(deployment, links)
    alerts += generation_alerts(deployment, links)
    return alerts + canary_alerts(deployment, links) + [drift_alert(deployment, links)]


def make_alert(
    deployment: Deployment,
    links: RunbookLinks,
    name: str,
    expr: str,
    *,
    kind: str,
    threshold: float,
    duration: str,
    severity: str,
    steps: str | None,
    summary: str,
    description: str,
    by_method: bool = False,
    window: str = "5m",
) -> Alert:
    labels = {"severity": severity}
    output = {"deployment": str(deployment.ref)}
    if by_method:
        output["method"] = canonical_method(deployment.spec.monitoring.drift.method)
    return Alert(
        name=name,
        expr=expr,
        duration=duration,
        labels=labels,
        annotations=links.annotations(steps, summary, description),
        kind=kind,
        threshold=threshold,
        output_labels=output,
        window=window,
    )


def burn_rate_alerts(deployment: Deployment, links: RunbookLinks) -> list[Alert]:
    """Availability (5xx share) and error rate (refused share) against their budgets."""
    slos = deployment.spec.slos
    sel = selector(deployment)
    budgets = (
        ("Availability", "request_unavailable", "unavailable", 1.0 - slos.availability),
        ("ErrorRate", "request_errors", "errors", slos.error_rate),
    )
    alerts = []
    for title, record, kind, budget in budgets:
        for speed, long, short, factor, severity, duration in BURN_RATES:
            limit = factor * budget
            expr = (
                f"{record_name(record, long)}{sel} > {number(limit)}\n"
                f"and\n{record_name(record, short)}{sel} > {number(limit)}"
            )
            what = "5xx answers" if kind == "unavailable" else "refused requests"
            alerts.append(
                make_alert(
                    deployment, links, f"Keel{title}BurnRate{speed}", expr,
                    kind=kind, threshold=limit, duration=duration, severity=severity,
                    steps="rollback", window=long,
                    summary=f"{deployment.ref}: {what} burn the error budget {factor}x too fast",
                    description=f"The share of {what} over {long} and over {short} is above "
                    f"{number(limit)} ({factor} x the budget {number(budget)} the SLO leaves).",
                )
            )  # fmt: skip
    return alerts


def latency_alerts(deployment: Deployment, links: RunbookLinks) -> list[Alert]:
    slos = deployment.spec.slos
    sel = selector(deployment)
    alerts = []
    for quantile, objective, severity in (
        (95, slos.latency_p95_ms, "ticket"),
        (99, slos.latency_p99_ms, "page"),
    ):
        seconds = objective / 1000
        alerts.append(
            make_alert(
                deployment, links, f"KeelLatencyP{quantile}High",
                f"keel:request_duration_seconds:p{quantile}_5m{sel} > {number(seconds)}",
                kind=f"latency_p{quantile}", threshold=seconds, duration="10m",
                severity=severity, steps="serve",
                summary=f"{deployment.ref}: p{quantile} latency above {number(objective)} ms",
                description=f"The p{quantile} request duration over 5 minutes has been above "
                f"the SLO (slos.latencyP{quantile}Ms {number(objective)}) for 10 minutes.",
            )
        )  # fmt: skip
    return alerts


def generation_alerts(deployment: Deployment, links: RunbookLinks) -> list[Alert]:
    """Time to first token and tokens per second, when the Deployment sets those SLOs."""
    sel = selector(deployment)
    alerts = []
    ttft = slo(deployment, "time_to_first_token_p95_ms")
    if ttft is not None:
        alerts.append(
            make_alert(
                deployment, links, "KeelTimeToFirstTokenP95High",
                f"keel:time_to_first_token_seconds:p95_5m{sel} > {number(ttft / 1000)}",
                kind="ttft_p95", threshold=ttft / 1000, duration="10m", severity="ticket",
                steps="serve",
                summary=f"{deployment.ref}: p95 time to first token above {number(ttft)} ms",
                description="The p95 time to first token over 5 minutes has been above the SLO "
                f"(slos.timeToFirstTokenP95Ms {number(ttft)}) for 10 minutes.",
            )
        )  # fmt: skip
    rate = slo(deployment, "output_tokens_per_second_min")
    if rate is not None:
        alerts.append(
            make_alert(
                deployment, links, "KeelOutputTokensPerSecondLow",
                f"keel:output_tokens_per_second:rate5m{sel} < {number(rate)}",
                kind="tokens_per_second", threshold=rate, duration="10m", severity="ticket",
                steps="serve",
                summary=f"{deployment.ref}: fewer than {number(rate)} output tokens per second",
                description="Output tokens per second of decoding, over 5 minutes, have been "
                f"below the SLO (slos.outputTokensPerSecondMin {number(rate)}) for 10 minutes.",
            )
        )  # fmt: skip
    return alerts


def canary_alerts(deployment: Deployment, links: RunbookLinks) -> list[Alert]:
    """A failed canary pages; no canary result for canary.maxAgeHours opens a ticket."""
    sel = selector(deployment)
    hours = deployment.spec.canary.max_age_hours or DEFAULT_CANARY_MAX_AGE_HOURS
    seconds = hours * 3600
    failed = make_alert(
        deployment, links, "KeelCanaryFailed",
        f"min by (deployment) ({CANARY_OK}{sel}) < 1",
        kind="canary_failed", threshold=1.0, duration="0m", severity="page", steps="rollback",
        summary=f"{deployment.ref}: the canary on {deployment.spec.canary.dataset} failed",
        description="The last canary run against the live deployment did not meet its "
        "recorded results (keel canary).",
    )  # fmt: skip
    stale = make_alert(
        deployment, links, "KeelCanaryStale",
        f"(time() - max by (deployment) ({CANARY_TIMESTAMP}{sel})) > {number(seconds)}\n"
        f"or\nabsent({CANARY_TIMESTAMP}{sel})",
        kind="canary_stale", threshold=seconds, duration="10m", severity="ticket", steps="serve",
        summary=f"{deployment.ref}: no canary result for {number(hours)} hours",
        description=f"The canary runs {deployment.spec.canary.schedule}; its last result is "
        f"older than canary.maxAgeHours ({number(hours)}), or there is none.",
    )  # fmt: skip
    return [failed, stale]


def drift_alert(deployment: Deployment, links: RunbookLinks) -> Alert:
    drift = deployment.spec.monitoring.drift
    retraining = deployment.spec.retraining
    alert = make_alert(
        deployment, links, "KeelInputDrift",
        f"max by (deployment, method) ({DRIFT_SCORE}{selector(deployment)}) "
        f"> {number(drift.threshold)}",
        kind="drift", threshold=drift.threshold, duration="0m", severity="ticket", steps=None,
        summary=f"{deployment.ref}: production inputs drifted ({drift.method})",
        description=f"keel drift scored production inputs above monitoring.drift.threshold "
        f"{number(drift.threshold)}; {retraining.owner} decides on retraining "
        "(spec.retraining).",
        by_method=True,
    )  # fmt: skip
    return alert
