"""Reproduce stages 1 to 5: check out and validate, pull and verify, load, adapter, quantize.

Each is a function of the `Request` and the frozen results of the stages before it, and
returns its own frozen result or raises `StageFailed` naming the manifest and the field.
Nothing reads the user's working tree: REV is cloned into the work directory and DVC pulls
into that clone.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.core.findings import Finding
from toolkit.manifests import Deployment
from toolkit.workflows.reproduce.results import (
    CHECK,
    Adapted,
    CheckedOut,
    Loaded,
    Pulled,
    Quantized,
    StageFailed,
    manifest_finding,
    relative,
)

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.core.repository import Graph
    from toolkit.manifests import Tokenizer
    from toolkit.workflows.evaluation.pipeline import Mismatch
    from toolkit.workflows.reproduce.results import Request


# 1 ----------------------------------------------------------------------------------------


def check_out(request: Request) -> CheckedOut:
    """Clone REV into the work directory, validate its manifests, find the deployment."""
    from toolkit.bridges.git import clone_at

    commit = clone_at(request.source, request.rev, request.workdir)
    _carry_local_dvc_config(request.source, request.workdir)
    graph, errors = validated_graph(request.workdir)
    if errors:
        lines = [_relative_text(f.render(), request.workdir) for f in errors]
        raise StageFailed(
            _first(lines),
            findings=tuple(_relative_finding(f, request.workdir) for f in errors),
            details={"commit": commit, "findings": lines},
        )
    deployment = graph.get_as(request.deployment, Deployment)
    if deployment is None:
        known = sorted(str(d.ref) for d in graph.of_kind(Deployment))
        raise UsageError(
            f"{request.deployment}: no such deployment at {request.rev} "
            f"({', '.join(known) or 'none'} there)"
        )
    return CheckedOut(
        commit, request.workdir, graph, deployment, graph.canary_evaluation(deployment)
    )


def _carry_local_dvc_config(source: Path, clone: Path) -> None:
    """DVC's per-clone settings (remote credentials, a remote's local path) live in
    .dvc/config.local, which git ignores; the clone needs them to reach the same remote.
    DVC's global and system configuration apply to every repository by themselves."""
    local = source / ".dvc" / "config.local"
    if local.is_file() and (clone / ".dvc").is_dir():
        shutil.copyfile(local, clone / ".dvc" / "config.local")


def validated_graph(root: Path) -> tuple[Graph, list[Finding]]:
    """The manifests graph of the clone, built once, and the errors `keel validate` would
    report on it (the same checks, without building the graph a second time)."""
    from toolkit.core.checks import run_checks
    from toolkit.core.layout import MANIFEST_DIR
    from toolkit.core.repository import build_graph, manifest_files

    tree = root / MANIFEST_DIR
    if not tree.is_dir():
        raise UsageError(f"{tree}: no manifests/ directory here; run `keel init` or name the files")
    files, path_findings = manifest_files(root, [tree])
    graph = build_graph(root, files)
    findings = sorted({*path_findings, *graph.findings, *run_checks(graph)})
    return graph, [f for f in findings if f.severity == "error"]


def _relative_text(line: str, workdir: Path) -> str:
    return line.replace(f"{workdir}/", "")


def _relative_finding(finding: Finding, workdir: Path) -> Finding:
    path = relative(finding.path, workdir) if finding.path is not None else None
    return replace(finding, path=path, message=_relative_text(finding.message, workdir))


def _first(lines: list[str]) -> str:
    """The first problem, and how many more there are."""
    return lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")


# 2 ----------------------------------------------------------------------------------------


def pull_verified(request: Request, checked: CheckedOut) -> Pulled:
    """Pull what the deployment needs through DVC and verify every sha256."""
    from toolkit.workflows.artifacts.transfer import pull

    transfer = pull(checked.workdir, [request.deployment], request.remote, use_cache=False)
    verification = transfer.verification
    if verification is None:  # pull always verifies; a keel bug otherwise
        raise RuntimeError("keel pull returned without verifying what it pulled")
    if verification.problems:
        fields = [f"spec.files[{p.file.index}].{p.field}" for p in verification.problems]
        first, field = verification.problems[0], fields[0]
        raise StageFailed(
            f"{first.render()} ({first.file.ref} {field})",
            findings=tuple(
                manifest_finding(checked.graph, p.render(), p.file.ref, f)
                for p, f in zip(verification.problems, fields, strict=True)
            ),
            details={"problems": [p.render() for p in verification.problems]},
        )
    missing = [p for p in transfer.not_in_dvc if not (checked.workdir / p).is_file()]
    if missing:
        message = f"{missing[0]}: not in git and not tracked by DVC"
        raise StageFailed(message, findings=(Finding(None, 0, message, check=CHECK),))
    return Pulled(verification.checked, transfer.transferred, verification.bytes_hashed)


# 3 ----------------------------------------------------------------------------------------


def load_checked(request: Request, checked: CheckedOut) -> Loaded:
    """Load tokenizer and base model from the pulled files only; check them against the
    Tokenizer (special tokens, chat template digest…) and the Model manifests."""
    from toolkit.bridges import ml
    from toolkit.bridges.heads import load_model_for
    from toolkit.workflows.evaluation import pipeline

    subject = pipeline.resolve(
        checked.graph, request.deployment, merge_adapter=checked.merges_adapter
    )
    tokenizer = ml.load_tokenizer(pipeline.directory(checked.workdir, subject.tokenizer.spec))
    model = load_model_for(
        pipeline.directory(checked.workdir, subject.model.spec),
        checked.task,
        allow_pickle=pipeline.pickle_opt_in(subject.model),
    )
    problems = pipeline.check_tokenizer(tokenizer, subject.tokenizer)
    problems += check_chat_template(tokenizer, subject.tokenizer)
    problems += pipeline.check_model(model, subject.model)
    if problems:
        raise mismatched(checked, problems)
    return Loaded(subject, tokenizer, model, ml.environment_fingerprint())


def check_chat_template(tokenizer: Any, manifest: Tokenizer) -> list[Mismatch]:
    """The loaded tokenizer's chat template against the Tokenizer's chatTemplateDigest (the
    rule of `core.chat_templates`, which keel pin recorded it by): a template swapped in
    files whose sha256 were updated to match is caught here."""
    from toolkit.core.chat_templates import template_digest
    from toolkit.workflows.evaluation.pipeline import Mismatch

    recorded = manifest.spec.chat_template_digest
    loaded = template_digest(getattr(tokenizer, "chat_template", None))
    if recorded == loaded:
        return []
    return [
        Mismatch(
            manifest.ref,
            "spec.chatTemplateDigest",
            f"manifest says {recorded or 'no chat template'}, the loaded tokenizer's chat "
            f"template gives {loaded or 'none'}",
        )
    ]


def mismatched(checked: CheckedOut, problems: list[Mismatch], **details: Any) -> StageFailed:
    """The failure for manifests that differ from what was loaded: one finding each."""
    lines = [p.render() for p in problems]
    return StageFailed(
        _first(lines),
        findings=tuple(
            manifest_finding(checked.graph, p.message, p.ref, p.field) for p in problems
        ),
        details={"mismatches": lines, **details},
    )


# 4 ----------------------------------------------------------------------------------------


def adapt(checked: CheckedOut, loaded: Loaded) -> Adapted:
    """Check the adapter's binding to the verified base weights, then apply it with peft."""
    from toolkit.bridges.adapters import apply_adapter
    from toolkit.workflows.evaluation import pipeline

    subject = loaded.subject
    if subject.adapter is None:
        return Adapted(loaded.model)
    # stage 2 checked every weight file's sha256 and tensor digest against the Model, so its
    # recorded weights digest is the digest of the base on disk: no need to hash it again
    base_digest = subject.model.weights_digest()
    problems = pipeline.check_adapter(checked.workdir, loaded.model, subject.adapter, base_digest)
    if problems:
        raise mismatched(checked, problems, baseDigest=base_digest)
    folder = pipeline.directory(checked.workdir, subject.adapter.spec)
    model = apply_adapter(loaded.model, folder, merge=subject.merge_adapter)
    return Adapted(model, subject.adapter.ref, base_digest, subject.merge_adapter)


# 5 ----------------------------------------------------------------------------------------


def requantize(checked: CheckedOut, loaded: Loaded, adapted: Adapted) -> Quantized:
    """Re-run the Quantization recipe on the verified weights and check the tensor digest."""
    from toolkit.bridges.quantize import quantize

    quantization = loaded.subject.quantization
    if quantization is None:
        return Quantized(adapted.model)
    spec = quantization.spec
    result = quantize(adapted.model, spec.scheme, spec.recipe)
    quantized = Quantized(
        result.model,
        quantization.ref,
        spec.scheme,
        spec.recipe.library,
        spec.recipe.config,
        result.quantized_modules,
        result.tensor_digest,
        spec.result.tensor_digest,
    )
    if quantized.recorded is not None and quantized.recorded != quantized.tensor_digest:
        field = "spec.result.tensorDigest"
        message = (
            f"recorded {quantized.recorded}, re-running the recipe gives {result.tensor_digest}"
        )
        raise StageFailed(
            f"{quantization.ref} {field}: {message}",
            findings=(manifest_finding(checked.graph, message, quantization.ref, field),),
            details=quantized.details,
        )
    return quantized
