"""Running a loaded subject over a dataset's rows, by task: outputs, metrics, latency.

Rows are read in file order and batched consecutively as the Evaluation's protocol says;
every task's outputs are one float32 tensor (embeddings, logits, or greedy token ids), so one
digest and one comparison serve them all.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.core.metrics import hit_rate, mean_reciprocal_rank, percentile

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from toolkit.bridges.heads import Classifier, Generator
    from toolkit.bridges.ml import Encoder
    from toolkit.manifests import Dataset
    from toolkit.manifests.evaluation import Protocol

    Runner = Encoder | Classifier | Generator

LATENCY_WARMUP = 3
# each request is timed this many times and its fastest run kept: the model's own latency, not
# that of whatever else shares the CPU at the moment (a busy CI runner, a second job)
LATENCY_REPEATS = 3
ROW_FIELDS = {
    "retrieval": ("id", "query", "passage"),
    "embedding": ("id", "text"),
    "classification": ("id", "text", "label"),
    "generation": ("id", "prompt", "reference"),
    "language-modeling": ("id", "text"),
}
REQUEST_FIELD = {
    "retrieval": "query",
    "embedding": "text",
    "classification": "text",
    "generation": "prompt",
    "language-modeling": "text",
}
TASK_METRICS = {
    "classification": ("accuracy", "f1_macro"),
    "generation": ("exact_match", "rouge_l"),
    "language-modeling": ("perplexity",),
}


@dataclass
class Run:
    """What one pass of a subject over a dataset produced."""

    outputs: Any  # torch.Tensor, float32, one row per embedded text
    ids: list[str]
    metrics: dict[str, float]
    latency_ms: list[float] = field(default_factory=list)


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
                if missing == ["prompt"] and task == "generation" and _is_chat(row):
                    missing = []  # chat messages instead of a prompt
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


def _is_chat(row: dict[str, Any]) -> bool:
    """A generation row may give `messages` ([{role, content}], rendered with the tokenizer's
    chat template) instead of a `prompt`."""
    messages = row.get("messages")
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        )
    )


def prompt_of(row: dict[str, Any]) -> str | list[dict[str, str]]:
    """What a generation row asks: its chat messages when it has them, else its prompt."""
    return row["messages"] if _is_chat(row) else row["prompt"]


def run(runner: Runner, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    """Run the rows through the model as the protocol says; compute the task's own metrics."""
    from toolkit.bridges.heads import Classifier, Generator

    if protocol.task == "language-modeling" and isinstance(runner, Generator):
        return _perplexity(runner, rows, protocol)
    if isinstance(runner, Classifier):
        return _classify(runner, rows, protocol)
    if isinstance(runner, Generator):
        return _generate(runner, rows, protocol)
    return _embed(runner, rows, protocol)


def _classify(runner: Classifier, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    from toolkit.core.metrics import metric_for

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
    from toolkit.core.metrics import metric_for

    ids, texts = runner.generate(
        [prompt_of(row) for row in rows],
        batch_size=protocol.batch_size,
        max_length=protocol.max_length,
        max_new_tokens=protocol.max_new_tokens,
    )
    expected = [row["reference"] for row in rows]
    metrics = {
        name: _r4(metric_for(name).compute(texts, expected)) for name in TASK_METRICS["generation"]
    }
    return Run(ids, [str(row["id"]) for row in rows], metrics)


def _perplexity(runner: Generator, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    """Per text [summed NLL, tokens predicted] in windows of maxLength; perplexity over all."""
    from toolkit.core.metrics import perplexity

    losses = runner.window_losses([row["text"] for row in rows], window=protocol.max_length)
    sums, counts = zip(*losses.tolist(), strict=True) if rows else ((), ())
    # no token to predict (every text under 2 tokens): no perplexity, evaluate says so
    metrics = {"perplexity": _r4(perplexity(sums, counts))} if sum(counts) > 0 else {}
    return Run(losses, [str(row["id"]) for row in rows], metrics)


def _embed(encoder: Encoder, rows: Sequence[dict[str, Any]], protocol: Protocol) -> Run:
    from toolkit.bridges.tensors import concat_rows

    def embed(texts: list[str]) -> Any:
        return encoder.embed(texts, batch_size=protocol.batch_size, max_length=protocol.max_length)

    ids = [str(row["id"]) for row in rows]
    if protocol.task == "retrieval":
        queries = embed([row["query"] for row in rows])
        passages = embed([row["passage"] for row in rows])
        outputs = concat_rows([queries, passages])
        return Run(outputs, ids, retrieval_metrics(queries, passages))
    return Run(embed([row["text"] for row in rows]), ids, {})


def retrieval_metrics(queries: Any, passages: Any) -> dict[str, float]:
    """recall@1/@5, MRR and mean positive cosine. Query i's relevant passage is passage i; a
    tie counts in its favour (rank = 1 + passages scoring strictly higher)."""
    from toolkit.bridges.tensors import positive_ranks

    ranks, positives = positive_ranks(queries, passages)
    return {
        "recall_at_1": _r4(hit_rate(ranks, 1)),
        "recall_at_5": _r4(hit_rate(ranks, 5)),
        "mrr": _r4(mean_reciprocal_rank(ranks)),
        "mean_positive_cosine": _r4(math.fsum(positives) / len(positives)),
    }


def cosine_metrics(candidate: Any, reference: Any, prefix: str) -> dict[str, float]:
    from toolkit.bridges.tensors import row_cosines, shape

    if shape(candidate) != shape(reference):
        raise UsageError(
            f"cannot compare outputs of shape {shape(candidate)} with a reference of "
            f"shape {shape(reference)}"
        )
    cosines = row_cosines(candidate, reference)
    return {
        f"{prefix}_mean": _r4(math.fsum(cosines) / len(cosines)),
        f"{prefix}_min": _r4(min(cosines)),
    }


def _r4(value: Any) -> float:
    return round(float(value), 4)


def request_texts(rows: Sequence[dict[str, Any]], task: str) -> list[Any]:
    """What a client sends, one request per row: the query, the text, the prompt (or the chat
    messages of a generation row)."""
    if task == "generation":
        return [prompt_of(row) for row in rows]
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


def _row_for(text: Any, task: str) -> dict[str, Any]:
    """A one-text row of the task's shape: only the request field is read when timing."""
    row: dict[str, Any] = {key: "" for key in ROW_FIELDS[task]}
    row.update({"id": "latency", REQUEST_FIELD[task]: text})
    if task == "generation" and not isinstance(text, str):
        row["messages"] = text
    return row


def latency_summary(samples: Sequence[float]) -> dict[str, Any]:
    """Percentiles of the samples, and the machine's load right after them (a busy machine is
    told apart from a slow model by it)."""
    summary: dict[str, Any] = {
        "p50Ms": round(percentile(samples, 50), 2),
        "p95Ms": round(percentile(samples, 95), 2),
        "p99Ms": round(percentile(samples, 99), 2),
        "batchSize": 1,
        "requests": len(samples),
    }
    with contextlib.suppress(OSError, AttributeError):  # no load average on this platform
        summary["loadAverage"] = round(os.getloadavg()[0], 2)
    return summary
