"""Requirements: what the deployment must achieve, before any model is chosen."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic import Strict as StrictMarker

from toolkit.manifests.base import (
    DatasetRef,
    Manifest,
    NonEmpty,
    Positive,
    PositiveInt,
    Strict,
    given,
)


class TaskType(str, Enum):
    classification = "classification"
    extraction = "extraction"
    generation = "generation"
    embedding = "embedding"
    retrieval = "retrieval"
    seq2seq = "seq2seq"
    other = "other"


class Task(Strict):
    description: NonEmpty = Field(description="What the model does for its users, in a sentence.")
    type: Annotated[TaskType, StrictMarker(strict=False)] = Field(
        description="The task family; it decides which metrics make sense."
    )


class QualityThreshold(Strict):
    """A metric the served model must reach on a dataset; give `min`, `max` or both."""

    SCHEMA_RULES: ClassVar[dict[str, Any]] = {"anyOf": [given("min"), given("max")]}

    metric: NonEmpty = Field(
        description="Metric name as an Evaluation records it, e.g. recall_at_1."
    )
    dataset: DatasetRef = Field(description="The Dataset the metric is measured on.")
    min: float | None = Field(
        default=None, description="Lowest acceptable value (higher is better)."
    )
    max: float | None = Field(
        default=None, description="Highest acceptable value (lower is better)."
    )

    @model_validator(mode="after")
    def _has_a_bound(self) -> QualityThreshold:
        if self.min is None and self.max is None:
            raise ValueError(f"threshold for '{self.metric}' needs min or max")
        return self


class LatencyHardware(Strict):
    """The hardware a latency ceiling holds on (the serving hardware). An Evaluation measured
    on other hardware is reported as not comparable instead of passing or failing the gate."""

    device: NonEmpty = Field(default="cpu", description="cpu, or the accelerator kind: cuda ...")
    cpu_capability: NonEmpty | None = Field(
        default=None,
        description="The CPU kernel path torch uses (AVX2, AVX512, DEFAULT), as Evaluations "
        "record it in spec.environment.cpuCapability.",
    )
    cores: PositiveInt | None = Field(
        default=None, description="Threads the service runs on (spec.hardware.threads)."
    )
    accelerator: NonEmpty | None = Field(
        default=None, description="GPU model, as Evaluations record it (spec.hardware)."
    )


class LatencyCeilings(Strict):
    """Latency ceilings per request, in milliseconds; omit a percentile to leave it open."""

    p50_ms: Positive | None = None
    p95_ms: Positive | None = None
    p99_ms: Positive | None = None
    hardware: LatencyHardware | None = Field(
        default=None,
        description="Where the ceilings apply; without it they apply wherever measured.",
    )


class DeploymentContext(Strict):
    hosting: Literal["self-hosted", "api"] = Field(
        description="Run the model ourselves or call an API."
    )
    location: Literal["on-prem", "cloud", "edge"]
    data_residency: NonEmpty = Field(description="Where data may be processed, e.g. 'EU' or 'any'.")


class RequirementsSpec(Strict):
    task: Task
    quality: list[QualityThreshold] = Field(
        default_factory=list,
        description="Every threshold the deployed model's Evaluation must clear.",
    )
    latency: LatencyCeilings = Field(default_factory=LatencyCeilings)
    cost_per_1k_requests: Positive | None = Field(
        default=None, description="Ceiling on serving cost per 1,000 requests, in `currency`."
    )
    currency: str = "USD"
    memory_ceiling_bytes: PositiveInt | None = Field(
        default=None, description="Most memory the model may take when loaded, in bytes."
    )
    context_length: PositiveInt = Field(
        description="Longest input, in tokens, that must be handled."
    )
    context: DeploymentContext


class Requirements(Manifest):
    KIND = "Requirements"
    kind: Literal["Requirements"]
    spec: RequirementsSpec
