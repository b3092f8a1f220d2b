"""The audit's `architecture.checklist` check: the Deployment's architecture checklist as of
the audited commit. Items that fail, or lie outside the usual with no decision recorded, are
errors (the validate gate's findings); items nobody could verify here (weights not pulled, a
field not recorded) are named in the message and evidence, for the auditor to follow up with
`keel checklist`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.checklist import Status, deployment_subject, run_checklist
from toolkit.core.checks.checklist import finding
from toolkit.core.findings import CheckResult
from toolkit.manifests import Model

if TYPE_CHECKING:
    from toolkit.core.repository import Graph
    from toolkit.manifests import Deployment

NAME = "architecture.checklist"


def checklist_check(graph: Graph, deployment: Deployment) -> CheckResult:
    if graph.get_as(deployment.spec.model, Model) is None:
        return CheckResult(NAME, f"not run: {deployment.spec.model} is not here")
    checklist = run_checklist(deployment_subject(graph, deployment))
    counts = {s: sum(1 for i in checklist.items if i.status is s) for s in Status}
    message = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    unverified = [i.item for i in checklist.items if i.status is Status.unverified]
    if unverified:
        message += f" (keel checklist {deployment.ref} lists what would verify them)"
    evidence = tuple(f"{i.item}: {i.status.value}: {i.summary}" for i in checklist.items)
    findings = tuple(
        finding(graph, deployment, checklist, i) for i in checklist.items if i.gate_fails
    )
    return CheckResult(NAME, f"{len(checklist.items)} items: {message}", evidence, findings)
