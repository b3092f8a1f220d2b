"""Every `Kind/name` reference must name a manifest that exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph


def check_references(graph: Graph) -> Iterator[Finding]:
    for name, entry in graph.entries.items():
        for location, ref in graph.references_of(name):
            if ref not in graph.entries and ref not in graph.unparsed:
                yield graph.finding(
                    entry.manifest, location, f"{ref} does not exist in the manifests", "references"
                )
