"""The requirements gate: does a Deployment's own evidence clear its Requirements?

One rule, one implementation: `keel validate` runs it as the gate `requirements_are_met`,
`keel audit` as `evaluation.requirements` as of the audit's date (and adds only what depends
on the date: how old the evidence is).

- **What counts.** The Evaluations the Deployment lists whose subject is the Deployment; an
  Evaluation of its Model, Adapter or Quantization supports the others' gates but does not
  measure the service. As of a date, only those dated on or before it.
- **Quality.** A threshold (a metric on a Dataset) is measured by the counted Evaluations on
  that Dataset that record the metric, and each value must clear the bound. When none records
  it, the finding names the Evaluations on that Dataset that lack it (or says none is on it).
- **Latency.** Every counted Evaluation that records latency must stay under each ceiling the
  Requirements set, where its measurement is comparable (`comparable.py`: the hardware the
  ceilings name, a machine that was not busy); one that is not is a warning naming both.
  When the Requirements cap latency and no counted Evaluation records any (an Evaluation
  records all three percentiles or none), the finding names those that lack it.

Findings sit on the Deployment's `spec.evaluations` (the item, for a value that misses its
bound); the thresholds that are met come back as evidence lines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from toolkit.core.checks.comparable import latency_not_comparable
from toolkit.core.findings import Severity
from toolkit.manifests import Deployment, Evaluation, Requirements

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph

CHECK = "gates"
PERCENTILES = ("p50", "p95", "p99")
Indexed = list[tuple[int, Evaluation]]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def bounds(low: float | None, high: float | None) -> str:
    """`min 0.8, max 1`, with `no minimum` / `no maximum` for an absent bound (never None)."""
    return ", ".join(
        [
            f"min {_fmt(low)}" if low is not None else "no minimum",
            f"max {_fmt(high)}" if high is not None else "no maximum",
        ]
    )


@dataclass(frozen=True)
class Assessment:
    """The requirement fact for one Deployment: its findings, and the thresholds met."""

    deployment: Deployment
    requirements: Requirements
    counted: tuple[Evaluation, ...]
    """The Evaluations that count, in the Deployment's order."""
    findings: tuple[Finding, ...]
    cleared: tuple[str, ...]
    """One line per value that clears its bound, e.g. `Evaluation/x recall_at_1 = 0.9
    (min 0.8, no maximum)`."""


def requirements_are_met(graph: Graph) -> Iterator[Finding]:
    """The gate: the Evaluations of each Deployment clear every threshold it requires."""
    for deployment in graph.of_kind(Deployment):
        assessment = assess(graph, deployment)
        if assessment is not None:
            yield from assessment.findings


def assess(graph: Graph, deployment: Deployment, as_of: dt.date | None = None) -> Assessment | None:
    """The rule above for `deployment` (as of `as_of`, default: every date); None when its
    Requirements do not exist (the reference check's finding)."""
    requirements = graph.get_as(deployment.spec.requirements, Requirements)
    if requirements is None:
        return None
    gate = _Gate(graph, deployment, requirements)
    listed, own, counted = _evidence(graph, deployment, as_of)
    findings: list[Finding] = []
    cleared: list[str] = []
    if counted:
        gate.quality(counted, findings, cleared)
        gate.latency(counted, findings, cleared)
    elif own:
        findings.append(
            gate.finding(
                f"every Evaluation of {deployment.ref} is dated after {as_of}; the gate against "
                f"{requirements.ref} needs one measured by then"
            )
        )
    elif listed:
        findings.append(
            gate.finding(
                f"no cited Evaluation has subject {deployment.ref}; the gate against "
                f"{requirements.ref} needs an Evaluation of the Deployment itself"
            )
        )
    evaluations = tuple(e for _, e in counted)
    return Assessment(deployment, requirements, evaluations, tuple(findings), tuple(cleared))


def counted_evaluations(
    graph: Graph, deployment: Deployment, as_of: dt.date | None = None
) -> list[Evaluation]:
    """The Evaluations that count for `deployment` (as of `as_of`), in its order."""
    return [e for _, e in _evidence(graph, deployment, as_of)[2]]


def _evidence(
    graph: Graph, deployment: Deployment, as_of: dt.date | None
) -> tuple[Indexed, Indexed, Indexed]:
    """The Evaluations the Deployment lists (that exist), those of the Deployment itself, and
    of those the ones dated by `as_of`; each with its index in `spec.evaluations`."""
    listed = [
        (index, evaluation)
        for index, ref in enumerate(deployment.spec.evaluations)
        if (evaluation := graph.get_as(ref, Evaluation)) is not None
    ]
    own = [(i, e) for i, e in listed if e.spec.subject == deployment.ref]
    counted = [(i, e) for i, e in own if as_of is None or e.spec.date <= as_of]
    return listed, own, counted


@dataclass(frozen=True)
class _Gate:
    graph: Graph
    deployment: Deployment
    requirements: Requirements

    def finding(self, message: str, index: int | None = None) -> Finding:
        location = ("spec", "evaluations", *(() if index is None else (index,)))
        return self.graph.finding(self.deployment, location, message, CHECK)

    def quality(self, counted: Indexed, findings: list[Finding], cleared: list[str]) -> None:
        d, r = self.deployment.ref, self.requirements.ref
        for threshold in self.requirements.spec.quality:
            metric, dataset = threshold.metric, threshold.dataset
            on_dataset = [(i, e) for i, e in counted if e.spec.dataset == dataset]
            measured = [
                (i, e, value) for i, e in on_dataset if (value := e.spec.metric(metric)) is not None
            ]
            if not measured:
                lacking = f"; {_refs(on_dataset, 'does', 'do')} not record it" if on_dataset else ""
                findings.append(
                    self.finding(
                        f"no Evaluation of {d} measures {metric} on {dataset}, which {r} "
                        f"requires{lacking}"
                    )
                )
            for index, evaluation, value in measured:
                seen = f"{evaluation.ref} {metric} = {_fmt(value)}"
                missed = [
                    f"{seen} is below the minimum {_fmt(threshold.min)} required by {r}"
                    if threshold.min is not None and value < threshold.min
                    else None,
                    f"{seen} is above the maximum {_fmt(threshold.max)} allowed by {r}"
                    if threshold.max is not None and value > threshold.max
                    else None,
                ]
                findings += [self.finding(m, index) for m in missed if m]
                if not any(missed):
                    cleared.append(
                        f"{evaluation.ref} {metric} = {value} "
                        f"({bounds(threshold.min, threshold.max)})"
                    )

    def latency(self, counted: Indexed, findings: list[Finding], cleared: list[str]) -> None:
        ceilings = self.requirements.spec.latency
        capped = [
            (name, ceiling)
            for name in PERCENTILES
            if (ceiling := getattr(ceilings, f"{name}_ms")) is not None
        ]
        if not capped:
            return
        d, r = self.deployment.ref, self.requirements.ref
        timed = [(i, e) for i, e in counted if e.spec.latency is not None]
        if not timed:
            caps = ", ".join(f"{name} {_fmt(ceiling)} ms" for name, ceiling in capped)
            findings.append(
                self.finding(
                    f"no Evaluation of {d} records latency, which {r} caps ({caps}); "
                    f"{_refs(counted, 'has', 'have')} no spec.latency"
                )
            )
        for index, evaluation in timed:
            reason = latency_not_comparable(evaluation, ceilings.hardware)
            if reason:
                message = f"{evaluation.ref} latency is not comparable with {r}: {reason}"
                findings.append(replace(self.finding(message, index), severity=Severity.warning))
                continue
            for name, ceiling in capped:
                value = getattr(evaluation.spec.latency, f"{name}_ms")
                if value > ceiling:
                    findings.append(
                        self.finding(
                            f"{evaluation.ref} latency {name} = {_fmt(value)} ms exceeds the "
                            f"ceiling {_fmt(ceiling)} ms of {r}",
                            index,
                        )
                    )
                else:
                    cleared.append(
                        f"{evaluation.ref} latency {name} = {value} ms (ceiling {ceiling})"
                    )


def _refs(indexed: Indexed, singular: str, plural: str) -> str:
    """`Evaluation/a has` or `Evaluation/a, Evaluation/b have`: the Evaluations and a verb."""
    refs = [str(e.ref) for _, e in indexed]
    return f"{', '.join(refs)} {singular if len(refs) == 1 else plural}"
