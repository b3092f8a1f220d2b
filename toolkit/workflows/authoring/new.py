"""`keel new`: a template manifest that validates once its placeholders are filled in."""

from __future__ import annotations

from pathlib import Path

from toolkit.core.errors import UsageError
from toolkit.core.fsutil import write_atomic
from toolkit.core.layout import find_root
from toolkit.core.templates import template_for
from toolkit.manifests import KINDS
from toolkit.manifests.base import is_name


def new_manifest(root: Path | None, kind: str, name: str) -> Path:
    canonical = next((k for k in KINDS if k.lower() == kind.lower()), None)
    if canonical is None:
        raise UsageError(f"unknown kind '{kind}'; expected one of {', '.join(KINDS)}")
    if not is_name(name):
        raise UsageError(
            f"name '{name}': expected lower-case letters, digits and '-', at most 63 characters"
        )
    path, text = template_for(root or find_root(Path.cwd()), canonical, name)
    if path.exists():
        raise UsageError(f"{path} exists already; choose another name or edit it")
    write_atomic(path, text)
    return path
