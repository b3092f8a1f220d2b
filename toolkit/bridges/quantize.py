"""Re-run a Quantization recipe on verified fp32 weights, and digest the result.

Re-quantizing the same fp32 weights with the same library version is deterministic, so the
canonical tensor digest of the quantized state dict is a fingerprint of the recipe's result:
if it matches the record, the served weights are the recorded ones.

CPU schemes: int8 through torchao (dynamic int8 activations, int8 weights), fp16 and bf16
casts through torch. Schemes that need a GPU library fail with a message saying so.
"""

from __future__ import annotations

import importlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.bridges.ml import require, torch_module
from toolkit.core.digests import canonical_tensor_digest
from toolkit.core.errors import KeelError

if TYPE_CHECKING:
    from toolkit.manifests.quantization import Recipe

CASTS = {"fp16": "float16", "bf16": "bfloat16"}
NEEDS_GPU = {
    "int4": "a CUDA GPU and torchao's int4 kernels (or bitsandbytes)",
    "nf4": "a CUDA GPU and bitsandbytes",
    "gptq": "a CUDA GPU and auto-gptq / gptqmodel",
    "awq": "a CUDA GPU and autoawq",
}
GPU_LIBRARIES = {"bitsandbytes", "auto-gptq", "autoawq", "gptqmodel"}


class QuantizationError(KeelError):
    """The recipe cannot be re-run here, or running it failed."""


@dataclass(frozen=True)
class Quantized:
    model: Any
    quantized_modules: int
    tensor_digest: str


def torchao() -> Any:
    torch_module()  # quiets torchao's import-time warnings (see toolkit.bridges.ml)
    return require("torchao")


def quantize(model: Any, scheme: str, recipe: Recipe) -> Quantized:
    """Apply `recipe` to `model` in place (it must be the verified fp32 model) and digest it."""
    torch = torch_module()
    if scheme in NEEDS_GPU or recipe.library in GPU_LIBRARIES:
        need = NEEDS_GPU.get(scheme, f"a CUDA GPU and {recipe.library}")
        if not torch.cuda.is_available():
            raise QuantizationError(
                f"scheme {scheme} ({recipe.library}) needs {need}; this machine has no CUDA "
                "device: reproduce it on a GPU host"
            )
        raise QuantizationError(f"scheme {scheme} ({recipe.library}) is not supported by keel yet")
    if scheme == "none":
        return Quantized(model, 0, state_dict_digest(model))
    if scheme in CASTS:
        model = model.to(getattr(torch, CASTS[scheme]))
        return Quantized(model, 0, state_dict_digest(model))
    if recipe.library == "torchao":
        return _torchao(model, recipe)
    raise QuantizationError(
        f"recipe library {recipe.library} for scheme {scheme} is not supported on CPU; "
        "use torchao (int8) or a fp16/bf16 cast"
    )


def _torchao(model: Any, recipe: Recipe) -> Quantized:
    torch = torch_module()
    ao = torchao()
    quantization = importlib.import_module("torchao.quantization")
    config_class = getattr(quantization, recipe.config, None)
    if config_class is None:
        raise QuantizationError(
            f"torchao {ao.__version__} has no quantization config {recipe.config!r} "
            "(spec.recipe.config)"
        )
    try:
        config = config_class(**recipe.arguments)
    except TypeError as error:
        raise QuantizationError(
            f"spec.recipe.arguments do not fit {recipe.config}: {error}"
        ) from None
    try:
        quantization.quantize_(model, config)
    except (RuntimeError, NotImplementedError, ValueError, AssertionError) as error:
        raise QuantizationError(
            f"torchao {recipe.config} failed on this machine: {error}"
        ) from None
    changed = sum(
        1
        for m in model.modules()
        if isinstance(m, torch.nn.Linear) and type(m.weight).__module__.startswith("torchao")
    )
    return Quantized(model, changed, state_dict_digest(model))


def state_dict_digest(model: Any) -> str:
    """Canonical tensor digest of the model's state dict written as safetensors.

    torchao tensor subclasses are flattened with torchao's own safetensors support (plain
    tensors plus JSON metadata), so the digest covers the quantized data and its scales.
    """
    tensors, metadata = _flat_state_dict(model)
    safetensors_torch = require("safetensors.torch")
    with tempfile.TemporaryDirectory(prefix="keel-digest-") as scratch:
        path = Path(scratch) / "model.safetensors"
        safetensors_torch.save_file(tensors, str(path), metadata=metadata)
        return canonical_tensor_digest(path)


def _flat_state_dict(model: Any) -> tuple[dict[str, Any], dict[str, str] | None]:
    state = model.state_dict()
    if any(type(t).__module__.startswith("torchao") for t in state.values()):
        torchao()
        support = importlib.import_module("torchao.prototype.safetensors.safetensors_support")
        tensors, metadata = support.flatten_tensor_state_dict(state)
        return tensors, metadata
    # safetensors refuses shared storage (tied embeddings); separate copies digest the same
    return {name: t.detach().contiguous().clone() for name, t in state.items()}, None
