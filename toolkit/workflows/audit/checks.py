"""The checks of `keel audit`: each looks at one part of a deployment as of a date and returns
`Check`s (`toolkit.core.findings.CheckResult`): a record (name, one-line message, the evidence
it saw) whose problems are `Finding`s; the worst finding's severity is the check's status
(error: fail, warning: warn, none: pass)."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from toolkit.core.findings import FAIL as FAIL
from toolkit.core.findings import PASS as PASS
from toolkit.core.findings import RANK as RANK
from toolkit.core.findings import WARN as WARN
from toolkit.core.findings import CheckResult, Finding, Severity, located
from toolkit.core.reporters import relative
from toolkit.manifests import Dataset, Deployment, Runbook
from toolkit.workflows.audit.checklist_check import checklist_check
from toolkit.workflows.audit.live_check import live_canary_check

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.core.repository import Graph

# `keel ARGS` -> why it would not parse, or None (the CLI's parser, passed in by the CLI)
CommandParser = Callable[[list[str]], "str | None"]
Check = CheckResult  # the audit's name for it
failing = CheckResult.found


# ---------------------------------------------------------------------------- the runbook


def runbook_checks(
    graph: Graph,
    runbook: Runbook | None,
    deployment: Deployment,
    as_of: dt.date,
    parse_command: CommandParser,
) -> list[Check]:
    if runbook is None:
        missing = f"{deployment.spec.runbook} does not exist"
        return [failing("runbook", graph, deployment, ("spec", "runbook"), missing)]
    spec = runbook.spec
    owner = (
        Check("runbook.owner", f"owned by {spec.owner}", (f"{runbook.ref} spec.owner",))
        if spec.owner.strip()
        else failing(
            "runbook.owner",
            graph,
            runbook,
            ("spec", "owner"),
            "empty",
            summary=f"{runbook.ref} spec.owner is empty",
        )
    )
    steps = {"load": spec.steps.load, "serve": spec.steps.serve, "rollback": spec.steps.rollback}
    return [
        owner,
        review_check(graph, runbook, as_of),
        steps_check(graph, runbook, steps),
        command_check(graph, runbook, steps, parse_command),
    ]


def review_check(graph: Graph, runbook: Runbook, as_of: dt.date) -> Check:
    """The runbook was reviewed within its interval before `as_of`."""
    spec = runbook.spec
    due = spec.last_reviewed + dt.timedelta(days=spec.review_interval_days)
    evidence = (
        f"lastReviewed {spec.last_reviewed}",
        f"reviewIntervalDays {spec.review_interval_days}",
        f"due {due}",
        f"as of {as_of}",
    )
    if as_of <= due:
        return Check("runbook.review", f"reviewed {spec.last_reviewed}, due {due}", evidence)
    overdue = (
        f"review overdue by {(as_of - due).days} days "
        f"(last reviewed {spec.last_reviewed}, every {spec.review_interval_days} days)"
    )
    return failing(
        "runbook.review",
        graph,
        runbook,
        ("spec", "lastReviewed"),
        overdue,
        summary=f"{runbook.ref} {overdue}",
        evidence=evidence,
        hint="review the runbook with its owner, then set spec.lastReviewed",
    )


def steps_check(graph: Graph, runbook: Runbook, steps: dict[str, Any]) -> Check:
    missing = [name for name, listed in steps.items() if not listed]
    if not missing:
        return Check(
            "runbook.steps",
            "load, serve and rollback steps present",
            tuple(f"{name}: {len(listed)} step(s)" for name, listed in steps.items()),
        )
    findings = tuple(
        located(graph, runbook, ("spec", "steps", name), f"no {name} step", "runbook.steps")
        for name in missing
    )
    return Check("runbook.steps", f"{runbook.ref} has no {', '.join(missing)} step", (), findings)


def command_check(
    graph: Graph, runbook: Runbook, steps: dict[str, Any], parse_command: CommandParser
) -> Check:
    """Every `keel ...` command parses against keel's CLI and names manifests that exist;
    other commands are listed for a person to check."""
    problems, human, parsed = [], [], []
    findings: list[Finding] = []
    for name, listed in steps.items():
        for index, step in enumerate(listed):
            where = f"spec.steps.{name}[{index}]"
            words = _split(step.command)
            if words is None:
                problem: str | None = f"cannot split `{step.command}` into words"
            elif words[:1] != ["keel"]:
                human.append(f"{where}: `{step.command}` (not a keel command: check by hand)")
                continue
            else:
                problem = keel_command_problem(graph, words[1:], parse_command)
                problem = f"`{step.command}`: {problem}" if problem else None
            if problem is None:
                parsed.append(f"{where}: `{step.command}`")
                continue
            problems.append(f"{where}: {problem}")
            location = ("spec", "steps", name, index, "command")
            findings.append(located(graph, runbook, location, problem, "runbook.commands"))
    evidence = tuple(problems + parsed + human)
    if problems:
        message = f"{runbook.ref} {problems[0]}"
        return Check("runbook.commands", message, evidence, tuple(findings))
    return Check(
        "runbook.commands",
        f"{len(parsed)} keel command(s) parse; {len(human)} other(s) listed for a person",
        evidence,
    )


def _split(command: str) -> list[str] | None:
    try:
        return shlex.split(command)
    except ValueError:
        return None


def keel_command_problem(graph: Graph, args: list[str], parse_command: CommandParser) -> str | None:
    """Why `keel ARGS` would not run as written, or None: the command and its options are
    checked by the CLI's own parser (given by the caller: workflows do not import the CLI),
    without running anything; Kind/name arguments must exist."""
    problem = parse_command(args)
    if problem:
        return problem
    missing = [a for a in args[1:] if _looks_like_ref(a) and graph.get(a) is None]
    return f"{missing[0]} does not exist" if missing else None


def _looks_like_ref(word: str) -> bool:
    from toolkit.manifests import KINDS

    kind, _, name = word.partition("/")
    return kind in KINDS and bool(name)


# ---------------------------------------------------------------------- manifests, artifacts


def manifests_check(validation: Sequence[Finding], root: Path) -> Check:
    """What `keel validate` found in the whole repository: its findings are this check's."""
    if not validation:
        return Check("manifests.valid", "every manifest validates")
    lines = [relative(f, root).render() for f in validation]
    return Check(
        "manifests.valid",
        f"{len(lines)} problem(s): {lines[0]}",
        tuple(lines[:20]),
        tuple(validation),
    )


def artifact_checks(
    root: Path, graph: Graph, deployment: Deployment, *, remote: bool
) -> list[Check]:
    from toolkit.workflows.artifacts.verify import MISSING, verify

    result = verify(root, [str(deployment.ref)], graph=graph)
    absent = [p for p in result.problems if p.message == MISSING]
    wrong = [p for p in result.problems if p.message != MISSING]
    if wrong:
        local = Check(
            "artifacts.local",
            f"{len(wrong)} file(s) differ from their manifests: {wrong[0].render()}",
            tuple(p.render() for p in wrong),
            tuple(p.finding(graph) for p in wrong),
        )
    elif absent:
        local = Check(
            "artifacts.local",
            f"{result.checked - len(absent)} of {result.checked} files match; {len(absent)} not "
            "pulled here (run `keel pull` or audit --remote)",
            tuple(f"{p.file.relative}: not present" for p in absent),
            tuple(replace(p.finding(graph), severity=Severity.warning) for p in absent),
        )
    else:
        local = Check("artifacts.local", f"all {result.checked} files match by sha256")
    checks = [local]
    if remote:
        checks.append(remote_check(root, graph, deployment))
    return checks


def remote_check(root: Path, graph: Graph, deployment: Deployment) -> Check:
    """Every DVC-tracked file the deployment needs is in the remote with the right sha256,
    read in place (a local remote) without downloading anything."""
    from toolkit.bridges import dvc
    from toolkit.core.artifacts import pinned_files
    from toolkit.workflows.artifacts.verify import Problem

    def warned(message: str) -> Check:
        return failing(
            "artifacts.remote", graph, deployment, (), message, severity=Severity.warning
        )

    files = [f for f in pinned_files(graph, [str(deployment.ref)]) if f.md5]
    if not files:
        return warned("no DVC-tracked file to look for in the remote")
    found = dvc.remote_sha256s(root, [f.md5 or "" for f in files])
    if not found and files:
        return warned(
            "the default DVC remote is not a local directory: presence not checked without "
            "downloading"
        )
    problems = []
    for file in files:
        digest = found.get(file.md5 or "")
        if digest is None:
            problems.append(Problem(file, "md5", f"not in the DVC remote (md5 {file.md5})"))
        elif digest != file.sha256:
            problems.append(
                Problem(
                    file,
                    "sha256",
                    f"the remote holds sha256 {digest}, {file.ref} "
                    f"spec.files[{file.index}].sha256 says {file.sha256}",
                )
            )
    if problems:
        findings = tuple(replace(p.finding(graph), check="artifacts.remote") for p in problems)
        lines = tuple(p.render() for p in problems)
        return Check("artifacts.remote", lines[0], lines, findings)
    return Check("artifacts.remote", f"all {len(files)} files in the remote match")


# ---------------------------------------------------------------------------- evaluations


def evaluation_checks(
    graph: Graph, deployment: Deployment, as_of: dt.date, interval: int
) -> list[Check]:
    """How old the evidence is (the audit's own, date-dependent part), and the requirements
    gate of `keel validate` as of `as_of` (`toolkit.core.checks.requirements`)."""
    from toolkit.core.checks.requirements import counted_evaluations

    evaluations = counted_evaluations(graph, deployment, as_of)
    return [
        fresh_check(graph, deployment, evaluations, as_of, interval),
        requirements_check(graph, deployment, as_of),
        live_canary_check(graph, deployment, as_of),
    ]


def fresh_check(
    graph: Graph, deployment: Deployment, evaluations: list[Any], as_of: dt.date, interval: int
) -> Check:
    """The newest Evaluation that counts is younger than the review interval."""
    if not evaluations:
        return failing(
            "evaluation.fresh",
            graph,
            deployment,
            ("spec", "evaluations"),
            f"{deployment.ref} lists no Evaluation of itself dated by {as_of}",
            hint="run `keel evaluate` on the Deployment and list the Evaluation here",
        )
    latest = max(evaluations, key=lambda e: e.spec.date)
    age = (as_of - latest.spec.date).days
    evidence = tuple(f"{e.ref}: {e.spec.date}" for e in evaluations)
    if age <= interval:
        return Check("evaluation.fresh", f"latest evaluation {age} days old", evidence)
    return failing(
        "evaluation.fresh",
        graph,
        latest,
        ("spec", "date"),
        f"{age} days old, older than the {interval}-day review interval",
        summary=f"latest evaluation {latest.ref} is {age} days old, older than the "
        f"{interval}-day review interval: run `keel evaluate` again",
        evidence=evidence,
        severity=Severity.warning,
        hint=f"run `keel evaluate {latest.ref}` again",
    )


def requirements_check(graph: Graph, deployment: Deployment, as_of: dt.date) -> Check:
    """`keel validate`'s requirements gate as of `as_of`: its findings, and as evidence the
    values that clear their bounds."""
    from toolkit.core.checks.requirements import assess

    assessment = assess(graph, deployment, as_of)
    name = "evaluation.requirements"
    if assessment is None:
        missing = f"{deployment.spec.requirements} missing"
        return failing(name, graph, deployment, ("spec", "requirements"), missing)
    findings, cleared = assessment.findings, assessment.cleared
    if findings:
        evidence = tuple(f.message for f in findings) + cleared
        return Check(name, findings[0].message, evidence, findings)
    if not assessment.counted:  # no listed Evaluation exists: the reference check says which
        unmeasured = (
            f"no Evaluation of {deployment.ref} to hold against {assessment.requirements.ref}"
        )
        return failing(name, graph, deployment, ("spec", "evaluations"), unmeasured)
    summary = f"the evaluations clear {assessment.requirements.ref} ({len(cleared)} checks)"
    return Check(name, summary, cleared)


# -------------------------------------------------------------------------------- operations


def operations_checks(graph: Graph, deployment: Deployment) -> list[Check]:
    spec = deployment.spec
    triggers = spec.retraining.triggers
    named = [
        name
        for name, present in (
            ("metricDrop", triggers.metric_drop is not None),
            ("driftThreshold", triggers.drift_threshold is not None),
            ("newBaseModel", triggers.new_base_model),
        )
        if present
    ]
    retraining = f"owner {spec.retraining.owner}; triggers: {', '.join(named) or 'none'}"
    lacking = [
        located(graph, deployment, ("spec", "retraining", field), message, "retraining")
        for field, message, ok in (
            ("owner", "no retraining owner", spec.retraining.owner.strip()),
            ("triggers", "no retraining trigger", named),
        )
        if not ok
    ]
    drift = spec.monitoring.drift
    monitoring = Check(
        "monitoring.drift",
        f"{drift.method}, threshold {drift.threshold}",
        tuple(f"metric {m}" for m in spec.monitoring.metrics),
    )
    if not drift.method.strip():
        location = ("spec", "monitoring", "drift", "method")
        finding = located(graph, deployment, location, "no drift method", "monitoring.drift")
        monitoring = replace(monitoring, findings=(finding,))
    slos = spec.slos
    return [
        Check("retraining", retraining, (), tuple(lacking)),
        Check(
            "slos",
            f"p95 {slos.latency_p95_ms} ms, p99 {slos.latency_p99_ms} ms, "
            f"availability {slos.availability}, error rate {slos.error_rate}",
        ),
        monitoring,
        canary_check(graph, deployment),
        checklist_check(graph, deployment),
    ]


def canary_check(graph: Graph, deployment: Deployment) -> Check:
    canary_ref = deployment.spec.canary.dataset
    canary = graph.get_as(canary_ref, Dataset)
    if canary is None:
        missing = f"{canary_ref} does not exist"
        return failing("canary", graph, deployment, ("spec", "canary", "dataset"), missing)
    if not canary.spec.files or canary.spec.rows == 0:
        return failing("canary", graph, canary, ("spec", "rows"), f"{canary.ref} pins no rows")
    return Check(
        "canary",
        f"{canary.ref}: {canary.spec.rows} rows, {deployment.spec.canary.schedule}",
        tuple(f"{f.path} sha256 {f.sha256}" for f in canary.spec.files),
    )
