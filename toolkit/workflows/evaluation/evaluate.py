"""`keel evaluate`: run a subject on a Dataset, record an Evaluation and its outputs file.

The outputs (one float32 row per embedded text, in dataset order) are written as safetensors
under artifacts/evaluations/ and tracked by DVC, so a later run — `keel reproduce` on another
machine — can be compared example by example, not only by a digest.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.manifests import Dataset, Evaluation, Requirements
from toolkit.manifests.evaluation import Protocol
from toolkit.workflows.evaluation import pipeline
from toolkit.workflows.evaluation.fingerprint import environment, hardware
from toolkit.workflows.evaluation.tasks import (
    ROW_FIELDS,
    cosine_metrics,
    latency_summary,
    measure_latency,
    read_rows,
    request_texts,
    run,
)

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.bridges.heads import Classifier, Generator
    from toolkit.bridges.ml import Encoder
    from toolkit.core.repository import Graph

    Runner = Encoder | Classifier | Generator

OUTPUTS_DIR = "artifacts/evaluations"


@dataclass(frozen=True)
class EvaluationResult:
    path: Path
    created: bool
    metrics: dict[str, float]
    outputs_digest: str
    outputs_path: str
    latency: dict[str, float] | None


def load_outputs(root: Path, evaluation: Evaluation) -> Any | None:
    """The recorded outputs tensor of an Evaluation, or None when it kept no outputs file."""
    path = evaluation.spec.outputs.path
    if path is None or not (root / path).is_file():
        return None
    from toolkit.bridges.tensors import load_outputs as read

    return read(root / path)


def reference_metrics(
    root: Path,
    graph: Graph,
    subject: pipeline.Subject,
    dataset: str,
    baseline: str | None,
    task: str,
    outputs: Any,
) -> dict[str, float]:
    """Comparisons with recorded outputs: cosine to the baseline on an embedding set, and
    cosine to the unquantized model for a quantized subject on the same dataset."""
    metrics: dict[str, float] = {}
    if task == "language-modeling":
        return metrics  # perplexity is the comparison; a cosine of loss sums means nothing
    if task == "embedding":
        # without a baseline this run is the reference (the fp32 base): its cosine is 1
        reference = _reference(root, graph, baseline, dataset) if baseline else outputs
        metrics.update(cosine_metrics(outputs, reference, "cosine_to_reference"))
    if subject.quantization is not None:
        unquantized = graph.get_as(subject.quantization.spec.baseline, Evaluation)
        if unquantized is not None and unquantized.spec.dataset == dataset:
            reference = _reference(root, graph, unquantized.ref, dataset)
            if task == "generation":  # token ids: the same continuation or not
                metrics["tokens_identical_to_unquantized"] = _identical_rows(outputs, reference)
            else:
                metrics.update(cosine_metrics(outputs, reference, "cosine_to_unquantized"))
    return metrics


def _identical_rows(outputs: Any, reference: Any) -> float:
    """Share of rows whose generated token ids equal the reference's, rounded to 4 places."""
    got, was = outputs.tolist(), reference.tolist()
    if len(got) != len(was) or not got:
        raise UsageError(f"cannot compare {len(got)} generated rows with {len(was)} recorded")
    return round(sum(a == b for a, b in zip(got, was, strict=True)) / len(got), 4)


def _reference(root: Path, graph: Graph, ref: str, dataset: str) -> Any:
    evaluation = graph.get_as(ref, Evaluation)
    if evaluation is None:
        raise UsageError(f"{ref}: no such Evaluation to compare with")
    if evaluation.spec.dataset != dataset:
        raise UsageError(f"{ref} is on {evaluation.spec.dataset}, not {dataset}")
    outputs = load_outputs(root, evaluation)
    if outputs is None:
        raise UsageError(
            f"{ref} spec.outputs.path: no outputs file here to compare with; run "
            f"`keel evaluate {ref}` first or `keel pull` it"
        )
    return outputs


def write_outputs(root: Path, name: str, dataset: str, task: str, outputs: Any) -> str:
    """Save the outputs as safetensors (atomically) and put them in DVC; the path."""
    from toolkit.bridges import dvc
    from toolkit.bridges.tensors import save_outputs
    from toolkit.core.hashing import hash_file

    relative = f"{OUTPUTS_DIR}/{name}.safetensors"
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = "queries then passages, dataset order" if task == "retrieval" else "dataset order"
    # one metadata key: safetensors writes several in hash-map order, which changes the bytes
    meta = json.dumps({"dataset": dataset, "evaluation": name, "layout": layout}, sort_keys=True)
    save_outputs(path, outputs, {"keel": meta})
    # as keel track does: the bytes go into DVC's cache first, then the .dvc file; the
    # outputs file itself is never moved (a kill leaves the old state or the new one)
    hashes = hash_file(path, md5=True)
    assert hashes.md5 is not None  # asked for
    dvc.store(root, path, hashes.md5)
    dvc.write_dvc_file(path, hashes.md5, hashes.size)
    return relative


@dataclass(frozen=True)
class Request:
    """What to evaluate: an existing Evaluation to re-run, or a subject on a dataset."""

    subject: str
    dataset: str
    name: str
    baseline: str | None = None
    protocol: Protocol | None = None


def request_for(graph: Graph, ref: str, dataset: str | None, name: str | None) -> Request:
    """`keel evaluate Evaluation/x` re-runs x; `keel evaluate Kind/y --dataset D` runs y on D."""
    target = graph.get(ref)
    if isinstance(target, Evaluation):
        if dataset and dataset != target.spec.dataset:
            raise UsageError(f"{ref} is on {target.spec.dataset}; drop --dataset to re-run it")
        return Request(
            target.spec.subject,
            target.spec.dataset,
            target.metadata.name,
            target.spec.baseline,
            target.spec.protocol,
        )
    if not dataset:
        raise UsageError(f"{ref}: give --dataset Dataset/<name> to evaluate it on")
    evaluation_name = name or f"{ref.split('/', 1)[-1]}-{dataset.split('/', 1)[-1]}"
    existing = graph.get_as(f"Evaluation/{evaluation_name}", Evaluation)
    return Request(
        ref,
        dataset,
        evaluation_name,
        existing.spec.baseline if existing else None,
        existing.spec.protocol if existing else None,
    )


def evaluate(
    root: Path, request: Request, *, graph: Graph | None = None, today: dt.date | None = None
) -> EvaluationResult:
    """Run the request, write the outputs file and write or update the Evaluation manifest."""
    from toolkit.workflows.artifacts.verify import load_graph

    graph = graph or load_graph(root)
    dataset = graph.get_as(request.dataset, Dataset)
    if dataset is None:
        raise UsageError(f"{request.dataset}: no such Dataset")
    protocol = request.protocol
    if protocol is None:
        task = _guess_task(root, dataset)
        if task == "embedding" and _causal(root, pipeline.resolve(graph, request.subject)):
            task = "language-modeling"  # text rows for a causal LM: its perplexity on them
        protocol = Protocol.model_validate({"task": task})
    subject = pipeline.resolve(graph, request.subject, merge_adapter=protocol.merge_adapter)
    rows = read_rows(root, dataset, protocol.task)
    runner = pipeline.load_subject(root, subject, protocol.task)
    result = run(runner, rows, protocol)
    if protocol.task == "language-modeling" and not result.metrics:
        raise UsageError(
            f"{dataset.ref}: every text is shorter than 2 tokens; perplexity needs a token to "
            "predict from another"
        )
    result.metrics.update(
        reference_metrics(
            root, graph, subject, dataset.ref, request.baseline, protocol.task, result.outputs
        )
    )
    if subject.ref.startswith("Deployment/"):
        _require_named_metrics(graph, dataset.ref, result.metrics)
    latency = _timed(runner, rows, protocol)
    from toolkit.bridges.ml import outputs_digest

    digest = outputs_digest(result.outputs)
    outputs_path = write_outputs(root, request.name, dataset.ref, protocol.task, result.outputs)
    tools, env = environment()
    spec: dict[str, Any] = {
        "subject": request.subject,
        "dataset": dataset.ref,
        "metrics": [{"name": k, "value": v} for k, v in result.metrics.items()],
        "latency": latency,
        "hardware": hardware(),
        "date": (today or dt.date.today()).isoformat(),
        "tools": tools,
        "environment": env,
        "outputs": {"digest": digest, "path": outputs_path},
        "protocol": protocol_record(protocol),
    }
    if request.baseline:
        spec["baseline"] = request.baseline
    spec = json.loads(json.dumps(spec))  # references are str subclasses: plain data for YAML
    path, created = _write_manifest(root, graph, request, subject, spec)
    return EvaluationResult(path, created, result.metrics, digest, outputs_path, spec["latency"])


def _timed(runner: Runner, rows: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any]:
    """The latency block: percentiles of single requests; for generation also the time to
    first token and output tokens per second (`timing.py`)."""
    from toolkit.bridges.heads import Generator

    requests = request_texts(rows, protocol.task)
    if protocol.task == "generation" and isinstance(runner, Generator):
        from toolkit.workflows.evaluation.timing import measure_generation

        timing = measure_generation(runner, requests, protocol)
        return {**latency_summary(timing.latency_ms), **timing.summary()}
    return latency_summary(measure_latency(runner, requests, protocol))


def protocol_record(protocol: Protocol) -> dict[str, Any]:
    """The protocol as written: every field that decides the batches, the rest only if used."""
    record = protocol.model_dump(by_alias=True, mode="json")
    if not protocol.merge_adapter:
        del record["mergeAdapter"]
    if protocol.task != "generation":
        del record["maxNewTokens"]
    return record


def _guess_task(root: Path, dataset: Dataset) -> str:
    first = dataset.spec.files[0] if dataset.spec.files else None
    if first is None:
        raise UsageError(f"{dataset.ref} spec.files: the dataset names no file")
    with (root / dataset.spec.directory / first.path).open(encoding="utf-8") as handle:
        row = json.loads(handle.readline() or "{}")
    if {"messages", "reference"} <= row.keys():
        return "generation"  # chat messages instead of a prompt
    for task in ("retrieval", "classification", "generation", "embedding"):
        if set(ROW_FIELDS[task]) - {"id"} <= row.keys():
            return task
    raise UsageError(
        f"{dataset.ref}: rows with fields {sorted(row)}; keel evaluates rows shaped "
        + "; ".join(f"{task} {{{', '.join(fields)}}}" for task, fields in ROW_FIELDS.items())
    )


def _causal(root: Path, subject: pipeline.Subject) -> bool:
    """Whether the subject's model is a causal LM: config.json names a *ForCausalLM class."""
    from toolkit.core.model_files import read_json

    config = pipeline.directory(root, subject.model.spec) / "config.json"
    if not config.is_file():
        return False
    architectures = read_json(config).get("architectures") or []
    return any(str(a).endswith("ForCausalLM") for a in architectures)


def _require_named_metrics(graph: Graph, dataset: str, metrics: dict[str, float]) -> None:
    """Every metric the Requirements set on this dataset must have been computed."""
    for requirements in graph.of_kind(Requirements):
        for target in requirements.spec.quality:
            if target.dataset == dataset and target.metric not in metrics:
                raise UsageError(
                    f"{requirements.ref} spec.quality: metric {target.metric} on {dataset} "
                    f"is not one keel computes for this run ({', '.join(sorted(metrics))})"
                )


def _write_manifest(
    root: Path, graph: Graph, request: Request, subject: pipeline.Subject, spec: dict[str, Any]
) -> tuple[Path, bool]:
    from toolkit.core.manifest_writer import create_manifest, edit_manifest, sync_value

    ref = f"Evaluation/{request.name}"
    entry = graph.entries.get(ref)
    if entry is None:
        owner_manifest = graph.get(request.subject)
        owner = owner_manifest.metadata.owner if owner_manifest else subject.model.metadata.owner
        document = {
            "apiVersion": "keel/v1",
            "kind": "Evaluation",
            "metadata": {
                "name": request.name,
                "owner": owner,
                "description": f"{request.subject} on {request.dataset}, by keel evaluate.",
            },
            "spec": spec,
        }
        return create_manifest(root, "Evaluation", request.name, document), True

    def edit(data: Any) -> None:
        for key, value in spec.items():
            if key == "metrics":
                data["spec"][key] = value
            else:
                sync_value(data["spec"], key, value)

    path = entry.document.path
    edit_manifest(path, "Evaluation", request.name, edit)
    return path, False
