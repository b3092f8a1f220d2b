"""`keel reproduce`: stand a deployment back up from a clean checkout and the manifests alone.

Stages run in order and stop at the first failure; each returns a `StageResult` naming what
it checked, how long it took, and, when it fails, the manifest field involved. Nothing reads
the user's working tree: REV is cloned into a work directory and DVC pulls into that clone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import KeelError, UsageError
from toolkit.manifests import Deployment, Evaluation

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolkit.bridges.ml import Encoder
    from toolkit.core.repository import Graph
    from toolkit.workflows.evaluation.pipeline import Subject

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
EXACT, WITHIN_TOLERANCE = "exact", "within tolerance"


class StageFailed(Exception):
    """Raised inside a stage: the one-line reason and what the report should show."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


@dataclass
class StageResult:
    number: int
    name: str
    status: str
    seconds: float = 0.0
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What the stages share; each stage fills in what the next ones need."""

    source: Path
    deployment_ref: str
    rev: str
    workdir: Path
    serve: bool
    commit: str = ""
    graph: Graph | None = None
    deployment: Deployment | None = None
    subject: Subject | None = None
    tokenizer: Any = None
    model: Any = None
    encoder: Encoder | None = None
    base_digest: str | None = None
    canary_outputs: Any = None
    canary_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Reproduction:
    deployment: str
    rev: str
    commit: str
    workdir: str
    stages: list[StageResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.status != FAILED for s in self.stages) and bool(self.stages)

    @property
    def failed(self) -> StageResult | None:
        return next((s for s in self.stages if s.status == FAILED), None)


Stage = tuple[str, "Callable[[Context], tuple[str, dict[str, Any]]]"]


def reproduce(
    source: Path,
    deployment: str,
    *,
    rev: str = "HEAD",
    workdir: Path | None = None,
    serve: bool = False,
    on_stage: Callable[[StageResult], None] | None = None,
) -> Reproduction:
    """Run every stage for `deployment` at `rev` of the repository at `source`."""
    if not deployment.startswith("Deployment/"):
        raise UsageError(f"{deployment}: give a deployment as Deployment/<name>")
    temporary = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="keel-reproduce-")) if workdir is None else workdir
    context = Context(source.resolve(), deployment, rev, directory.resolve(), serve)
    stages: list[Stage] = [
        ("validate", stage_validate),
        ("pull", stage_pull),
        ("load", stage_load),
        ("adapter", stage_adapter),
        ("quantize", stage_quantize),
        ("canary", stage_canary),
        ("serve", stage_serve),
    ]
    results: list[StageResult] = []
    start = time.perf_counter()
    try:
        for number, (name, run) in enumerate(stages, 1):
            result = _run_stage(
                number, name, run, context, failed=any(r.status == FAILED for r in results)
            )
            results.append(result)
            if on_stage is not None:
                on_stage(result)
    finally:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
    return Reproduction(
        deployment,
        rev,
        context.commit,
        "(temporary, removed)" if temporary else str(context.workdir),
        results,
        time.perf_counter() - start,
    )


def _run_stage(
    number: int,
    name: str,
    run: Callable[[Context], tuple[str, dict[str, Any]]],
    context: Context,
    *,
    failed: bool,
) -> StageResult:
    if failed:
        return StageResult(number, name, SKIPPED, summary="not run: an earlier stage failed")
    start = time.perf_counter()
    try:
        summary, details = run(context)
        status = SKIPPED if details.pop("skipped", False) else PASSED
    except StageFailed as failure:
        summary, details, status = str(failure), failure.details, FAILED
    except KeelError as error:
        summary, details, status = str(error), {}, FAILED
    except Exception as error:  # a library failing mid-stage is that stage's failure
        if os.environ.get("KEEL_DEBUG"):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        summary = f"unexpected {type(error).__name__}: {first} (KEEL_DEBUG=1 shows where)"
        details, status = {}, FAILED
    return StageResult(number, name, status, time.perf_counter() - start, summary, details)


# 1 ----------------------------------------------------------------------------------------


def stage_validate(context: Context) -> tuple[str, dict[str, Any]]:
    """Clone REV into the work directory and validate its manifests."""
    from toolkit.bridges.git import clone_at
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.validation.validate import validate

    context.commit = clone_at(context.source, context.rev, context.workdir)
    result = validate(context.workdir)
    errors = [f for f in result.findings if f.severity == "error"]
    if errors:
        lines = [_relative(f.render(), context.workdir) for f in errors]
        raise StageFailed(_first(lines), commit=context.commit, findings=lines)
    context.graph = load_graph(context.workdir)
    manifest = context.graph.get_as(context.deployment_ref, Deployment)
    if manifest is None:
        raise StageFailed(f"{context.deployment_ref}: no such deployment at {context.rev}")
    context.deployment = manifest
    return (
        f"{len(context.graph.entries)} manifests valid at {context.commit[:12]}",
        {"commit": context.commit, "manifests": len(context.graph.entries)},
    )


def _relative(line: str, workdir: Path) -> str:
    return line.replace(f"{workdir}/", "")


def _first(lines: list[str]) -> str:
    """The first problem, and how many more there are."""
    return lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")


# 2 ----------------------------------------------------------------------------------------


def stage_pull(context: Context) -> tuple[str, dict[str, Any]]:
    """Pull what the deployment needs through DVC and verify every sha256."""
    from toolkit.workflows.artifacts.transfer import pull

    transfer = pull(context.workdir, [context.deployment_ref], use_cache=False)
    assert transfer.verification is not None
    problems = transfer.verification.problems
    if problems:
        first = problems[0]
        raise StageFailed(
            f"{first.render()} ({first.file.ref} spec.files[{first.file.index}].{first.field})",
            problems=[p.render() for p in problems],
        )
    if transfer.not_in_dvc:
        missing = [p for p in transfer.not_in_dvc if not (context.workdir / p).is_file()]
        if missing:
            raise StageFailed(f"{missing[0]}: not in git and not tracked by DVC")
    return (
        f"{transfer.verification.checked} files verified by sha256",
        {
            "files": transfer.verification.checked,
            "pulled": transfer.transferred,
            "bytesHashed": transfer.verification.bytes_hashed,
        },
    )


# 3 ----------------------------------------------------------------------------------------


def stage_load(context: Context) -> tuple[str, dict[str, Any]]:
    """Load tokenizer and base model from the pulled files only; check them against the
    Tokenizer and the Model manifests."""
    from toolkit.bridges import ml
    from toolkit.bridges.heads import load_model_for
    from toolkit.workflows.evaluation import pipeline

    assert context.graph is not None
    subject = pipeline.resolve(
        context.graph, context.deployment_ref, merge_adapter=_protocol_merge(context)
    )
    context.subject = subject
    context.tokenizer = ml.load_tokenizer(
        pipeline.directory(context.workdir, subject.tokenizer.spec)
    )
    context.model = load_model_for(
        pipeline.directory(context.workdir, subject.model.spec), canary_task(context)
    )
    problems = pipeline.check_tokenizer(context.tokenizer, subject.tokenizer)
    problems += pipeline.check_model(context.model, subject.model)
    if problems:
        lines = [p.render() for p in problems]
        raise StageFailed(_first(lines), mismatches=lines)
    return (
        f"{subject.tokenizer.ref} and {subject.model.ref} match their manifests",
        {
            "tokenizer": {
                "class": type(context.tokenizer).__name__,
                "vocabSize": int(context.tokenizer.vocab_size),
                "maxLength": int(context.tokenizer.model_max_length),
            },
            "model": {
                "class": type(context.model).__name__,
                "parameters": subject.model.spec.parameters,
            },
            "versions": ml.environment_fingerprint(),
        },
    )


def canary_task(context: Context) -> str:
    """The task the canary Evaluation ran (which model head to load); retrieval by default."""
    evaluation = canary_evaluation(context)
    return evaluation.spec.protocol.task if evaluation and evaluation.spec.protocol else "retrieval"


def _protocol_merge(context: Context) -> bool:
    evaluation = canary_evaluation(context)
    return bool(evaluation and evaluation.spec.protocol and evaluation.spec.protocol.merge_adapter)


# 4 ----------------------------------------------------------------------------------------


def stage_adapter(context: Context) -> tuple[str, dict[str, Any]]:
    """Check the adapter's binding to the verified base weights, then apply it with peft."""
    from toolkit.bridges.adapters import apply_adapter
    from toolkit.workflows.evaluation import pipeline

    subject = context.subject
    assert subject is not None
    if subject.adapter is None:
        return "the deployment has no adapter", {"skipped": True}
    # stage 2 checked every weight file's sha256 and tensor digest against the Model, so its
    # recorded weights digest is the digest of the base on disk: no need to hash it again
    context.base_digest = subject.model.weights_digest()
    problems = pipeline.check_adapter(
        context.workdir, context.model, subject.adapter, context.base_digest
    )
    if problems:
        lines = [p.render() for p in problems]
        raise StageFailed(_first(lines), mismatches=lines, baseDigest=context.base_digest)
    folder = pipeline.directory(context.workdir, subject.adapter.spec)
    context.model = apply_adapter(context.model, folder, merge=subject.merge_adapter)
    how = "merged into the base" if subject.merge_adapter else "applied as LoRA layers"
    return (
        f"{subject.adapter.ref} bound to {context.base_digest}, {how}",
        {
            "adapter": subject.adapter.ref,
            "baseDigest": context.base_digest,
            "merged": subject.merge_adapter,
        },
    )


# 5 ----------------------------------------------------------------------------------------


def stage_quantize(context: Context) -> tuple[str, dict[str, Any]]:
    """Re-run the Quantization recipe on the verified weights and check the tensor digest."""
    from toolkit.bridges.quantize import quantize

    subject = context.subject
    assert subject is not None
    if subject.quantization is None:
        return "the deployment is not quantized", {"skipped": True}
    spec = subject.quantization.spec
    result = quantize(context.model, spec.scheme, spec.recipe)
    context.model = result.model
    recorded = spec.result.tensor_digest
    details = {
        "scheme": spec.scheme,
        "recipe": f"{spec.recipe.library} {spec.recipe.config}",
        "quantizedModules": result.quantized_modules,
        "tensorDigest": result.tensor_digest,
        "recorded": recorded,
    }
    if recorded is None:
        return f"{spec.scheme} applied; no digest recorded to compare with", details
    if recorded != result.tensor_digest:
        raise StageFailed(
            f"{subject.quantization.ref} spec.result.tensorDigest: recorded {recorded}, "
            f"re-running the recipe gives {result.tensor_digest}",
            **details,
        )
    return f"{spec.scheme} via {spec.recipe.config}: tensor digest matches", details


# 6 ----------------------------------------------------------------------------------------


def canary_evaluation(context: Context) -> Evaluation | None:
    """The deployment's own Evaluation on its canary dataset: what reproduce compares with."""
    graph, deployment = context.graph, context.deployment
    if graph is None or deployment is None:
        return None
    for ref in deployment.spec.evaluations:
        evaluation = graph.get_as(ref, Evaluation)
        if (
            evaluation is not None
            and evaluation.spec.subject == deployment.ref
            and evaluation.spec.dataset == deployment.spec.canary.dataset
        ):
            return evaluation
    return None


def stage_canary(context: Context) -> tuple[str, dict[str, Any]]:
    from toolkit.workflows.reproduce.canary import compare_canary

    return compare_canary(context)


# 7 ----------------------------------------------------------------------------------------


def stage_serve(context: Context) -> tuple[str, dict[str, Any]]:
    if not context.serve:
        return "not asked for (--serve)", {"skipped": True}
    from toolkit.workflows.reproduce.canary import serve_canary

    return serve_canary(context)
