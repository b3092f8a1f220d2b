"""`keel verify`: recompute the checksums of the files the manifests name."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.checksums import Request, fingerprints
from toolkit.core.findings import Finding, Severity, field_path
from toolkit.core.fsutil import display
from toolkit.core.plan import Plan, decode, encode, stamp
from toolkit.core.reporters import Report, brief
from toolkit.core.statcache import open_cache

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.core.pinned import PinnedFile
    from toolkit.core.repository import Graph
    from toolkit.core.statcache import StatCache

IGNORED_EXTRAS = (".dvc", ".gitignore", ".gitkeep")
MISSING = "missing; run `keel pull` or `dvc pull` to fetch it"
CHECK = "checksums"
ARTIFACT_KIND_NAMES = ("Model", "Tokenizer", "Dataset", "Adapter")
_UNREADABLE = ("parse", "schema", "placeholders")


@dataclass(frozen=True)
class Unchecked:
    """An artifact manifest (or a manifest file) that could not be read, so the files it pins
    were not checked: never a silent skip, always a problem with its reason."""

    path: Path
    line: int
    ref: str | None
    reason: str

    def finding(self) -> Finding:
        return Finding(
            self.path,
            self.line,
            f"its files were not checked: the manifest does not validate ({self.reason}); "
            "run `keel validate`",
            self.ref,
            check=CHECK,
        )


@dataclass(frozen=True)
class Problem:
    """A pinned file that does not match: what, where, and the manifest field involved."""

    file: PinnedFile
    field: str
    message: str

    def render(self) -> str:
        return f"{self.file.relative}: {self.message}"

    def finding(self, graph: Graph | None = None) -> Finding:
        """The problem as a finding about the file (its path relative to the repository, no
        line), or, given the graph, on the manifest's own line for the field."""
        location = ("spec", "files", self.file.index, self.field)
        manifest = graph.get(self.file.ref) if graph is not None else None
        if graph is not None and manifest is not None:
            return graph.finding(manifest, location, self.render(), CHECK)
        return Finding(
            Path(self.file.relative), 0, self.message, self.file.ref, field_path(location), CHECK
        )


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
    unchecked: tuple[Unchecked, ...] = ()
    """Manifests that do not validate: their files could not be checked (a problem)."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unchecked

    def findings(self, graph: Graph | None = None) -> list[Finding]:
        """Each problem as a finding (on the manifest's lines when `graph` is given), then
        each manifest whose files were not checked."""
        return [*(p.finding(graph) for p in self.problems), *(u.finding() for u in self.unchecked)]

    def extra_findings(self, *, strict: bool = False) -> list[Finding]:
        """Files no manifest names: warnings, errors when `strict`."""
        severity = Severity.error if strict else Severity.warning
        message = "not named by any manifest"
        return [Finding(Path(p), 0, message, check=CHECK, severity=severity) for p in self.extra]

    def report(self, *, strict: bool = False) -> Report:
        """What `keel verify` prints: `path: message` per problem and extra file, then
        `N files checked (...): all match | N problems`."""
        problems = len(self.problems) + len(self.unchecked)
        verdict = "all match" if self.ok else f"{problems} problem{'s' if problems > 1 else ''}"
        skipped = f", {self.not_present} not pulled here, not checked" if self.not_present else ""
        if self.unchecked:
            many = len(self.unchecked) > 1
            skipped += f", {len(self.unchecked)} manifest{'s' if many else ''} not readable"
        summary = (
            f"{self.checked} {'file' if self.checked == 1 else 'files'} checked "
            f"({self.cache_hits} unchanged since last time, "
            f"{self.bytes_hashed / 1e6:.1f} MB hashed{skipped}): {verdict}"
        )
        findings = [*self.findings(), *self.extra_findings(strict=strict)]
        fields = {
            "ok": self.ok and not (strict and self.extra),
            "checked": self.checked,
            "cacheHits": self.cache_hits,
            "bytesHashed": self.bytes_hashed,
            "unchecked": [display(u.path) for u in self.unchecked],
        }
        return Report(findings, summary, fields, line=brief)


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
            plan, unchecked = _cached_plan(root, (), cache)
            plan, unchecked = _narrow(root, plan, paths), _narrow_unchecked(unchecked, paths)
        elif graph is not None:
            plan, unchecked = _plan(graph, refs)
        else:
            plan, unchecked = _cached_plan(root, refs, cache)
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
        unchecked=tuple(unchecked),
    )


def _cached_plan(root: Path, refs: Sequence[str], cache: StatCache) -> tuple[Plan, list[Unchecked]]:
    """The plan for `refs` and the manifests it could not read, from the cache while no
    manifest file changed (the no-op cache of --no-cache always misses)."""
    key = "own\n" + "\n".join(refs)  # "own": a plan where an artifact ref is its own files
    current = stamp(root)
    stored = cache.get_plan(key, current)
    stored_unchecked = cache.get_plan(f"unchecked\n{key}", current)
    if stored is not None and stored_unchecked is not None:
        return decode(stored), [
            Unchecked(Path(u["path"]), u["line"], u["ref"], u["reason"])
            for u in json.loads(stored_unchecked)
        ]
    plan, unchecked = _plan(load_graph(root), refs)
    cache.put_plan(key, current, encode(plan))
    rows = [
        {"path": str(u.path), "line": u.line, "ref": u.ref, "reason": u.reason} for u in unchecked
    ]
    cache.put_plan(f"unchecked\n{key}", current, json.dumps(rows))
    return plan, unchecked


def _plan(graph: Graph, refs: Sequence[str]) -> tuple[Plan, list[Unchecked]]:
    from toolkit.core.artifacts import pinned_files

    named = frozenset(f.relative for f in pinned_files(graph, ()))
    files = tuple(pinned_files(graph, refs, own_files=True))
    return Plan(files, named), unreadable(graph, refs, own_files=True)


def unreadable(
    graph: Graph, refs: Sequence[str] = (), *, own_files: bool = False
) -> list[Unchecked]:
    """Manifests whose pinned files cannot be known because the manifest does not load or
    validate: artifact kinds, and files whose kind cannot be told. With `refs`, only those
    that `refs` reach through their references (with `own_files`, an artifact ref reaches
    only itself)."""
    from toolkit.core.layout import guess_references

    first: dict[Path, Finding] = {}
    for finding in sorted(graph.findings):
        if finding.path is not None and finding.check in _UNREADABLE:
            first.setdefault(finding.path, finding)
    reached = _reached(graph, refs, own_files=own_files) if refs else None
    unchecked = []
    for path, finding in first.items():
        names = {finding.ref} if finding.ref else guess_references(path)
        kinds = {name.partition("/")[0] for name in names}
        if names and not kinds & set(ARTIFACT_KIND_NAMES):
            continue
        if reached is not None and not names & reached:
            continue
        reason = f"{finding.field}: {finding.message}" if finding.field else finding.message
        ref = finding.ref or (min(names) if names else None)
        unchecked.append(Unchecked(path, finding.line, ref, reason))
    return unchecked


def _reached(graph: Graph, refs: Sequence[str], *, own_files: bool = False) -> set[str]:
    """`refs` and every ref their manifests name, transitively (unparsed ones included)."""
    seen: set[str] = set()
    pending = list(refs)
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        alone = own_files and ref.partition("/")[0] in ARTIFACT_KIND_NAMES
        if ref in graph.entries and not alone:
            pending.extend(str(target) for _, target in graph.references_of(ref))
    return seen


def _narrow_unchecked(unchecked: list[Unchecked], paths: Sequence[Path]) -> list[Unchecked]:
    wanted = {Path(os.path.abspath(p)) for p in paths}
    return [u for u in unchecked if Path(os.path.abspath(u.path)) in wanted]


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
        # a directory that is (or passes through) a symlink out of the repository is reported
        # per file by _locate; walking it could mean walking /etc
        if not directory.is_dir() or outside_repository(root, directory):
            continue
        for current, dirs, names in os.walk(directory):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                relative = Path(current, name).relative_to(root).as_posix()
                if relative not in plan.named and not name.endswith(IGNORED_EXTRAS):
                    extra.add(relative)
    return sorted(extra)
