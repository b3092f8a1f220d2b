"""The architecture checklist of a Deployment (or a Model): each item verified from config,
tensors and manifests, or recorded as a decision in the ArchitectureDecision's `checklist:`,
or a finding.

Light: safetensors headers are read as JSON, nothing imports torch or tokenizers. A measured
fertility comes in from a bridge (`keel checklist`); `keel validate` uses the Tokenizer's
recorded one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.checklist import model_items, serving_items
from toolkit.core.checklist.base import (
    Assessment,
    Checklist,
    ItemResult,
    MeasuredFertility,
    Outcome,
    Status,
    Subject,
)
from toolkit.core.checklist.families import ENCODER_ONLY
from toolkit.core.errors import KeelError, UsageError
from toolkit.manifests import (
    Adapter,
    ArchitectureDecision,
    Deployment,
    Model,
    Quantization,
    Tokenizer,
    TrainingRun,
)
from toolkit.manifests.architecture_decision import CHECKLIST_ITEMS

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolkit.core.repository import Graph
    from toolkit.core.safetensors_header import TensorEntry

__all__ = ["ITEMS", "Checklist", "ItemResult", "MeasuredFertility", "Status", "Subject"]

ITEMS: dict[str, Callable[[Subject], Assessment]] = {
    "vocabulary-fertility": model_items.fertility,
    "embedding-width": model_items.embedding_width,
    "tied-embeddings": model_items.tied_embeddings,
    "positional-context": serving_items.positional_context,
    "normalization": model_items.normalization,
    "attention-heads": model_items.attention_heads,
    "ffn-ratio": model_items.ffn_ratio,
    "activation": model_items.activation,
    "residual-depth": model_items.residual_depth,
    "training-stability": serving_items.training_stability,
    "kv-cache-memory": serving_items.kv_cache_memory,
    "quantization-compatibility": serving_items.quantization_compatibility,
    "attention-backend": serving_items.attention_backend,
}
assert tuple(ITEMS) == CHECKLIST_ITEMS  # one list of ids: the ADR's schema and the checklist

STATUS = {
    Outcome.ok: Status.verified,
    Outcome.decide: Status.decide,
    Outcome.unknown: Status.unverified,
    Outcome.fail: Status.failed,
    Outcome.skip: Status.skipped,
}


def run_checklist(subject: Subject) -> Checklist:
    results = []
    for item, assess in ITEMS.items():
        assessment = assess(subject)
        found = subject.decision_for(item)
        status = STATUS[assessment.outcome]
        if found and assessment.outcome in (Outcome.decide, Outcome.unknown):
            status = Status.recorded
        adr, entry = found if found else (None, None)
        results.append(ItemResult(item, status, assessment, entry, adr.ref if adr else None))
    decision = subject.deployment.spec.decision if subject.deployment else None
    return Checklist(subject.manifest.ref, decision, tuple(results))


def subject_for(graph: Graph, ref: str, fertility: MeasuredFertility | None = None) -> Subject:
    """What the checklist of `ref` (a Deployment or a Model) reads; UsageError when `ref` is
    neither, or its Model is not in the graph."""
    manifest = graph.get(ref)
    if isinstance(manifest, Deployment):
        return deployment_subject(graph, manifest, fertility)
    if isinstance(manifest, Model):
        return model_subject(graph, manifest, fertility)
    kinds = sorted(r for r in graph.entries if r.startswith(("Deployment/", "Model/")))
    raise UsageError(
        f"{ref}: no such Deployment or Model here"
        + (f" (there are: {', '.join(kinds)})" if kinds else "")
    )


def deployment_subject(
    graph: Graph, deployment: Deployment, fertility: MeasuredFertility | None = None
) -> Subject:
    spec = deployment.spec
    model = graph.get_as(spec.model, Model)
    if model is None:
        raise UsageError(f"{deployment.ref}: its model {spec.model} is not here")
    adr = graph.get_as(spec.decision, ArchitectureDecision)
    adapter = graph.get_as(spec.adapter, Adapter)
    run = graph.get_as(adapter.spec.training_run, TrainingRun) if adapter else None
    tensors, note = read_tensors(graph, model)
    encoder_only = adr.spec.fit.architecture == "encoder-only" if adr else None
    return Subject(
        graph=graph,
        manifest=deployment,
        model=model,
        deployment=deployment,
        tokenizer=graph.get_as(spec.tokenizer, Tokenizer),
        decisions=(adr,) if adr else (),
        quantization=graph.get_as(spec.quantization, Quantization),
        training_runs=(run,) if run else (),
        tensors=tensors,
        tensor_note=note,
        fertility=fertility,
        encoder_only=encoder_only if encoder_only is not None else _encoder_only(model),
    )


def model_subject(
    graph: Graph, model: Model, fertility: MeasuredFertility | None = None
) -> Subject:
    """A Model on its own: decisions from the ADRs of the Deployments serving it."""
    served = [d for d in graph.of_kind(Deployment) if d.spec.model == model.ref]
    adrs = {d.spec.decision: graph.get_as(d.spec.decision, ArchitectureDecision) for d in served}
    tokenizers = [t for t in graph.of_kind(Tokenizer) if t.spec.model == model.ref]
    quantizations = [q for q in graph.of_kind(Quantization) if q.spec.model == model.ref]
    tensors, note = read_tensors(graph, model)
    return Subject(
        graph=graph,
        manifest=model,
        model=model,
        tokenizer=tokenizers[0] if tokenizers else None,
        quantization=quantizations[0] if quantizations else None,
        decisions=tuple(a for a in adrs.values() if a is not None),
        training_runs=tuple(r for r in graph.of_kind(TrainingRun) if r.spec.base == model.ref),
        tensors=tensors,
        tensor_note=note,
        fertility=fertility,
        encoder_only=_encoder_only(model),
    )


def _encoder_only(model: Model) -> bool:
    return model.spec.architecture.model_type in ENCODER_ONLY


def read_tensors(graph: Graph, model: Model) -> tuple[dict[str, TensorEntry] | None, str]:
    """Every tensor entry of the Model's safetensors files, when all are here."""
    from toolkit.core.safetensors_header import read_header

    directory = graph.root / model.spec.directory
    paths = [directory / f.path for f in model.spec.files if f.path.endswith(".safetensors")]
    if not paths:
        return None, "the Model lists no safetensors file"
    if not all(p.is_file() for p in paths):
        return None, "weights not pulled here (keel pull)"
    tensors: dict[str, TensorEntry] = {}
    try:
        for path in paths:
            tensors.update(read_header(path).tensors)
    except KeelError as error:
        return None, f"headers unreadable ({str(error).replace(f'{graph.root}/', '')})"
    return tensors, "weights read"
