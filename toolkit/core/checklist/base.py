"""The checklist's values: what one item's evidence says (`Assessment`), what keel makes of
it with the ADR's decisions (`ItemResult`), and everything the items read (`Subject`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.core.loading import Location
    from toolkit.core.repository import Graph
    from toolkit.core.safetensors_header import TensorEntry
    from toolkit.manifests import (
        ArchitectureDecision,
        Deployment,
        Manifest,
        Model,
        Quantization,
        Tokenizer,
        TrainingRun,
    )
    from toolkit.manifests.architecture_decision import ChecklistDecision

FERTILITY_LIMIT = 1.8


class Outcome(str, Enum):
    """What the evidence says about an item."""

    ok = "ok"  # verified
    decide = "decide"  # outside the usual: a recorded decision accepts it
    unknown = "unknown"  # no evidence here (not pulled, not recorded): a decision accepts it
    fail = "fail"  # contradicts itself or cannot work: no decision excuses it
    skip = "skip"  # does not apply to this subject (a Model has no serving config)


class Status(str, Enum):
    """An item's place in the checklist."""

    verified = "verified"
    recorded = "recorded"
    decide = "needs decision"
    unverified = "unverified"
    failed = "FAILED"
    skipped = "n/a"


@dataclass(frozen=True)
class Assessment:
    """One item's evidence in one line, where it came from, and what would fix it."""

    outcome: Outcome
    evidence: str
    source: str
    advice: str | None = None
    where: tuple[str | int, ...] = ("spec",)
    """Field of the subject manifest a finding points at."""


@dataclass(frozen=True)
class MeasuredFertility:
    """Tokens per whitespace word, measured here on the Deployment's data (a bridge's job)."""

    tokens: int
    words: int
    datasets: tuple[str, ...]

    @property
    def value(self) -> float:
        return self.tokens / self.words


@dataclass(frozen=True)
class Subject:
    """Everything the items read; built by `toolkit.core.checklist.subject_for`."""

    graph: Graph
    manifest: Manifest
    model: Model
    deployment: Deployment | None = None
    tokenizer: Tokenizer | None = None
    decisions: tuple[ArchitectureDecision, ...] = ()
    quantization: Quantization | None = None
    training_runs: tuple[TrainingRun, ...] = ()
    tensors: dict[str, TensorEntry] | None = None
    tensor_note: str = "weights not pulled here (keel pull)"
    fertility: MeasuredFertility | None = None
    encoder_only: bool = False

    def decision_for(self, item: str) -> tuple[ArchitectureDecision, ChecklistDecision] | None:
        for adr in self.decisions:
            for entry in adr.spec.checklist:
                if entry.item == item:
                    return adr, entry
        return None


@dataclass(frozen=True)
class ItemResult:
    item: str
    status: Status
    assessment: Assessment
    decision: ChecklistDecision | None = None
    decided_in: str | None = None

    @property
    def failing(self) -> bool:
        return self.status in (Status.failed, Status.decide, Status.unverified)

    @property
    def gate_fails(self) -> bool:
        """What `keel validate` fails on: the evidence contradicts the record, or lies
        outside the usual with no decision. Evidence that is merely absent here (weights not
        pulled, a field not recorded) is `keel checklist`'s and the audit's to report."""
        return self.status in (Status.failed, Status.decide)

    @property
    def summary(self) -> str:
        """The evidence, or the decision that accepts the item (and where it is recorded)."""
        if self.decision is not None and self.status is Status.recorded:
            return f"{self.decision.decision} [{self.decided_in}]"
        return self.assessment.evidence

    @property
    def detail(self) -> str:
        """`summary` with the decision's rationale and the evidence it stands in for."""
        if self.decision is not None and self.status is Status.recorded:
            return (
                f"{self.decision.decision} Rationale: {self.decision.rationale} "
                f"[{self.decided_in}; evidence: {self.assessment.evidence}]"
            )
        return self.assessment.evidence

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "item": self.item,
            "status": self.status.value,
            "evidence": self.assessment.evidence,
            "source": self.assessment.source,
        }
        if self.decision is not None:
            data["decision"] = {
                "in": self.decided_in,
                "decision": self.decision.decision,
                "rationale": self.decision.rationale,
            }
        if self.assessment.advice and self.failing:
            data["advice"] = self.assessment.advice
        return data


@dataclass(frozen=True)
class Checklist:
    subject: str
    decision: str | None
    """Where decisions go: the Deployment's ArchitectureDecision, when there is one."""
    items: tuple[ItemResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not any(i.failing for i in self.items)

    def failing(self) -> list[ItemResult]:
        return [i for i in self.items if i.failing]


def ok(evidence: str, source: str) -> Assessment:
    return Assessment(Outcome.ok, evidence, source)


def unknown(evidence: str, source: str, advice: str | None = None) -> Assessment:
    return Assessment(Outcome.unknown, evidence, source, advice)


def decide(evidence: str, source: str, advice: str | None = None) -> Assessment:
    return Assessment(Outcome.decide, evidence, source, advice)


def fail(evidence: str, source: str, advice: str, where: Location = ("spec",)) -> Assessment:
    return Assessment(Outcome.fail, evidence, source, advice, tuple(where))


def skip(evidence: str) -> Assessment:
    return Assessment(Outcome.skip, evidence, "-")
