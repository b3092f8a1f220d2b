"""`keel reproduce`: stand a deployment back up from a clean checkout and the manifests alone.

The stages are functions of values (stages.py, canary.py, serve.py): each takes the `Request`
and the frozen results of the stages before it and returns its own. The runner here calls
them in order, stops at the first failure and reports the rest as skipped; every stage ends
as a `StageResult` (status, summary, details, findings, seconds), and the report is rendered
from those alone. Nothing reads the user's working tree: REV is cloned into a work directory
and DVC pulls into that clone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolkit.core.errors import KeelError, UsageError
from toolkit.core.findings import Finding
from toolkit.workflows.reproduce.canary import compare_canary
from toolkit.workflows.reproduce.results import (
    CHECK,
    Adapted,
    CanaryOutcome,
    CheckedOut,
    Loaded,
    Match,
    Quantized,
    Reported,
    Reproduction,
    Request,
    StageFailed,
    StageResult,
    Status,
)
from toolkit.workflows.reproduce.serve import serve_canary
from toolkit.workflows.reproduce.stages import (
    adapt,
    check_out,
    load_checked,
    pull_verified,
    requantize,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "EXACT",
    "FAILED",
    "PASSED",
    "SKIPPED",
    "STAGES",
    "WITHIN_TOLERANCE",
    "Done",
    "Reproduction",
    "Stage",
    "StageResult",
    "Status",
    "reproduce",
    "run_stages",
]

# the names callers compared with before the enums; still equal to "passed", "exact", ...
PASSED, FAILED, SKIPPED = Status.passed, Status.failed, Status.skipped
EXACT, WITHIN_TOLERANCE = Match.exact, Match.within_tolerance

NOT_RUN = "not run: an earlier stage failed"

T = TypeVar("T")


@dataclass(frozen=True)
class Done:
    """The results of the stages that passed (or were skipped on purpose), in order."""

    results: tuple[Reported, ...] = ()

    def of(self, kind: type[T]) -> T:
        """The result of type `kind`; a stage asking for one that has not run is keel's bug
        (the order of `STAGES`), not the user's."""
        for result in self.results:
            if isinstance(result, kind):
                return result
        raise LookupError(f"no {kind.__name__} yet: a stage needs one that runs before it")

    def find(self, kind: type[T]) -> T | None:
        return next((r for r in self.results if isinstance(r, kind)), None)

    def plus(self, result: Reported) -> Done:
        return Done((*self.results, result))


@dataclass(frozen=True)
class Stage:
    """A name for the report and the function that runs the stage on what came before."""

    name: str
    run: Callable[[Request, Done], Reported]


STAGES: tuple[Stage, ...] = (
    Stage("validate", lambda request, done: check_out(request)),
    Stage("pull", lambda request, done: pull_verified(request, done.of(CheckedOut))),
    Stage("load", lambda request, done: load_checked(request, done.of(CheckedOut))),
    Stage("adapter", lambda request, done: adapt(done.of(CheckedOut), done.of(Loaded))),
    Stage(
        "quantize",
        lambda request, done: requantize(done.of(CheckedOut), done.of(Loaded), done.of(Adapted)),
    ),
    Stage(
        "canary",
        lambda request, done: compare_canary(
            done.of(CheckedOut), done.of(Loaded), done.of(Quantized)
        ),
    ),
    Stage(
        "serve",
        lambda request, done: serve_canary(
            request,
            done.of(CheckedOut),
            done.of(CanaryOutcome),
            done.find(Loaded),
            done.find(Quantized),
        ),
    ),
)
"""The stages in order. No later stage reads stage 2's `Pulled`, but they all rely on it: once
every sha256 is verified, the digests the manifests record are those of the files on disk."""


def reproduce(
    source: Path,
    deployment: str,
    *,
    rev: str = "HEAD",
    workdir: Path | None = None,
    serve: bool = False,
    remote: str | None = None,
    on_stage: Callable[[StageResult], None] | None = None,
) -> Reproduction:
    """Run every stage for `deployment` at `rev` of the repository at `source`."""
    if not deployment.startswith("Deployment/"):
        raise UsageError(f"{deployment}: give a deployment as Deployment/<name>")
    if workdir is not None and workdir.resolve().is_relative_to(source.resolve()):
        raise UsageError(
            f"--workdir {workdir}: inside the repository {source.resolve()}; the clone's "
            "manifests would mix with its own: give a directory outside it"
        )
    temporary = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="keel-reproduce-")) if workdir is None else workdir
    request = Request(source.resolve(), deployment, rev, directory.resolve(), serve, remote)
    start = time.perf_counter()
    try:
        results, done = run_stages(request, STAGES, on_stage)
    finally:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
    return Reproduction(
        deployment,
        rev,
        _commit(results, done),
        "(temporary, removed)" if temporary else str(request.workdir),
        results,
        time.perf_counter() - start,
    )


def run_stages(
    request: Request,
    stages: Sequence[Stage] = STAGES,
    on_stage: Callable[[StageResult], None] | None = None,
) -> tuple[tuple[StageResult, ...], Done]:
    """Run `stages` in order; after the first failure the rest are reported as skipped."""
    results: list[StageResult] = []
    done = Done()
    for number, stage in enumerate(stages, 1):
        if any(r.status == Status.failed for r in results):
            result = StageResult(number, stage.name, Status.skipped, summary=NOT_RUN)
        else:
            result, value = run_stage(number, stage, request, done)
            done = done if value is None else done.plus(value)
        results.append(result)
        if on_stage is not None:
            on_stage(result)
    return tuple(results), done


def run_stage(
    number: int, stage: Stage, request: Request, done: Done
) -> tuple[StageResult, Reported | None]:
    """One stage: its `StageResult` and its result, or a failed `StageResult` saying why and
    no result. A library failing mid-stage is that stage's failure (KEEL_DEBUG=1 re-raises)."""
    findings: tuple[Finding, ...] = ()
    details: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        value = stage.run(request, done)
    except StageFailed as failure:
        summary, details, findings = failure.summary, failure.details, failure.findings
    except UsageError:
        raise  # the request itself is wrong (a revision, a deployment, a directory): exit 2
    except KeelError as error:
        summary = str(error)
    except Exception as error:
        if os.environ.get("KEEL_DEBUG"):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        summary = f"unexpected {type(error).__name__}: {first} (KEEL_DEBUG=1 shows where)"
    else:
        seconds = time.perf_counter() - start
        return (
            StageResult(number, stage.name, value.status, seconds, value.summary, value.details),
            value,
        )
    # every failure names at least one error finding, each checked as reproduce.<stage>
    check = f"{CHECK}.{stage.name}"
    stamped = tuple(replace(f, check=check) for f in findings)
    return (
        StageResult(
            number,
            stage.name,
            Status.failed,
            time.perf_counter() - start,
            summary,
            details,
            stamped or (Finding(None, 0, summary, check=check),),
        ),
        None,
    )


def _commit(results: Sequence[StageResult], done: Done) -> str:
    """The commit stage 1 cloned: from its result, or from its details when the manifests
    at that commit did not validate."""
    checked = done.find(CheckedOut)
    if checked is not None:
        return checked.commit
    first = results[0].details.get("commit", "") if results else ""
    return str(first)
