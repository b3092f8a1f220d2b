"""The checks of `keel audit`: each looks at one part of a deployment as of a date and returns
`Check`s with a status (pass / warn / fail) and the evidence it saw."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.manifests import Dataset, Deployment, Evaluation, Requirements, Runbook

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.core.repository import Graph

PASS, WARN, FAIL = "pass", "warn", "fail"
# `keel ARGS` -> why it would not parse, or None (the CLI's parser, passed in by the CLI)
CommandParser = Callable[[list[str]], "str | None"]
RANK = {PASS: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Check:
    check: str
    status: str
    message: str
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"check": self.check, "status": self.status, "message": self.message}
        if self.evidence:
            data["evidence"] = list(self.evidence)
        return data


# ---------------------------------------------------------------------------- the runbook


def runbook_checks(
    graph: Graph,
    runbook: Runbook | None,
    deployment: Deployment,
    as_of: dt.date,
    parse_command: CommandParser,
) -> list[Check]:
    if runbook is None:
        return [Check("runbook", FAIL, f"{deployment.spec.runbook} does not exist")]
    spec = runbook.spec
    checks = [
        Check("runbook.owner", PASS, f"owned by {spec.owner}", (f"{runbook.ref} spec.owner",))
        if spec.owner.strip()
        else Check("runbook.owner", FAIL, f"{runbook.ref} spec.owner is empty")
    ]
    due = spec.last_reviewed + dt.timedelta(days=spec.review_interval_days)
    evidence = (
        f"lastReviewed {spec.last_reviewed}",
        f"reviewIntervalDays {spec.review_interval_days}",
        f"due {due}",
        f"as of {as_of}",
    )
    if as_of > due:
        checks.append(
            Check(
                "runbook.review",
                FAIL,
                f"{runbook.ref} review overdue by {(as_of - due).days} days "
                f"(last reviewed {spec.last_reviewed}, every {spec.review_interval_days} days)",
                evidence,
            )
        )
    else:
        checks.append(
            Check("runbook.review", PASS, f"reviewed {spec.last_reviewed}, due {due}", evidence)
        )
    steps = {"load": spec.steps.load, "serve": spec.steps.serve, "rollback": spec.steps.rollback}
    missing = [name for name, listed in steps.items() if not listed]
    checks.append(
        Check("runbook.steps", FAIL, f"{runbook.ref} has no {', '.join(missing)} step")
        if missing
        else Check(
            "runbook.steps",
            PASS,
            "load, serve and rollback steps present",
            tuple(f"{name}: {len(listed)} step(s)" for name, listed in steps.items()),
        )
    )
    checks.append(command_check(graph, runbook, steps, parse_command))
    return checks


def command_check(
    graph: Graph, runbook: Runbook, steps: dict[str, Any], parse_command: CommandParser
) -> Check:
    """Every `keel ...` command parses against keel's CLI and names manifests that exist;
    other commands are listed for a person to check."""
    problems, human, parsed = [], [], []
    for name, listed in steps.items():
        for index, step in enumerate(listed):
            where = f"spec.steps.{name}[{index}]"
            words = _split(step.command)
            if words is None:
                problems.append(f"{where}: cannot split `{step.command}` into words")
            elif words[:1] != ["keel"]:
                human.append(f"{where}: `{step.command}` (not a keel command: check by hand)")
            else:
                problem = keel_command_problem(graph, words[1:], parse_command)
                if problem:
                    problems.append(f"{where}: `{step.command}`: {problem}")
                else:
                    parsed.append(f"{where}: `{step.command}`")
    evidence = tuple(problems + parsed + human)
    if problems:
        return Check("runbook.commands", FAIL, f"{runbook.ref} {problems[0]}", evidence)
    return Check(
        "runbook.commands",
        PASS,
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


def manifests_check(validation: list[str]) -> Check:
    if validation:
        return Check(
            "manifests.valid",
            FAIL,
            f"{len(validation)} problem(s): {validation[0]}",
            tuple(validation[:20]),
        )
    return Check("manifests.valid", PASS, "every manifest validates")


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
            FAIL,
            f"{len(wrong)} file(s) differ from their manifests: {wrong[0].render()}",
            tuple(p.render() for p in wrong),
        )
    elif absent:
        local = Check(
            "artifacts.local",
            WARN,
            f"{result.checked - len(absent)} of {result.checked} files match; {len(absent)} not "
            "pulled here (run `keel pull` or audit --remote)",
            tuple(f"{p.file.relative}: not present" for p in absent),
        )
    else:
        local = Check("artifacts.local", PASS, f"all {result.checked} files match by sha256")
    checks = [local]
    if remote:
        checks.append(remote_check(root, graph, deployment))
    return checks


def remote_check(root: Path, graph: Graph, deployment: Deployment) -> Check:
    """Every DVC-tracked file the deployment needs is in the remote with the right sha256,
    read in place (a local remote) without downloading anything."""
    from toolkit.bridges import dvc
    from toolkit.core.artifacts import pinned_files

    files = [f for f in pinned_files(graph, [str(deployment.ref)]) if f.md5]
    if not files:
        return Check("artifacts.remote", WARN, "no DVC-tracked file to look for in the remote")
    found = dvc.remote_sha256s(root, [f.md5 or "" for f in files])
    if not found and files:
        return Check(
            "artifacts.remote",
            WARN,
            "the default DVC remote is not a local directory: presence not checked without "
            "downloading",
        )
    problems = []
    for file in files:
        digest = found.get(file.md5 or "")
        if digest is None:
            problems.append(f"{file.relative}: not in the DVC remote (md5 {file.md5})")
        elif digest != file.sha256:
            problems.append(
                f"{file.relative}: the remote holds sha256 {digest}, {file.ref} "
                f"spec.files[{file.index}].sha256 says {file.sha256}"
            )
    if problems:
        return Check("artifacts.remote", FAIL, problems[0], tuple(problems))
    return Check("artifacts.remote", PASS, f"all {len(files)} files in the remote match")


# ---------------------------------------------------------------------------- evaluations


def evaluation_checks(
    graph: Graph, deployment: Deployment, as_of: dt.date, interval: int
) -> list[Check]:
    evaluations = [
        e for e in (graph.get_as(r, Evaluation) for r in deployment.spec.evaluations) if e
    ]
    if not evaluations:
        return [Check("evaluation.fresh", FAIL, f"{deployment.ref} lists no Evaluation")]
    latest = max(evaluations, key=lambda e: e.spec.date)
    age = (as_of - latest.spec.date).days
    evidence = tuple(f"{e.ref}: {e.spec.date}" for e in evaluations)
    fresh = (
        Check(
            "evaluation.fresh",
            WARN,
            f"latest evaluation {latest.ref} is {age} days old, older than the "
            f"{interval}-day review interval: run `keel evaluate` again",
            evidence,
        )
        if age > interval
        else Check("evaluation.fresh", PASS, f"latest evaluation {age} days old", evidence)
    )
    return [fresh, requirements_check(graph, deployment, evaluations)]


def requirements_check(
    graph: Graph, deployment: Deployment, evaluations: list[Evaluation]
) -> Check:
    requirements = graph.get_as(deployment.spec.requirements, Requirements)
    if requirements is None:
        return Check("evaluation.requirements", FAIL, f"{deployment.spec.requirements} missing")
    problems: list[str] = []
    passed: list[str] = []
    for target in requirements.spec.quality:
        values = [
            (e.ref, e.spec.metric(target.metric))
            for e in evaluations
            if e.spec.dataset == target.dataset and e.spec.metric(target.metric) is not None
        ]
        if not values:
            problems.append(f"{target.metric} on {target.dataset}: no evaluation measures it")
        for ref, value in values:
            assert value is not None
            low = target.min is not None and value < target.min
            high = target.max is not None and value > target.max
            line = f"{ref} {target.metric} = {value} (min {target.min}, max {target.max})"
            (problems if low or high else passed).append(line)
    latency = requirements.spec.latency
    for evaluation in evaluations:
        measured = evaluation.spec.latency
        if measured is None or latency is None:
            continue
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            ceiling, value = getattr(latency, name, None), getattr(measured, name)
            if ceiling is not None:
                line = f"{evaluation.ref} latency {name[:3]} = {value} ms (ceiling {ceiling})"
                (problems if value > ceiling else passed).append(line)
    if problems:
        return Check("evaluation.requirements", FAIL, problems[0], tuple(problems + passed))
    return Check(
        "evaluation.requirements",
        PASS,
        f"the evaluations clear {requirements.ref} ({len(passed)} checks)",
        tuple(passed),
    )


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
    checks = [
        Check(
            "retraining",
            PASS if named and spec.retraining.owner.strip() else FAIL,
            f"owner {spec.retraining.owner}; triggers: {', '.join(named) or 'none'}",
        ),
        Check(
            "slos",
            PASS,
            f"p95 {spec.slos.latency_p95_ms} ms, p99 {spec.slos.latency_p99_ms} ms, "
            f"availability {spec.slos.availability}, error rate {spec.slos.error_rate}",
        ),
        Check(
            "monitoring.drift",
            PASS if spec.monitoring.drift.method.strip() else FAIL,
            f"{spec.monitoring.drift.method}, threshold {spec.monitoring.drift.threshold}",
            tuple(f"metric {m}" for m in spec.monitoring.metrics),
        ),
    ]
    canary = graph.get_as(spec.canary.dataset, Dataset)
    if canary is None:
        checks.append(Check("canary", FAIL, f"{spec.canary.dataset} does not exist"))
    elif not canary.spec.files or canary.spec.rows == 0:
        checks.append(Check("canary", FAIL, f"{canary.ref} pins no rows"))
    else:
        checks.append(
            Check(
                "canary",
                PASS,
                f"{canary.ref}: {canary.spec.rows} rows, {spec.canary.schedule}",
                tuple(f"{f.path} sha256 {f.sha256}" for f in canary.spec.files),
            )
        )
    return checks
