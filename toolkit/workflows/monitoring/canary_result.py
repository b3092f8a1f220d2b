"""What one live canary found: its problems and the run's numbers (`canary` makes them,
`canary_checks` fills them, `canary_record` writes and renders them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkit.workflows.monitoring.canary import Plan


@dataclass(frozen=True)
class Problem:
    """One finding of the canary: `check` (transport, schema, quality, requirements,
    latency, outputs) and one line. `blocking` False is a note that does not fail the run."""

    check: str
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class CanaryRun:
    """The outcome of one live canary, as the reporters and `--record` need it."""

    deployment: str
    evaluation: str
    endpoint: str
    contract: str
    task: str
    rows: int
    requests: int
    answered: int
    metrics: dict[str, float]
    recorded: dict[str, float]
    latency_ms: dict[str, float]
    problems: tuple[Problem, ...]
    started: float
    seconds: float
    outputs_digest: str
    hardware: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    plan: Plan | None = field(default=None, repr=False, compare=False)
    """What was sent and held against (for `--record`)."""

    @property
    def ok(self) -> bool:
        return not any(p.blocking for p in self.problems)

    @property
    def findings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.blocking)

    @property
    def notes(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.blocking)
