"""Bridge to the ML stack: load a local encoder, embed texts, fingerprint the environment.

torch, transformers and friends are imported only inside the functions here, so nothing but
`keel evaluate` and `keel reproduce` pays for them; when one is missing the error names the
pip extra. Models and tokenizers are read only from local directories (never a hub id, the hub
is switched offline before transformers is imported) and only from safetensors weights: the
exact files a load reads are resolved first (`resolve_weights`, a sharded index's every
target included) and anything but safetensors is refused before transformers is called,
which is then told `use_safetensors=True`. Nothing is ever unpickled.

Embeddings follow sentence-transformers: tokenize each batch (padding to the longest text in
the batch, truncation), run the model, mean-pool the last hidden state over the attention
mask, L2-normalise. Batches are consecutive slices of the input, so the same input list gives
the same batches and, on one machine, the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import MissingExtraError, UsageError
from toolkit.manifests.base import PICKLE_SUFFIXES

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

    import torch

SAFETENSORS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = (
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "tf_model.h5",
    "model.ckpt.index",
    "flax_model.msgpack",
)
FINGERPRINT_PACKAGES = ("torch", "transformers", "peft", "torchao", "tokenizers", "safetensors")


def require(module: str) -> ModuleType:
    """Import `module`, or raise MissingExtraError naming it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module) from None


# Warnings torch and torchao log at import on a CPU-only machine (optional CUDA kernels that
# cannot load, enum registrations); peft imports torchao on its own, so they are silenced here,
# before anything imports them, rather than around keel's own imports.
QUIET_LOGGERS = ("torchao", "torchao.kernel.intmm", "torch.utils._pytree")


def torch_module() -> Any:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    return require("torch")


def _transformers() -> Any:
    """transformers, imported with the hub switched off (unless the caller decided otherwise)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch_module()
    transformers = require("transformers")
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _local_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory; the {what} must be a local directory")
    return path.resolve()


def resolve_weights(model_dir: Path, *, allow_pickle: str | None = None) -> tuple[Path, ...]:
    """The exact weight files a load of `model_dir` reads, every one a safetensors file in the
    directory, checked before transformers (or torch) sees anything: `model.safetensors` and
    every `weight_map` target of `model.safetensors.index.json`. An index naming a pickle (or
    any file not `*.safetensors`, or one outside the directory) is refused whatever the Model
    says; pickle weights lying beside are refused unless the Model records allowPickle (a
    reason), and even then never loaded. A UsageError says which file and what to do."""
    from toolkit.core.errors import ManifestError
    from toolkit.core.safetensors_header import index_targets, unsafe_target

    pickles = sorted(
        p.relative_to(model_dir).as_posix()
        for p in model_dir.rglob("*")
        if p.name in PICKLE_WEIGHTS or p.name.lower().endswith(PICKLE_SUFFIXES)
    )
    files = [model_dir / "model.safetensors"] if (model_dir / "model.safetensors").is_file() else []
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            targets = index_targets(index)
        except ManifestError as error:
            raise UsageError(str(error)) from None
        for target in targets:
            problem = unsafe_target(target)
            if problem:
                raise UsageError(
                    f"{index}: weight_map names {problem}; keel loads safetensors only"
                )
            if not (model_dir / target).is_file():
                raise UsageError(f"{index}: weight_map names {target}, which is not in {model_dir}")
        files += [model_dir / t for t in targets if model_dir / t not in files]
    if not files:
        if pickles:
            raise UsageError(
                f"{model_dir}: only pickle weights ({', '.join(pickles)}); keel loads safetensors "
                "only: convert the weights to model.safetensors"
            )
        raise UsageError(f"{model_dir}: no model.safetensors; keel loads safetensors weights only")
    if pickles and not allow_pickle:
        raise UsageError(
            f"{model_dir}: pickle files beside the safetensors weights ({', '.join(pickles)}); "
            "remove them, or record why they stay in the Model's allowPickle.reason"
        )
    return tuple(files)


@dataclass(frozen=True)
class Encoder:
    """A tokenizer and a model in eval mode, fp32, on CPU."""

    tokenizer: Any
    model: Any

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 16, max_length: int = 256
    ) -> torch.Tensor:
        """Unit-norm float32 embeddings of `texts`, one row per text, in input order.

        Batches are consecutive slices of `batch_size` texts; each is padded to its longest
        text, truncated to `max_length` tokens, mean-pooled over the attention mask.
        """
        torch = torch_module()
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, not {batch_size}")
        items = list(texts)
        parts = []
        with torch.inference_mode():
            for start in range(0, len(items), batch_size):
                parts.append(self._embed_batch(items[start : start + batch_size], max_length))
        if not parts:
            width = int(self.model.config.hidden_size)
            return torch.empty((0, width), dtype=torch.float32)
        return torch.cat(parts).contiguous()

    def _embed_batch(self, texts: list[str], max_length: int) -> torch.Tensor:
        return encode_batch(self.model, self.tokenizer, texts, max_length).float()


def encode_batch(model: Any, tokenizer: Any, texts: list[str], max_length: int = 256) -> Any:
    """Mean-pooled, L2-normalised embeddings of one batch (keeps the autograd graph, so
    training uses it too): padded to the longest text, truncated to `max_length` tokens."""
    torch = torch_module()
    encoded = tokenizer(
        texts, padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
    )
    hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def load_tokenizer(tokenizer_dir: Path) -> Any:
    """The tokenizer in a local directory (nothing is downloaded)."""
    path = _local_dir(Path(tokenizer_dir), "tokenizer")
    transformers = _transformers()
    return transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def load_model(
    model_dir: Path, auto_class: str = "AutoModel", *, allow_pickle: str | None = None
) -> Any:
    """The fp32 model in a local directory (with the head `auto_class` gives), from safetensors
    weights only (`resolve_weights`), in eval mode; `allow_pickle` is the Model's recorded
    reason for pickle files beside them, which are never loaded."""
    path = _local_dir(Path(model_dir), "model")
    resolve_weights(path, allow_pickle=allow_pickle)
    torch = torch_module()
    auto = getattr(_transformers(), auto_class)
    model = auto.from_pretrained(
        str(path), local_files_only=True, use_safetensors=True, dtype=torch.float32
    )
    return model.eval()


def load_encoder(
    model_dir: Path, tokenizer_dir: Path | None = None, *, allow_pickle: str | None = None
) -> Encoder:
    """The encoder in `model_dir` (safetensors weights) with the tokenizer in `tokenizer_dir`
    (default: `model_dir`); both local directories, nothing is downloaded."""
    resolve_weights(_local_dir(Path(model_dir), "model"), allow_pickle=allow_pickle)
    tokenizer = load_tokenizer(Path(tokenizer_dir or model_dir))
    model = load_model(Path(model_dir), allow_pickle=allow_pickle)
    return Encoder(tokenizer=tokenizer, model=model)


def outputs_digest(embeddings: torch.Tensor | Sequence[Sequence[float]]) -> str:
    """ "sha256:<hex>" of the float32 little-endian bytes of the rows, concatenated in order."""
    digest = hashlib.sha256()
    if hasattr(embeddings, "detach"):
        array = embeddings.detach().cpu().float().contiguous().numpy().astype("<f4", copy=False)
        digest.update(array.tobytes())
    else:
        for row in embeddings:
            values = list(row)
            digest.update(struct.pack(f"<{len(values)}f", *values))
    return "sha256:" + digest.hexdigest()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def environment_fingerprint() -> dict[str, str]:
    """Library versions and the CPU facts that decide whether outputs are bit-identical."""
    torch = torch_module()
    fingerprint = {package: _version(package) for package in FINGERPRINT_PACKAGES}
    fingerprint["torch"] = str(torch.__version__)
    fingerprint["cpuCapability"] = str(torch.backends.cpu.get_cpu_capability())
    fingerprint["quantizedEngine"] = str(torch.backends.quantized.engine)
    fingerprint["torchThreads"] = str(torch.get_num_threads())
    return fingerprint
