"""Commented template manifests, generated from the models so they never drift from them.

Every value the user must supply is a placeholder `<fill: hint>`; `keel validate` reports each
one that is left, and the manifest validates once they are all filled in.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from toolkit.core.schemas import SCHEMA_DIR, schema_filename
from toolkit.manifests import KINDS
from toolkit.manifests.base import RefTo

if typing.TYPE_CHECKING:
    from pydantic.fields import FieldInfo

_INDENT = "  "


def schema_comment(manifest_path: Path, root: Path, kind: str) -> str:
    schema = root / SCHEMA_DIR / schema_filename(kind)
    relative = os.path.relpath(schema, manifest_path.parent)
    return f"# yaml-language-server: $schema={Path(relative).as_posix()}"


def render_template(kind: str, name: str, schema_line: str, owner: str | None = None) -> str:
    model = KINDS[kind]
    owner_value = owner or "<fill: team or person accountable, e.g. an e-mail address>"
    lines = [
        schema_line,
        f"# {_first_line(sys.modules[model.__module__])}",
        "# Replace every <fill: ...> placeholder; `keel validate` lists the ones left.",
        "apiVersion: keel/v1",
        f"kind: {kind}",
        "metadata:",
        f"  name: {name}",
        f"  owner: {_quote(owner_value)}",
        f"  description: {_quote('<fill: one or two sentences a new colleague understands>')}",
        "spec:",
    ]
    spec_model = model.model_fields["spec"].annotation
    assert isinstance(spec_model, type)
    assert issubclass(spec_model, BaseModel)
    lines.extend(_model_lines(spec_model, 1))
    return "\n".join(lines) + "\n"


def _first_line(model: Any) -> str:
    doc = (getattr(model, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _fields_to_show(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    fields = list(model.model_fields.items())
    required = [(n, f) for n, f in fields if f.is_required()]
    # A section whose fields are all optional (e.g. "exactly one of") shows its first choice.
    return required or fields[:1]


def _model_lines(model: type[BaseModel], depth: int) -> list[str]:
    lines: list[str] = []
    pad = _INDENT * depth
    for name, info in _fields_to_show(model):
        key = info.alias or name
        if info.description:
            lines.append(f"{pad}# {info.description}")
        lines.extend(_field_lines(key, info.annotation, info.metadata, depth))
    return lines


def _field_lines(key: str, annotation: Any, metadata: list[Any], depth: int) -> list[str]:
    pad = _INDENT * depth
    annotation = _unwrap_optional(annotation)
    model = _as_model(annotation)
    if model is not None:
        return [f"{pad}{key}:", *_model_lines(model, depth + 1)]
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        item_model = _as_model(_unwrap_optional(_strip_annotated(item)))
        if item_model is not None:
            body = _model_lines(item_model, depth + 2)
            first = next(i for i, line in enumerate(body) if not line.lstrip().startswith("#"))
            body[first] = f"{pad}{_INDENT}- " + body[first].lstrip()
            body[:first] = [f"{pad}{_INDENT}{line.lstrip()}" for line in body[:first]]
            return [f"{pad}{key}:", *body]
        hint = _hint(_strip_annotated(item), _annotated_metadata(item))
        return [f"{pad}{key}:", f"{pad}{_INDENT}- {_quote(hint)}"]
    return [f"{pad}{key}: {_quote(_hint(annotation, metadata))}"]


def _hint(annotation: Any, metadata: list[Any]) -> str:
    refs = [m for m in metadata if isinstance(m, RefTo)]
    if refs:
        return "<fill: " + " or ".join(f"{k}/<name>" for k in refs[0].kinds) + ">"
    if typing.get_origin(annotation) is typing.Literal:
        return "<fill: one of " + " | ".join(str(a) for a in typing.get_args(annotation)) + ">"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "<fill: one of " + " | ".join(str(m.value) for m in annotation) + ">"
    for pattern in (getattr(m, "pattern", None) for m in metadata):
        if pattern == r"^[0-9a-f]{64}$":
            return "<fill: sha256 of the file, 64 hex digits>"
        if pattern and pattern.startswith("^sha256:"):
            return "<fill: sha256:<64 hex digits>>"
    simple = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        dt.date: "a date, YYYY-MM-DD",
        str: "text",
    }
    if annotation in simple:
        return f"<fill: {simple[annotation]}>"
    if typing.get_origin(annotation) is dict:
        return "<fill: a mapping>"
    return "<fill>"


def _quote(text: str) -> str:
    return json.dumps(text)


def _unwrap_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _strip_annotated(annotation: Any) -> Any:
    return (
        typing.get_args(annotation)[0]
        if typing.get_origin(annotation) is typing.Annotated
        else annotation
    )


def _annotated_metadata(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Annotated:
        return list(annotation.__metadata__)
    return []


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def new_manifest_path(root: Path, kind: str, name: str) -> Path:
    from toolkit.core.layout import KIND_DIRECTORIES

    return root / "manifests" / KIND_DIRECTORIES[kind] / f"{name}.yaml"


def template_for(root: Path, kind: str, name: str, owner: str | None = None) -> tuple[Path, str]:
    path = new_manifest_path(root, kind, name)
    return path, render_template(kind, name, schema_comment(path, root, kind), owner)
