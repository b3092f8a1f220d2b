"""Render findings: text for people, JSON for programs, annotations for GitHub Actions,
Markdown and an HTML fragment for reports.

Every command that reports findings (validate, verify, secrets, the audit's findings lists)
hands a reporter a `Report`: the findings, the lines that are not findings (`notes`), one
summary line, the command's own JSON keys, and how one finding reads as a line of text.
`REPORTERS` maps a format name to its reporter.
"""

from __future__ import annotations

import html as html_escape
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from toolkit.core.findings import Finding, Severity
from toolkit.core.fsutil import display


def full(finding: Finding) -> str:
    """`path:line: ref: field: message (hint)`, the default line."""
    return finding.render()


def with_check(finding: Finding) -> str:
    """`path:line: check: ref: field: message`: the check's name up front (keel secrets)."""
    return finding.render(check=True)


def brief(finding: Finding) -> str:
    """`path: message`: for findings about a file, whose manifest field is in the JSON."""
    return finding.render(context=False)


@dataclass(frozen=True)
class Report:
    """What a reporter renders."""

    findings: Sequence[Finding]
    summary: str
    """One line: what was checked and the verdict, e.g. `16 manifests in 17 files: valid`."""
    fields: Mapping[str, object] = field(default_factory=dict)
    """The command's own JSON keys, written before `findings`."""
    notes: Sequence[str] = ()
    """Text lines that are not findings (files not scanned, say), after the findings."""
    line: Callable[[Finding], str] = full
    base: Path | None = None
    """Paths are shown relative to this directory (default: the working directory)."""


class Reportable(Protocol):
    """A result that knows its report (ValidationResult, ScanResult, Verification...)."""

    def report(self) -> Report: ...


def _report(source: Report | Reportable) -> Report:
    return source if isinstance(source, Report) else source.report()


def relative(finding: Finding, base: Path | None = None) -> Finding:
    """The finding with its path as the user would type it (relative to `base`, default the
    working directory, when inside it)."""
    if finding.path is None:
        return finding
    return replace(finding, path=Path(display(finding.path, base)))


def _shown(report: Report) -> list[Finding]:
    return [relative(f, report.base) for f in report.findings]


def count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def severity_summary(findings: Sequence[Finding]) -> str:
    """`1 error, 2 warnings`, or `no findings`."""
    counts = Counter(f.severity for f in findings)
    parts = [count(counts[s], s.value) for s in Severity if counts[s]]
    return ", ".join(parts) or "no findings"


def text(source: Report | Reportable, *, colour: bool = False) -> str:
    """One line per finding, the notes, then the summary. With `colour` (a terminal), errors
    are red, warnings yellow, and the summary green when no finding is an error."""
    report = _report(source)
    shown = _shown(report)
    if not colour:
        return "\n".join([*map(report.line, shown), *report.notes, report.summary])
    from toolkit.core import style

    painted = [
        style.paint(report.line(f), style.ERROR if f.severity == Severity.error else style.WARNING)
        for f in shown
    ]
    failed = any(f.severity == Severity.error for f in shown)
    summary = style.paint(report.summary, style.ERROR if failed else style.OK)
    return "\n".join([*painted, *report.notes, summary])


def render(name: str, source: Report | Reportable, *, colour: bool = False) -> str:
    """`REPORTERS[name](source)`; the text reporter in colour when `colour` is set."""
    if name == "text":
        return text(source, colour=colour)
    return REPORTERS[name](source)


def as_json(source: Report | Reportable) -> str:
    report = _report(source)
    findings = [f.as_dict() for f in _shown(report)]
    return json.dumps({**report.fields, "findings": findings}, indent=2)


def _escape(value: str, *, property_value: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def github(source: Report | Reportable) -> str:
    """GitHub Actions workflow commands: one annotation per finding, then the summary."""
    report = _report(source)
    lines = []
    for f in _shown(report):
        properties = []
        if f.path is not None:
            properties.append(f"file={_escape(str(f.path), property_value=True)}")
            if f.line > 0:
                properties.append(f"line={f.line}")
        title = _escape(f"keel {f.check}: {f.ref or f.path}", property_value=True)
        properties.append(f"title={title}")
        message = ": ".join(p for p in (f.field, f.message) if p)
        if f.hint:
            message += f" ({f.hint})"
        lines.append(f"::{f.severity.value} {','.join(properties)}::{_escape(message)}")
    lines.append(report.summary)
    return "\n".join(lines)


def _markdown_item(f: Finding) -> str:
    parts = [f"**{f.severity.value}**"]
    if f.path is not None:
        parts.append(f"`{f.path}:{f.line}`" if f.line > 0 else f"`{f.path}`")
    if f.ref:
        parts.append(f.ref)
    if f.field:
        parts.append(f"`{f.field}`")
    hint = f" ({f.hint})" if f.hint else ""
    return f"- {' '.join(parts)}: {f.message}{hint}"


def markdown(source: Report | Reportable) -> str:
    """A bullet list of the findings (severity, location, ref, field, message, hint), the
    notes, then the summary as a paragraph."""
    report = _report(source)
    lines = [_markdown_item(f) for f in _shown(report)]
    lines += [f"- {note}" for note in report.notes]
    return "\n".join([*lines, *([""] if lines else []), report.summary])


def _html_item(f: Finding) -> str:
    e = html_escape.escape
    parts = [f'<span class="severity severity-{f.severity.value}">{f.severity.value}</span>']
    if f.path is not None:
        parts.append(f"<code>{e(str(f.path))}{f':{f.line}' if f.line > 0 else ''}</code>")
    if f.ref:
        parts.append(e(f.ref))
    if f.field:
        parts.append(f"<code>{e(f.field)}</code>")
    hint = f' <span class="hint">({e(f.hint)})</span>' if f.hint else ""
    return f'<li class="finding">{" ".join(parts)}: {e(f.message)}{hint}</li>'


def html(source: Report | Reportable) -> str:
    """An HTML fragment (no page around it, no style): a list of the findings with classes
    `severity severity-error|warning` and `hint` for the page's CSS, then the summary."""
    report = _report(source)
    items = [_html_item(f) for f in _shown(report)]
    items += [f'<li class="note">{html_escape.escape(n)}</li>' for n in report.notes]
    listing = f'<ul class="findings">{"".join(items)}</ul>' if items else ""
    return f'{listing}<p class="summary">{html_escape.escape(report.summary)}</p>'


Reporter = Callable[[Report | Reportable], str]

REPORTERS: dict[str, Reporter] = {
    "text": text,
    "json": as_json,
    "github": github,
    "markdown": markdown,
    "html": html,
}
