"""The manifest envelope and the field types every kind shares.

Field names are camelCase in manifests (Kubernetes style) and snake_case in Python.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

if TYPE_CHECKING:
    from pydantic.json_schema import JsonSchemaValue

API_VERSION = "keel/v1"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# The name part of a `Kind/name` reference in the JSON Schemas: NAME_PATTERN with its 63-character
# limit built in (a reference is one string, so the limit cannot be a maxLength).
REF_NAME_PATTERN = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_NAME_RE = re.compile(NAME_PATTERN)
SHA256_HEX_PATTERN = r"^[0-9a-f]{64}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


def is_name(text: str) -> bool:
    """A manifest name, matched in full: `re.match` with `$` would let a trailing newline
    through."""
    return len(text) <= 63 and _NAME_RE.fullmatch(text) is not None


def to_camel(name: str) -> str:
    """'cost_per_1k_requests' -> 'costPer1kRequests' (pydantic's own would give '1K')."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


LARGEST_FLOAT = sys.float_info.max
# Matches NaN and no other number: every comparison with NaN is false, so only NaN gets past a
# minimum above a maximum (JSON has no NaN; YAML's .nan reaches JSON Schema validators as one).
_NAN = {"type": "number", "minimum": 1, "maximum": -1}


def given(name: str) -> dict[str, Any]:
    """JSON Schema: the object has `name`, and not as null (an optional field that is set)."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _finite_numbers(schema: dict[str, Any]) -> None:
    """The JSON Schema counterpart of `allow_inf_nan=False`, for every `number` in `schema`:
    bounded by the largest float (no infinity) and not NaN."""
    if schema.get("type") == "number":
        if "minimum" not in schema and "exclusiveMinimum" not in schema:
            schema["minimum"] = -LARGEST_FLOAT
        if "maximum" not in schema and "exclusiveMaximum" not in schema:
            schema["maximum"] = LARGEST_FLOAT
        schema["not"] = dict(_NAN)
    for branch in schema.get("anyOf", []):
        _finite_numbers(branch)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _finite_numbers(schema[key])


def _json_schema_extra(schema: dict[str, Any], model: type[BaseModel]) -> None:
    for field in schema.get("properties", {}).values():
        _finite_numbers(field)
    schema.update(getattr(model, "SCHEMA_RULES", {}))


class Strict(BaseModel):
    """Base of every manifest part: unknown fields are errors, names are camelCase in YAML, and
    values are taken as the document typed them: no string is read as a number, no boolean as
    a number, no number as a boolean or a string (pydantic's strict mode), and every float is
    finite (NaN and infinity would pass every `>=` gate unnoticed). An integer field takes a
    float only when it is a whole number (`8.0`, `1e3`), as JSON Schema's `integer` does.

    The generated JSON Schema says the same: numbers are finite there too, and `SCHEMA_RULES`
    holds a model's cross-field rules that JSON Schema can express (the others are listed in
    docs/manifests.md, "Rules that only keel checks")."""

    SCHEMA_RULES: ClassVar[dict[str, Any]] = {}

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        use_enum_values=True,
        strict=True,
        allow_inf_nan=False,
        json_schema_extra=_json_schema_extra,
    )


def _whole_number(value: Any) -> Any:
    """JSON has one number type, and JSON Schema's `integer` is any number without a fraction,
    while YAML 1.2 reads `8.0` and `1e3` as floats: such a float is taken as its integer (a
    float that is a whole number is exactly one integer). Anything else is left to strict
    validation."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


Integer = Annotated[int, BeforeValidator(_whole_number)]


def _iso_date(value: Any) -> Any:
    """YAML 1.2 and JSON have no date type: a date is an ISO 8601 string (YYYY-MM-DD)."""
    if isinstance(value, str):
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("keel_date", "expected a date as YYYY-MM-DD") from None
    return value


Date = Annotated[dt.date, BeforeValidator(_iso_date)]


class Ref(str):
    """A `Kind/name` reference to another manifest; a `str`, so it serialises as one."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        return self.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.split("/", 1)[1]


class RefTo:
    """Annotation marker: the field holds a reference to one of `kinds`."""

    def __init__(self, *kinds: str) -> None:
        self.kinds = kinds

    def _parse(self, value: str) -> Ref:
        kind, sep, name = value.partition("/")
        if not sep or kind not in self.kinds or not is_name(name):
            expected = " or ".join(f"{k}/<name>" for k in self.kinds)
            raise PydanticCustomError(
                "keel_ref",
                "expected a reference like {expected}, got '{value}'",
                {"expected": expected, "value": value},
            )
        return Ref(value)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            self._parse,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        kinds = "|".join(self.kinds)
        return {
            "type": "string",
            "pattern": f"^({kinds})/{REF_NAME_PATTERN}",
            "examples": [f"{self.kinds[0]}/my-{self.kinds[0].lower()}"],
        }


def _ref(*kinds: str) -> Any:
    return Annotated[Ref, RefTo(*kinds)]


ModelRef = _ref("Model")
TokenizerRef = _ref("Tokenizer")
DatasetRef = _ref("Dataset")
EvaluationRef = _ref("Evaluation")
QuantizationRef = _ref("Quantization")
TrainingRunRef = _ref("TrainingRun")
AdapterRef = _ref("Adapter")
RunbookRef = _ref("Runbook")
RequirementsRef = _ref("Requirements")
DecisionRef = _ref("ArchitectureDecision")
DeploymentRef = _ref("Deployment")
SubjectRef = _ref("Model", "Adapter", "Quantization", "Deployment")

Name = Annotated[
    str,
    StringConstraints(pattern=NAME_PATTERN, max_length=63),
    Field(description="Lower-case letters, digits and '-', at most 63 characters (a DNS label)."),
]
Sha256Hex = Annotated[
    str,
    StringConstraints(pattern=SHA256_HEX_PATTERN),
    Field(description="64 lower-case hex digits: the sha256 of the file's bytes."),
]
Digest = Annotated[
    str,
    StringConstraints(pattern=DIGEST_PATTERN),
    Field(description="A digest written as 'sha256:<64 hex digits>'."),
]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Positive = Annotated[float, Field(gt=0)]
# gt=0 before the validator: after it, pydantic's JSON Schema says `gt` (no such keyword)
PositiveInt = Annotated[int, Field(gt=0), BeforeValidator(_whole_number)]
Fraction = Annotated[float, Field(ge=0, le=1)]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def _any_case(suffix: str) -> str:
    """A pattern for `suffix` in any case, as `str.lower()` sees it (the Kelvin sign lowers to
    k), without flags: ECMA-262 regexes (editors, check-jsonschema) have no inline (?i)."""
    also = {"k": "\u212a"}
    return "".join(
        f"[{c}{c.upper()}{also.get(c, '')}]" if c.isalpha() else re.escape(c) for c in suffix
    )


PICKLE_PATTERN = "(" + "|".join(_any_case(s) for s in PICKLE_SUFFIXES) + ")$"


def relative_path(value: str) -> str:
    if not value or value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"expected a path relative to the repository, got '{value}'")
    if ".." in re.split(r"[/\\]", value):
        raise ValueError(f"'..' may not appear in a path, got '{value}'")
    return value


NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
# What relative_path refuses, for the JSON Schemas: a leading / or \, a drive letter, a '..' part
NOT_RELATIVE_PATTERN = r"^[/\\]|^[A-Za-z]:|(^|[/\\])\.\.([/\\]|$)"
RelativePath = Annotated[
    str,
    StringConstraints(min_length=1, pattern=NO_CONTROL_CHARACTERS),
    AfterValidator(relative_path),
    Field(
        description="A path relative to the repository root; no '..', no absolute paths.",
        json_schema_extra={"not": {"pattern": NOT_RELATIVE_PATTERN}},
    ),
]


class FileEntry(Strict):
    """One file of an artifact, pinned by the sha256 of its bytes."""

    path: RelativePath = Field(
        description="Path of the file, relative to the artifact's directory."
    )
    sha256: Sha256Hex
    size: Integer = Field(ge=0, description="Size in bytes.")
    md5: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = Field(
        default=None,
        description="DVC's md5 of the file, recorded by `keel track`; `keel validate` checks it "
        "against the .dvc file beside the artifact.",
    )
    tensor_digest: Digest | None = Field(
        default=None,
        description="For safetensors files: the canonical tensor digest (sorted tensor names, "
        "dtypes, shapes and bytes, plus sorted metadata), stable across re-saves.",
    )


class PickleOptIn(Strict):
    """An explicit, justified opt-in to pickle-based weight files (which can execute code)."""

    reason: NonEmpty = Field(description="Why this artifact cannot be converted to safetensors.")


class ArtifactFiles(Strict):
    """Fields shared by kinds that pin files: a directory and the files in it."""

    # a pickle-based file needs allowPickle (each file listed once is keel's alone)
    SCHEMA_RULES: ClassVar[dict[str, Any]] = {
        "if": {
            "required": ["files"],
            "properties": {
                "files": {
                    "contains": {
                        "required": ["path"],
                        "properties": {"path": {"pattern": PICKLE_PATTERN}},
                    }
                }
            },
        },
        "then": given("allowPickle"),
    }

    directory: RelativePath = Field(
        description="Directory holding the files, relative to the repository root."
    )
    files: list[FileEntry] = Field(min_length=1, description="Every file, with sha256 and size.")
    allow_pickle: PickleOptIn | None = Field(
        default=None,
        description="Set only to accept pickle-based weights (.bin, .pt, .pth, .ckpt, .pkl); "
        "keel never unpickles them.",
    )

    @model_validator(mode="after")
    def _files_are_unique_and_safe(self) -> ArtifactFiles:
        seen: set[str] = set()
        for entry in self.files:
            if entry.path in seen:
                raise ValueError(f"file '{entry.path}' is listed twice")
            seen.add(entry.path)
            if entry.path.lower().endswith(PICKLE_SUFFIXES) and self.allow_pickle is None:
                raise ValueError(
                    f"'{entry.path}' is a pickle-based format; convert it to safetensors "
                    "or set allowPickle.reason"
                )
        return self


class Metadata(Strict):
    name: Name
    owner: NonEmpty = Field(description="Team or person accountable, e.g. an e-mail address.")
    description: NonEmpty = Field(description="One or two sentences a new colleague understands.")
    labels: dict[Annotated[str, StringConstraints(max_length=63)], str] = Field(
        default_factory=dict, description="Free-form key/value labels for search and grouping."
    )
    created: Date | None = Field(default=None, description="Date the manifest was first written.")


class Manifest(Strict):
    """The envelope every manifest shares. Subclasses narrow `kind` and `spec`."""

    KIND: ClassVar[str] = ""
    schema_: str | None = Field(
        default=None,
        alias="$schema",
        description="Optional JSON Schema URI, for editors of JSON manifests.",
    )
    api_version: Literal["keel/v1"] = Field(alias="apiVersion")
    kind: str
    metadata: Metadata
    spec: Any

    @property
    def ref(self) -> Ref:
        return Ref(f"{self.kind}/{self.metadata.name}")
