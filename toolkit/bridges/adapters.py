"""Apply a LoRA adapter with peft after checking it fits the base; train one for the demo.

Before peft touches anything, the adapter's files are read as data: adapter_config.json must
say what the Adapter manifest says (method, rank, alpha, target modules) and every LoRA
tensor must fit the module it adapts in the loaded base. An adapter trained on another base
is named as such here, rather than surfacing as a size-mismatch traceback from deep in peft.
Adapter weights are read from safetensors only; peft's pickle fallback is never reached.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.bridges.ml import require, torch_module
from toolkit.core.errors import KeelError
from toolkit.core.safetensors_header import read_header

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from toolkit.manifests.adapter import AdapterSpec

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
LORA_TENSOR = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


class AdapterError(KeelError):
    """The adapter does not fit its manifest or its base model."""

    exit_code = 1


def check_config(directory: Path, spec: AdapterSpec) -> list[str]:
    """Differences between adapter_config.json and the Adapter manifest, as `field: ...` lines."""
    path = directory / ADAPTER_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{path.name}: cannot be read as JSON ({error})"]
    expected = {
        "peft_type": (spec.method.upper(), "spec.method"),
        "r": (spec.rank, "spec.rank"),
        "lora_alpha": (spec.alpha, "spec.alpha"),
        "target_modules": (sorted(spec.target_modules), "spec.targetModules"),
    }
    problems = []
    for key, (want, where) in expected.items():
        found = config.get(key)
        if isinstance(found, list):
            found = sorted(found)
        if found != want and not (isinstance(want, float) and found == int(want)):
            problems.append(f"{where}: manifest says {want!r}, {path.name} has {key}={found!r}")
    return problems


def check_fits_base(directory: Path, model: Any) -> list[str]:
    """LoRA tensors whose module is missing from the base or whose shape does not fit it."""
    torch = torch_module()
    modules = dict(model.named_modules())
    problems = []
    for name, entry in sorted(read_header(directory / ADAPTER_WEIGHTS).tensors.items()):
        match = LORA_TENSOR.match(name)
        if match is None:
            continue
        module = modules.get(match["module"])
        if not isinstance(module, torch.nn.Linear):
            problems.append(f"{name}: the base has no linear module {match['module']}")
            continue
        if match["part"] == "A" and entry.shape[-1] != module.in_features:
            problems.append(
                f"{name} has shape {list(entry.shape)} but {match['module']} in the base takes "
                f"{module.in_features} inputs"
            )
        if match["part"] == "B" and entry.shape[0] != module.out_features:
            problems.append(
                f"{name} has shape {list(entry.shape)} but {match['module']} in the base has "
                f"{module.out_features} outputs"
            )
    return problems


def apply_adapter(model: Any, directory: Path, *, merge: bool) -> Any:
    """The base `model` with the adapter in `directory` applied (merged into the weights when
    `merge`), in eval mode. Call the two checks first."""
    if not (directory / ADAPTER_WEIGHTS).is_file():
        raise AdapterError(f"{directory}: no {ADAPTER_WEIGHTS}; keel loads safetensors only")
    peft = require("peft")
    with warnings.catch_warnings():
        # peft calls transformers APIs that transformers has deprecated: not ours to act on
        warnings.simplefilter("ignore", FutureWarning)
        try:
            adapted = peft.PeftModel.from_pretrained(model, str(directory), is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as error:
            text = str(error).strip()
            first = text.splitlines()[0] if text else type(error).__name__
            raise AdapterError(f"peft could not apply {directory.name}: {first}") from None
        adapted = adapted.eval()
        return adapted.merge_and_unload().eval() if merge else adapted


@dataclass(frozen=True)
class LoraTraining:
    """What a TrainingRun and its Adapter say about a LoRA fine-tune: contrastive (the
    embedding model's) or causal-lm (a decoder's completions, `llm_training_lora`), which
    counts `steps` optimizer steps when given, else `epochs` passes over the pairs."""

    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]
    learning_rate: float
    weight_decay: float
    warmup_steps: int
    batch_size: int
    epochs: int
    seed: int
    temperature: float = 0.05
    max_length: int = 256
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    steps: int | None = None
    objective: str = "contrastive"


@dataclass
class TrainedAdapter:
    model: Any
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    trainable_parameters: int = 0
    total_parameters: int = 0


def with_lora(model: Any, config: LoraTraining, task_type: str = "FEATURE_EXTRACTION") -> Any:
    """`model` wrapped by peft with the LoRA layers `config` describes, for peft's TaskType
    `task_type` (FEATURE_EXTRACTION for an encoder, CAUSAL_LM for a decoder)."""
    peft = require("peft")
    lora = peft.LoraConfig(
        r=config.rank,
        # peft writes alpha into adapter_config.json as given: 16, not 16.0, keeps the
        # config (and its digest) the same as that of an adapter trained with an int alpha
        lora_alpha=int(config.alpha) if float(config.alpha).is_integer() else config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type=getattr(peft.TaskType, task_type),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft on deprecated transformers APIs
        return peft.get_peft_model(model, lora)


def train_contrastive_lora(
    model: Any,
    pairs: Sequence[tuple[str, str]],
    config: LoraTraining,
    encode: Callable[[Any, list[str]], Any],
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainedAdapter:
    """Train LoRA on (query, passage) pairs with in-batch negatives, deterministically.

    `encode(model, texts)` returns unit-norm embeddings with gradients. Batches follow a
    `torch.randperm` per epoch from a generator seeded with `config.seed`. `on_step(step,
    total, loss)` is told after each optimizer step (a progress bar, say).
    """
    torch = torch_module()
    transformers = require("transformers")
    torch.manual_seed(config.seed)
    adapted = with_lora(model, config)
    adapted.train()
    trainable = [p for p in adapted.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable,
        lr=config.learning_rate,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
    )
    total = math.ceil(len(pairs) / config.batch_size) * config.epochs
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total)
    generator = torch.Generator().manual_seed(config.seed)
    result = TrainedAdapter(adapted)
    start = time.perf_counter()
    for _ in range(config.epochs):
        order = torch.randperm(len(pairs), generator=generator).tolist()
        for first in range(0, len(pairs), config.batch_size):
            batch = [pairs[i] for i in order[first : first + config.batch_size]]
            queries = encode(adapted, [q for q, _ in batch])
            passages = encode(adapted, [p for _, p in batch])
            logits = queries @ passages.T / config.temperature
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.losses.append(float(loss.item()))
            if on_step is not None:
                on_step(len(result.losses), total, result.losses[-1])
    result.seconds = time.perf_counter() - start
    adapted.eval()
    result.trainable_parameters, result.total_parameters = adapted.get_nb_trainable_parameters()
    return result


def save_adapter(adapted: Any, directory: Path) -> list[str]:
    """save_pretrained as safetensors; the generated model card (which embeds an absolute
    base-model path) is dropped. Returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    adapted.save_pretrained(str(directory), safe_serialization=True)
    card = directory / "README.md"
    if card.exists():
        card.unlink()
    return sorted(p.name for p in directory.iterdir() if p.is_file())
