"""TrainingRun: the hyperparameter log of a fine-tune, enough to run it again."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from toolkit.manifests.base import (
    DatasetRef,
    Digest,
    Integer,
    Manifest,
    ModelRef,
    NonEmpty,
    PositiveInt,
    Strict,
    given,
)


class Optimizer(Strict):
    name: NonEmpty = Field(description="e.g. AdamW.")
    learning_rate: float = Field(gt=0)
    scheduler: NonEmpty = Field(description="e.g. linear, cosine, constant.")
    warmup_steps: Integer = Field(ge=0)
    weight_decay: float = Field(ge=0)


class TrainingHardware(Strict):
    accelerator: NonEmpty = Field(description="e.g. 'NVIDIA A100 80GB' or 'cpu'.")
    memory_bytes: PositiveInt | None = None
    cpu: str | None = None


class Outcome(Strict):
    steps: PositiveInt
    final_loss: float
    duration_seconds: float = Field(ge=0)


class TrainingRunSpec(Strict):
    SCHEMA_RULES: ClassVar[dict[str, Any]] = {"anyOf": [given("epochs"), given("steps")]}

    base: ModelRef = Field(description="The exact base checkpoint trained from.")
    base_digest: Digest | None = Field(default=None, description="Weights digest of that base.")
    method: Literal["full", "lora", "prefix"]
    optimizer: Optimizer
    batch_size: PositiveInt
    gradient_accumulation: PositiveInt = 1
    epochs: PositiveInt | None = None
    steps: PositiveInt | None = None
    dropout: float = Field(ge=0, le=1)
    seed: Integer
    loss: str | None = Field(
        default=None, description="Training objective, e.g. in-batch contrastive."
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Method-specific values not covered above, e.g. temperature, maxLength; `keel "
            "train` reads objective (contrastive, the default, or causal-lm) and threads."
        ),
    )
    hardware: TrainingHardware
    datasets: list[DatasetRef] = Field(min_length=1)
    outcome: Outcome | None = None

    @model_validator(mode="after")
    def _epochs_or_steps(self) -> TrainingRunSpec:
        if self.epochs is None and self.steps is None:
            raise ValueError("give epochs or steps")
        return self


class TrainingRun(Manifest):
    KIND = "TrainingRun"
    kind: Literal["TrainingRun"]
    spec: TrainingRunSpec
