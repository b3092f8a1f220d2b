"""Every `Kind/name` reference must name a manifest that exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.repository import Graph, references

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.findings import Finding


def check_references(graph: Graph) -> Iterator[Finding]:
    for entry in graph.entries.values():
        for location, ref in references(entry.manifest):
            if ref not in graph.entries and ref not in graph.unparsed:
                yield graph.finding(
                    entry.manifest, location, f"{ref} does not exist in the manifests", "references"
                )
