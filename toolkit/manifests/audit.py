"""Audit: the evidence of one quarterly runbook audit of a deployment, versioned with it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolkit.manifests.base import (
    Date,
    DeploymentRef,
    Digest,
    Manifest,
    NonEmpty,
    RelativePath,
    Strict,
)

Status = Literal["pass", "warn", "fail"]


class AuditFinding(Strict):
    check: NonEmpty = Field(description="What was checked, e.g. runbook.review or artifacts.")
    status: Status
    message: NonEmpty
    evidence: list[str] = Field(
        default_factory=list, description="What the check saw: dates, digests, commands."
    )


class AuditReport(Strict):
    digest: Digest = Field(description="sha256 of the report file as written.")
    format: Literal["md", "html", "json"]
    path: RelativePath | None = Field(default=None, description="Where the report was kept.")


class AuditSpec(Strict):
    deployment: DeploymentRef
    date: Date = Field(description="The audit's as-of date.")
    auditor: NonEmpty = Field(description="Who ran it: 'Name <email>' from git config.")
    commit: NonEmpty = Field(description="The commit audited.")
    previous: str | None = Field(
        default=None, description="The previous audit's tag, whose changes since were reviewed."
    )
    status: Status
    findings: list[AuditFinding] = Field(min_length=1)
    report: AuditReport


class Audit(Manifest):
    KIND = "Audit"
    kind: Literal["Audit"]
    spec: AuditSpec
