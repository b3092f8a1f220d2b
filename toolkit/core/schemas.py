"""JSON Schemas for editors and other tools, generated from the pydantic models."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from toolkit.core.fsutil import write_atomic
from toolkit.manifests import KINDS, Manifest

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = "schemas"


def schema_filename(kind: str) -> str:
    """'ArchitectureDecision' -> 'architecture-decision.schema.json'."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower() + ".schema.json"


def generate(model: type[Manifest]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"https://keel.dev/schemas/v1/{schema_filename(model.KIND)}",
        **schema,
    }


def render(model: type[Manifest]) -> str:
    return json.dumps(generate(model), indent=2, sort_keys=False) + "\n"


def export(directory: Path) -> list[Path]:
    """Write one schema file per kind; files whose content is already current are left alone."""
    written = []
    for kind, model in KINDS.items():
        path = directory / schema_filename(kind)
        text = render(model)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_atomic(path, text)
            written.append(path)
    return written


def stale(directory: Path) -> list[Path]:
    """Schema files that are missing or differ from what the models generate."""
    return [
        directory / schema_filename(kind)
        for kind, model in KINDS.items()
        if not (directory / schema_filename(kind)).exists()
        or (directory / schema_filename(kind)).read_text(encoding="utf-8") != render(model)
    ]
