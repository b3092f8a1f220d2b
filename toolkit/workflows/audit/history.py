"""Manifests through git history: what a manifest said at a revision, and what changed.

Manifests are compared by identity (`Kind/name`), not by path, so a renamed or moved file is
the same manifest. Changes are listed field by field with readable paths: list items that
carry a `path` or `name` are keyed by it (`spec.files[model.safetensors].sha256`,
`spec.metrics[mrr].value`), so reordering a list is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from toolkit.bridges.git import open_repo, parents, resolve
from toolkit.core.errors import UsageError
from toolkit.core.layout import MANIFEST_DIR
from toolkit.core.loading import load_text

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Iterator

    from git import Commit

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
WORK_TREE = "work tree"
AUDIT_TAG_PREFIX = "audit/"


@dataclass(frozen=True)
class Snapshot:
    """One manifest as a revision holds it."""

    ref: str
    path: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Change:
    ref: str
    field: str
    before: Any
    after: Any

    def render(self) -> str:
        if self.before is None:
            return f"{self.ref} {self.field}: added {_short(self.after)}"
        if self.after is None:
            return f"{self.ref} {self.field}: removed (was {_short(self.before)})"
        if _is_digest_like(self.before) and _is_digest_like(self.after):
            return f"{self.ref} {self.field} changed"
        return f"{self.ref} {self.field}: {_short(self.before)} → {_short(self.after)}"


@dataclass
class Diff:
    before: str
    after: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changes or self.renamed)

    def lines(self) -> list[str]:
        lines = [f"{ref}: added" for ref in self.added]
        lines += [f"{ref}: removed" for ref in self.removed]
        lines += [f"{ref}: moved {old} → {new}" for ref, old, new in self.renamed]
        lines += [change.render() for change in self.changes]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "added": self.added,
            "removed": self.removed,
            "renamed": [{"ref": r, "from": a, "to": b} for r, a, b in self.renamed],
            "changes": [
                {"ref": c.ref, "field": c.field, "before": c.before, "after": c.after}
                for c in self.changes
            ],
        }


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_digest_like(value: Any) -> bool:
    text = str(value).removeprefix("sha256:")
    return len(text) >= 32 and all(c in "0123456789abcdef" for c in text)


def _parse(text: str, path: str) -> Iterator[Snapshot]:
    loaded = load_text(text, Path(path))
    for document in loaded.documents:
        data = document.data
        if not isinstance(data, dict):
            continue
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        kind = data.get("kind")
        if isinstance(kind, str) and isinstance(name, str):
            yield Snapshot(f"{kind}/{name}", path, data)


def manifests_at(root: Path, rev: str | None) -> dict[str, Snapshot]:
    """Every manifest under manifests/ at `rev` (None: the work tree), by `Kind/name`."""
    found: dict[str, Snapshot] = {}
    for path, text in _manifest_texts(root, rev):
        for snapshot in _parse(text, path):
            found.setdefault(snapshot.ref, snapshot)
    return found


def _manifest_texts(root: Path, rev: str | None) -> Iterator[tuple[str, str]]:
    if rev is None:
        for path in sorted((root / MANIFEST_DIR).rglob("*")):
            if path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
                yield path.relative_to(root).as_posix(), path.read_text(encoding="utf-8")
        return
    commit = resolve(open_repo(root), rev)
    try:
        tree = commit.tree / MANIFEST_DIR
    except KeyError:
        return
    for item in tree.traverse():
        blob: Any = item
        if blob.type == "blob" and PurePosixPath(blob.path).suffix.lower() in MANIFEST_SUFFIXES:
            yield blob.path, blob.data_stream.read().decode("utf-8", errors="replace")


def compare(before: Any, after: Any, ref: str, prefix: str = "") -> list[Change]:
    """Field-by-field changes from `before` to `after` (plain data)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for key in [*before, *(k for k in after if k not in before)]:
            joiner = "" if str(key).startswith("[") else "."
            path = f"{prefix}{joiner}{key}" if prefix else str(key)
            changes += compare(before.get(key), after.get(key), ref, path)
        return changes
    if isinstance(before, list) and isinstance(after, list):
        keyed_before, keyed_after = _keyed(before), _keyed(after)
        if keyed_before is not None and keyed_after is not None:
            return compare(keyed_before, keyed_after, ref, prefix)
    if before != after:
        return [Change(ref, prefix, before, after)]
    return []


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of mappings that all carry a unique `path` or `name`, as a mapping keyed by it
    (rendered `[key]`), so that order does not count; otherwise None."""
    for key in ("path", "name", "metric"):
        values = [item.get(key) if isinstance(item, dict) else None for item in items]
        if items and all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return {
                f"[{v}]": {k: x for k, x in item.items() if k != key}
                for v, item in zip(values, items, strict=True)
            }
    return None


def diff(root: Path, before: str | None, after: str | None, refs: Iterable[str] = ()) -> Diff:
    """Manifests at `before` vs `after` (None: the work tree), limited to `refs` if given."""
    old, new = manifests_at(root, before), manifests_at(root, after)
    wanted = set(refs)
    unknown = wanted - old.keys() - new.keys()
    if unknown:
        raise UsageError(f"{', '.join(sorted(unknown))}: in neither revision")
    result = Diff(before or WORK_TREE, after or WORK_TREE)
    for ref in sorted(old.keys() | new.keys()):
        if wanted and ref not in wanted:
            continue
        if ref not in old:
            result.added.append(ref)
        elif ref not in new:
            result.removed.append(ref)
        else:
            if old[ref].path != new[ref].path:
                result.renamed.append((ref, old[ref].path, new[ref].path))
            result.changes += compare(old[ref].data, new[ref].data, ref)
    return result


def last_audit_tag(
    root: Path, deployment: str | None = None, before: dt.date | None = None
) -> str | None:
    """The newest `audit/<name>/<date>` tag (of `deployment`'s name, when given; dated before
    `before`, when given, so that auditing a date again compares with the audit before it)."""
    repo = open_repo(root)
    prefix = AUDIT_TAG_PREFIX + (deployment.split("/", 1)[-1] + "/" if deployment else "")
    tags = [
        t
        for t in repo.tags
        if t.name.startswith(prefix) and (before is None or t.name[-10:] < before.isoformat())
    ]
    if not tags:
        return None
    newest = max(tags, key=lambda t: (t.commit.committed_date, t.name))
    return str(newest.name)


def default_base(root: Path) -> str:
    """What `keel diff` compares with by default: the last audit tag, else HEAD~1."""
    tag = last_audit_tag(root)
    if tag:
        return tag
    repo = open_repo(root)
    if not repo.head.is_valid():
        raise UsageError(f"{root}: no commits yet")
    return "HEAD~1" if parents(repo, repo.head.commit) else "HEAD"


@dataclass(frozen=True)
class LogEntry:
    commit: str
    date: str
    author: str
    message: str
    path: str
    fields: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "date": self.date,
            "author": self.author,
            "message": self.message,
            "path": self.path,
            "fields": self.fields,
        }


def current_path(root: Path, ref: str) -> str:
    snapshots = manifests_at(root, None)
    if ref not in snapshots:
        snapshots = manifests_at(root, "HEAD")
    if ref not in snapshots:
        raise UsageError(f"{ref}: no such manifest in the work tree or at HEAD")
    return snapshots[ref].path


def log(root: Path, ref: str) -> list[LogEntry]:
    """Commits that changed `ref`'s manifest, newest first, following renames."""
    repo = open_repo(root)
    path = current_path(root, ref)
    separator = "\x1f"
    raw = repo.git.log(
        "--follow",
        "--name-status",
        f"--format=%x1e%H{separator}%aI{separator}%an <%ae>{separator}%s",
        "--",
        path,
    )
    entries = []
    for record in raw.split("\x1e"):
        lines = [line for line in record.strip().splitlines() if line.strip()]
        if not lines:
            continue
        sha, date, author, message = lines[0].split(separator, 3)
        status = lines[1].split("\t") if len(lines) > 1 else ["M", path]
        new_path = status[-1]
        old_path = status[1] if status[0].startswith("R") and len(status) > 2 else new_path
        commit = repo.commit(sha)
        after = _snapshot(commit, new_path, ref)
        older = parents(repo, commit)
        before = _snapshot(older[0], old_path, ref) if older else None
        fields = _changed_fields(before, after, ref)
        if old_path != new_path:
            fields.insert(0, f"moved {old_path} → {new_path}")
        if fields:
            entries.append(LogEntry(sha, date, author, message, new_path, fields))
    return entries


def _snapshot(commit: Commit, path: str, ref: str) -> Snapshot | None:
    try:
        blob = commit.tree / path
    except KeyError:
        return None
    text = blob.data_stream.read().decode("utf-8", errors="replace")
    return next((s for s in _parse(text, path) if s.ref == ref), None)


def _changed_fields(before: Snapshot | None, after: Snapshot | None, ref: str) -> list[str]:
    if before is None and after is None:
        return []
    if before is None:
        return ["created"]
    if after is None:
        return ["removed"]
    return [change.field for change in compare(before.data, after.data, ref)]
