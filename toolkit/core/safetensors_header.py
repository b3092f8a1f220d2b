"""Read a safetensors header without loading tensors (and without importing torch).

Layout: 8-byte little-endian header length N, N bytes of JSON, then the tensor data. Each
tensor entry has dtype, shape and data_offsets relative to the start of the data.

Every entry is checked here, once, so that nothing downstream (pin, digests, inspect,
validate) meets a header it cannot use: the dtype is a string, the shape a list of
non-negative integers, the offsets two integers inside the file's data whose span holds
exactly the tensor's bytes, the dtype one of DTYPE_BITS. A header that breaks one of these
is a one-line ManifestError naming the file and the tensor.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError

if TYPE_CHECKING:
    from pathlib import Path

MAX_HEADER_BYTES = 100 * 1024 * 1024

DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "I4": 4, "U4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
"""Bits per element of the safetensors dtypes (those safetensors lists, with the FNUZ FP8
variants torch writes and I4/U4 packed two to a byte): a tensor holds exactly
elements × bits / 8 bytes, so a 4- or 6-bit tensor fills whole bytes, and a dtype not listed
here is refused."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class Header:
    data_start: int
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]


def read_header(path: Path) -> Header:
    """The header of the safetensors file at `path`, every entry checked (ManifestError)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ManifestError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER_BYTES or 8 + length > size:
            raise ManifestError(
                f"{path}: not a safetensors file (header of {length} bytes in a file of {size})"
            )
        raw = handle.read(length)
    try:
        header: dict[str, Any] = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ManifestError(
            f"{path}: not a safetensors file (header is not JSON: {error})"
        ) from None
    if not isinstance(header, dict):
        raise ManifestError(f"{path}: not a safetensors file (header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ManifestError(
            f"{path}: malformed safetensors header: __metadata__ must map text to text"
        )
    data_size = size - 8 - length
    tensors = {name: _entry(path, name, entry, data_size) for name, entry in header.items()}
    return Header(8 + length, tensors, metadata)


def _entry(path: Path, name: str, entry: Any, data_size: int) -> TensorEntry:
    """One tensor's entry, or a ManifestError naming the tensor and what is wrong with it."""
    problem = _problem(entry, data_size)
    if problem:
        raise ManifestError(f"{path}: tensor {name!r}: {problem}")
    begin, end = entry["data_offsets"]
    return TensorEntry(name, entry["dtype"], tuple(entry["shape"]), begin, end)


def _problem(entry: Any, data_size: int) -> str | None:
    if not isinstance(entry, dict):
        return "the entry is not a JSON object"
    missing = [key for key in ("dtype", "shape", "data_offsets") if key not in entry]
    if missing:
        return f"no {', '.join(missing)}"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str):
        return f"dtype {dtype!r} is not a string"
    if not isinstance(shape, list) or not all(_natural(d) for d in shape):
        return f"shape {shape!r} is not a list of non-negative integers"
    if not (isinstance(offsets, list) and len(offsets) == 2):
        return f"data_offsets {offsets!r} is not a pair of integers"
    begin, end = offsets
    where = f"data_offsets [{begin}, {end}]"
    if not (_natural(begin) and _natural(end)) or end < begin:
        return f"{where} are not increasing non-negative integers"
    if end > data_size:
        return f"{where} end beyond the {data_size} bytes of data: the file is truncated"
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        return f"dtype {dtype!r} is not a safetensors dtype ({', '.join(DTYPE_BITS)})"
    elements = 1
    for dim in shape:
        elements *= dim
    if (end - begin) * 8 != elements * bits:
        if elements * bits % 8:
            return f"{elements} {dtype} elements take {elements * bits} bits, not whole bytes"
        return f"{where} hold {end - begin} bytes, but {elements} {dtype} elements need " + str(
            elements * bits // 8
        )
    return None


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


INDEX_SUFFIX = ".safetensors.index.json"


def index_targets(index: Path) -> list[str]:
    """The files a sharded checkpoint's `*.safetensors.index.json` maps its tensors to
    (`weight_map` values), sorted and each once; a ManifestError for an index keel cannot read.
    Nothing here says the targets are safetensors: that is what the callers check."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ManifestError(f"{index}: not a readable weight index ({error})") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(v, str) and v for v in weight_map.values()
    ):
        raise ManifestError(f"{index}: no weight_map of tensor names to file names")
    return sorted(set(weight_map.values()))


def unsafe_target(target: str) -> str | None:
    """Why an index's `target` must not be loaded (a pickle or any non-safetensors file, a
    path leaving the model's directory), or None."""
    parts = target.replace("\\", "/").split("/")
    if target.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        return f"{target} is outside the model's directory"
    if not target.endswith(".safetensors"):
        return f"{target} is not a safetensors file (keel never loads pickle weights)"
    return None
