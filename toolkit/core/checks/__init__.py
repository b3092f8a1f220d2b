"""Checks over the manifest graph. Each check yields findings; none raises for bad content."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from toolkit.core.checks import checklist, consistency, dvc_files, gates, references, weights
from toolkit.core.findings import Finding
from toolkit.core.repository import Graph

Check = Callable[[Graph], Iterator[Finding]]

CHECKS: tuple[Check, ...] = (
    references.check_references,
    *gates.GATES,
    *consistency.CONSISTENCY,
    *dvc_files.DVC_CHECKS,
    *weights.WEIGHT_CHECKS,
    *checklist.CHECKLIST_CHECKS,
)


def run_checks(graph: Graph) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(graph))
    return findings
