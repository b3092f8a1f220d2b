"""Adapter: a LoRA (or other PEFT) adapter, bound to its base model by digest."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolkit.manifests.base import (
    ArtifactFiles,
    Digest,
    EvaluationRef,
    Manifest,
    ModelRef,
    NonEmpty,
    PositiveInt,
    Strict,
    TrainingRunRef,
)


class BaseBinding(Strict):
    model: ModelRef
    digest: Digest = Field(
        description="Weights digest of the base Model the adapter was trained on."
    )


class Layers(Strict):
    trained: list[str] = Field(description="Module patterns whose weights the adapter changes.")
    frozen: list[str] = Field(description="Module patterns left as in the base.")
    trainable_parameters: PositiveInt
    total_parameters: PositiveInt


class ScoreCheck(Strict):
    evaluation: EvaluationRef = Field(
        description="Evaluation of the adapted model; its baseline is the base model's."
    )
    metric: NonEmpty
    goal: Literal["maximize", "minimize"] = "maximize"


class GeneralCheck(ScoreCheck):
    tolerance: float = Field(ge=0, description="Largest allowed drop from the baseline, absolute.")


class AdapterEvaluations(Strict):
    task: ScoreCheck = Field(description="Must beat the base model on the task.")
    general: GeneralCheck = Field(description="Must hold the base model's general capability.")


class AdapterSpec(ArtifactFiles):
    base: BaseBinding
    method: Literal["lora", "qlora", "dora", "prefix", "ia3"]
    rank: PositiveInt
    alpha: float = Field(gt=0)
    dropout: float = Field(ge=0, le=1)
    target_modules: list[str] = Field(min_length=1)
    layers: Layers
    training_run: TrainingRunRef
    config_digest: Digest | None = Field(
        default=None, description="Canonical digest of adapter_config.json (sorted, no paths)."
    )
    evaluations: AdapterEvaluations


class Adapter(Manifest):
    KIND = "Adapter"
    kind: Literal["Adapter"]
    spec: AdapterSpec
