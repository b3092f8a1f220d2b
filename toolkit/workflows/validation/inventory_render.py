"""How `keel ls` and `keel show` print: text for people; JSON (and YAML for show) for programs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

from toolkit.core.reporters import count
from toolkit.core.text import one_line
from toolkit.workflows.validation.inventory import Status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.core.findings import Finding
    from toolkit.workflows.validation.inventory import Inventory, Item, Link, Shown

_STATUS_WORDS = {
    Status.valid: "valid",
    Status.invalid: "invalid",
    Status.placeholders: "with placeholders left",
}


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines, each column padded to its widest cell (the last one is not padded)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def status_text(item: Item) -> str:
    """`valid`, `valid (1 warning)`, `invalid (2 problems)`, `placeholders (3 left)`."""
    if item.status == Status.placeholders:
        return f"placeholders ({item.errors} left)"
    if item.status == Status.invalid:
        return f"invalid ({count(item.errors, 'problem')})"
    return f"valid ({count(item.warnings, 'warning')})" if item.warnings else "valid"


def inventory_summary(result: Inventory) -> str:
    """`16 manifests: 14 valid, 1 invalid, 1 with placeholders left`."""
    counts = result.counts()
    noun = f"{result.kind} manifest" if result.kind else "manifest"
    parts = [f"{counts[s]} {_STATUS_WORDS[s]}" for s in Status if counts[s] or s == Status.valid]
    line = f"{count(len(result.items), noun)}: {', '.join(parts)}"
    if counts[Status.invalid] or counts[Status.placeholders]:
        line += " (keel show Kind/name or keel validate lists the problems)"
    return line


def inventory_text(result: Inventory) -> str:
    header = ("KIND", "NAME", "OWNER", "STATUS", "FILE")
    rows = [
        (one_line(i.kind), one_line(i.name), one_line(i.owner or "-"), status_text(i), i.file)
        for i in result.items
    ]
    return "\n".join([*(table([header, *rows]) if rows else []), inventory_summary(result)])


def inventory_json(result: Inventory) -> str:
    return json.dumps([i.as_dict() for i in result.items], indent=2)


INVENTORY_RENDERERS = {"text": inventory_text, "json": inventory_json}


def shown_dict(shown: Shown) -> dict[str, Any]:
    """The item's fields, then `needs`, `neededBy` and the manifest as written."""
    return {
        **shown.item.as_dict(),
        "needs": [link.as_dict() for link in shown.needs],
        "neededBy": [link.as_dict() for link in shown.needed_by],
        "manifest": shown.item.data,
    }


def shown_text(shown: Shown) -> str:
    item = shown.item
    lines = [
        f"{one_line(item.ref)}  {status_text(item)}",
        f"file:   {item.file}:{item.line}",
        f"owner:  {one_line(item.owner or '-')}",
        "",
        f"needs ({len(shown.needs)}):",
        *_indented(table([_need_row(link) for link in shown.needs]) or ["nothing"]),
        f"needed by ({len(shown.needed_by)}):",
        *_indented(table([_needed_by_row(link) for link in shown.needed_by]) or ["nothing"]),
    ]
    if item.problems:
        lines += ["", f"problems ({len(item.problems)}):"]
        lines += _indented([_problem(f) for f in item.problems])
    if item.data is not None:
        lines += ["", "manifest:", *_indented(_yaml(item.data).splitlines())]
    return "\n".join(lines)


def shown_json(shown: Shown) -> str:
    return json.dumps(shown_dict(shown), indent=2, default=str)


def shown_yaml(shown: Shown) -> str:
    return _yaml(shown_dict(shown)).rstrip("\n")


SHOW_RENDERERS = {"text": shown_text, "yaml": shown_yaml, "json": shown_json}


def _need_row(link: Link) -> tuple[str, ...]:
    return (one_line(link.field), one_line(link.ref), link.status, link.file or "-")


def _needed_by_row(link: Link) -> tuple[str, ...]:
    return (one_line(link.ref), one_line(link.field), link.status, link.file or "-")


def _problem(finding: Finding) -> str:
    """`path:line: field: message (hint)`: the manifest is named once, above."""
    location = str(finding.path or "")
    if location and finding.line > 0:
        location += f":{finding.line}"
    text = ": ".join(p for p in (location, finding.field, finding.message) if p)
    return f"{text} ({finding.hint})" if finding.hint else text


def _indented(lines: Sequence[str]) -> list[str]:
    return [f"  {line}" if line else line for line in lines]


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
