"""Which tensors of a safetensors checkpoint are parameters, and how many weights each holds.

From the headers only (no tensor is read):
- floating-point tensors (F64 … F4) are parameters, one per element, except the float buffers
  transformers saves with the weights (BART's `final_logits_bias`, old checkpoints'
  `rotary_emb.inv_freq`, GPT-2's `attn.masked_bias`), which it does not count either;
- I4/U4 tensors, and I8 tensors named `*.weight`, are quantized weights, one per element;
- a GPTQ or AWQ checkpoint packs its linear weights in int32 `qweight` tensors, 32 / bits
  weights each, with the bits read from config.json's `quantization_config`; its `qzeros`,
  `scales` and `g_idx` (and the scales of FP8 weights) describe the quantization and are
  not parameters;
- every other integer or boolean tensor (`position_ids`) is a buffer.
Each parameter carries the dtype the Model records for it (`float16`, `float8_e4m3fn`,
`int4` …).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError
from toolkit.core.safetensors_header import DTYPE_BITS

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from toolkit.core.safetensors_header import TensorEntry

MODEL_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2": "float8_e5m2", "F8_E5M2FNUZ": "float8_e5m2fnuz", "F8_E8M0": "float8_e8m0fnu",
    "F6_E2M3": "float6_e2m3", "F6_E3M2": "float6_e3m2", "F4": "float4_e2m1",
    "I4": "int4", "U4": "int4",
}  # fmt: skip
"""safetensors dtype of a parameter -> the Model's `dtype` name (torch's, where torch has one)."""
PACKED_BITS = (2, 3, 4, 8)
FLOAT_BUFFERS = ("final_logits_bias", ".inv_freq", ".masked_bias")
QUANT_METADATA = (
    ".qzeros", ".scales", ".g_idx", ".weight_scale", ".weight_scale_inv", ".input_scale",
)  # fmt: skip
_QUANTIZED_WEIGHT_DTYPES = ("F8_", "I4", "U4", "I8", "U8", "F4")


@dataclass(frozen=True)
class Packing:
    """How a GPTQ/AWQ checkpoint packs its weights (config.json `quantization_config`)."""

    method: str
    bits: int
    group_size: int | None


def packing(config: dict[str, Any]) -> Packing | None:
    """The packing config.json's `quantization_config` declares, or None (not GPTQ/AWQ)."""
    settings = config.get("quantization_config")
    if not isinstance(settings, dict):
        return None
    method = str(settings.get("quant_method", "")).lower()
    if method not in ("gptq", "awq"):
        return None
    bits = settings.get("bits", settings.get("w_bit"))
    group = settings.get("group_size", settings.get("q_group_size"))
    if bits not in PACKED_BITS:
        raise ManifestError(
            f"config.json: quantization_config.bits {bits!r} is not one of {PACKED_BITS}"
        )
    return Packing(method, bits, group if isinstance(group, int) and group > 0 else None)


def packing_beside(path: Path) -> Packing | None:
    """The packing declared by the config.json in `path` (a directory) or beside it (a file);
    None without one."""
    config = path / "config.json" if path.is_dir() else path.with_name("config.json")
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ManifestError(f"{config}: not readable JSON ({error})") from None
    return packing(data) if isinstance(data, dict) else None


def parameters(
    entries: Iterable[TensorEntry], packed: Packing | None, where: Path | str
) -> dict[str, tuple[int, str]]:
    """{tensor name: (parameters it holds, the Model dtype they have)} for the tensors that
    hold parameters; every other tensor is a buffer or quantization metadata."""
    entries = list(entries)
    quantized = {
        e.name.rsplit(".", 1)[0]
        for e in entries
        if e.name.endswith(".qweight")
        or (e.name.endswith(".weight") and e.dtype.startswith(_QUANTIZED_WEIGHT_DTYPES))
    }
    counted: dict[str, tuple[int, str]] = {}
    for entry in entries:
        module = entry.name.rsplit(".", 1)[0]
        if entry.name.endswith(QUANT_METADATA) and module in quantized:
            continue
        if entry.name.endswith(".qweight") and packed is not None:
            counted[entry.name] = (_unpacked(entry, packed, where), f"int{packed.bits}")
        elif entry.dtype in MODEL_DTYPES and not entry.name.endswith(FLOAT_BUFFERS):
            counted[entry.name] = (entry.elements, MODEL_DTYPES[entry.dtype])
        elif entry.dtype == "I8" and entry.name.endswith(".weight"):
            counted[entry.name] = (entry.elements, "int8")  # int8 weights (W8A8)
    return counted


def _unpacked(entry: TensorEntry, packed: Packing, where: Path | str) -> int:
    total_bits = entry.elements * DTYPE_BITS[entry.dtype]
    if entry.dtype not in ("I32", "U32", "I16", "U16", "I8", "U8") or total_bits % packed.bits:
        raise ManifestError(
            f"{where}: tensor {entry.name!r}: {entry.elements} {entry.dtype} elements do not pack "
            f"whole {packed.bits}-bit weights ({packed.method} quantization_config.bits)"
        )
    return total_bits // packed.bits


def packed_but_uncounted(entries: Iterable[TensorEntry], packed: Packing | None) -> list[str]:
    """Tensors that hold packed weights `parameters` cannot unpack: a `qweight` without GPTQ/AWQ
    bits in config.json, bitsandbytes' U8 `weight`, compressed-tensors' `weight_packed`."""
    return [
        e.name
        for e in entries
        if (e.name.endswith(".qweight") and packed is None)
        or (e.name.endswith((".weight", ".weight_packed")) and e.dtype in ("U8", "I32", "U32"))
    ]


def is_parameter_dtype(dtype: str) -> bool:
    """Whether a tensor of this safetensors dtype holds parameters by itself (not packed)."""
    return dtype in MODEL_DTYPES
