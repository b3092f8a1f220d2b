"""Evaluation: measured quality, latency and cost of one subject on one dataset."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from toolkit.manifests.base import (
    DatasetRef,
    Date,
    Digest,
    EvaluationRef,
    Manifest,
    NonEmpty,
    Positive,
    PositiveInt,
    RelativePath,
    Strict,
    SubjectRef,
)


class Metric(Strict):
    name: NonEmpty = Field(description="Metric name, e.g. accuracy, f1, recall_at_1, rouge_l.")
    value: float


class Latency(Strict):
    """Measured request latency percentiles in milliseconds."""

    p50_ms: Positive
    p95_ms: Positive
    p99_ms: Positive
    batch_size: PositiveInt = 1
    requests: PositiveInt = Field(description="Number of timed requests.")
    load_average: float | None = Field(
        default=None,
        ge=0,
        description="The machine's 1-minute load average right after the timed requests: "
        "above the threads it ran on, the machine was busy and the numbers are not comparable.",
    )
    time_to_first_token_p95_ms: Positive | None = Field(
        default=None,
        description="generation only: p95 over single requests of the time until the first new "
        "token (tokenize, prefill and one decoding step), fastest of the repeats of each.",
    )
    output_tokens_per_second: Positive | None = Field(
        default=None,
        description="generation only: new tokens of all timed single requests divided by their "
        "end-to-end seconds (fastest of the repeats of each).",
    )


class Hardware(Strict):
    cpu: NonEmpty = Field(description="CPU model name, e.g. from /proc/cpuinfo.")
    accelerator: str | None = Field(default=None, description="GPU/TPU model, or none.")
    memory_bytes: PositiveInt | None = None
    threads: PositiveInt | None = None


class Outputs(Strict):
    """The per-example outputs, so later runs can be compared example by example."""

    digest: Digest = Field(description="Digest of the per-example outputs in dataset order.")
    path: RelativePath | None = Field(default=None, description="Outputs file, if kept.")


class Tolerance(Strict):
    """How far a re-run on a different environment may drift and still count as reproduced."""

    max_abs_diff: float | None = Field(default=None, ge=0)
    min_cosine: float | None = Field(default=None, ge=-1, le=1)
    first_tokens: PositiveInt | None = Field(
        default=None,
        description="generation only: on a different environment, each row's first N greedy "
        "tokens must be identical (later ones may follow a near-tie elsewhere); without it every "
        "generated token must be identical.",
    )


class Protocol(Strict):
    """How the subject was run, so that a re-run feeds it exactly the same batches."""

    task: Literal["retrieval", "embedding", "classification", "generation", "language-modeling"] = (
        Field(
            description="retrieval: rows {id, query, passage}; embedding: {id, text}; "
            "classification: {id, text, label}; generation: {id, prompt or messages, reference}; "
            "language-modeling: {id, text}, perplexity of a causal LM in windows of maxLength."
        )
    )
    batch_size: PositiveInt = Field(
        default=16, description="Consecutive rows per forward pass, in dataset order."
    )
    max_length: PositiveInt = Field(
        default=256,
        description="Truncation length in tokens; language-modeling: the window each text is "
        "cut into (consecutive, non-overlapping).",
    )
    padding: Literal["longest"] = Field(
        default="longest", description="Each batch is padded to its longest row."
    )
    merge_adapter: bool = Field(
        default=False,
        description="An Adapter subject is merged into the base weights (merge_and_unload) "
        "instead of applied as separate LoRA layers.",
    )
    max_new_tokens: PositiveInt = Field(
        default=32, description="generation only: greedy decoding up to this many tokens."
    )


class Cost(Strict):
    per_1k_requests: float = Field(ge=0)
    currency: str = "USD"
    basis: NonEmpty = Field(
        description="How the cost was derived, e.g. instance price / throughput."
    )


class Source(Strict):
    """Where a live measurement came from: `keel canary --record` against a served endpoint."""

    endpoint: NonEmpty = Field(description="The base URL the canary was sent to.")
    outcome: Literal["pass", "fail"] = Field(description="The canary's verdict.")
    findings: list[NonEmpty] = Field(
        default_factory=list, description="One line per finding, when the canary failed."
    )
    started: NonEmpty | None = Field(
        default=None, description="When the canary started, UTC, e.g. 2026-11-30T06:00:00Z."
    )


class EvaluationSpec(Strict):
    subject: SubjectRef = Field(
        description="What was evaluated: a Model, Adapter, Quantization or Deployment."
    )
    dataset: DatasetRef
    metrics: list[Metric] = Field(min_length=1)
    latency: Latency | None = None
    cost: Cost | None = None
    baseline: EvaluationRef | None = Field(
        default=None,
        description="The Evaluation this one is compared with (e.g. the base model's).",
    )
    hardware: Hardware
    date: Date
    tools: dict[str, str] = Field(
        description="Library versions used, e.g. {torch: 2.13.0, transformers: 5.0.0}."
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="Environment fingerprint beyond versions, e.g. cpuCapability, quantizedEngine.",
    )
    outputs: Outputs
    tolerance: Tolerance | None = None
    protocol: Protocol | None = Field(
        default=None,
        description="How the subject was run; `keel evaluate` and `keel reproduce` need it.",
    )
    source: Source | None = Field(
        default=None,
        description="A live canary's endpoint and outcome (`keel canary --record`); absent "
        "for an evaluation run by keel itself.",
    )

    @model_validator(mode="after")
    def _unique_metric_names(self) -> EvaluationSpec:
        names = [m.name for m in self.metrics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"metric recorded twice: {', '.join(duplicates)}")
        return self

    def metric(self, name: str) -> float | None:
        return next((m.value for m in self.metrics if m.name == name), None)


class Evaluation(Manifest):
    KIND = "Evaluation"
    kind: Literal["Evaluation"]
    spec: EvaluationSpec
