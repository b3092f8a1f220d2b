"""`keel verify`: recompute the checksums of the files the manifests name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.artifacts import ArtifactFile, files_of, needed_by, outside_repository
from toolkit.checksums import Request, fingerprints
from toolkit.repository import MANIFEST_DIR, Graph, build_graph, manifest_files
from toolkit.statcache import open_cache

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.findings import Finding

IGNORED_EXTRAS = (".dvc", ".gitignore", ".gitkeep")


@dataclass(frozen=True)
class Problem:
    """A pinned file that does not match: what, where, and the manifest field involved."""

    file: ArtifactFile
    field: str
    message: str

    def render(self) -> str:
        return f"{self.file.relative}: {self.message}"


@dataclass(frozen=True)
class Verification:
    """What `verify` found; the caller decides what is fatal (extra files are not, by default)."""

    checked: int
    cache_hits: int
    bytes_hashed: int
    problems: tuple[Problem, ...]
    extra: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def findings(self, graph: Graph) -> list[Finding]:
        return [
            graph.finding(
                p.file.manifest, ("spec", "files", p.file.index, p.field), p.render(), "checksums"
            )
            for p in self.problems
        ]


def load_graph(root: Path) -> Graph:
    files, _ = manifest_files(root, [root / MANIFEST_DIR])
    return build_graph(root, files)


def verify(
    root: Path, refs: Sequence[str] = (), *, use_cache: bool = True, graph: Graph | None = None
) -> Verification:
    graph = graph or load_graph(root)
    manifests = needed_by(graph, refs)
    files = [f for m in manifests for f in files_of(root, m)]
    problems: list[Problem] = []
    present: list[ArtifactFile] = []
    for file in files:
        reason = outside_repository(root, file.path)
        if reason:
            problems.append(Problem(file, "path", reason))
        elif not file.path.is_file():
            problems.append(
                Problem(file, "path", "missing; run `keel pull` or `dvc pull` to fetch it")
            )
        else:
            present.append(file)
    cache = open_cache(root, use_cache)
    try:
        requests = [
            Request(f.path, tensor_digest=f.entry.tensor_digest is not None) for f in present
        ]
        measured = fingerprints(requests, cache)
    finally:
        cache.close()
    for file, fingerprint in zip(present, measured, strict=True):
        tensor = fingerprint.tensor_digest or f"none ({fingerprint.tensor_error})"
        problems.extend(_compare(file, fingerprint.sha256, fingerprint.size, tensor))
    return Verification(
        checked=len(files),
        cache_hits=sum(1 for f in measured if f.cached),
        bytes_hashed=sum(f.size for f in measured if not f.cached),
        problems=tuple(problems),
        extra=tuple(_extra(root, graph, files)),
    )


def _compare(file: ArtifactFile, sha256: str, size: int, tensor: str) -> list[Problem]:
    entry = file.entry
    problems = []
    if sha256 != entry.sha256:
        problems.append(Problem(file, "sha256", f"expected sha256 {entry.sha256}, found {sha256}"))
    elif size != entry.size:
        problems.append(Problem(file, "size", f"expected size {entry.size}, found {size}"))
    if entry.tensor_digest and tensor != entry.tensor_digest:
        problems.append(
            Problem(
                file,
                "tensorDigest",
                f"expected tensor digest {entry.tensor_digest}, found {tensor}",
            )
        )
    return problems


def _extra(root: Path, graph: Graph, files: list[ArtifactFile]) -> list[str]:
    """Files in a checked artifact directory that no manifest names (reported, not fatal)."""
    named = {f.path for m in needed_by(graph, ()) for f in files_of(root, m)}
    extra: set[str] = set()
    for directory in {f.path.parent for f in files if f.path.parent.is_dir()}:
        for current, dirs, names in os.walk(directory):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            extra.update(
                str(Path(current, name).relative_to(root))
                for name in names
                if Path(current, name) not in named and not name.endswith(IGNORED_EXTRAS)
            )
    return sorted(extra)
