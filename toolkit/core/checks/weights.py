"""Recorded parameter counts agree with the weights (safetensors headers only, when present),
and a sharded checkpoint's index maps its tensors to safetensors files only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.errors import KeelError
from toolkit.manifests import Model, Quantization

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph


def model_parameters_match_headers(graph: Graph) -> Iterator[Finding]:
    """A Model's `parameters` equals the floating-point elements in its safetensors files."""
    from toolkit.core.inspection import inspect_weights

    for model in graph.of_kind(Model):
        directory = graph.root / model.spec.directory
        weights = [directory / f.path for f in model.spec.files if f.path.endswith(".safetensors")]
        if not weights or not all(p.is_file() for p in weights):
            continue  # not pulled here: nothing to compare without reading the remote
        try:
            counted = sum(inspect_weights(p).parameters for p in weights)
        except KeelError as error:
            message = str(error).replace(f"{graph.root}/", "")
            yield graph.finding(model, ("spec", "files"), message, "weights")
            continue
        if counted != model.spec.parameters:
            yield graph.finding(
                model,
                ("spec", "parameters"),
                f"{model.spec.parameters} recorded, but the safetensors headers hold {counted} "
                "floating-point parameters",
                "weights",
            )


def index_names_only_safetensors(graph: Graph) -> Iterator[Finding]:
    """Every `weight_map` target of a Model's `*.safetensors.index.json` is a safetensors file
    in the Model's directory: an index naming `pytorch_model.bin` would have a loader unpickle
    it although the Model says safetensors."""
    from toolkit.core.safetensors_header import INDEX_SUFFIX, index_targets, unsafe_target

    for model in graph.of_kind(Model):
        directory = graph.root / model.spec.directory
        for position, entry in enumerate(model.spec.files):
            index = directory / entry.path
            if not entry.path.endswith(INDEX_SUFFIX) or not index.is_file():
                continue  # not an index, or not pulled here
            location = ("spec", "files", position, "path")
            try:
                targets = index_targets(index)
            except KeelError as error:
                message = str(error).replace(f"{graph.root}/", "")
                yield graph.finding(model, location, message, "weights")
                continue
            for target in targets:
                problem = unsafe_target(target)
                if problem:
                    yield graph.finding(
                        model,
                        location,
                        f"{entry.path}: weight_map names {problem}; convert the shard to "
                        "safetensors and fix the index",
                        "weights",
                    )


def budget_counts_the_model(graph: Graph) -> Iterator[Finding]:
    """A Quantization's memory budget is computed for its Model's parameter count."""
    for quantization in graph.of_kind(Quantization):
        model = graph.get_as(quantization.spec.model, Model)
        budget = quantization.spec.memory_budget
        if model is not None and budget.parameters != model.spec.parameters:
            yield graph.finding(
                quantization,
                ("spec", "memoryBudget", "parameters"),
                f"{budget.parameters} parameters budgeted, but {model.ref} has "
                f"{model.spec.parameters} (keel inspect shows the count from the weights)",
                "weights",
            )


WEIGHT_CHECKS = (
    model_parameters_match_headers,
    index_names_only_safetensors,
    budget_counts_the_model,
)
