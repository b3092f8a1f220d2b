"""`keel train TrainingRun/NAME`: run the fine-tune a TrainingRun records, update the records.

The TrainingRun and the Adapter that names it hold every hyperparameter; the run reads them,
trains a LoRA with peft, writes the adapter as safetensors into the Adapter's directory,
tracks it with DVC and writes back what was measured: files and digests on the Adapter, the
outcome on the TrainingRun. `spec.hyperparameters.objective` says what is trained:
`contrastive` (the default; an embedding model on the run's (query, passage) rows, in-batch
negatives) or `causal-lm` (a decoder on (prompt, completion) rows, next-token loss on the
completion; by `epochs` when given, else `steps`; `hyperparameters.threads`, default 1, fixes
torch's thread count so the adapter's bytes repeat: on a shared 2-core machine two threads
were 5-10 times slower than one for these small matrices).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.manifests import Adapter, Dataset, TrainingRun
from toolkit.workflows.evaluation import pipeline

# the objective -> the two row fields its (input, target) pairs come from
PAIR_FIELDS = {"contrastive": ("query", "passage"), "causal-lm": ("prompt", "completion")}

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from toolkit.bridges.adapters import LoraTraining
    from toolkit.core.repository import Graph


@dataclass(frozen=True)
class TrainResult:
    adapter: str
    steps: int
    first_loss: float
    final_loss: float
    seconds: float
    trainable_parameters: int
    files: tuple[str, ...]


def adapter_of(graph: Graph, run: TrainingRun) -> Adapter:
    for adapter in graph.of_kind(Adapter):
        if adapter.spec.training_run == run.ref:
            return adapter
    raise UsageError(f"{run.ref}: no Adapter names it in spec.trainingRun; write the Adapter first")


def training_config(run: TrainingRun, adapter: Adapter) -> LoraTraining:
    from toolkit.bridges.adapters import LoraTraining

    spec, extra = run.spec, run.spec.hyperparameters
    if spec.method != "lora" or adapter.spec.method != "lora":
        raise UsageError(f"{run.ref} spec.method: keel trains lora adapters, not {spec.method}")
    objective = extra.get("objective", "contrastive")
    if objective not in PAIR_FIELDS:
        raise UsageError(
            f"{run.ref} spec.hyperparameters.objective: expected one of "
            f"{', '.join(PAIR_FIELDS)}, got {objective!r}"
        )
    if spec.epochs is None and objective != "causal-lm":
        raise UsageError(f"{run.ref} spec.epochs: keel trains by epochs; give epochs")
    return LoraTraining(
        rank=adapter.spec.rank,
        alpha=adapter.spec.alpha,
        dropout=adapter.spec.dropout,
        target_modules=tuple(adapter.spec.target_modules),
        learning_rate=spec.optimizer.learning_rate,
        weight_decay=spec.optimizer.weight_decay,
        warmup_steps=spec.optimizer.warmup_steps,
        batch_size=spec.batch_size,
        epochs=spec.epochs or 1,
        seed=spec.seed,
        steps=spec.steps if spec.epochs is None else None,
        objective=objective,
        temperature=float(extra.get("temperature", 0.05)),
        max_length=int(extra.get("maxLength", 256)),
        betas=tuple(extra.get("adamBetas", (0.9, 0.999))),  # type: ignore[arg-type]
        eps=float(extra.get("adamEps", 1e-8)),
    )


def train(
    root: Path, ref: str, on_step: Callable[[int, int, float], None] | None = None
) -> TrainResult:
    """Run the fine-tune TrainingRun `ref` records; `on_step(step, total, loss)` is told after
    each optimizer step."""
    from toolkit.bridges import ml
    from toolkit.bridges.adapters import save_adapter
    from toolkit.bridges.heads import load_model_for
    from toolkit.workflows.artifacts.verify import load_graph

    graph = load_graph(root)
    run = graph.get_as(ref, TrainingRun)
    if run is None:
        raise UsageError(f"{ref}: no such TrainingRun (or it does not validate)")
    adapter = adapter_of(graph, run)
    config = training_config(run, adapter)
    subject = pipeline.resolve(graph, run.spec.base)
    pairs = _pairs(root, graph, run, PAIR_FIELDS[config.objective])
    tokenizer = ml.load_tokenizer(pipeline.directory(root, subject.tokenizer.spec))
    model = load_model_for(
        pipeline.directory(root, subject.model.spec),
        "generation" if config.objective == "causal-lm" else "embedding",
        allow_pickle=pipeline.pickle_opt_in(subject.model),
    )
    pipeline.raise_first(pipeline.check_model(model, subject.model))
    trained = _fit(model, tokenizer, pairs, config, run, on_step)
    target = pipeline.directory(root, adapter.spec)
    staging = target.with_name(f".{target.name}.training")
    shutil.rmtree(staging, ignore_errors=True)
    files = save_adapter(trained.model, staging)
    _portable_config(staging / "adapter_config.json", subject.model.spec.directory)
    _replace_directory(staging, target)
    _record(root, run, adapter, subject, trained, files)
    return TrainResult(
        adapter.ref,
        len(trained.losses),
        trained.losses[0],
        trained.losses[-1],
        trained.seconds,
        trained.trainable_parameters,
        tuple(files),
    )


def _fit(
    model: Any,
    tokenizer: Any,
    pairs: list[tuple[str, str]],
    config: LoraTraining,
    run: TrainingRun,
    on_step: Callable[[int, int, float], None] | None,
) -> Any:
    """The trained adapter (bridges.adapters.TrainedAdapter), deterministically."""
    from toolkit.bridges import ml

    if config.objective == "causal-lm":
        from toolkit.bridges.llm_training import deterministic_torch
        from toolkit.bridges.llm_training_lora import train_causal_lora_model

        threads = int(run.spec.hyperparameters.get("threads", 1))
        with deterministic_torch(config.seed, threads):
            return train_causal_lora_model(model, tokenizer, pairs, config, on_step)
    from toolkit.bridges.adapters import train_contrastive_lora
    from toolkit.bridges.tensors import deterministic_algorithms

    with deterministic_algorithms():
        return train_contrastive_lora(
            model,
            pairs,
            config,
            lambda m, texts: ml.encode_batch(m, tokenizer, texts, config.max_length),
            on_step,
        )


def _pairs(
    root: Path, graph: Graph, run: TrainingRun, fields: tuple[str, str]
) -> list[tuple[str, str]]:
    pairs = []
    for ref in run.spec.datasets:
        dataset = graph.get_as(ref, Dataset)
        if dataset is None:
            raise UsageError(f"{run.ref} spec.datasets: {ref} does not exist")
        pairs += [(row[fields[0]], row[fields[1]]) for row in _rows(root, dataset, fields)]
    if not pairs:
        raise UsageError(f"{run.ref} spec.datasets: no ({', '.join(fields)}) rows to train on")
    return pairs


def _rows(root: Path, dataset: Dataset, fields: tuple[str, str]) -> list[dict[str, Any]]:
    """The dataset's JSONL rows, each checked for the two text fields."""
    from toolkit.workflows.evaluation.tasks import read_rows

    if fields == PAIR_FIELDS["contrastive"]:
        return read_rows(root, dataset, "retrieval")
    if dataset.spec.format != "jsonl":
        raise UsageError(
            f"{dataset.ref} spec.format: keel trains on jsonl, not {dataset.spec.format}"
        )
    rows = []
    for entry in dataset.spec.files:
        path = root / dataset.spec.directory / entry.path
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise UsageError(f"{path}:{number}: not JSON ({error})") from None
            if not all(isinstance(row.get(f), str) for f in fields):
                raise UsageError(
                    f"{path}:{number}: a causal-lm row needs string fields {', '.join(fields)}"
                )
            rows.append(row)
    return rows


def _portable_config(path: Path, base_directory: str) -> None:
    """peft records the base model's absolute path, which makes the file's bytes (and its
    sha256) differ from one checkout to the next; record the repository-relative directory."""
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_directory
    path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")


def _replace_directory(staging: Path, target: Path) -> None:
    """Swap the freshly written adapter in; the old one is removed only once the new is there."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _record(
    root: Path,
    run: TrainingRun,
    adapter: Adapter,
    subject: pipeline.Subject,
    trained: Any,
    files: list[str],
) -> None:
    from toolkit.core.digests import canonical_json_digest
    from toolkit.core.manifest_writer import edit_manifest, sync_value
    from toolkit.workflows.artifacts.track import track
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation.fingerprint import hardware

    folder = pipeline.directory(root, adapter.spec)
    track(root, [folder / name for name in files], adapter.ref)
    base_digest = pipeline.weights_digest(root, subject.model)
    graph = load_graph(root)

    def edit_adapter(data: Any) -> None:
        spec = data["spec"]
        sync_value(spec["base"], "digest", base_digest)
        sync_value(spec, "configDigest", canonical_json_digest(folder / "adapter_config.json"))
        sync_value(spec["layers"], "trainableParameters", trained.trainable_parameters)
        sync_value(spec["layers"], "totalParameters", trained.total_parameters)

    def edit_run(data: Any) -> None:
        spec = data["spec"]
        sync_value(spec, "baseDigest", base_digest)
        sync_value(spec, "steps", len(trained.losses))
        sync_value(
            spec,
            "outcome",
            {
                "steps": len(trained.losses),
                "finalLoss": round(trained.losses[-1], 4),
                "durationSeconds": round(trained.seconds, 2),
            },
        )
        sync_value(spec["hardware"], "cpu", hardware()["cpu"])

    adapter_entry = graph.entries[adapter.ref]
    run_entry = graph.entries[run.ref]
    edit_manifest(adapter_entry.document.path, "Adapter", adapter.metadata.name, edit_adapter)
    edit_manifest(run_entry.document.path, "TrainingRun", run.metadata.name, edit_run)
