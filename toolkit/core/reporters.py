"""Render findings: text for people, JSON for programs, annotations for GitHub Actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.fsutil import display

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolkit.core.findings import Finding
    from toolkit.workflows.validation.validate import ValidationResult


def relative(finding: Finding) -> Finding:
    """The finding with its path as the user would type it (relative to the working
    directory when inside it)."""
    from dataclasses import replace

    if finding.path is None:
        return finding
    return replace(finding, path=Path(display(finding.path)))


def text(result: ValidationResult) -> str:
    lines = [relative(f).render() for f in result.findings]
    errors = sum(1 for f in result.findings if f.severity == "error")
    summary = f"{_count(result.manifests, 'manifest')} in {_count(result.files, 'file')}"
    lines.append(
        f"{summary}: {errors} problem{'s' if errors != 1 else ''}"
        if errors
        else f"{summary}: valid"
    )
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def as_json(result: ValidationResult) -> str:
    return json.dumps(
        {
            "valid": result.ok,
            "files": result.files,
            "manifests": result.manifests,
            "findings": [relative(f).as_dict() for f in result.findings],
        },
        indent=2,
    )


def _escape(value: str, *, property_value: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def github(result: ValidationResult) -> str:
    lines = []
    for finding in result.findings:
        f = relative(finding)
        title = _escape(f"keel {f.check}: {f.ref or f.path}", property_value=True)
        message = _escape(": ".join(p for p in (f.field, f.message) if p))
        level = "error" if f.severity == "error" else "warning"
        lines.append(
            f"::{level} file={_escape(str(f.path), property_value=True)},"
            f"line={f.line},title={title}::{message}"
        )
    lines.append(text(result).splitlines()[-1])
    return "\n".join(lines)


REPORTERS: dict[str, Callable[[ValidationResult], str]] = {
    "text": text,
    "json": as_json,
    "github": github,
}
