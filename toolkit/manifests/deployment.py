"""Deployment: ties every other manifest together with how the model is served and watched."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from toolkit.manifests.base import (
    AdapterRef,
    DatasetRef,
    DecisionRef,
    EvaluationRef,
    Integer,
    Manifest,
    ModelRef,
    NonEmpty,
    Positive,
    PositiveInt,
    QuantizationRef,
    RequirementsRef,
    RunbookRef,
    Strict,
    TokenizerRef,
)

AttentionBackend = Literal[
    "eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention", "paged", "other"
]


class Serving(Strict):
    framework: NonEmpty = Field(description="e.g. keel, transformers, vllm, tgi, triton.")
    batching: Literal["none", "static", "dynamic"]
    max_batch_size: PositiveInt
    max_input_tokens: PositiveInt
    device: NonEmpty = Field(description="e.g. cpu, cuda, cuda:0.")
    memory_gib: Positive | None = Field(
        default=None,
        alias="memoryGiB",
        description="Memory of the serving device in GiB (GPU memory on cuda, RAM on cpu): "
        "`keel checklist` fits weights, KV cache and overhead into it.",
    )
    attention_backend: AttentionBackend | None = Field(
        default=None,
        description="Attention kernel the server uses; flash_attention_* needs a cuda device.",
    )
    hardware_price_per_hour: Positive | None = Field(
        default=None,
        description="Price of the serving hardware in USD per hour: with the canary's output "
        "tokens per second it gives the cost per 1k tokens (price / 3600 / tokens per second "
        "x 1000).",
    )


class RateLimit(Strict):
    requests_per_minute: PositiveInt


class ErrorCode(Strict):
    code: NonEmpty = Field(description="Stable machine-readable code, e.g. input_too_long.")
    status: Integer = Field(ge=400, le=599, description="HTTP status.")
    meaning: NonEmpty


class ApiContract(Strict):
    input_schema: dict[str, Any] = Field(description="JSON Schema of a request body.")
    output_schema: dict[str, Any] = Field(description="JSON Schema of a response body.")
    rate_limit: RateLimit
    errors: list[ErrorCode] = Field(min_length=1)
    fallback: NonEmpty = Field(description="What callers get when the model is down.")


class Slos(Strict):
    latency_p95_ms: Positive
    latency_p99_ms: Positive
    availability: float = Field(gt=0, le=1, description="e.g. 0.999.")
    error_rate: float = Field(
        ge=0, le=1, description="Largest acceptable share of failed requests."
    )
    time_to_first_token_p95_ms: Positive | None = Field(
        default=None,
        description="generation: ceiling on the canary Evaluation's latency."
        "timeToFirstTokenP95Ms (checked where the measurement is comparable).",
    )
    output_tokens_per_second_min: Positive | None = Field(
        default=None,
        description="generation: floor on the canary Evaluation's latency.outputTokensPerSecond.",
    )
    cost_per_1k_tokens_max: Positive | None = Field(
        default=None,
        description="generation: ceiling in USD on serving.hardwarePricePerHour / 3600 / the "
        "canary's output tokens per second x 1000.",
    )


class Drift(Strict):
    method: NonEmpty = Field(
        description="How `keel drift` compares production inputs with the reference ones: "
        "embedding-centroid-cosine (score 1 - cosine of the mean embeddings) or "
        "token-length-psi (population stability index of token lengths)."
    )
    threshold: float = Field(description="Drift is flagged when the score is above it.")


EndpointUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/?#]+[^\s#]*$")]


class CanaryBudget(Strict):
    """What a live canary run (`keel canary --endpoint`) may spend on a served deployment."""

    max_requests: PositiveInt = Field(description="Most requests one canary run sends.")
    timeout_seconds: Positive = Field(description="Timeout of one request, in seconds.")
    concurrency: PositiveInt = Field(default=1, description="Requests in flight at once.")
    retries: Integer = Field(default=0, ge=0, description="Retries of a failed request.")


class Monitoring(Strict):
    metrics: list[NonEmpty] = Field(min_length=1)
    drift: Drift
    endpoints: dict[NonEmpty, EndpointUrl] = Field(
        default_factory=dict,
        description="Environment -> base URL the deployment is served at, e.g. production: "
        "https://search.example.com; the live canary (`keel canary`) calls them.",
    )
    canary_budget: CanaryBudget | None = Field(
        default=None, description="Limits of one live canary run against an endpoint."
    )


class MetricDrop(Strict):
    metric: NonEmpty
    by: float = Field(gt=0)
    window_days: PositiveInt


class Triggers(Strict):
    metric_drop: MetricDrop | None = None
    drift_threshold: float | None = None
    new_base_model: bool = False


class Retraining(Strict):
    owner: NonEmpty
    triggers: Triggers


class Canary(Strict):
    dataset: DatasetRef
    schedule: NonEmpty = Field(
        description="When the canary runs, e.g. a cron expression or 'on deploy'."
    )
    max_age_hours: Positive | None = Field(
        default=None,
        description="Longest time without a canary result before the stale-canary alert "
        "fires (`keel export prometheus`; 25 hours when absent: a daily run plus an hour).",
    )


class DeploymentSpec(Strict):
    requirements: RequirementsRef
    decision: DecisionRef
    model: ModelRef
    tokenizer: TokenizerRef
    adapter: AdapterRef | None = None
    quantization: QuantizationRef | None = None
    runbook: RunbookRef
    evaluations: list[EvaluationRef] = Field(
        min_length=1, description="Evaluations of this Deployment (and any supporting ones)."
    )
    serving: Serving
    api: ApiContract
    slos: Slos
    monitoring: Monitoring
    retraining: Retraining
    canary: Canary


class Deployment(Manifest):
    KIND = "Deployment"
    kind: Literal["Deployment"]
    spec: DeploymentSpec
