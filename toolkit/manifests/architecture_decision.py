"""ArchitectureDecision (ADR): why this model family, and what else was considered."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from toolkit.manifests.base import Date, DecisionRef, Manifest, NonEmpty, PositiveInt, Strict

ChecklistItem = Literal[
    "vocabulary-fertility",
    "embedding-width",
    "tied-embeddings",
    "positional-context",
    "normalization",
    "attention-heads",
    "ffn-ratio",
    "activation",
    "residual-depth",
    "training-stability",
    "kv-cache-memory",
    "quantization-compatibility",
    "attention-backend",
]
CHECKLIST_ITEMS: tuple[str, ...] = get_args(ChecklistItem)


class ChecklistDecision(Strict):
    """An architecture-checklist item decided by people where keel cannot verify it."""

    item: ChecklistItem = Field(description="The checklist item, as `keel checklist` names it.")
    decision: NonEmpty = Field(description="What was decided for this item.")
    rationale: NonEmpty = Field(description="Why, and what evidence it rests on.")


class Alternative(Strict):
    option: NonEmpty
    reason_rejected: NonEmpty


class FitAnswers(Strict):
    """The questions that decide the architecture family."""

    long_range_context_is_core: bool = Field(
        description="Is modelling long-range context the core challenge of the task?"
    )
    modality: Literal["text", "image", "audio", "video", "multimodal"]
    max_input_tokens: PositiveInt
    architecture: Literal["encoder-only", "decoder-only", "encoder-decoder"]


class ArchitectureDecisionSpec(Strict):
    status: Literal["proposed", "accepted", "superseded", "deprecated"]
    date: Date
    context: NonEmpty = Field(description="The forces at play: what the problem needs.")
    decision: NonEmpty = Field(description="What was decided, in a few sentences.")
    alternatives: list[Alternative] = Field(
        default_factory=list, description="Options considered and why each was not taken."
    )
    consequences: NonEmpty = Field(description="What becomes easier or harder because of this.")
    fit: FitAnswers
    supersedes: list[DecisionRef] = Field(default_factory=list)
    checklist: list[ChecklistDecision] = Field(
        default_factory=list,
        description="Decisions for architecture-checklist items keel cannot verify "
        "(`keel checklist` lists them); the first entry for an item counts.",
    )


class ArchitectureDecision(Manifest):
    KIND = "ArchitectureDecision"
    kind: Literal["ArchitectureDecision"]
    spec: ArchitectureDecisionSpec
