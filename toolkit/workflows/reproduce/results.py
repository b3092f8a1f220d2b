"""What the `keel reproduce` stages hand each other and report: frozen values only.

Each stage is a function of the `Request` and the frozen results of the stages before it
(`CheckedOut`, `Pulled`, `Loaded`, `Adapted`, `Quantized`, `CanaryOutcome`, `Served`). It
returns its own result, or raises `StageFailed` with the findings naming the manifest and
field involved. The runner (reproduce.py) turns either into a `StageResult` for the report.
Heavy objects (torch models, tokenizers, tensors) are typed `Any`: no workflow imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from toolkit.core.findings import Finding

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.bridges.ml import Encoder
    from toolkit.core.repository import Graph
    from toolkit.manifests import Deployment, Evaluation
    from toolkit.workflows.evaluation.pipeline import Subject

CHECK = "reproduce"
"""The `check` of a stage's findings is `reproduce.<stage name>`; the runner sets the name."""


class Status(str, Enum):
    """How a stage ended; `str`-valued, so reports and comparisons with "passed" just work."""

    passed = "passed"
    failed = "failed"
    skipped = "skipped"

    def __str__(self) -> str:
        return self.value


class Match(str, Enum):
    """How the canary's outputs matched the record: two different outcomes in the report."""

    exact = "exact"
    within_tolerance = "within tolerance"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Request:
    """What the user asked for: the only input the first stage has."""

    source: Path
    deployment: str
    rev: str
    workdir: Path
    serve: bool
    remote: str | None = None
    """A DVC remote by name; None: the clone's default (its .dvc/config, plus the source's
    .dvc/config.local, which git does not carry)."""


@dataclass(frozen=True)
class StageResult:
    """One stage as the report shows it."""

    number: int
    name: str
    status: Status
    seconds: float = 0.0
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Reproduction:
    deployment: str
    rev: str
    commit: str
    workdir: str
    stages: tuple[StageResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.status != Status.failed for s in self.stages) and bool(self.stages)

    @property
    def failed(self) -> StageResult | None:
        return next((s for s in self.stages if s.status == Status.failed), None)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for stage in self.stages for f in stage.findings)


class StageFailed(Exception):
    """Raised inside a stage: the one-line summary, the findings behind it, and what the
    report should show."""

    def __init__(
        self,
        summary: str,
        *,
        findings: tuple[Finding, ...] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.findings = findings
        self.details = dict(details or {})


def manifest_finding(
    graph: Graph | None, message: str, ref: str | None = None, field: str | None = None
) -> Finding:
    """A finding about manifest `ref`: its file (relative to the clone) at line 1 when the
    graph holds it, else no file."""
    entry = graph.entries.get(ref) if graph is not None and ref else None
    if graph is None or entry is None:
        return Finding(None, 0, message, ref, field, CHECK)
    return Finding(relative(entry.document.path, graph.root), 1, message, ref, field, CHECK)


def relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return path


class Reported(Protocol):
    """What every stage's result tells the report."""

    @property
    def status(self) -> Status: ...

    @property
    def summary(self) -> str: ...

    @property
    def details(self) -> dict[str, Any]: ...


# ----------------------------------------------------------------------- stage results


@dataclass(frozen=True)
class CheckedOut:
    """Stage 1: REV cloned and validated; the graph, the deployment and its canary
    Evaluation (the deployment's own Evaluation on its canary dataset), found once."""

    commit: str
    workdir: Path
    graph: Graph
    deployment: Deployment
    canary: Evaluation | None

    @property
    def task(self) -> str:
        """The task the canary Evaluation ran (which model head to load); retrieval by default."""
        protocol = self.canary.spec.protocol if self.canary else None
        return protocol.task if protocol else "retrieval"

    @property
    def merges_adapter(self) -> bool:
        protocol = self.canary.spec.protocol if self.canary else None
        return bool(protocol and protocol.merge_adapter)

    status = Status.passed

    @property
    def summary(self) -> str:
        return f"{len(self.graph.entries)} manifests valid at {self.commit[:12]}"

    @property
    def details(self) -> dict[str, Any]:
        return {"commit": self.commit, "manifests": len(self.graph.entries)}


@dataclass(frozen=True)
class Pulled:
    """Stage 2: what the deployment needs, pulled through DVC, every sha256 verified."""

    files: int
    pulled: int
    bytes_hashed: int

    status = Status.passed

    @property
    def summary(self) -> str:
        return f"{self.files} files verified by sha256"

    @property
    def details(self) -> dict[str, Any]:
        return {"files": self.files, "pulled": self.pulled, "bytesHashed": self.bytes_hashed}


@dataclass(frozen=True)
class Loaded:
    """Stage 3: tokenizer and base model from the pulled files, matching their manifests."""

    subject: Subject
    tokenizer: Any
    model: Any
    versions: dict[str, str]

    status = Status.passed

    @property
    def summary(self) -> str:
        return f"{self.subject.tokenizer.ref} and {self.subject.model.ref} match their manifests"

    @property
    def details(self) -> dict[str, Any]:
        return {
            "tokenizer": {
                "class": type(self.tokenizer).__name__,
                "vocabSize": int(self.tokenizer.vocab_size),
                "maxLength": int(self.tokenizer.model_max_length),
                # checked against the Tokenizer manifest (stages.check_chat_template)
                "chatTemplateDigest": self.subject.tokenizer.spec.chat_template_digest,
            },
            "model": {
                "class": type(self.model).__name__,
                "parameters": self.subject.model.spec.parameters,
            },
            "versions": self.versions,
        }


@dataclass(frozen=True)
class Adapted:
    """Stage 4: the model with the Adapter applied; the loaded base when there is none."""

    model: Any
    adapter: str | None = None
    base_digest: str | None = None
    merged: bool = False

    @property
    def status(self) -> Status:
        return Status.skipped if self.adapter is None else Status.passed

    @property
    def summary(self) -> str:
        if self.adapter is None:
            return "the deployment has no adapter"
        how = "merged into the base" if self.merged else "applied as LoRA layers"
        return f"{self.adapter} bound to {self.base_digest}, {how}"

    @property
    def details(self) -> dict[str, Any]:
        if self.adapter is None:
            return {}
        return {"adapter": self.adapter, "baseDigest": self.base_digest, "merged": self.merged}


@dataclass(frozen=True)
class Quantized:
    """Stage 5: the model after the Quantization recipe; the adapted one when there is none."""

    model: Any
    quantization: str | None = None
    scheme: str = ""
    library: str = ""
    config: str = ""
    quantized_modules: int = 0
    tensor_digest: str = ""
    recorded: str | None = None

    @property
    def status(self) -> Status:
        return Status.skipped if self.quantization is None else Status.passed

    @property
    def summary(self) -> str:
        if self.quantization is None:
            return "the deployment is not quantized"
        if self.recorded is None:
            return f"{self.scheme} applied; no digest recorded to compare with"
        return f"{self.scheme} via {self.config}: tensor digest matches"

    @property
    def details(self) -> dict[str, Any]:
        if self.quantization is None:
            return {}
        return {
            "scheme": self.scheme,
            "recipe": f"{self.library} {self.config}",
            "quantizedModules": self.quantized_modules,
            "tensorDigest": self.tensor_digest,
            "recorded": self.recorded,
        }


@dataclass(frozen=True)
class CanaryOutcome:
    """Stage 6: the canary run with the recorded protocol and how it matched the record."""

    evaluation: str
    match: Match
    rows: tuple[dict[str, Any], ...]
    outputs: Any
    encoder: Encoder | None
    """The runner, when the task embeds texts (what stage 7 can serve)."""
    details: dict[str, Any]

    status = Status.passed

    @property
    def summary(self) -> str:
        return f"{len(self.rows)} canary examples: {self.match} ({self.evaluation})"


@dataclass(frozen=True)
class Served:
    """Stage 7: the canary sent through the served API contract (only with --serve)."""

    asked: bool
    requests: int = 0
    texts: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    healthz: int | None = None
    invalid_input_status: int | None = None
    streamed: int = 0  # generation: requests answered as server-sent events, token by token

    @property
    def status(self) -> Status:
        return Status.passed if self.asked else Status.skipped

    @property
    def summary(self) -> str:
        if not self.asked:
            return "not asked for (--serve)"
        streamed = f", {self.streamed} of them streamed" if self.streamed else ""
        return (
            f"{self.requests} requests ({self.texts} texts{streamed}) through the API contract: "
            "answers valid and identical to the canary run"
        )

    @property
    def details(self) -> dict[str, Any]:
        if not self.asked:
            return {}
        return {
            "requests": self.requests,
            "texts": self.texts,
            "latencyMs": self.latency_ms,
            "healthz": self.healthz,
            "invalidInputStatus": self.invalid_input_status,
        } | ({"streamed": self.streamed} if self.streamed else {})
