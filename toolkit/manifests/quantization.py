"""Quantization: how the served weights are derived from the Model, and what it costs in quality."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from pydantic import Field, model_validator

from toolkit.manifests.base import (
    AdapterRef,
    Digest,
    EvaluationRef,
    Manifest,
    ModelRef,
    NonEmpty,
    PositiveInt,
    Strict,
)

Scheme = Literal["none", "fp16", "bf16", "int8-dynamic", "int8", "int4", "nf4", "gptq", "awq"]


class Recipe(Strict):
    """Everything needed to re-derive the quantized weights from the verified source weights."""

    library: NonEmpty = Field(description="e.g. torchao, bitsandbytes, auto-gptq, torch.")
    version: NonEmpty
    config: NonEmpty = Field(
        description="Config class or function, e.g. Int8DynamicActivationInt8WeightConfig."
    )
    arguments: dict[str, Any] = Field(default_factory=dict, description="Arguments to `config`.")
    engine: str | None = Field(
        default=None, description="Backend engine, e.g. x86, fbgemm, qnnpack."
    )


class MemoryBudget(Strict):
    """parameters × bytesPerParameter × (1 + overhead) = totalBytes."""

    parameters: PositiveInt
    bytes_per_parameter: float = Field(gt=0)
    overhead: float = Field(
        ge=0, le=1, description="Activation/runtime overhead, typically 0.2-0.4."
    )
    total_bytes: PositiveInt

    @model_validator(mode="after")
    def _adds_up(self) -> MemoryBudget:
        # exact: no float overflow (an integer past 1.8e308) and no infinity that passes
        expected = (
            self.parameters * Fraction(self.bytes_per_parameter) * (1 + Fraction(self.overhead))
        )
        if abs(self.total_bytes - expected) > max(Fraction(1), expected / 1000):
            raise ValueError(
                f"totalBytes {self.total_bytes} does not equal parameters × bytesPerParameter × "
                f"(1 + overhead) = {round(expected)}"
            )
        return self


class Degradation(Strict):
    metric: NonEmpty
    by: float = Field(ge=0, description="Largest allowed drop from the baseline, absolute.")
    goal: Literal["maximize", "minimize"] = "maximize"


class QuantizationResult(Strict):
    tensor_digest: Digest | None = Field(
        default=None, description="Canonical digest of the quantized tensors."
    )
    note: str | None = None


class QuantizationSpec(Strict):
    model: ModelRef = Field(description="The source Model whose verified weights are quantized.")
    adapter: AdapterRef | None = Field(
        default=None, description="An Adapter merged into the model before quantizing, if any."
    )
    scheme: Scheme
    recipe: Recipe
    target_modules: list[str] = Field(
        default_factory=list,
        description="Module name patterns quantized; empty means all linear layers.",
    )
    memory_budget: MemoryBudget
    baseline: EvaluationRef = Field(description="Evaluation of the unquantized model.")
    evaluation: EvaluationRef = Field(
        description="Evaluation of the quantized model, same dataset."
    )
    max_degradation: Degradation
    result: QuantizationResult


class Quantization(Manifest):
    KIND = "Quantization"
    kind: Literal["Quantization"]
    spec: QuantizationSpec
