"""`keel demo DIR --example llm`: the life of a generative deployment, from an empty directory.

After `demo()` has laid out the LLM example (`toolkit/data/example_llm/`, with the values a
recorded run measured), the story makes everything the manifests describe and measures every
value again, with keel's own commands:
cut the datasets from `pydoc_data.topics` and `keel track` them; train a byte-level BPE
tokenizer and a 2-layer Llama from scratch (`toolkit.bridges.llm_training`, fixed seeds and
threads, so the digests repeat) and `keel pin` the result from its local directory; `keel
train` the causal-LM LoRA; `keel quantize` to int8 weight-only; `keel evaluate` every
Evaluation and validate; push; and `keel reproduce --serve` from a fresh clone, whose stage 7
serves the generation contract with streaming. One commit a step (`state.LLM_STEPS`); run
again, it resumes after the last.
"""

from __future__ import annotations

import functools
import math
import shutil
from typing import TYPE_CHECKING, Any

from toolkit.core.progress import activity
from toolkit.workflows.demo import llm_example as ex
from toolkit.workflows.demo.story import (
    Story,
    Teller,
    evaluate_and_validate,
    quantize_step,
    tell_story,
    train_step,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from toolkit.workflows.reproduce.reproduce import StageResult

DEPLOYMENT = f"Deployment/{ex.DEPLOYMENT}"
TRAINING_RUN = f"TrainingRun/{ex.ADAPTER}"
QUANTIZATION = f"Quantization/{ex.QUANTIZATION}"
TRAINED = ".keel/demo/trained"
"""Where the base model and tokenizer are trained before `keel pin` copies them (git-ignored)."""


def tell_llm_story(
    root: Path,
    *,
    done: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    say: Callable[[str], None] = lambda line: None,
    on_stage: Callable[[StageResult], None] | None = None,
) -> Story:
    """The LLM example's story in the demo repository at `root` (see `story.tell_story`)."""
    return tell_story(
        root,
        done=done,
        workdir=workdir,
        keep=keep,
        say=say,
        on_stage=on_stage,
        steps=STEPS,
        deployment=DEPLOYMENT,
    )


def _datasets(teller: Teller) -> None:
    from toolkit.bridges.llm_training_data import write_llm_datasets
    from toolkit.workflows.artifacts.track import track

    root = teller.story.root
    teller.step("track  the datasets, cut from pydoc_data.topics (CPython's documentation)")
    written = write_llm_datasets(root / ex.DATASETS_DIR)
    rows = ex.dataset_rows()
    for name in ex.DATASETS:
        tracked = track(root, [written[name]], f"Dataset/{name}")
        count = len(rows[name])
        _sync(root, f"Dataset/{name}", functools.partial(_set, key="rows", value=count))
        digest = tracked.files[0].sha256[:12] if tracked.files else "?"
        teller.step(f"     Dataset/{name}: {count} rows, sha256 {digest}")
    teller.commit("keel track: the LLM example's datasets, from pydoc_data.topics")


def _pin_base(teller: Teller) -> None:
    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest

    root = teller.story.root
    teller.step(f"pin    {ex.MODEL}: first trained here from scratch, in {TRAINED}/")
    trained = train_base(root / TRAINED, teller.step)
    teller.step(f"     pinning {trained.relative_to(root)} -> {ex.MODEL_DIR}")
    with activity(f"pin: copying and hashing {ex.MODEL}"):
        pinned = pin(
            root,
            PinRequest(
                source=str(trained),
                name=ex.MODEL,
                directory=ex.MODEL_DIR,
                description=ex.MODEL_DESCRIPTION,
            ),
        )
    _after_pin(root)
    teller.step(f"     {pinned.files} files pinned by sha256 and tracked by DVC")
    teller.commit(f"keel pin: {ex.MODEL}, trained from scratch on pydoc_data.topics")


def train_base(staging: Path, say: Callable[[str], None]) -> Path:
    """Train the tokenizer, then the model, into `staging`; the model directory (tokenizer
    files beside the weights), ready to pin. Same seed, threads and text: same bytes."""
    from toolkit.bridges import llm_training as llm

    shutil.rmtree(staging, ignore_errors=True)
    tokenizer_dir, model_dir = staging / "tokenizer", staging / "model"
    texts, _ = llm.split_corpus()  # the held-out topics stay out: llm-heldout's perplexity
    with activity("train: byte-level BPE tokenizer"):
        llm.train_byte_bpe_tokenizer(texts, ex.VOCAB_SIZE, tokenizer_dir)
    say(f"     tokenizer: {ex.VOCAB_SIZE}-token byte-level BPE on {len(texts)} topics")
    with activity(f"train: a tiny Llama from scratch, {ex.BASE_STEPS} steps") as bar:
        result = llm.train_tiny_llama(
            texts,
            tokenizer_dir,
            model_dir,
            seed=ex.SEED,
            steps=ex.BASE_STEPS,
            threads=ex.THREADS,
            on_step=lambda step, total, _: bar.update(step, total),
        )
    say(
        f"     model: a Llama, {len(result.losses)} steps in {result.seconds:.1f} s, loss "
        f"{result.losses[0]:.4f} -> {result.losses[-1]:.4f}; {result.parameters} parameters"
    )
    for path in tokenizer_dir.iterdir():
        if path.is_file() and not (model_dir / path.name).exists():
            shutil.copyfile(path, model_dir / path.name)
    return model_dir


def _after_pin(root: Path) -> None:
    """What pin does not own but the pinned model decides: the Quantization's memory budget,
    fp32 bytes as the bound (int8 weight-only leaves embeddings and norms in fp32)."""
    from toolkit.manifests import Model

    model = _graph(root).get_as(f"Model/{ex.MODEL}", Model)
    assert model is not None  # pin just wrote it
    parameters = model.spec.parameters
    budget = {
        "parameters": parameters,
        "bytesPerParameter": 4,
        "overhead": 0.3,
        "totalBytes": math.ceil(parameters * 4 * 1.3),
    }
    _sync(root, QUANTIZATION, lambda spec: _set(spec, "memoryBudget", budget))


def _train(teller: Teller) -> None:
    train_step(teller, TRAINING_RUN, f"causal-LM LoRA on {ex.MODEL}")


def _quantize(teller: Teller) -> None:
    quantize_step(teller, QUANTIZATION, "int8 weight-only")


def _evaluate(teller: Teller) -> None:
    evaluate_and_validate(teller, "every LLM evaluation measured")


def _graph(root: Path) -> Any:
    from toolkit.workflows.artifacts.verify import load_graph

    return load_graph(root)


def _sync(root: Path, ref: str, edit: Callable[[Any], None]) -> None:
    from toolkit.core.manifest_writer import edit_manifest

    kind, name = ref.split("/", 1)
    path = _graph(root).entries[ref].document.path
    edit_manifest(path, kind, name, lambda data: edit(data["spec"]))


def _set(spec: Any, key: str, value: Any) -> None:
    from toolkit.core.manifest_writer import sync_value

    sync_value(spec, key, value)


STEPS: tuple[tuple[str, str, Callable[[Teller], None]], ...] = (
    ("data", "track", _datasets),
    ("pin", "pin", _pin_base),
    ("train", "train", _train),
    ("quantize", "quantize", _quantize),
    ("evaluate", "evaluate", _evaluate),
)
