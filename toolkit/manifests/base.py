"""The manifest envelope and the field types every kind shares.

Field names are camelCase in manifests (Kubernetes style) and snake_case in Python.
"""

from __future__ import annotations

import datetime as dt
import re
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


class Strict(BaseModel):
    """Base of every manifest part: unknown fields are errors, names are camelCase in YAML, and
    values are taken as the document typed them: no string is read as a number, no boolean as
    a number, no number as a boolean or a string (pydantic's strict mode), and every float is
    finite (NaN and infinity would pass every `>=` gate unnoticed)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        use_enum_values=True,
        strict=True,
        allow_inf_nan=False,
    )


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
            "pattern": f"^({kinds})/{NAME_PATTERN[1:]}",
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
PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def relative_path(value: str) -> str:
    if not value or value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"expected a path relative to the repository, got '{value}'")
    if ".." in re.split(r"[/\\]", value):
        raise ValueError(f"'..' may not appear in a path, got '{value}'")
    return value


NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
RelativePath = Annotated[
    str,
    StringConstraints(min_length=1, pattern=NO_CONTROL_CHARACTERS),
    AfterValidator(relative_path),
    Field(description="A path relative to the repository root; no '..', no absolute paths."),
]


class FileEntry(Strict):
    """One file of an artifact, pinned by the sha256 of its bytes."""

    path: RelativePath = Field(
        description="Path of the file, relative to the artifact's directory."
    )
    sha256: Sha256Hex
    size: int = Field(ge=0, description="Size in bytes.")
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
