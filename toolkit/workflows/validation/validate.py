"""`keel validate`: parse, schema, unique names, references, gates; findings out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.checks import run_checks
from toolkit.core.errors import UsageError
from toolkit.core.findings import errors
from toolkit.core.layout import MANIFEST_DIR
from toolkit.core.reporters import Report, count
from toolkit.core.repository import Graph, build_graph, manifest_files
from toolkit.workflows.validation.secrets_report import redacted

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.core.findings import Finding


@dataclass(frozen=True)
class ValidationResult:
    findings: tuple[Finding, ...]
    files: int
    manifests: int

    @property
    def ok(self) -> bool:
        return not errors(self.findings)

    @property
    def summary(self) -> str:
        """`16 manifests in 17 files: valid` (or `: 2 problems`, counting errors)."""
        problems = len(errors(self.findings))
        checked = f"{count(self.manifests, 'manifest')} in {count(self.files, 'file')}"
        return f"{checked}: {count(problems, 'problem')}" if problems else f"{checked}: valid"

    def report(self) -> Report:
        """What the reporters render; a secret echoed in a finding (a token pasted as a kind,
        an enum value) is shown only as its preview."""
        fields = {"valid": self.ok, "files": self.files, "manifests": self.manifests}
        return Report([redacted(f) for f in self.findings], self.summary, fields)


def validate(
    root: Path, paths: Sequence[Path] = (), *, checksums: bool = False, neighbours: bool = False
) -> ValidationResult:
    """Validate `paths` (default: the repository's manifests/ tree).

    References always resolve against the whole manifests/ tree, so checking one file still
    sees its neighbours; findings are reported for the selected files only, and with
    `neighbours` also for every manifest they reference or that references them (a change
    can break its neighbours: the hook mode).
    """
    tree = root / MANIFEST_DIR
    if not paths and not tree.is_dir():
        raise UsageError(f"{tree}: no manifests/ directory here; run `keel init` or name the files")
    selected, path_findings = manifest_files(root, paths or [tree])
    if not paths:
        graph = build_graph(root, selected)
        findings = [
            *path_findings,
            *graph.findings,
            *run_checks(graph),
            *_checksums(graph, checksums),
        ]
        return ValidationResult(tuple(sorted(set(findings))), len(selected), len(graph.entries))
    chosen = {_absolute(p) for p in selected}
    context: list[Path] = []
    if tree.is_dir():
        context = [p for p in manifest_files(root, [tree])[0] if _absolute(p) not in chosen]
    # The tree first, the selected files last: a name defined twice is blamed on the file
    # that came second, so a staged copy of a manifest (the file that introduced the
    # duplicate) is the one reported, not the committed original the hook filters out.
    graph = build_graph(root, [*context, *selected])
    if neighbours:
        chosen |= _neighbour_files(graph, chosen)
    findings = [*path_findings, *graph.findings, *run_checks(graph), *_checksums(graph, checksums)]
    if context:
        findings = [
            f
            for f in findings
            if (f.path is not None and _absolute(f.path) in chosen) or f.check == "paths"
        ]
    chosen_manifests = sum(
        1 for e in graph.entries.values() if _absolute(e.document.path) in chosen
    )
    files = len({_absolute(e.document.path) for e in graph.entries.values()} & chosen)
    return ValidationResult(
        tuple(sorted(set(findings))), max(files, len(selected)), chosen_manifests
    )


def _neighbour_files(graph: Graph, chosen: set[Path]) -> set[Path]:
    """Files of the manifests that reference, or are referenced by, those in `chosen`."""
    selected = {ref for ref, e in graph.entries.items() if _absolute(e.document.path) in chosen}
    related: set[str] = set()
    for ref in graph.entries:
        targets = {str(target) for _, target in graph.references_of(ref)}
        if ref in selected:
            related |= targets
        elif targets & selected:
            related.add(ref)
    return {_absolute(graph.entries[ref].document.path) for ref in related if ref in graph.entries}


def _checksums(graph: Graph, enabled: bool) -> list[Finding]:
    if not enabled:
        return []
    from toolkit.workflows.artifacts.verify import verify

    return verify(graph.root, graph=graph).findings(graph)


def _absolute(path: Path) -> Path:
    """Absolute and normalised, without resolving symlinks (cheap; paths are compared, not
    followed: symlinks that leave the repository are found by `manifest_files`)."""
    return Path(os.path.abspath(path))
