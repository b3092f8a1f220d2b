"""The repository: where manifests live, and the graph of manifests resolved by `Kind/name`."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from toolkit.core.errors import UsageError
from toolkit.core.findings import Finding, field_path
from toolkit.core.fsutil import display
from toolkit.core.layout import guess_references, manifest_files_under
from toolkit.core.loading import NOT_REGULAR, LoadResult, Location, load_file
from toolkit.core.parsing import Parsed, identify, parse_document
from toolkit.manifests import Deployment, Evaluation, Manifest, Ref

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

M = TypeVar("M", bound=Manifest)


def manifest_files(root: Path, paths: Iterable[Path]) -> tuple[list[Path], list[Finding]]:
    """Expand files and directories into manifest files; refuse what leaves the repository."""
    files: list[Path] = []
    findings: list[Finding] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{path}: no such file or directory")
        candidates = [path] if not path.is_dir() else manifest_files_under(path)
        for candidate in candidates:
            problem = _escapes(root, candidate) or _not_regular(candidate)
            if problem:
                findings.append(Finding(candidate, 1, problem, check="paths"))
            else:
                files.append(candidate)
    return sorted(set(files)), findings


def _not_regular(path: Path) -> str | None:
    """A FIFO would block the read forever and a device could stream without end: only
    regular files are read (a symlink inside the repository counts as its target)."""
    try:
        if stat.S_ISREG(path.stat().st_mode):
            return None
    except OSError as error:
        return f"cannot read file: {error.strerror or error}"
    return NOT_REGULAR


def _escapes(root: Path, path: Path) -> str | None:
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True).relative_to(root.resolve())
    except FileNotFoundError:
        return "symlink points to a missing file"
    except (ValueError, RuntimeError):
        return "symlink leads outside the repository; manifests must live inside it"
    return None


@dataclass
class Graph:
    """Every manifest that parsed, by reference, plus the findings met on the way."""

    root: Path
    entries: dict[str, Parsed] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    unparsed: set[str] = field(default_factory=set)
    _references: dict[str, list[tuple[Location, Ref]]] = field(default_factory=dict, repr=False)
    """References of documents that exist but failed to parse (they have their own findings)."""

    def references_of(self, ref: str) -> list[tuple[Location, Ref]]:
        """The references one manifest makes, computed once per graph."""
        cached = self._references.get(ref)
        if cached is None:
            cached = self._references[ref] = list(references(self.entries[ref].manifest))
        return cached

    def get(self, ref: str | None) -> Manifest | None:
        entry = self.entries.get(ref) if ref else None
        return entry.manifest if entry else None

    def get_as(self, ref: str | None, kind: type[M]) -> M | None:
        manifest = self.get(ref)
        return manifest if isinstance(manifest, kind) else None

    def of_kind(self, kind: type[M]) -> list[M]:
        return [e.manifest for e in self.entries.values() if isinstance(e.manifest, kind)]

    def canary_evaluation(self, deployment: Deployment) -> Evaluation | None:
        """The Deployment's own Evaluation on its canary Dataset, first in its list: what
        reproduce, the generation SLO gate and a live canary hold the deployment to."""
        for ref in deployment.spec.evaluations:
            evaluation = self.get_as(ref, Evaluation)
            if (
                evaluation is not None
                and evaluation.spec.subject == deployment.ref
                and evaluation.spec.dataset == deployment.spec.canary.dataset
            ):
                return evaluation
        return None

    def locate(self, manifest: Manifest, location: Location) -> tuple[Path, int]:
        document = self.entries[manifest.ref].document
        return document.path, document.line_of(location)

    def finding(self, manifest: Manifest, location: Location, message: str, check: str) -> Finding:
        path, line = self.locate(manifest, location)
        return Finding(path, line, message, manifest.ref, field_path(location), check)


def build_graph(root: Path, files: Iterable[Path]) -> Graph:
    from toolkit.core import doccache

    cache = doccache.DocumentCache(root) if doccache.enabled(root) else None
    try:
        return _build_graph(root, files, cache.load if cache else load_file)
    finally:
        if cache is not None:
            cache.close()


def _build_graph(root: Path, files: Iterable[Path], load: Callable[[Path], LoadResult]) -> Graph:
    graph = Graph(root)
    for path in files:
        graph.files.append(path)
        loaded = load(path)
        if loaded.problems:
            graph.unparsed.update(guess_references(path))
        graph.findings.extend(
            Finding(p.path, p.line, p.message, check="parse") for p in loaded.problems
        )
        for document in loaded.documents:
            result = parse_document(document)
            if isinstance(result, list):
                graph.findings.extend(result)
                graph.unparsed.add(identify(document.data) or "")
                continue
            ref = result.manifest.ref
            first = graph.entries.get(ref)
            if first is not None:
                name_line = first.document.line_of(("metadata", "name"))
                where = f"{display(first.document.path, root)}:{name_line}"
                graph.findings.append(
                    Finding(
                        path,
                        document.line_of(("metadata", "name")),
                        f"duplicate name: {ref} is already defined at {where}",
                        ref,
                        "metadata.name",
                        "unique",
                    )
                )
                continue
            graph.entries[ref] = result
    return graph


def references(manifest: Manifest) -> Iterator[tuple[Location, Ref]]:
    """Every `Kind/name` reference in a manifest, with its location as written in the file."""
    yield from _references(manifest, ())


def _references(value: Any, location: Location) -> Iterator[tuple[Location, Ref]]:
    if isinstance(value, Ref):
        yield location, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from _references(getattr(value, name), (*location, info.alias or name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _references(item, (*location, index))
