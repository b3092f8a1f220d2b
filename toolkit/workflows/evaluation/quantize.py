"""`keel quantize Quantization/NAME`: run the recipe on the verified weights, record the digest.

The quantized weights themselves are not stored: the recipe re-derives them bit for bit from
the pinned fp32 weights (and the merged adapter), and `keel reproduce` checks that it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.manifests import Evaluation, Quantization
from toolkit.workflows.evaluation import pipeline

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.core.repository import Graph


@dataclass(frozen=True)
class QuantizeResult:
    ref: str
    tensor_digest: str
    quantized_modules: int
    changed: bool


def quantize(root: Path, ref: str) -> QuantizeResult:
    from toolkit.bridges.heads import load_model_for
    from toolkit.bridges.quantize import quantize as run_recipe
    from toolkit.bridges.quantize import torchao
    from toolkit.core.manifest_writer import edit_manifest, sync_value
    from toolkit.workflows.artifacts.verify import load_graph

    graph = load_graph(root)
    manifest = graph.get_as(ref, Quantization)
    if manifest is None:
        raise UsageError(f"{ref}: no such Quantization (or it does not validate)")
    subject = pipeline.resolve(graph, ref)
    model = load_model_for(
        pipeline.directory(root, subject.model.spec),
        _task(graph, manifest),
        allow_pickle=pipeline.pickle_opt_in(subject.model),
    )
    pipeline.raise_first(pipeline.check_model(model, subject.model))
    if subject.adapter is not None:
        model = pipeline.adapt(root, model, subject)
    spec = manifest.spec
    result = run_recipe(model, spec.scheme, spec.recipe)
    version = str(torchao().__version__) if spec.recipe.library == "torchao" else None

    def edit(data: Any) -> None:
        sync_value(data["spec"]["result"], "tensorDigest", result.tensor_digest)
        if version:
            sync_value(data["spec"]["recipe"], "version", version)

    path = graph.entries[ref].document.path
    changed = edit_manifest(path, "Quantization", manifest.metadata.name, edit)
    return QuantizeResult(ref, result.tensor_digest, result.quantized_modules, changed)


def _task(graph: Graph, manifest: Quantization) -> str:
    """The head the model is loaded with, as its unquantized baseline Evaluation ran it: a
    decoder's LoRA (causal-LM) adapts AutoModelForCausalLM, not the bare AutoModel."""
    baseline = graph.get_as(manifest.spec.baseline, Evaluation)
    protocol = baseline.spec.protocol if baseline is not None else None
    return protocol.task if protocol is not None else "embedding"
