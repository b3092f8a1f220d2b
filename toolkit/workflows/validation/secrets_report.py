"""Reporters for `keel secrets`: text for people, JSON for programs.

Each takes a `ScanResult` and returns the whole report; `REPORTERS` maps `--format` to one.
Text lines read `path:line: secrets: [ref: field: ]message`, paths relative to the working
directory when below it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from toolkit.core.fsutil import display
from toolkit.core.reporters import relative

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolkit.core.findings import Finding
    from toolkit.workflows.validation.secrets import ScanResult


def render(finding: Finding) -> str:
    parts = (finding.check, finding.ref, finding.field, finding.message)
    where = f"{display(finding.path)}:{finding.line}" if finding.path is not None else None
    return ": ".join(p for p in (where, *parts) if p)


def text(result: ScanResult) -> str:
    lines = [render(f) for f in result.findings]
    lines.extend(f"{display(s.path)}: not scanned: {s.reason}" for s in result.skipped)
    summary = f"{_count(result.files, 'file')} scanned"
    if result.skipped:
        summary += f", {len(result.skipped)} not scanned"
    problems = len(result.findings)
    lines.append(f"{summary}: {_count(problems, 'problem')}" if problems else f"{summary}: clean")
    return "\n".join(lines)


def as_json(result: ScanResult) -> str:
    return json.dumps(
        {
            "clean": result.ok,
            "files": result.files,
            "skipped": [{"path": display(s.path), "reason": s.reason} for s in result.skipped],
            "findings": [relative(f).as_dict() for f in result.findings],
        },
        indent=2,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


REPORTERS: dict[str, Callable[[ScanResult], str]] = {"text": text, "json": as_json}
