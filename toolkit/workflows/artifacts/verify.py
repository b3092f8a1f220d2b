"""`keel verify`: recompute the checksums of the files the manifests name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.checksums import Request, fingerprints
from toolkit.core.plan import Plan, build, cached_plan
from toolkit.core.statcache import open_cache

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.core.findings import Finding
    from toolkit.core.pinned import PinnedFile
    from toolkit.core.repository import Graph

IGNORED_EXTRAS = (".dvc", ".gitignore", ".gitkeep")
MISSING = "missing; run `keel pull` or `dvc pull` to fetch it"


@dataclass(frozen=True)
class Problem:
    """A pinned file that does not match: what, where, and the manifest field involved."""

    file: PinnedFile
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
    not_present: int = 0
    """Files skipped because they are not pulled here (only with `skip_missing`)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def findings(self, graph: Graph) -> list[Finding]:
        located = []
        for p in self.problems:
            manifest = graph.get(p.file.ref)
            assert manifest is not None
            location = ("spec", "files", p.file.index, p.field)
            located.append(graph.finding(manifest, location, p.render(), "checksums"))
        return located


def load_graph(root: Path) -> Graph:
    from toolkit.core.layout import MANIFEST_DIR
    from toolkit.core.repository import build_graph, manifest_files

    files, _ = manifest_files(root, [root / MANIFEST_DIR])
    return build_graph(root, files)


def verify(
    root: Path,
    refs: Sequence[str] = (),
    *,
    use_cache: bool = True,
    graph: Graph | None = None,
    paths: Sequence[Path] = (),
    skip_missing: bool = False,
) -> Verification:
    """Check every file `refs` need (all pinned files when empty) against its manifest.

    `paths` (manifest files, `.dvc` files or pinned files themselves, e.g. what a commit
    stages) narrow the check to the files those name; paths that name nothing check nothing.
    """
    cache = open_cache(root, use_cache)
    try:
        if paths:
            plan = _narrow(
                root, cached_plan(root, (), cache) if use_cache else build(root, ()), paths
            )
        elif graph is not None:
            from toolkit.core.artifacts import pinned_files

            all_files = pinned_files(graph, ())
            plan = Plan(tuple(pinned_files(graph, refs)), frozenset(f.relative for f in all_files))
        else:
            plan = cached_plan(root, refs, cache) if use_cache else build(root, refs)
        problems, present = _locate(root, plan.files)
        absent = sum(1 for p in problems if p.message == MISSING)
        if skip_missing:  # hook mode: a file not pulled here has nothing to contradict
            problems = [p for p in problems if p.message != MISSING]
        requests = [
            Request(root / f.relative, tensor_digest=f.tensor_digest is not None) for f in present
        ]
        measured = fingerprints(requests, cache)
    finally:
        cache.close()
    for file, fingerprint in zip(present, measured, strict=True):
        tensor = fingerprint.tensor_digest or f"none ({fingerprint.tensor_error})"
        problems.extend(_compare(file, fingerprint.sha256, fingerprint.size, tensor))
    return Verification(
        checked=len(plan.files) - (absent if skip_missing else 0),
        cache_hits=sum(1 for f in measured if f.cached),
        bytes_hashed=sum(f.size for f in measured if not f.cached),
        problems=tuple(problems),
        extra=tuple(_extra(root, plan)),
        not_present=absent if skip_missing else 0,
    )


def _narrow(root: Path, plan: Plan, paths: Sequence[Path]) -> Plan:
    from toolkit.core.layout import guess_references

    refs: set[str] = set()
    data: set[str] = set()
    for path in paths:
        absolute = Path(os.path.abspath(path))
        if absolute.suffix in (".yaml", ".yml", ".json"):
            refs |= guess_references(absolute)
        target = absolute.with_suffix("") if absolute.suffix == ".dvc" else absolute
        if target.is_relative_to(root):
            data.add(target.relative_to(root).as_posix())
    files = tuple(f for f in plan.files if f.ref in refs or f.relative in data)
    return Plan(files, plan.named)


def outside_repository(root: Path, path: Path) -> str | None:
    """Why `path` may not be used (it or a symlink on its way leads outside the repository)."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return "leads outside the repository (a symlink?); artifacts must live inside it"
    return None


def _locate(root: Path, files: Sequence[PinnedFile]) -> tuple[list[Problem], list[PinnedFile]]:
    problems: list[Problem] = []
    present: list[PinnedFile] = []
    for file in files:
        path = file.absolute(root)
        reason = outside_repository(root, path)
        if reason:
            problems.append(Problem(file, "path", reason))
        elif not path.is_file():
            problems.append(Problem(file, "path", MISSING))
        else:
            present.append(file)
    return problems, present


def _compare(file: PinnedFile, sha256: str, size: int, tensor: str) -> list[Problem]:
    problems = []
    if sha256 != file.sha256:
        problems.append(Problem(file, "sha256", f"expected sha256 {file.sha256}, found {sha256}"))
    elif size != file.size:
        problems.append(Problem(file, "size", f"expected size {file.size}, found {size}"))
    if file.tensor_digest and tensor != file.tensor_digest:
        problems.append(
            Problem(
                file, "tensorDigest", f"expected tensor digest {file.tensor_digest}, found {tensor}"
            )
        )
    return problems


def _extra(root: Path, plan: Plan) -> list[str]:
    """Files in a checked artifact directory that no manifest names (reported, not fatal)."""
    extra: set[str] = set()
    directories = {(root / f.relative).parent for f in plan.files}
    for directory in directories:
        if not directory.is_dir():
            continue
        for current, dirs, names in os.walk(directory):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                relative = Path(current, name).relative_to(root).as_posix()
                if relative not in plan.named and not name.endswith(IGNORED_EXTRAS):
                    extra.add(relative)
    return sorted(extra)
