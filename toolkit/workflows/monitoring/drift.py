"""`keel drift`: are production inputs still like the ones the Deployment was checked on?

The reference is the request texts of the Deployment's canary Dataset and, when the served
model carries an Adapter, of its TrainingRun's datasets; the sample is a JSONL file of
production inputs. The Deployment's `monitoring.drift.method` says how they are compared,
and `monitoring.drift.threshold` when the score is drift (score above it):

- ``embedding-centroid-cosine``: 1 - cosine similarity of the mean unit-norm embeddings of the
  two sets, through the Deployment's own model (an encoder's pooling; mean-pooled last hidden
  states for a generator or classifier). 0 means the same direction, 1 orthogonal.
- ``token-length-psi``: the population stability index of the tokenizer's token counts, in
  bins fixed by the reference's deciles (and one below and one above its range), each share
  floored at `PSI_EPSILON`. Below 0.1 is usually read as stable, above 0.25 as a shift.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.core.contracts import contract_kind
from toolkit.core.errors import UsageError
from toolkit.manifests import Adapter, Dataset, Deployment, Quantization, TrainingRun

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from toolkit.core.repository import Graph

COSINE = "embedding-centroid-cosine"
PSI = "token-length-psi"
METHODS = (COSINE, PSI)
ALIASES = {"query-embedding-centroid-cosine": COSINE, "psi": PSI}
PSI_EPSILON = 1e-4
PSI_BINS = 10
MIN_INPUTS = 5
REQUEST_FIELDS = ("query", "text", "prompt")  # what a client sends, by dataset task


def canonical_method(name: str) -> str:
    """The method's canonical name; unknown names are returned as they are."""
    return ALIASES.get(name, name)


def method_of(deployment: Deployment) -> str:
    name = deployment.spec.monitoring.drift.method
    method = canonical_method(name)
    if method not in METHODS:
        known = ", ".join([*METHODS, *ALIASES])
        raise UsageError(
            f"{deployment.ref} spec.monitoring.drift.method: keel drift knows {known}; not {name!r}"
        )
    return method


def psi(reference: Sequence[float], sample: Sequence[float], bins: int = PSI_BINS) -> float:
    """Population stability index of `sample` against `reference`: bins cut at the reference's
    quantiles (deduplicated), plus one below its minimum and one above its maximum (a sample of
    longer texts than any reference one lands apart); shares floored at PSI_EPSILON; the sum of
    (q - p) * ln(q / p) over the bins."""
    if not reference or not sample:
        raise UsageError("token-length-psi needs at least one reference and one sample text")
    ordered = sorted(reference)
    low, high = ordered[0], ordered[-1]
    cuts = {ordered[min(len(ordered) - 1, len(ordered) * i // bins)] for i in range(1, bins)}
    edges = sorted(cuts)

    def index(value: float) -> int:
        if value < low:
            return 0
        if value > high:
            return len(edges) + 2
        return bisect.bisect_right(edges, value) + 1

    def shares(values: Sequence[float]) -> list[float]:
        counts = [0] * (len(edges) + 3)
        for value in values:
            counts[index(value)] += 1
        return [max(count / len(values), PSI_EPSILON) for count in counts]

    expected, actual = shares(reference), shares(sample)
    return sum((q - p) * math.log(q / p) for p, q in zip(expected, actual, strict=True))


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """1 - cosine similarity of two vectors (0 for the same direction)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0:
        raise UsageError("an embedding centroid is zero: cannot compare directions")
    return 1.0 - dot / norm


def text_of(value: Any) -> list[str]:
    """The request texts one JSONL row holds: a string, or a row or request body with query,
    text, prompt, texts (a list) or chat messages (their contents, joined)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    for key in REQUEST_FIELDS:
        if isinstance(value.get(key), str):
            return [value[key]]
    texts = value.get("texts")
    if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
        return list(texts)
    messages = value.get("messages")
    if isinstance(messages, list):
        parts = [m.get("content") for m in messages if isinstance(m, dict)]
        return ["\n".join(p for p in parts if isinstance(p, str))]
    return []


def read_texts(path: Path) -> list[str]:
    """Every request text in a JSONL file, in order; a line that holds none is an error."""
    texts: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found = text_of(json.loads(line))
        except ValueError as error:
            raise UsageError(f"{path}:{number}: not JSON ({error})") from None
        if not found:
            raise UsageError(
                f"{path}:{number}: expected a string or an object with one of "
                f"{', '.join(REQUEST_FIELDS)}, texts or messages"
            )
        texts += found
    return texts


@dataclass(frozen=True)
class Reference:
    texts: list[str]
    sources: dict[str, int]  # Dataset ref -> texts taken from it


def reference_datasets(graph: Graph, deployment: Deployment) -> list[Dataset]:
    """The canary Dataset, then the training datasets of the served adapter, if any."""
    spec = deployment.spec
    refs = [spec.canary.dataset]
    adapter_ref = spec.adapter
    quantization = graph.get_as(spec.quantization, Quantization)
    if adapter_ref is None and quantization is not None:
        adapter_ref = quantization.spec.adapter
    adapter = graph.get_as(adapter_ref, Adapter)
    run = graph.get_as(adapter.spec.training_run, TrainingRun) if adapter else None
    refs += [ref for ref in (run.spec.datasets if run else []) if ref not in refs]
    datasets = []
    for ref in refs:
        dataset = graph.get_as(ref, Dataset)
        if dataset is None:
            raise UsageError(f"{deployment.ref}: {ref} does not exist (or does not validate)")
        datasets.append(dataset)
    return datasets


def reference_texts(root: Path, graph: Graph, deployment: Deployment) -> Reference:
    texts: list[str] = []
    sources: dict[str, int] = {}
    for dataset in reference_datasets(graph, deployment):
        taken = 0
        for entry in dataset.spec.files:
            path = root / dataset.spec.directory / entry.path
            if not path.is_file():
                raise UsageError(
                    f"{dataset.ref}: {path.relative_to(root)} is missing; "
                    f"run `keel pull {deployment.ref}` first"
                )
            found = read_texts(path)
            texts += found
            taken += len(found)
        sources[str(dataset.ref)] = taken
    return Reference(texts, sources)


@dataclass(frozen=True)
class DriftResult:
    deployment: str
    method: str
    score: float
    threshold: float
    inputs: str
    sample_size: int
    reference: dict[str, int] = field(default_factory=dict)
    timestamp: float = 0.0

    @property
    def drifted(self) -> bool:
        return self.score > self.threshold


def drift(root: Path, ref: str, inputs: Path) -> DriftResult:
    """Score the production inputs in `inputs` against the Deployment `ref`'s reference."""
    from toolkit.workflows.artifacts.verify import load_graph

    graph = load_graph(root)
    deployment = graph.get(ref)
    if not isinstance(deployment, Deployment):
        raise UsageError(f"{ref}: no such Deployment (or it does not validate)")
    method = method_of(deployment)
    sample = read_texts(inputs)
    if len(sample) < MIN_INPUTS:
        raise UsageError(
            f"{inputs}: {len(sample)} inputs; keel drift needs at least {MIN_INPUTS} "
            "(a centroid or a histogram of fewer says little)"
        )
    reference = reference_texts(root, graph, deployment)
    scorer = _cosine_score if method == COSINE else _psi_score
    score = scorer(root, graph, deployment, reference.texts, sample)
    return DriftResult(
        deployment=str(deployment.ref),
        method=method,
        score=score,
        threshold=deployment.spec.monitoring.drift.threshold,
        inputs=str(inputs),
        sample_size=len(sample),
        reference=reference.sources,
        timestamp=time.time(),
    )


def _psi_score(
    root: Path, graph: Graph, deployment: Deployment, reference: list[str], sample: list[str]
) -> float:
    from toolkit.bridges.ml import load_tokenizer
    from toolkit.bridges.pooling import token_lengths
    from toolkit.workflows.evaluation import pipeline

    subject = pipeline.resolve(graph, str(deployment.ref))
    _require_pulled(root, deployment, [subject.tokenizer.spec])
    tokenizer = load_tokenizer(pipeline.directory(root, subject.tokenizer.spec))
    lengths = token_lengths(tokenizer, reference), token_lengths(tokenizer, sample)
    return psi(*lengths)


def _cosine_score(
    root: Path, graph: Graph, deployment: Deployment, reference: list[str], sample: list[str]
) -> float:
    from toolkit.bridges.pooling import centroid
    from toolkit.workflows.evaluation import pipeline

    kind = contract_kind(deployment)
    task = kind if kind in ("generation", "classification") else "embedding"
    subject = pipeline.resolve(graph, str(deployment.ref), merge_adapter=True)
    parts = [subject.tokenizer.spec, subject.model.spec]
    _require_pulled(root, deployment, parts + ([subject.adapter.spec] if subject.adapter else []))
    runner = pipeline.load_subject(root, subject, task)
    length = deployment.spec.serving.max_input_tokens
    return cosine_distance(
        centroid(runner, reference, max_length=length), centroid(runner, sample, max_length=length)
    )


def _require_pulled(root: Path, deployment: Deployment, specs: list[Any]) -> None:
    """Each artifact directory the method loads is here, or say how to get it."""
    for spec in specs:
        if not (root / spec.directory).is_dir():
            raise UsageError(f"{spec.directory} is missing; run `keel pull {deployment.ref}` first")
