"""`keel validate`: parse, schema, unique names, references, gates; findings out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.checks import run_checks
from toolkit.errors import UsageError
from toolkit.findings import Finding
from toolkit.repository import MANIFEST_DIR, build_graph, manifest_files


@dataclass(frozen=True)
class ValidationResult:
    findings: tuple[Finding, ...]
    files: int
    manifests: int

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def validate(root: Path, paths: Sequence[Path] = ()) -> ValidationResult:
    """Validate `paths` (default: the repository's manifests/ tree).

    References always resolve against the whole manifests/ tree, so checking one file still
    sees its neighbours; findings are reported for the selected files only.
    """
    tree = root / MANIFEST_DIR
    if not paths and not tree.is_dir():
        raise UsageError(f"{tree}: no manifests/ directory here; run `keel init` or name the files")
    selected, path_findings = manifest_files(root, paths or [tree])
    context: list[Path] = []
    if paths and tree.is_dir():
        context, _ = manifest_files(root, [tree])
    chosen = {p.resolve() for p in selected}
    extra = [p for p in context if p.resolve() not in chosen]
    graph = build_graph(root, [*selected, *extra])
    findings = [*path_findings, *graph.findings, *run_checks(graph)]
    if extra:
        findings = [f for f in findings if f.path.resolve() in chosen or f.check == "paths"]
    chosen_manifests = sum(1 for e in graph.entries.values() if e.document.path.resolve() in chosen)
    return ValidationResult(tuple(sorted(set(findings))), len(selected), chosen_manifests)
