"""The audit report: JSON for CI, Markdown for the repository, one self-contained HTML page
for the people who sign it off (inline CSS, no script, no network).

Per deployment: the table of checks, the findings of those that fail or warn (rendered by the
shared reporters of `toolkit.core.reporters`, paths relative to the repository), the evidence
of each check, the changes since the last audit and, with --reproduce, its report.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from toolkit.core import reporters

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.workflows.audit.audit import AuditResult, DeploymentAudit

COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}
BACKGROUNDS = {"pass": "#dafbe1", "warn": "#fff8c5", "fail": "#ffebe9"}


def as_dict(result: AuditResult) -> dict[str, Any]:
    from toolkit.workflows.reproduce.report import as_dict as reproduction_dict

    return {
        "asOf": result.as_of.isoformat(),
        "commit": result.commit,
        "auditor": result.auditor,
        "status": result.status,
        "deployments": [
            {
                "deployment": d.deployment,
                "status": d.status,
                "previousAudit": d.previous,
                "findings": [c.as_dict() for c in d.checks],
                "problems": [reporters.relative(f, result.root).as_dict() for f in d.findings],
                "changes": d.changes.as_dict() if d.changes else None,
                "reproduce": reproduction_dict(d.reproduction) if d.reproduction else None,
            }
            for d in result.deployments
        ],
    }


def findings_report(audited: DeploymentAudit, root: Path) -> reporters.Report:
    """The deployment's findings (each once) and a count by severity, paths relative to the
    repository."""
    findings = audited.findings
    return reporters.Report(findings, reporters.severity_summary(findings), base=root)


def to_json(result: AuditResult) -> str:
    return json.dumps(as_dict(result), indent=2, default=str) + "\n"


def to_markdown(result: AuditResult) -> str:
    lines = [
        f"# keel audit, as of {result.as_of}",
        "",
        f"- commit: `{result.commit}`",
        f"- auditor: {result.auditor}",
        f"- result: **{result.status.upper()}**",
        "",
        "| deployment | status | pass | warn | fail |",
        "|---|---|--:|--:|--:|",
    ]
    for audited in result.deployments:
        counts = _counts(audited)
        lines.append(
            f"| {audited.deployment} | {audited.status.upper()} | {counts['pass']} | "
            f"{counts['warn']} | {counts['fail']} |"
        )
    for audited in result.deployments:
        lines += ["", f"## {audited.deployment}: {audited.status.upper()}", ""]
        lines += ["| check | status | finding |", "|---|---|---|"]
        for check in audited.checks:
            message = check.message.replace("|", "\\|")
            lines.append(f"| {check.check} | {check.status.upper()} | {message} |")
        if audited.findings:
            lines += ["", "### Findings", ""]
            lines.append(reporters.markdown(findings_report(audited, result.root)))
        for check in audited.checks:
            if check.evidence and check.check != "changes":
                lines += ["", f"### {check.check}", ""]
                lines += [f"- {_code(line)}" for line in check.evidence]
        if audited.changes is not None:
            since = audited.previous or f"{audited.changes.before} (no previous audit)"
            lines += ["", f"### Changes since {since}", ""]
            lines += [f"- {line}" for line in audited.changes.lines()] or ["- nothing changed"]
        if audited.reproduction is not None:
            from toolkit.workflows.reproduce.report import to_markdown as reproduction_markdown

            body = reproduction_markdown(audited.reproduction).replace("\n# ", "\n### ")
            lines += ["", "### Reproduce report", "", body.removeprefix("# ")]
    return "\n".join(lines) + "\n"


def _code(line: str) -> str:
    return line.replace("`", "'")


def _counts(audited: DeploymentAudit) -> dict[str, int]:
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for check in audited.checks:
        counts[check.status] += 1
    return counts


STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: .35rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
.status { font-weight: 700; border-radius: 1rem; padding: .05rem .6rem; white-space: nowrap; }
.meta { color: #59636e; }
details { margin: .2rem 0; }
summary { cursor: pointer; color: #59636e; }
pre, code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; white-space: pre-wrap; }
ul.evidence, ul.findings { margin: .3rem 0; padding-left: 1.2rem; }
ul.findings li { margin: .2rem 0; }
.severity { font-weight: 700; border-radius: 1rem; padding: 0 .5rem; }
.severity-error { color: #cf222e; background: #ffebe9; }
.severity-warning { color: #9a6700; background: #fff8c5; }
.hint, .summary { color: #59636e; }
"""


def _badge(status: str) -> str:
    return (
        f'<span class="status" style="color:{COLOURS[status]};'
        f'background:{BACKGROUNDS[status]}">{status.upper()}</span>'
    )


def to_html(result: AuditResult) -> str:
    e = html.escape
    rows = "".join(
        f'<tr><td><a href="#{e(_anchor(d.deployment))}">{e(d.deployment)}</a></td>'
        f"<td>{_badge(d.status)}</td>"
        + "".join(f"<td>{n}</td>" for n in _counts(d).values())
        + "</tr>"
        for d in result.deployments
    )
    sections = "".join(_deployment_html(d, result.root) for d in result.deployments)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keel audit {e(str(result.as_of))}: {e(result.status.upper())}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<h1>keel audit, as of {e(str(result.as_of))} {_badge(result.status)}</h1>
<p class="meta">commit <code>{e(result.commit)}</code> · auditor {e(result.auditor)}</p>
<table>
<thead><tr><th>deployment</th><th>status</th><th>pass</th><th>warn</th><th>fail</th></tr></thead>
<tbody>{rows}</tbody>
</table>
{sections}
</body>
</html>
"""


def _anchor(ref: str) -> str:
    return ref.replace("/", "-").lower()


def _deployment_html(audited: DeploymentAudit, root: Path) -> str:
    e = html.escape
    rows = []
    for check in audited.checks:
        evidence = ""
        if check.evidence and check.check != "changes":
            items = "".join(f"<li><code>{e(line)}</code></li>" for line in check.evidence)
            evidence = (
                f"<details><summary>evidence ({len(check.evidence)})</summary>"
                f'<ul class="evidence">{items}</ul></details>'
            )
        rows.append(
            f"<tr><td><code>{e(check.check)}</code></td><td>{_badge(check.status)}</td>"
            f"<td>{e(check.message)}{evidence}</td></tr>"
        )
    findings = ""
    if audited.findings:
        findings = "<h3>Findings</h3>" + reporters.html(findings_report(audited, root))
    changes = ""
    if audited.changes is not None:
        since = audited.previous or f"{audited.changes.before} (no previous audit)"
        lines = audited.changes.lines()
        items = "".join(f"<li><code>{e(line)}</code></li>" for line in lines)
        changes = f"<h3>Changes since {e(since)}</h3>" + (
            f'<ul class="evidence">{items}</ul>' if lines else "<p>Nothing changed.</p>"
        )
    reproduction = ""
    if audited.reproduction is not None:
        from toolkit.workflows.reproduce.report import to_markdown as reproduction_markdown

        reproduction = (
            f"<h3>Reproduce report</h3><pre>{e(reproduction_markdown(audited.reproduction))}</pre>"
        )
    return f"""
<h2 id="{e(_anchor(audited.deployment))}">{e(audited.deployment)} {_badge(audited.status)}</h2>
<table>
<thead><tr><th>check</th><th>status</th><th>finding</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>
{findings}
{changes}
{reproduction}
"""


RENDERERS = {"md": to_markdown, "html": to_html, "json": to_json}
