"""`keel new`: a template manifest that validates once its placeholders are filled in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.core.errors import UsageError
from toolkit.core.fsutil import write_atomic
from toolkit.core.layout import find_root
from toolkit.core.templates import template_for
from toolkit.manifests import KINDS
from toolkit.manifests.base import is_name


@dataclass(frozen=True)
class NewManifest:
    ref: str
    path: Path
    owner: str | None
    """metadata.owner as filled in from git's user.email; None when left a placeholder."""
    existing: Path | None
    """Another file that already defines this Kind/name: validate will report a duplicate."""


def new_manifest(root: Path | None, kind: str, name: str) -> NewManifest:
    from toolkit.bridges.git import user_email

    canonical = next((k for k in KINDS if k.lower() == kind.lower()), None)
    if canonical is None:
        raise UsageError(f"unknown kind '{kind}'; expected one of {', '.join(KINDS)}")
    if not is_name(name):
        raise UsageError(
            f"name {name!r}: expected lower-case letters, digits and '-', at most 63 characters"
        )
    root = root or find_root(Path.cwd())
    owner = user_email(root) or None
    path, text = template_for(root, canonical, name, owner)
    if path.exists():
        raise UsageError(f"{path} exists already; choose another name or edit it")
    ref = f"{canonical}/{name}"
    existing = _defined_elsewhere(root, ref)
    write_atomic(path, text)
    return NewManifest(ref, path, owner, existing)


def _defined_elsewhere(root: Path, ref: str) -> Path | None:
    """The file that already defines `ref`, valid or not (a duplicate name is an error)."""
    from toolkit.workflows.artifacts.verify import load_graph

    graph = load_graph(root)
    entry = graph.entries.get(ref)
    if entry is not None:
        return entry.document.path
    return next((f.path for f in graph.findings if f.ref == ref and f.path is not None), None)
