"""The audit's view of the live service: the `canary.live` check.

The live canaries are the Evaluations `keel canary --record` wrote: subject the Deployment,
`spec.source` the endpoint and outcome. The check reports the last one's age and outcome as
of the audit's date, and whether the Deployment's retraining trigger has fired (the loop
back from watching the service to training it again):

- `metricDrop`: the metric in the last live canary is lower, by at least `by`, than the best
  value in the live canaries of the `windowDays` before it (or, with no earlier one in the
  window, than the canary Evaluation it was held against, its `baseline`);
- `driftThreshold`: the last live canary records a `drift` metric above the threshold.

A failed last canary is an error; a stale one (older than `spec.canary.maxAgeHours`, 25
hours when absent) and a fired trigger are warnings with the next step. No live canary
recorded yet is said in the message, not a finding: recording is optional.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from toolkit.core.findings import CheckResult, Severity, located
from toolkit.manifests import Evaluation

if TYPE_CHECKING:
    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph
    from toolkit.manifests import Deployment

NAME = "canary.live"
DEFAULT_MAX_AGE_HOURS = 25.0


def live_canaries(graph: Graph, deployment: Deployment, as_of: dt.date) -> list[Evaluation]:
    """The recorded live canaries of `deployment` dated by `as_of`, oldest first."""
    live = [
        e
        for e in graph.of_kind(Evaluation)
        if e.spec.subject == deployment.ref and e.spec.source is not None and e.spec.date <= as_of
    ]
    return sorted(live, key=_when)


def _when(evaluation: Evaluation) -> tuple[dt.date, str, str]:
    source = evaluation.spec.source
    started = source.started if source is not None and source.started else ""
    return evaluation.spec.date, started, evaluation.metadata.name


def _outcome(evaluation: Evaluation) -> str:
    source = evaluation.spec.source
    return source.outcome if source is not None else "offline"


def live_canary_check(graph: Graph, deployment: Deployment, as_of: dt.date) -> CheckResult:
    live = live_canaries(graph, deployment, as_of)
    if not live:
        return CheckResult(
            NAME,
            f"no live canary recorded for {deployment.ref} "
            f"(keel canary {deployment.ref} --endpoint URL --record)",
        )
    last = live[-1]
    source = last.spec.source
    assert source is not None  # live_canaries keeps only those with a source
    age = _age_hours(last, as_of)
    limit = deployment.spec.canary.max_age_hours or DEFAULT_MAX_AGE_HOURS
    evidence = [f"{e.ref}: {e.spec.date} {_outcome(e)}" for e in live]
    findings: list[Finding] = []
    if source.outcome == "fail":
        why = source.findings[0] if source.findings else "no finding recorded"
        findings.append(located(graph, last, ("spec", "source", "outcome"), f"failed: {why}", NAME))
    if age > limit:
        findings.append(
            located(
                graph,
                last,
                ("spec", "date"),
                f"{age:.0f} hours old, older than spec.canary.maxAgeHours {limit:g} of "
                f"{deployment.ref}",
                NAME,
                severity=Severity.warning,
                hint=f"run `keel canary {deployment.ref} --endpoint URL --record` again",
            )
        )
    fired = _trigger_findings(graph, deployment, live)
    findings += fired
    evidence += [f.message for f in fired] or ["retraining triggers: not fired"]
    message = (
        f"last live canary {last.ref} ({source.endpoint}): {source.outcome}, "
        f"{age:.0f} hours old; retraining trigger {'fired' if fired else 'not fired'}"
    )
    return CheckResult(NAME, message, tuple(evidence), tuple(findings))


def _age_hours(evaluation: Evaluation, as_of: dt.date) -> float:
    """Hours from the canary's start (its date at midnight when none is recorded) to now for
    an audit as of today (UTC), else to the end of the audit's day."""
    source = evaluation.spec.source
    started = None
    if source is not None and source.started:
        try:
            started = dt.datetime.strptime(source.started, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            started = None
    if started is None:
        started = dt.datetime.combine(evaluation.spec.date, dt.time())
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    end_of_day = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    until = now if as_of == now.date() else end_of_day
    return max(0.0, (until - started).total_seconds() / 3600)


def _trigger_findings(
    graph: Graph, deployment: Deployment, live: list[Evaluation]
) -> list[Finding]:
    triggers = deployment.spec.retraining.triggers
    last = live[-1]
    findings = []
    owner = deployment.spec.retraining.owner
    location = ("spec", "retraining", "triggers")
    drop = triggers.metric_drop
    if drop is not None and (value := last.spec.metric(drop.metric)) is not None:
        since = last.spec.date - dt.timedelta(days=drop.window_days)
        earlier = [e for e in live[:-1] if e.spec.date >= since]
        if not earlier and last.spec.baseline:
            baseline = graph.get_as(last.spec.baseline, Evaluation)
            earlier = [baseline] if baseline is not None else []
        best = max(
            ((v, e) for e in earlier if (v := e.spec.metric(drop.metric)) is not None),
            default=None,
            key=lambda pair: pair[0],
        )
        if best is not None and best[0] - value >= drop.by - 1e-9:
            message = (
                f"retraining trigger metricDrop fired: {drop.metric} fell from {best[0]} "
                f"({best[1].ref}) to {value} ({last.ref}), by {best[0] - value:.4g} >= "
                f"{drop.by} within {drop.window_days} days"
            )
            findings.append(_fired(graph, deployment, location + ("metricDrop",), message, owner))
    threshold = triggers.drift_threshold
    drift = last.spec.metric("drift")
    if threshold is not None and drift is not None and drift > threshold:
        message = f"retraining trigger driftThreshold fired: {last.ref} drift {drift} > {threshold}"
        findings.append(_fired(graph, deployment, location + ("driftThreshold",), message, owner))
    return findings


def _fired(
    graph: Graph,
    deployment: Deployment,
    location: tuple[str, ...],
    message: str,
    owner: str,
) -> Finding:
    return located(
        graph,
        deployment,
        location,
        message,
        NAME,
        severity=Severity.warning,
        hint=f"{owner} retrains (keel train), then evaluates and deploys the new version",
    )
