"""The report of `keel secrets`, for the reporters of `toolkit.core.reporters`.

Text lines read `path:line: secrets: [ref: field: ]message`, paths relative to the working
directory when below it; files not scanned follow as `path: not scanned: reason`. The JSON
holds `clean`, `files`, `skipped` and `findings`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from toolkit.core.fsutil import display
from toolkit.core.reporters import Report, as_json, count, text, with_check
from toolkit.core.text import redact

if TYPE_CHECKING:
    from toolkit.core.findings import CheckResult, Finding
    from toolkit.workflows.validation.secrets import ScanResult

__all__ = ["as_json", "redacted", "redacted_check", "report", "text"]


def report(result: ScanResult) -> Report:
    summary = f"{count(result.files, 'file')} scanned"
    if result.skipped:
        summary += f", {len(result.skipped)} not scanned"
    problems = len(result.findings)
    summary += f": {count(problems, 'problem')}" if problems else ": clean"
    return Report(
        [redacted(f) for f in result.findings],
        summary,
        fields={
            "clean": result.ok,
            "files": result.files,
            "skipped": [{"path": display(s.path), "reason": s.reason} for s in result.skipped],
        },
        notes=[f"{display(s.path)}: not scanned: {s.reason}" for s in result.skipped],
        line=with_check,
    )


def redacted(finding: Finding) -> Finding:
    """`finding` with its message, ref and field passed through `toolkit.core.text.redact`."""
    return replace(
        finding,
        message=redact(finding.message),
        ref=redact(finding.ref) if finding.ref else finding.ref,
        field=redact(finding.field) if finding.field else finding.field,
    )


def redacted_check(check: CheckResult) -> CheckResult:
    """An audit check (or any CheckResult) with its message, evidence and findings redacted:
    what the audit's reports and its Audit manifest may quote from manifests and diffs."""
    return replace(
        check,
        message=redact(check.message),
        evidence=tuple(redact(line) for line in check.evidence),
        findings=tuple(redacted(f) for f in check.findings),
    )
