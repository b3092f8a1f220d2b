"""The architecture checklist as a gate: for every Deployment, each item the evidence
contradicts, or that lies outside the usual with no decision recorded, is a finding naming the
item and how to record the decision. Items merely unverifiable here (weights not pulled, a
field not recorded) are left to `keel checklist` and the audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.findings import located
from toolkit.manifests import Deployment, Model

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.checklist import Checklist, ItemResult
    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph


def checklist_holds(graph: Graph) -> Iterator[Finding]:
    from toolkit.core.checklist import deployment_subject, run_checklist

    for deployment in graph.of_kind(Deployment):
        if graph.get_as(deployment.spec.model, Model) is None:
            continue  # the reference check's finding
        checklist = run_checklist(deployment_subject(graph, deployment))
        for item in checklist.items:
            if item.gate_fails:
                yield finding(graph, deployment, checklist, item)


def finding(
    graph: Graph,
    deployment: Deployment,
    checklist: Checklist,
    item: ItemResult,
    *,
    strict: bool = True,
) -> Finding:
    """A finding on the Deployment for one failing item, its hint what to do next."""
    from toolkit.core.checklist import Status
    from toolkit.core.findings import Severity

    assessment = item.assessment
    message = f"checklist {item.item}: {assessment.evidence}"
    failed = item.status is Status.failed
    hint = assessment.advice if failed else record_hint(checklist, item)
    severity = Severity.error if strict or item.gate_fails else Severity.warning
    # a finding about the model's own config points at the Model's field
    model = graph.get_as(deployment.spec.model, Model)
    on_model = model is not None and assessment.where[:2] == ("spec", "architecture")
    manifest = model if on_model and model is not None else deployment
    return located(
        graph, manifest, assessment.where, message, "checklist", severity=severity, hint=hint
    )


def record_hint(checklist: Checklist, item: ItemResult) -> str:
    fix = f"{item.assessment.advice}; or " if item.assessment.advice else ""
    where = checklist.decision or "the Deployment's ArchitectureDecision"
    return (
        f"{fix}record it in {where} spec.checklist: "
        f"{{item: {item.item}, decision: ..., rationale: ...}}"
    )


CHECKLIST_CHECKS = (checklist_holds,)
