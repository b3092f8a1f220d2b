"""`keel evaluate`: run a subject on a Dataset, record an Evaluation and its outputs file.

The outputs (one float32 row per embedded text, in dataset order) are written as safetensors
under artifacts/evaluations/ and tracked by DVC, so a later run — `keel reproduce` on another
machine — can be compared example by example, not only by a digest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import UsageError
from toolkit.manifests import Dataset, Evaluation, Requirements
from toolkit.manifests.evaluation import Protocol
from toolkit.workflows import pipeline

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.bridges.heads import Classifier, Generator
    from toolkit.bridges.ml import Encoder
    from toolkit.repository import Graph

    Runner = Encoder | Classifier | Generator

OUTPUTS_DIR = "artifacts/evaluations"
LATENCY_WARMUP = 3
# each request is timed this many times and its fastest run kept: the model's own latency, not
# that of whatever else shares the CPU at the moment (a busy CI runner, a second job)
LATENCY_REPEATS = 3
TOOLS = ("torch", "transformers", "peft", "torchao", "tokenizers", "safetensors")
FINGERPRINT_ENVIRONMENT = ("cpuCapability", "quantizedEngine")
ROW_FIELDS = {
    "retrieval": ("id", "query", "passage"),
    "embedding": ("id", "text"),
    "classification": ("id", "text", "label"),
    "generation": ("id", "prompt", "reference"),
}
REQUEST_FIELD = {
    "retrieval": "query",
    "embedding": "text",
    "classification": "text",
    "generation": "prompt",
}
TASK_METRICS = {
    "classification": ("accuracy", "f1_macro"),
    "generation": ("exact_match", "rouge_l"),
}


@dataclass
class Run:
    """What one pass of a subject over a dataset produced."""

    outputs: Any  # torch.Tensor, float32, one row per embedded text
    ids: list[str]
    metrics: dict[str, float]
    latency_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class EvaluationResult:
    path: Path
    created: bool
    metrics: dict[str, float]
    outputs_digest: str
    outputs_path: str
    latency: dict[str, float] | None


def read_rows(root: Path, dataset: Dataset, task: str) -> list[dict[str, Any]]:
    """The dataset's JSONL rows, files in manifest order, each checked for the task's fields."""
    if dataset.spec.format != "jsonl":
        raise UsageError(
            f"{dataset.ref} spec.format: keel evaluates jsonl datasets, not {dataset.spec.format}"
        )
    rows: list[dict[str, Any]] = []
    for entry in dataset.spec.files:
        path = root / dataset.spec.directory / entry.path
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as error:
                    raise UsageError(f"{path}:{number}: not JSON ({error})") from None
                missing = [k for k in ROW_FIELDS[task] if not _text_like(row.get(k), k)]
                if missing:
                    raise UsageError(
                        f"{path}:{number}: a {task} row needs string fields "
                        f"{', '.join(ROW_FIELDS[task])}; missing {', '.join(missing)}"
                    )
                rows.append(row)
    return rows


def _text_like(value: Any, key: str) -> bool:
    """Every row field is text; a class label may also be an integer."""
    if key == "label":
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    return isinstance(value, str)


def run(runner: Runner, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    """Run the rows through the model as the protocol says; compute the task's own metrics."""
    from toolkit.bridges.heads import Classifier, Generator

    if isinstance(runner, Classifier):
        return _classify(runner, rows, protocol)
    if isinstance(runner, Generator):
        return _generate(runner, rows, protocol)
    return _embed(runner, rows, protocol)


def _classify(runner: Classifier, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    from toolkit.metrics import metric_for

    logits = runner.logits(
        [row["text"] for row in rows],
        batch_size=protocol.batch_size,
        max_length=protocol.max_length,
    )
    predicted = runner.labels(logits)
    expected = [str(row["label"]) for row in rows]
    metrics = {
        name: _r4(metric_for(name).compute(predicted, expected))
        for name in TASK_METRICS["classification"]
    }
    return Run(logits, [str(row["id"]) for row in rows], metrics)


def _generate(runner: Generator, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    from toolkit.metrics import metric_for

    ids, texts = runner.generate(
        [row["prompt"] for row in rows],
        batch_size=protocol.batch_size,
        max_length=protocol.max_length,
        max_new_tokens=protocol.max_new_tokens,
    )
    expected = [row["reference"] for row in rows]
    metrics = {
        name: _r4(metric_for(name).compute(texts, expected)) for name in TASK_METRICS["generation"]
    }
    return Run(ids, [str(row["id"]) for row in rows], metrics)


def _embed(encoder: Encoder, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    import torch

    def embed(texts: list[str]) -> Any:
        return encoder.embed(texts, batch_size=protocol.batch_size, max_length=protocol.max_length)

    ids = [str(row["id"]) for row in rows]
    if protocol.task == "retrieval":
        queries = embed([row["query"] for row in rows])
        passages = embed([row["passage"] for row in rows])
        outputs = torch.cat([queries, passages]).contiguous()
        return Run(outputs, ids, retrieval_metrics(queries, passages))
    return Run(embed([row["text"] for row in rows]), ids, {})


def retrieval_metrics(queries: Any, passages: Any) -> dict[str, float]:
    """recall@1/@5, MRR and mean positive cosine. Query i's relevant passage is passage i; a
    tie counts in its favour (rank = 1 + passages scoring strictly higher)."""
    scores = queries.double() @ passages.double().T
    positives = scores.diagonal()
    ranks = 1 + (scores > positives.unsqueeze(1)).sum(dim=1)
    return {
        "recall_at_1": _r4((ranks <= 1).double().mean()),
        "recall_at_5": _r4((ranks <= 5).double().mean()),
        "mrr": _r4((1.0 / ranks.double()).mean()),
        "mean_positive_cosine": _r4(positives.mean()),
    }


def cosine_metrics(candidate: Any, reference: Any, prefix: str) -> dict[str, float]:
    import torch

    if candidate.shape != reference.shape:
        raise UsageError(
            f"cannot compare outputs of shape {list(candidate.shape)} with a reference of "
            f"shape {list(reference.shape)}"
        )
    cosines = torch.nn.functional.cosine_similarity(candidate.double(), reference.double(), dim=1)
    return {f"{prefix}_mean": _r4(cosines.mean()), f"{prefix}_min": _r4(cosines.min())}


def _r4(value: Any) -> float:
    return round(float(value), 4)


def request_texts(rows: Sequence[dict[str, Any]], task: str) -> list[str]:
    """What a client sends, one request per row: the query, the text or the prompt."""
    return [row[REQUEST_FIELD[task]] for row in rows]


def measure_latency(runner: Runner, texts: Sequence[str], protocol: Protocol) -> list[float]:
    """Milliseconds per single-text request (tokenize, forward, and pooling or decoding): the
    fastest of LATENCY_REPEATS runs of each, after a short warm-up."""
    # a retrieval request is one query: embed it alone, as a text
    task = "embedding" if protocol.task == "retrieval" else protocol.task
    single = protocol.model_copy(update={"batch_size": 1, "task": task})

    def request(text: str) -> None:
        run(runner, [_row_for(text, task)], single)

    for text in texts[:LATENCY_WARMUP]:
        request(text)
    samples = []
    for text in texts:
        timings = []
        for _ in range(LATENCY_REPEATS):
            start = time.perf_counter_ns()
            request(text)
            timings.append((time.perf_counter_ns() - start) / 1e6)
        samples.append(min(timings))
    return samples


def _row_for(text: str, task: str) -> dict[str, Any]:
    """A one-text row of the task's shape: only the request field is read when timing."""
    row: dict[str, Any] = {key: "" for key in ROW_FIELDS[task]}
    row.update({"id": "latency", REQUEST_FIELD[task]: text})
    return row


def percentile(samples: Sequence[float], q: float) -> float:
    """numpy.percentile's default (linear interpolation between closest ranks)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(samples: Sequence[float]) -> dict[str, Any]:
    return {
        "p50Ms": round(percentile(samples, 50), 2),
        "p95Ms": round(percentile(samples, 95), 2),
        "p99Ms": round(percentile(samples, 99), 2),
        "batchSize": 1,
        "requests": len(samples),
    }


def load_outputs(root: Path, evaluation: Evaluation) -> Any | None:
    """The recorded outputs tensor of an Evaluation, or None when it kept no outputs file."""
    path = evaluation.spec.outputs.path
    if path is None or not (root / path).is_file():
        return None
    from safetensors.torch import load_file

    return load_file(str(root / path))["outputs"]


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
    if task == "embedding":
        # without a baseline this run is the reference (the fp32 base): its cosine is 1
        reference = _reference(root, graph, baseline, dataset) if baseline else outputs
        metrics.update(cosine_metrics(outputs, reference, "cosine_to_reference"))
    if subject.quantization is not None:
        unquantized = graph.get_as(subject.quantization.spec.baseline, Evaluation)
        if unquantized is not None and unquantized.spec.dataset == dataset:
            reference = _reference(root, graph, unquantized.ref, dataset)
            metrics.update(cosine_metrics(outputs, reference, "cosine_to_unquantized"))
    return metrics


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


def hardware() -> dict[str, Any]:
    import torch

    return {
        "cpu": _cpu_name(),
        "memoryBytes": _memory_bytes(),
        "threads": int(torch.get_num_threads()),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def environment() -> tuple[dict[str, str], dict[str, str]]:
    """(tools, environment) as an Evaluation records them."""
    from toolkit.bridges.ml import environment_fingerprint

    fingerprint = environment_fingerprint()
    tools = {"python": platform.python_version()}
    tools.update({name: fingerprint[name] for name in TOOLS if fingerprint[name] != "absent"})
    env = {key: fingerprint[key] for key in FINGERPRINT_ENVIRONMENT}
    env["platform"] = platform.platform()
    return tools, env


def fingerprint_of(tools: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """The part of the environment on which bit-identical outputs depend."""
    values = {name: tools.get(name, "absent") for name in TOOLS}
    values.update({key: env.get(key, "unknown") for key in FINGERPRINT_ENVIRONMENT})
    return values


def write_outputs(root: Path, name: str, dataset: str, task: str, outputs: Any) -> str:
    """Save the outputs as safetensors (atomically) and track them with DVC; the path."""
    from safetensors.torch import save_file

    from toolkit.bridges import dvc
    from toolkit.hashing import hash_file

    relative = f"{OUTPUTS_DIR}/{name}.safetensors"
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = "queries then passages, dataset order" if task == "retrieval" else "dataset order"
    # one metadata key: safetensors writes several in hash-map order, which changes the bytes
    meta = json.dumps({"dataset": dataset, "evaluation": name, "layout": layout}, sort_keys=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({"outputs": outputs.contiguous()}, str(scratch), metadata={"keel": meta})
    os.replace(scratch, path)
    dvc.add(root, [path], {path: hash_file(path, md5=True).md5 or ""})
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
    from toolkit.workflows.verify import load_graph

    graph = graph or load_graph(root)
    dataset = graph.get_as(request.dataset, Dataset)
    if dataset is None:
        raise UsageError(f"{request.dataset}: no such Dataset")
    protocol = request.protocol or Protocol.model_validate({"task": _guess_task(root, dataset)})
    subject = pipeline.resolve(graph, request.subject, merge_adapter=protocol.merge_adapter)
    rows = read_rows(root, dataset, protocol.task)
    runner = pipeline.load_subject(root, subject, protocol.task)
    result = run(runner, rows, protocol)
    result.metrics.update(
        reference_metrics(
            root, graph, subject, dataset.ref, request.baseline, protocol.task, result.outputs
        )
    )
    if subject.ref.startswith("Deployment/"):
        _require_named_metrics(graph, dataset.ref, result.metrics)
    samples = measure_latency(runner, request_texts(rows, protocol.task), protocol)
    from toolkit.bridges.ml import outputs_digest

    digest = outputs_digest(result.outputs)
    outputs_path = write_outputs(root, request.name, dataset.ref, protocol.task, result.outputs)
    tools, env = environment()
    spec: dict[str, Any] = {
        "subject": request.subject,
        "dataset": dataset.ref,
        "metrics": [{"name": k, "value": v} for k, v in result.metrics.items()],
        "latency": latency_summary(samples),
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
    for task in ("retrieval", "classification", "generation", "embedding"):
        if set(ROW_FIELDS[task]) - {"id"} <= row.keys():
            return task
    raise UsageError(
        f"{dataset.ref}: rows with fields {sorted(row)}; keel evaluates rows shaped "
        + "; ".join(f"{task} {{{', '.join(fields)}}}" for task, fields in ROW_FIELDS.items())
    )


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
    from toolkit.manifest_writer import create_manifest, edit_manifest, sync_value

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
