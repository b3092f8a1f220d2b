"""Write manifests: rewrite them in place, keeping a human's comments and key order, or create
them; atomically.

Only commands that change manifests (track, pin) import this module: ruamel.yaml round-trip
is slower than the libyaml reader that validation uses, and that is fine here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError
from toolkit.core.fsutil import write_atomic

if TYPE_CHECKING:
    from collections.abc import Iterable
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


def create_manifest(root: Path, kind: str, name: str, document: dict[str, Any]) -> Path:
    """Write a new manifest for `kind`/`name` where `keel new` would put it; its path."""
    from toolkit.core.templates import new_manifest_path, schema_comment

    path = new_manifest_path(root, kind, name)
    write_atomic(path, render_new(document, schema_comment(path, root, kind)))
    return path


def sync_spec(
    path: Path, kind: str, name: str, spec: dict[str, Any], fields: Iterable[str]
) -> tuple[bool, list[str]]:
    """Make `fields` of the manifest's spec, and its files list, equal those of `spec`, in
    place; metadata, other fields and comments stay. Whether the file changed, and the paths
    its files list no longer holds."""
    dropped: list[str] = []

    def edit(data: Any) -> None:
        for key in fields:
            if key in spec:
                sync_value(data["spec"], key, spec[key])
        dropped.extend(sync_files(data["spec"], spec["files"]))

    return edit_manifest(path, kind, name, edit), dropped


def sync_value(target: Any, key: str, value: Any) -> None:
    """Make target[key] equal value, touching only what differs (comments on the rest stay)."""
    current = target.get(key)
    if isinstance(value, dict) and isinstance(current, dict):
        for stale in [k for k in current if k not in value]:
            del current[stale]
        for inner, inner_value in value.items():
            sync_value(current, inner, inner_value)
    elif key not in target or current != value:
        target[key] = value


def sync_files(spec: Any, entries: list[dict[str, Any]]) -> list[str]:
    """Make spec.files list exactly `entries`: changed ones lose md5/tensorDigest (track adds
    them again), new ones are appended, gone ones removed. Returns the removed paths."""
    files = spec["files"]
    wanted = {e["path"]: e for e in entries}
    dropped = []
    for index in reversed(range(len(files))):
        entry = files[index]
        new = wanted.pop(entry.get("path"), None)
        if new is None:
            dropped.append(str(entry.get("path")))
            del files[index]
        elif (entry.get("sha256"), entry.get("size")) != (new["sha256"], new["size"]):
            entry["sha256"], entry["size"] = new["sha256"], new["size"]
            for stale in ("md5", "tensorDigest"):
                entry.pop(stale, None)
    files.extend(dict(e) for e in entries if e["path"] in wanted)
    return sorted(dropped)
