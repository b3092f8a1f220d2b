"""Every `Kind/name` reference must name a manifest that exists."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph


def check_references(graph: Graph) -> Iterator[Finding]:
    for name, entry in graph.entries.items():
        for location, ref in graph.references_of(name):
            if ref not in graph.entries and ref not in graph.unparsed:
                message = f"{ref} does not exist in the manifests{_did_you_mean(graph, ref)}"
                yield graph.finding(entry.manifest, location, message, "references")


def _did_you_mean(graph: Graph, ref: str) -> str:
    """The closest existing manifest of the same kind, as a hint for a typo."""
    kind = ref.split("/", 1)[0]
    same_kind = [r for r in graph.entries if r.startswith(f"{kind}/")]
    close = difflib.get_close_matches(ref, same_kind, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
