"""`keel audit`: the quarterly runbook audit of each deployment, as evidence.

Each check returns a record with a status (pass / warn / fail), a message and the evidence it
saw; its problems are `Finding`s, as `keel validate` and `keel verify` report them. With `as_of`
fixed, the same repository gives the same report. Recording writes an Audit manifest
(the findings, the audited commit, the report's digest), commits only that file (and the
report kept in the repository) through a temporary index, after the repository's pre-commit
hook passes, and tags the commit `audit/<deployment>/<date>`, so that the next audit reviews
only what changed since. What the user staged is never committed and stays staged.

The audited commit is the one whose files were read: a work tree that differs from HEAD
(changed tracked files, or new files under manifests/) is refused unless `allow_dirty`, and
then recorded as the `worktree` check, a warning that lists the paths.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.core.findings import FAIL, PASS, RANK, Finding, Severity
from toolkit.manifests import Deployment, Runbook
from toolkit.workflows.audit.checks import (
    Check,
    artifact_checks,
    evaluation_checks,
    manifests_check,
    operations_checks,
    runbook_checks,
)
from toolkit.workflows.validation.secrets_report import redacted_check

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from toolkit.core.repository import Graph
    from toolkit.workflows.audit.checks import CommandParser
    from toolkit.workflows.audit.history import Diff
    from toolkit.workflows.reproduce.reproduce import Reproduction


@dataclass
class DeploymentAudit:
    deployment: str
    checks: list[Check] = field(default_factory=list)
    previous: str | None = None
    changes: Diff | None = None
    reproduction: Reproduction | None = None

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=RANK.__getitem__, default=PASS)

    @property
    def findings(self) -> list[Finding]:
        """Every check's findings, each once (the requirements gate's are also in
        manifests.valid: it is the same gate), in check order."""
        return list(dict.fromkeys(f for c in self.checks for f in c.findings))


@dataclass
class AuditResult:
    root: Path
    as_of: dt.date
    commit: str
    auditor: str
    deployments: list[DeploymentAudit]
    dirty: tuple[str, ...] = ()
    """Paths where the work tree the audit read differs from `commit` (with --allow-dirty)."""

    @property
    def status(self) -> str:
        return max((d.status for d in self.deployments), key=RANK.__getitem__, default=PASS)

    @property
    def ok(self) -> bool:
        return self.status != FAIL


def audit(
    root: Path,
    deployments: Sequence[str] = (),
    *,
    as_of: dt.date | None = None,
    remote: bool = False,
    reproduce: bool = False,
    parse_command: CommandParser,
    allow_dirty: bool = False,
) -> AuditResult:
    """Audit `deployments` (default: every Deployment) as of `as_of` (default: today);
    `parse_command` is the CLI's parser, which runbook steps are checked against. A work
    tree that differs from HEAD is a UsageError unless `allow_dirty`."""
    from toolkit.bridges.git import changed_paths, head_commit, user_identity
    from toolkit.core.templates import new_manifest_path
    from toolkit.workflows.artifacts.verify import load_graph

    as_of = as_of or dt.date.today()
    graph = load_graph(root)
    refs = list(deployments) or sorted(str(d.ref) for d in graph.of_kind(Deployment))
    if not refs:
        raise UsageError(f"{root}: no Deployment manifest to audit")
    commit = head_commit(root)
    # the Audit manifests this audit will write: left by an interrupted run of the same day,
    # they are replaced, not a reason to refuse
    planned = {
        new_manifest_path(root, "Audit", audit_name(ref, as_of)).relative_to(root).as_posix()
        for ref in refs
    }
    dirty = tuple(p for p in changed_paths(root, untracked_under="manifests") if p not in planned)
    if dirty and not allow_dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UsageError(
            f"{root}: the work tree differs from HEAD ({shown}); commit or stash the changes "
            "so that the audit reads the commit it records, or give --allow-dirty to audit "
            "the work tree and record that it was dirty"
        )
    validation = _validation(root)
    audits = []
    for ref in refs:
        deployment = graph.get_as(ref, Deployment)
        if deployment is None:
            raise UsageError(f"{ref}: no such Deployment (or it does not validate)")
        audited = _audit_one(
            root, graph, deployment, as_of, validation, parse_command, remote, reproduce
        )
        if dirty:
            audited.checks.insert(0, _worktree_check(root, commit, dirty))
        audits.append(audited)
    return AuditResult(root, as_of, commit, user_identity(root), audits, dirty)


def audit_name(deployment: str, as_of: dt.date) -> str:
    """The Audit manifest's name: one per deployment and day."""
    return f"{deployment.split('/', 1)[1]}-{as_of.isoformat()}"


def _worktree_check(root: Path, commit: str, dirty: tuple[str, ...]) -> Check:
    message = (
        f"the work tree differs from {commit[:12]} in {len(dirty)} path(s): the audit read "
        "uncommitted files (--allow-dirty)"
    )
    finding = Finding(
        None,
        0,
        message,
        None,
        None,
        "worktree",
        Severity.warning,
        "commit the changes and audit again for a record of one commit",
    )
    return Check("worktree", message, dirty, (finding,))


def _validation(root: Path) -> tuple[Finding, ...]:
    from toolkit.workflows.validation.validate import validate

    return validate(root).findings


def _audit_one(
    root: Path,
    graph: Graph,
    deployment: Deployment,
    as_of: dt.date,
    validation: tuple[Finding, ...],
    parse_command: CommandParser,
    remote: bool,
    run: bool,
) -> DeploymentAudit:
    result = DeploymentAudit(str(deployment.ref))
    runbook = graph.get_as(deployment.spec.runbook, Runbook)
    interval = runbook.spec.review_interval_days if runbook else 90
    result.checks += runbook_checks(graph, runbook, deployment, as_of, parse_command)
    result.checks.append(manifests_check(validation, root))
    result.checks += artifact_checks(root, graph, deployment, remote=remote)
    result.checks += evaluation_checks(graph, deployment, as_of, interval)
    result.checks += operations_checks(graph, deployment)
    result.previous, result.changes = changes_since_last_audit(root, deployment, as_of)
    result.checks.append(_changes_check(result.previous, result.changes))
    if run:
        result.reproduction = _reproduce(root, deployment)
        result.checks.append(_reproduce_check(deployment, result.reproduction))
    # evidence quotes runbook commands and changed values: no secret reaches a report or
    # the Audit manifest
    result.checks = [redacted_check(check) for check in result.checks]
    return result


# ------------------------------------------------------------------- changes and reproduce


def changes_since_last_audit(
    root: Path, deployment: Deployment, as_of: dt.date
) -> tuple[str | None, Diff]:
    from toolkit.workflows.audit.history import default_base, diff, last_audit_tag

    previous = last_audit_tag(root, str(deployment.ref), before=as_of)
    base = previous or default_base(root)
    result = diff(root, base, "HEAD")
    result.added = [r for r in result.added if not r.startswith("Audit/")]
    result.removed = [r for r in result.removed if not r.startswith("Audit/")]
    result.changes = [c for c in result.changes if not c.ref.startswith("Audit/")]
    return previous, result


def _changes_check(previous: str | None, changes: Diff) -> Check:
    since = f"since {previous}" if previous else f"since {changes.before} (no previous audit)"
    lines = changes.lines()
    return Check(
        "changes",
        f"{len(lines)} change(s) {since}" if lines else f"nothing changed {since}",
        tuple(lines),
    )


def _reproduce(root: Path, deployment: Deployment) -> Reproduction:
    from toolkit.workflows.reproduce.reproduce import reproduce

    return reproduce(root, str(deployment.ref), rev="HEAD")


def _reproduce_check(deployment: Deployment, reproduction: Reproduction) -> Check:
    failed = reproduction.failed
    if failed is not None:
        message = f"stage {failed.number} ({failed.name}): {failed.summary}"
        finding = Finding(None, 0, message, str(deployment.ref), None, "reproduce")
        return Check(
            "reproduce",
            message,
            tuple(f"{s.number}. {s.name}: {s.status}" for s in reproduction.stages),
            (finding,),
        )
    return Check(
        "reproduce",
        f"reproduced at {reproduction.commit[:12]} in {reproduction.seconds:.1f} s",
        tuple(f"{s.number}. {s.name}: {s.status} — {s.summary}" for s in reproduction.stages),
    )


# ---------------------------------------------------------------------------------- record


def record(result: AuditResult, report: str, report_format: str, path: str | None) -> list[str]:
    """Write one Audit manifest per deployment, commit them (with the report at `path`, when
    it is a file in the repository) and tag the commit; the tags. Everything is built before
    the first write; when the commit fails (the pre-commit hook, say) the manifests written
    are taken back, so the repository is as it was."""
    from toolkit.bridges.git import commit_and_tag
    from toolkit.workflows.audit.history import AUDIT_TAG_PREFIX

    digest = "sha256:" + hashlib.sha256(report.encode("utf-8")).hexdigest()
    documents = [
        _audit_document(result, audited, digest, report_format, path)
        for audited in result.deployments
    ]
    tags = [
        (
            f"{AUDIT_TAG_PREFIX}{audited.deployment.split('/', 1)[1]}/{result.as_of}",
            f"keel audit: {audited.status}",
        )
        for audited in result.deployments
    ]
    written = _write_all(result.root, documents)
    files = [str(p.relative_to(result.root)) for p in written]
    if path and (result.root / path).is_file():
        files.append(path)  # a report kept inside the repository is evidence too
    try:
        commit_and_tag(result.root, files, f"keel audit {result.as_of}: {result.status}", tags)
    except BaseException:
        _take_back(written)
        raise
    return [tag for tag, _ in tags]


def _audit_document(
    result: AuditResult, audited: DeploymentAudit, digest: str, report_format: str, path: str | None
) -> dict[str, Any]:
    name = audit_name(audited.deployment, result.as_of)
    report_record: dict[str, Any] = {"digest": digest, "format": report_format}
    if path:
        report_record["path"] = path
    spec: dict[str, Any] = {
        "deployment": audited.deployment,
        "date": result.as_of.isoformat(),
        "auditor": result.auditor,
        "commit": result.commit,
        "status": audited.status,
        "findings": [c.as_dict() for c in audited.checks],
        "report": report_record,
    }
    if audited.previous:
        spec["previous"] = audited.previous
    return {
        "apiVersion": "keel/v1",
        "kind": "Audit",
        "metadata": {
            "name": name,
            "owner": result.auditor,
            "description": f"Quarterly audit of {audited.deployment}: {audited.status}.",
        },
        "spec": spec,
    }


def _write_all(root: Path, documents: list[dict[str, Any]]) -> dict[Path, bytes | None]:
    """Write each Audit manifest (replacing the same day's); what was there before."""
    from toolkit.core.manifest_writer import create_manifest
    from toolkit.core.templates import new_manifest_path

    before: dict[Path, bytes | None] = {}
    try:
        for document in documents:
            name = document["metadata"]["name"]
            target = new_manifest_path(root, "Audit", name)
            before[target] = target.read_bytes() if target.is_file() else None
            target.unlink(missing_ok=True)  # a second audit the same day replaces the first
            create_manifest(root, "Audit", name, document)
    except BaseException:
        _take_back(before)
        raise
    return before


def _take_back(before: dict[Path, bytes | None]) -> None:
    from toolkit.core.fsutil import write_atomic

    for target, data in before.items():
        if data is None:
            target.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                target.parent.rmdir()  # only when the audit made it (it is empty then)
        else:
            write_atomic(target, data)
