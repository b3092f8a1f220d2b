"""The committed JSON Schemas are exactly what the models generate, and agree with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from factories import audit_manifest
from jsonschema import Draft202012Validator

from toolkit.core.schemas import render, schema_filename, stale
from toolkit.manifests import KINDS

SCHEMAS = Path(__file__).parents[1] / "schemas"


def test_committed_schemas_match_the_models() -> None:
    assert stale(SCHEMAS) == [], "run `keel schema export` and commit schemas/"


def test_every_kind_has_a_schema_file() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(
        schema_filename(kind) for kind in KINDS
    )


def test_drift_is_detected(tmp_path: Path) -> None:
    for kind, model in KINDS.items():
        (tmp_path / schema_filename(kind)).write_text(render(model))
    assert stale(tmp_path) == []
    edited = tmp_path / "model.schema.json"
    edited.write_text(edited.read_text().replace('"sha256"', '"sha512"'))
    assert stale(tmp_path) == [edited]


@pytest.mark.parametrize("kind", list(KINDS))
def test_schema_accepts_the_valid_manifest_and_rejects_an_unknown_field(
    kind: str, manifests: dict[str, dict[str, Any]]
) -> None:
    import json

    schema = json.loads((SCHEMAS / schema_filename(kind)).read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    examples = [m for m in manifests.values() if m["kind"] == kind]
    if kind == "Audit":
        examples = [audit_manifest()]
    assert examples
    for manifest in examples:
        assert list(validator.iter_errors(manifest)) == []
        broken = {**manifest, "spec": {**manifest["spec"], "unknownField": 1}}
        assert list(validator.iter_errors(broken)), "extra fields must be refused, as pydantic does"
