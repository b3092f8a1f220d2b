"""The API contract a Deployment promises, as both ends of `keel serve` and
`keel reproduce --serve` see it.

`Contract` is checked once, when it is made from a Deployment: both schemas must be valid JSON
Schema; an embedding or classification input schema must name the one array of strings that
holds the texts, a generation one its ``prompt`` or ``messages`` (`toolkit.core.contracts`).
The server (`serving`) and the client (`serving_client`) then trust it, and report a schema
violation the same way, with `first_problem`. Standard library only, plus jsonschema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.exceptions import best_match

from toolkit.core.contracts import (
    CLASSIFY_PATH,
    COMPLETIONS_PATH,
    ContractKind,
    contract_kind_of_schema,
    max_tokens_bounds,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from jsonschema.protocols import Validator

    from toolkit.manifests.deployment import Deployment

__all__ = [
    "DEFAULT_STATUS",
    "EMBED_PATHS",
    "JSON_CONTENT_TYPE",
    "PATHS",
    "Contract",
    "first_problem",
]

EMBED_PATHS = ("/", "/v1/embed")
PATHS: dict[str, tuple[str, ...]] = {
    "embedding": EMBED_PATHS,
    "generation": (COMPLETIONS_PATH,),
    "classification": (CLASSIFY_PATH,),
}
"""The paths that take POSTs, by contract; the last one is the one to name."""
DEFAULT_STATUS = {
    "invalid_input": 400,
    "input_too_long": 413,
    "not_found": 404,
    "method_not_allowed": 405,
    "batch_too_large": 413,
    "payload_too_large": 413,
    "rate_limited": 429,
    "invalid_output": 500,
    "model_unavailable": 503,
}
"""The status of each error the server gives, where the contract does not list the code."""

JSON_CONTENT_TYPE = "application/json"
"""The content type of every request and every answer but /metrics."""


def _array_of_strings(schema: Mapping[str, Any]) -> list[str]:
    """Names of the top-level properties of `schema` that are arrays of strings."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    return [
        name
        for name, prop in properties.items()
        if isinstance(prop, dict)
        and prop.get("type") == "array"
        and isinstance(prop.get("items"), dict)
        and prop["items"].get("type") == "string"
    ]


@dataclass(frozen=True)
class Contract:
    """What the server needs from a Deployment, checked once here so the server can trust it.

    ``texts_field`` is derived, not given: the one property of the input schema that is an
    array of strings holds the texts to embed or classify ("" for generation).
    """

    name: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    errors: dict[str, int]
    max_batch_size: int
    requests_per_minute: int
    kind: ContractKind = "embedding"
    max_input_tokens: int = 512
    texts_field: str = field(init=False)

    def __post_init__(self) -> None:
        schemas = (("inputSchema", self.input_schema), ("outputSchema", self.output_schema))
        for key, schema in schemas:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as error:
                raise ValueError(
                    f"{self.name}: spec.api.{key} is not a valid JSON Schema: {error.message}"
                ) from None
        if self.kind == "generation":
            if contract_kind_of_schema(self.input_schema) != "generation":
                raise ValueError(
                    f"{self.name}: spec.api.inputSchema needs a 'prompt' or 'messages' property "
                    "for a generation contract"
                )
            object.__setattr__(self, "texts_field", "")
            return
        fields = _array_of_strings(self.input_schema)
        if len(fields) != 1:
            found = ", ".join(repr(name) for name in fields) or "none"
            raise ValueError(
                f"{self.name}: spec.api.inputSchema needs exactly one property that is an array "
                f"of strings, for the texts to {self._verb}; found {found}"
            )
        object.__setattr__(self, "texts_field", fields[0])

    @property
    def _verb(self) -> str:
        return "classify" if self.kind == "classification" else "embed"

    @classmethod
    def of(cls, deployment: Deployment, evaluation_task: str | None = None) -> Contract:
        """The contract `deployment` promises; `evaluation_task` is its canary Evaluation's
        task, which tells a classification contract from an embedding one without a hint."""
        api = deployment.spec.api
        kind = contract_kind_of_schema(api.input_schema, evaluation_task) or "embedding"
        return cls(
            name=deployment.metadata.name,
            input_schema=api.input_schema,
            output_schema=api.output_schema,
            errors={error.code: error.status for error in api.errors},
            max_batch_size=deployment.spec.serving.max_batch_size,
            requests_per_minute=api.rate_limit.requests_per_minute,
            kind=kind,
            max_input_tokens=deployment.spec.serving.max_input_tokens,
        )

    @property
    def deployment(self) -> str:
        return f"Deployment/{self.name}"

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths that take this contract's POSTs."""
        return PATHS[self.kind]

    @property
    def max_tokens(self) -> tuple[int, int]:
        """(default, maximum) of a generation request's ``max_tokens``."""
        return max_tokens_bounds(self.input_schema)

    def status(self, code: str) -> int:
        """The contract's status for an error code, else the server's default."""
        return self.errors.get(code, DEFAULT_STATUS[code])


def first_problem(validator: Validator, instance: object) -> str | None:
    """The first schema violation, as `$.json.path: message`.

    The first, in schema and document order, reads most naturally (`$.texts[0]` before
    `$.texts[1]`); `best_match` then looks inside an anyOf or oneOf for the specific cause.
    """
    try:
        error = next(iter(validator.iter_errors(instance)), None)
        error = None if error is None else best_match([error])
    except RecursionError:
        return "$: nested too deeply to check"
    return None if error is None else f"{error.json_path}: {error.message}"
