"""Runbook: how to load, serve and roll back, and who to call; audited every quarter."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolkit.manifests.base import Date, Manifest, NonEmpty, PositiveInt, Strict


class Step(Strict):
    description: NonEmpty
    command: NonEmpty = Field(description="The exact command to run.")


class Steps(Strict):
    load: list[Step] = Field(min_length=1)
    serve: list[Step] = Field(min_length=1)
    rollback: list[Step] = Field(min_length=1)


class Escalation(Strict):
    contact: NonEmpty = Field(description="Who to page when the steps do not work.")
    channel: str | None = None


class RunbookSpec(Strict):
    owner: NonEmpty
    last_reviewed: Date
    review_interval_days: PositiveInt = 90
    steps: Steps
    escalation: Escalation


class Runbook(Manifest):
    KIND = "Runbook"
    kind: Literal["Runbook"]
    spec: RunbookSpec
