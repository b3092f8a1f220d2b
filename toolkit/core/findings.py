"""Findings: what checks report. One line each; reporters decide how they look."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class Severity(str, Enum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem, located as precisely as the input allows: a file and line when there is
    one (None for a finding about a running system, say), the manifest as Kind/name, the field
    path, and what to do next (`hint`)."""

    path: Path | None
    line: int
    message: str
    ref: str | None = None
    field: str | None = None
    check: str = "schema"
    severity: Severity = Severity.error
    hint: str | None = None

    def render(self) -> str:
        parts = [f"{self.path}:{self.line}"] if self.path is not None else []
        if self.ref:
            parts.append(self.ref)
        if self.field:
            parts.append(self.field)
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


def field_path(location: tuple[str | int, ...]) -> str:
    """('spec', 'files', 0, 'sha256') -> 'spec.files[0].sha256'."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
