"""Turn loaded documents into manifest models, or into one-line findings."""

from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from toolkit.core.findings import Finding, field_path
from toolkit.core.text import one_line
from toolkit.manifests import API_VERSION, KINDS, Manifest
from toolkit.manifests.base import (
    DIGEST_PATTERN,
    NAME_PATTERN,
    NO_CONTROL_CHARACTERS,
    SHA256_HEX_PATTERN,
)

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.loading import Document, Location

PLACEHOLDER_PREFIX = "<fill"
_EXPECTED_ENVELOPE = "expected a mapping with apiVersion, kind, metadata and spec"


@dataclass(frozen=True)
class Parsed:
    """A document that parsed into its kind's model."""

    manifest: Manifest
    document: Document


def identify(data: Any) -> str | None:
    """`Kind/name` as the document states it, even if the rest is invalid."""
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if isinstance(kind, str) and isinstance(name, str):
        return f"{kind}/{name}"
    return None


def parse_document(document: Document) -> Parsed | list[Finding]:
    data = document.data
    ref = identify(data)
    if not isinstance(data, dict):
        found = type(data).__name__ if data is not None else "an empty document"
        return [Finding(document.path, document.line, f"{_EXPECTED_ENVELOPE}, found {found}")]
    if data.get("apiVersion") != API_VERSION:
        return [
            _envelope_finding(
                document,
                ref,
                "apiVersion",
                f"expected '{API_VERSION}', got {data.get('apiVersion')!r}",
            )
        ]
    kind = data.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(KINDS)
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        message = f"expected one of {known}, got {one_line(repr(kind))}{hint}"
        return [_envelope_finding(document, ref, "kind", message)]
    # json.dumps runs in C: walk the document only when a placeholder may be in it.
    maybe = PLACEHOLDER_PREFIX in json.dumps(data, default=str)
    unfilled = list(placeholders(data, ())) if maybe else []
    if unfilled:
        return [
            Finding(
                document.path,
                document.line_of(loc),
                f"placeholder not filled in: {text}",
                ref,
                field_path(loc) or None,
                "placeholders",
            )
            for loc, text in unfilled
        ]
    try:
        return Parsed(model.model_validate(data), document)
    except ValidationError as error:
        return [
            _from_pydantic(document, model, ref, item) for item in error.errors(include_url=False)
        ]


def placeholders(value: Any, location: Location) -> Iterator[tuple[Location, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if is_placeholder(key):
                yield location, key
            yield from placeholders(item, (*location, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from placeholders(item, (*location, index))
    elif is_placeholder(value):
        yield location, value


def _envelope_finding(document: Document, ref: str | None, key: str, message: str) -> Finding:
    return Finding(document.path, document.line_of((key,)), message, ref, key)


_PATTERN_MEANINGS = {
    NAME_PATTERN: "expected lower-case letters, digits and '-' (a DNS label)",
    SHA256_HEX_PATTERN: "expected 64 lower-case hex digits (a sha256)",
    DIGEST_PATTERN: "expected 'sha256:' followed by 64 lower-case hex digits",
    NO_CONTROL_CHARACTERS: "expected a path without control characters (newline, tab, NUL)",
}


def _from_pydantic(
    document: Document, model: type[Manifest], ref: str | None, item: Any
) -> Finding:
    location = tuple(item["loc"])
    kind = item["type"]
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        message = "unknown field" + _suggestion(model, location)
    elif kind == "string_pattern_mismatch" and item["ctx"]["pattern"] in _PATTERN_MEANINGS:
        message = _PATTERN_MEANINGS[item["ctx"]["pattern"]] + _got(item.get("input"))
    elif kind.startswith(("date_", "datetime_", "keel_date")):
        message = "expected a date as YYYY-MM-DD" + _got(item.get("input"))
    elif kind in _STRICT_TYPES:
        message = _strict_message(_STRICT_TYPES[kind], item.get("input"))
    else:
        message = item["msg"].removeprefix("Value error, ")
        if kind not in ("value_error", "keel_ref", "assertion_error"):
            message += _got(item.get("input"))
    return Finding(
        document.path,
        document.line_of(location),
        one_line(message),
        ref,
        field_path(location) or None,
    )


# pydantic's strict-mode type errors -> what the field expected, in the manifest's words
_STRICT_TYPES = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "string_type": "a string",
}


def _strict_message(expected: str, value: Any) -> str:
    """Say what the document's own type was: YAML and JSON types are taken as written."""
    if isinstance(value, bool):
        got = f"the boolean {str(value).lower()}"
    elif isinstance(value, int | float):
        got = f"the number {value!r}"
    elif isinstance(value, str):
        got = f"the string {value!r}"
    else:
        return f"expected {expected}" + _got(value)
    hint = ""
    if expected == "a string" and not isinstance(value, bool):
        hint = ": quote it (YAML read it as a number, and may have changed it)"
    elif isinstance(value, str) and expected != "a string" and _number_like(value):
        hint = ": remove the quotes"
    return f"expected {expected}, got {got}{hint}"


def _number_like(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text.strip().lower() in ("true", "false")
    return True


def _suggestion(model: type[Manifest], location: Location) -> str:
    allowed = _fields_at(model, location[:-1])
    if not allowed:
        return ""
    unknown = str(location[-1])
    close = difflib.get_close_matches(unknown, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} (allowed: {', '.join(allowed)})"


def _fields_at(model: type[BaseModel], location: Location) -> list[str]:
    """Field names (as written in manifests) of the model at `location`, if it is one."""
    annotation: Any = model
    for part in location:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            by_alias = {(f.alias or n): f for n, f in annotation.model_fields.items()}
            annotation = by_alias[part].annotation if part in by_alias else None
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or n for n, f in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return annotation


def _got(value: Any) -> str:
    if isinstance(value, dict | list):
        return ""
    if value is None:
        return ", got null"
    text = repr(value)
    return f", got {text if len(text) <= 60 else text[:57] + '...'}"


def is_placeholder(value: object) -> bool:
    """A `<fill: ...>` value left from a `keel new` template."""
    return isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX)
