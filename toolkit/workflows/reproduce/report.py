"""The reproduce report: JSON for CI, Markdown for people, written atomically side by side."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.core.fsutil import write_atomic
from toolkit.workflows.reproduce.results import Status

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.workflows.reproduce.results import Reproduction, StageResult

STATUS_MARK = {Status.passed: "PASS", Status.failed: "FAIL", Status.skipped: "skip"}


def as_dict(reproduction: Reproduction) -> dict[str, Any]:
    return {
        "deployment": reproduction.deployment,
        "rev": reproduction.rev,
        "commit": reproduction.commit,
        "workdir": reproduction.workdir,
        "ok": reproduction.ok,
        "failedStage": reproduction.failed.name if reproduction.failed else None,
        "seconds": round(reproduction.seconds, 3),
        "stages": [_stage(stage) for stage in reproduction.stages],
    }


def _stage(stage: StageResult) -> dict[str, Any]:
    return {
        "number": stage.number,
        "name": stage.name,
        "status": stage.status.value,
        "seconds": round(stage.seconds, 3),
        "summary": stage.summary,
        "details": stage.details,
        "findings": [finding.as_dict() for finding in stage.findings],
    }


def to_json(reproduction: Reproduction) -> str:
    return json.dumps(as_dict(reproduction), indent=2, sort_keys=False, default=str) + "\n"


def to_markdown(reproduction: Reproduction) -> str:
    verdict = "reproduced" if reproduction.ok else f"FAILED at stage {_failed(reproduction)}"
    lines = [
        f"# keel reproduce {reproduction.deployment}",
        "",
        f"- revision: `{reproduction.rev}` = `{reproduction.commit or 'unresolved'}`",
        f"- result: **{verdict}** in {reproduction.seconds:.1f} s",
        "",
        "| # | stage | status | seconds | summary |",
        "|---|-------|--------|--------:|---------|",
    ]
    for stage in reproduction.stages:
        summary = stage.summary.replace("|", "\\|")
        lines.append(
            f"| {stage.number} | {stage.name} | {STATUS_MARK[stage.status]} | "
            f"{stage.seconds:.2f} | {summary} |"
        )
    for stage in reproduction.stages:
        if stage.status == Status.skipped or not stage.details:
            continue
        lines += ["", f"## {stage.number}. {stage.name}", ""]
        lines += _details(stage.details)
    return "\n".join(lines) + "\n"


def _failed(reproduction: Reproduction) -> str:
    failed = reproduction.failed
    return f"{failed.number} ({failed.name})" if failed else "?"


def _details(details: dict[str, Any], indent: str = "") -> list[str]:
    lines = []
    for key, value in details.items():
        if isinstance(value, dict):
            lines.append(f"{indent}- {key}:")
            lines += _details(value, indent + "  ")
        elif isinstance(value, list):
            lines.append(f"{indent}- {key}:")
            lines += [f"{indent}  - `{item}`" for item in value[:20]]
            if len(value) > 20:
                lines.append(f"{indent}  - … and {len(value) - 20} more")
        else:
            lines.append(f"{indent}- {key}: `{value}`")
    return lines


def report_paths(path: Path) -> tuple[Path, Path]:
    """(Markdown, JSON) for `--report PATH`, which ends in .md (or .json: the Markdown goes
    beside it). Any other suffix is refused before anything runs: `x.txt` would put the JSON
    report over an unrelated `x.json`."""
    if path.suffix not in (".md", ".json"):
        raise UsageError(
            f"--report {path}: give a .md path (the JSON report is written beside it, .json)"
        )
    return path.with_suffix(".md"), path.with_suffix(".json")


def write_report(reproduction: Reproduction, path: Path) -> tuple[Path, Path]:
    """Write the Markdown and the JSON report (`report_paths`); returns (markdown, json)."""
    markdown, json_path = report_paths(path)
    markdown.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(markdown, to_markdown(reproduction))
    write_atomic(json_path, to_json(reproduction))
    return markdown, json_path
