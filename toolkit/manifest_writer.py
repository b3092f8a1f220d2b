"""Rewrite manifests in place, keeping a human's comments and key order; atomically.

Only commands that change manifests (track, pin) import this module: ruamel.yaml round-trip
is slower than the libyaml reader that validation uses, and that is fine here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkit.errors import ManifestError
from toolkit.fsutil import write_atomic

if TYPE_CHECKING:
    from pathlib import Path

Edit = Callable[[Any], None]


def _yaml(text: str = "") -> Any:
    """A round-trip YAML that writes sequences indented the way `text` already does."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    indent, offset = 2, 0
    if text:
        _, guessed, block_offset = load_yaml_guess_indent(text)
        indent, offset = guessed or 2, block_offset or 0
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=max(indent, offset + 2), offset=offset)
    return yaml


def edit_manifest(path: Path, kind: str, name: str, edit: Edit) -> bool:
    """Apply `edit` to the document `kind`/`name` in `path`; write only if something changed."""
    original = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(original)
        _check_identity(path, data, kind, name)
        edit(data)
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        yaml = _yaml(original)
        documents = list(yaml.load_all(original))
        target = next((d for d in documents if _is(d, kind, name)), None)
        if target is None:
            raise ManifestError(f"{path}: holds no {kind}/{name}")
        edit(target)
        buffer = io.StringIO()
        yaml.dump_all(documents, buffer) if len(documents) > 1 else yaml.dump(documents[0], buffer)
        text = buffer.getvalue()
    text = _without_trailing_spaces(text)
    if text == original:
        return False
    write_atomic(path, text)
    return True


def _without_trailing_spaces(text: str) -> str:
    """ruamel.yaml leaves a space at the end of a wrapped plain scalar's first line; drop such
    spaces, unless that would change what the YAML says (then keep the text as it was)."""
    stripped = "\n".join(line.rstrip(" ") for line in text.split("\n"))
    if stripped == text:
        return text
    import yaml

    same = list(yaml.safe_load_all(stripped)) == list(yaml.safe_load_all(text))
    return stripped if same else text


def _is(document: Any, kind: str, name: str) -> bool:
    return (
        isinstance(document, dict)
        and document.get("kind") == kind
        and isinstance(document.get("metadata"), dict)
        and document["metadata"].get("name") == name
    )


def _check_identity(path: Path, data: Any, kind: str, name: str) -> None:
    if not _is(data, kind, name):
        raise ManifestError(f"{path}: holds no {kind}/{name}")


def merge_file_entries(files: list[Any], updates: list[dict[str, Any]]) -> None:
    """Update entries with the same `path` in place (their comments stay); append new ones."""
    by_path = {entry.get("path"): entry for entry in files if isinstance(entry, dict)}
    for update in updates:
        existing = by_path.get(update["path"])
        if existing is None:
            files.append(dict(update))
            continue
        for key, value in update.items():
            if existing.get(key) != value:
                existing[key] = value
        for key in [k for k in existing if k not in update and k in ("tensorDigest", "md5")]:
            del existing[key]


def render_new(document: dict[str, Any], schema_line: str) -> str:
    """Text of a manifest keel creates (pin): the schema line, then block-style YAML."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return _without_trailing_spaces(f"{schema_line}\n{buffer.getvalue()}")
