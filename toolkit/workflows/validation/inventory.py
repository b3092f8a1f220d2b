"""`keel ls` and `keel show`: what a repository holds, each manifest with its status.

One scan serves both: the graph `keel validate` builds (the document cache makes an unchanged
tree cheap to read again) and the same checks, so a manifest's status here is the verdict
`keel validate` gives it (without `--checksums`). Documents that did not parse are listed too,
by the kind and name they state, with their findings: an inventory hides nothing.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.core.checks import run_checks
from toolkit.core.errors import UsageError
from toolkit.core.findings import Finding, Severity, field_path
from toolkit.core.fsutil import display
from toolkit.core.layout import KIND_DIRECTORIES, MANIFEST_DIR, guess_references
from toolkit.core.loading import load_file
from toolkit.core.parsing import Parsed, is_placeholder, parse_document
from toolkit.core.repository import Graph, build_graph, manifest_files
from toolkit.manifests import KINDS
from toolkit.workflows.validation.secrets_report import redacted

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.loading import Document, Location

UNKNOWN = "?"
MISSING = "missing"


class Status(str, Enum):
    """What `keel validate` would say of one manifest."""

    valid = "valid"
    invalid = "invalid"
    placeholders = "placeholders"
    """`<fill: ...>` values from a `keel new` template are left."""


@dataclass(frozen=True)
class Item:
    """One manifest (or one file that holds none that could be read) and its status."""

    kind: str
    name: str
    file: str
    """Relative to the repository root."""
    line: int
    owner: str | None
    status: Status
    problems: tuple[Finding, ...] = ()
    """Errors and warnings, paths relative to the repository root, secrets redacted."""
    data: Any = None
    """The document as written (plain data), None for a file that could not be read."""

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def errors(self) -> int:
        return sum(1 for f in self.problems if f.severity == Severity.error)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "ref": self.ref,
            "file": self.file,
            "line": self.line,
            "owner": self.owner,
            "status": self.status.value,
            "problems": [f.as_dict() for f in self.problems],
        }


@dataclass(frozen=True)
class Inventory:
    """Every manifest under manifests/ (of one kind, if asked), sorted by kind then name."""

    items: tuple[Item, ...]
    kind: str | None = None

    def counts(self) -> dict[Status, int]:
        return {s: sum(1 for i in self.items if i.status == s) for s in Status}


@dataclass(frozen=True)
class Link:
    """One reference: the field that makes it (in the referring manifest), the other end,
    its file and its status (`missing` when no manifest has that name)."""

    field: str
    ref: str
    file: str | None
    status: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "ref": self.ref, "file": self.file, "status": self.status}


@dataclass(frozen=True)
class Shown:
    """One manifest with what it needs (its references) and what needs it."""

    item: Item
    needs: tuple[Link, ...]
    needed_by: tuple[Link, ...]


def resolve_kind(text: str) -> str:
    """A kind as the user typed it (`model`, `Model`, `models`, `training-runs`) -> `Model`;
    anything else is a one-line usage error with the closest kind."""
    by_lower = {kind.lower(): kind for kind in KINDS}
    by_lower.update({directory: kind for kind, directory in KIND_DIRECTORIES.items()})
    found = by_lower.get(text.lower())
    if found is not None:
        return found
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=1, cutoff=0.6)
    hint = f"; did you mean '{by_lower[close[0]]}'?" if close else ""
    raise UsageError(f"unknown kind {text!r}{hint} (kinds: {', '.join(sorted(KINDS))})")


def inventory(root: Path, kind: str | None = None) -> Inventory:
    """Every manifest under `root`'s manifests/, with its status; `kind` (any spelling
    `resolve_kind` takes) keeps one kind."""
    wanted = resolve_kind(kind) if kind is not None else None
    items = scan(root)[1]
    if wanted is not None:
        items = tuple(i for i in items if i.kind == wanted)
    return Inventory(items, wanted)


def show(root: Path, ref: str) -> Shown:
    """The manifest `ref` (`Kind/name`, the kind in any case), what it references and what
    references it. A name no manifest has is a usage error naming the closest one."""
    kind, slash, name = ref.partition("/")
    if not slash or not kind or not name:
        raise UsageError(f"expected Kind/name (e.g. Model/base), got {ref!r}")
    wanted = f"{resolve_kind(kind)}/{name}"
    graph, items = scan(root)
    matches = [i for i in items if i.ref == wanted]
    if not matches:
        close = difflib.get_close_matches(wanted, [i.ref for i in items], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise UsageError(f"{wanted}: no manifest of that name in {MANIFEST_DIR}/{hint}")
    item = matches[0]
    by_ref = {i.ref: i for i in reversed(items)}  # the first of duplicates wins, as in the graph
    needs = tuple(_link(location, target, by_ref) for location, target in _references(graph, item))
    needed_by = tuple(
        Link(field_path(location), other.ref, other.file, other.status.value)
        for other in items
        for location, target in _references(graph, other)
        if target == wanted
    )
    return Shown(item, needs, needed_by)


def scan(root: Path) -> tuple[Graph, tuple[Item, ...]]:
    """The graph of `root`'s manifests/ and every item in it, sorted by kind, name, file."""
    tree = root / MANIFEST_DIR
    if not tree.is_dir():
        raise UsageError(f"{tree}: no manifests/ directory here; run `keel init` or use --root")
    files, path_findings = manifest_files(root, [tree])
    graph = build_graph(root, files)
    found = [*path_findings, *graph.findings, *run_checks(graph)]
    by_ref: dict[str, list[Finding]] = {}
    for finding in found:
        by_ref.setdefault(finding.ref or "", []).append(finding)
    items = [
        _entry_item(root, parsed, by_ref.get(ref, [])) for ref, parsed in graph.entries.items()
    ]
    troubled = sorted({_absolute(f.path) for f in [*path_findings, *graph.findings] if f.path})
    for path in troubled:
        items.extend(_troubled_items(root, graph, path, found))
    items.sort(key=lambda i: (i.kind, i.name, i.file, i.line))
    return graph, tuple(items)


def _entry_item(root: Path, parsed: Parsed, findings: list[Finding]) -> Item:
    manifest, document = parsed.manifest, parsed.document
    mine = [f for f in findings if f.path is None or _same(f.path, document.path)]
    return Item(
        manifest.kind,
        manifest.metadata.name,
        display(document.path, root),
        document.line,
        manifest.metadata.owner,
        _status(mine),
        _shown(root, mine),
        document.data,
    )


def _troubled_items(root: Path, graph: Graph, path: Path, found: list[Finding]) -> Iterator[Item]:
    """Items for what in `path` did not become a graph entry: a file that could not be read
    (or was refused), documents that did not parse, and second definitions of a name."""
    entered = {p.document.index for p in graph.entries.values() if _same(p.document.path, path)}
    refused = [f for f in found if f.check == "paths" and f.path and _same(f.path, path)]
    loaded = load_file(path) if not refused else None
    documents = loaded.documents if loaded else ()
    file_problems = refused or [
        Finding(p.path, p.line, p.message, check="parse")
        for p in (loaded.problems if loaded else ())
    ]
    if file_problems:
        guessed = sorted(guess_references(path)) if not documents and not refused else []
        kind, _, name = (guessed[0] if len(guessed) == 1 else f"{UNKNOWN}/{UNKNOWN}").partition("/")
        yield Item(
            kind, name, display(path, root), 1, None, Status.invalid, _shown(root, file_problems)
        )
    for document in documents:
        if document.index not in entered:
            yield _unparsed_item(root, document, found)


def _unparsed_item(root: Path, document: Document, found: list[Finding]) -> Item:
    result = parse_document(document)
    if isinstance(result, Parsed):  # it parsed: a second definition of a name
        ref = result.manifest.ref
        problems = [
            f
            for f in found
            if f.check == "unique" and f.ref == ref and f.path and _same(f.path, document.path)
        ]
    else:
        problems = result
    data = document.data if isinstance(document.data, dict) else {}
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    kind, name, owner = data.get("kind"), metadata.get("name"), metadata.get("owner")
    return Item(
        kind if isinstance(kind, str) else UNKNOWN,
        name if isinstance(name, str) else UNKNOWN,
        display(document.path, root),
        document.line,
        owner if isinstance(owner, str) and not is_placeholder(owner) else None,
        _status(problems) if problems else Status.invalid,
        _shown(root, problems),
        document.data,
    )


def _status(findings: list[Finding]) -> Status:
    if any(f.check == "placeholders" for f in findings):
        return Status.placeholders
    if any(f.severity == Severity.error for f in findings):
        return Status.invalid
    return Status.valid


def _shown(root: Path, findings: list[Finding]) -> tuple[Finding, ...]:
    shown = sorted(
        {replace(f, path=Path(display(f.path, root)) if f.path else None) for f in findings}
    )
    return tuple(redacted(f) for f in shown)


def _references(graph: Graph, item: Item) -> Iterator[tuple[Location, str]]:
    """The references `item` makes: from its model when it parsed, else every string in it
    that reads as `Kind/name` of a known kind (as written; it does not validate)."""
    entry = graph.entries.get(item.ref)
    if entry is not None and display(entry.document.path, graph.root) == item.file:
        for location, target in graph.references_of(item.ref):
            yield location, str(target)
        return
    if item.data is not None:
        yield from _written_refs(item.data, ())


def _written_refs(value: Any, location: Location) -> Iterator[tuple[Location, str]]:
    if isinstance(value, dict):
        for key, child in value.items():
            if location or key not in ("kind", "metadata", "apiVersion"):
                yield from _written_refs(child, (*location, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _written_refs(child, (*location, index))
    elif isinstance(value, str) and value.partition("/")[0] in KINDS and value.count("/") == 1:
        yield location, value


def _link(location: Location, ref: str, by_ref: dict[str, Item]) -> Link:
    target = by_ref.get(ref)
    if target is None:
        return Link(field_path(location), ref, None, MISSING)
    return Link(field_path(location), ref, target.file, target.status.value)


def _same(a: Path, b: Path) -> bool:
    return _absolute(a) == _absolute(b)


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))
