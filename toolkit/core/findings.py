"""Findings: what every check reports (validate, verify, secrets, the audit, reproduce).

One line each; reporters (`toolkit.core.reporters`) decide how they look. A finding's
severity is the one vocabulary for how bad it is: an error fails the check (exit 1, an audit
check `fail`), a warning is reported and does not (an audit check `warn`); a check with no
finding passes. A `CheckResult` is one named check's record (a one-line message and the
evidence it saw) around its findings; its status follows from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from toolkit.core.loading import Location
    from toolkit.core.repository import Graph
    from toolkit.manifests.base import Manifest


class Severity(str, Enum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem, located as precisely as the input allows: a file and line when there is
    one (None for a finding about a running system, say; line 0 for a whole file), the
    manifest as Kind/name, the field path, and what to do next (`hint`)."""

    path: Path | None
    line: int
    message: str
    ref: str | None = None
    field: str | None = None
    check: str = "schema"
    severity: Severity = Severity.error
    hint: str | None = None

    def render(self, *, check: bool = False, context: bool = True) -> str:
        """`path:line: ref: field: message (hint)`; with `check`, the check's name after the
        location; without `context`, no ref and field (a finding about a file, say)."""
        parts = []
        if self.path is not None:
            parts.append(f"{self.path}:{self.line}" if self.line > 0 else str(self.path))
        if check:
            parts.append(self.check)
        if context:
            parts += [p for p in (self.ref, self.field) if p]
        parts.append(self.message)
        text = ": ".join(parts)
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path) if self.path is not None else None,
            "line": self.line,
            "ref": self.ref,
            "field": self.field,
            "check": self.check,
            "severity": self.severity.value,
            "message": self.message,
            **({"hint": self.hint} if self.hint else {}),
        }


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == Severity.error]


def located(
    graph: Graph,
    manifest: Manifest,
    location: Location,
    message: str,
    check: str,
    *,
    severity: Severity = Severity.error,
    hint: str | None = None,
) -> Finding:
    """A finding on `manifest`'s line for `location` (`Graph.finding` with a severity and a
    hint)."""
    return replace(graph.finding(manifest, location, message, check), severity=severity, hint=hint)


PASS, WARN, FAIL = "pass", "warn", "fail"
RANK = {PASS: 0, WARN: 1, FAIL: 2}
STATUS = {Severity.error: FAIL, Severity.warning: WARN}


def status_of(findings: Iterable[Finding]) -> str:
    """`fail` when a finding is an error, `warn` when one is a warning, else `pass`."""
    return max((STATUS[f.severity] for f in findings), key=RANK.__getitem__, default=PASS)


@dataclass(frozen=True)
class CheckResult:
    """One named check (an audit check, say): a one-line message, the evidence it saw, and
    its problems as findings (none when it passes)."""

    check: str
    message: str
    evidence: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def status(self) -> str:
        return status_of(self.findings)

    @classmethod
    def found(
        cls,
        check: str,
        graph: Graph,
        manifest: Manifest,
        location: Location,
        message: str,
        *,
        summary: str | None = None,
        evidence: tuple[str, ...] = (),
        severity: Severity = Severity.error,
        hint: str | None = None,
    ) -> CheckResult:
        """The check with one finding on `manifest`'s line for `location`; its message the
        finding's unless `summary`."""
        finding = located(graph, manifest, location, message, check, severity=severity, hint=hint)
        return cls(check, summary or message, evidence, (finding,))

    def as_dict(self) -> dict[str, Any]:
        """The record without its findings: `check`, `status`, `message`, `evidence` (what
        an Audit manifest keeps in `spec.findings[]`)."""
        data: dict[str, Any] = {"check": self.check, "status": self.status, "message": self.message}
        if self.evidence:
            data["evidence"] = list(self.evidence)
        return data


def field_path(location: tuple[str | int, ...]) -> str:
    """('spec', 'files', 0, 'sha256') -> 'spec.files[0].sha256'."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def location_of(field: str) -> tuple[str | int, ...]:
    """'spec.files[0].sha256' -> ('spec', 'files', 0, 'sha256'): `field_path` undone."""
    parts: list[str | int] = []
    for dotted in field.split("."):
        name, *indices = dotted.split("[")
        if name:
            parts.append(name)
        for index in (i.rstrip("]") for i in indices):
            parts.append(int(index) if index.isdigit() else index)
    return tuple(parts)
