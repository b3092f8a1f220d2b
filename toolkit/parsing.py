"""Turn loaded documents into manifest models, or into one-line findings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from toolkit.findings import Finding, field_path
from toolkit.loading import Document, Location
from toolkit.manifests import API_VERSION, KINDS, Manifest

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
        return [_envelope_finding(document, ref, "apiVersion", f"expected '{API_VERSION}', got {data.get('apiVersion')!r}")]
    kind = data.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(KINDS)
        return [_envelope_finding(document, ref, "kind", f"expected one of {known}, got {kind!r}")]
    placeholders = list(_placeholders(data, ()))
    if placeholders:
        return [
            Finding(document.path, document.line_of(loc), f"placeholder not filled in: {text}",
                    ref, field_path(loc) or None, "placeholders")
            for loc, text in placeholders
        ]
    try:
        return Parsed(model.model_validate(data), document)
    except ValidationError as error:
        return [_from_pydantic(document, ref, item) for item in error.errors(include_url=False)]


def _placeholders(value: Any, location: Location) -> Iterator[tuple[Location, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if is_placeholder(key):
                yield location, key
            yield from _placeholders(item, (*location, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _placeholders(item, (*location, index))
    elif is_placeholder(value):
        yield location, value


def _envelope_finding(document: Document, ref: str | None, key: str, message: str) -> Finding:
    return Finding(document.path, document.line_of((key,)), message, ref, key)


def _from_pydantic(document: Document, ref: str | None, item: Any) -> Finding:
    location = tuple(item["loc"])
    kind = item["type"]
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        message = "unknown field (check the spelling; fields are camelCase)"
    else:
        message = item["msg"].removeprefix("Value error, ")
        if kind not in ("value_error", "keel_ref", "assertion_error"):
            message += _got(item.get("input"))
    return Finding(
        document.path, document.line_of(location), message, ref, field_path(location) or None
    )


def _got(value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        return f", got {type(value).__name__ if value is not None else 'null'}"
    text = repr(value)
    return f", got {text if len(text) <= 60 else text[:57] + '...'}"


def is_placeholder(value: object) -> bool:
    """A `<fill: ...>` value left from a `keel new` template."""
    return isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX)
