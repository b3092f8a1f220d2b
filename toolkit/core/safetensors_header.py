"""Read a safetensors header without loading tensors (and without importing torch).

Layout: 8-byte little-endian header length N, N bytes of JSON, then the tensor data. Each
tensor entry has dtype, shape and data_offsets relative to the start of the data.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError

if TYPE_CHECKING:
    from pathlib import Path

MAX_HEADER_BYTES = 100 * 1024 * 1024


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
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ManifestError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER_BYTES:
            raise ManifestError(f"{path}: not a safetensors file (header of {length} bytes)")
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
    tensors = {}
    try:
        for name, entry in header.items():
            begin, end = entry["data_offsets"]
            tensors[name] = TensorEntry(name, entry["dtype"], tuple(entry["shape"]), begin, end)
    except (KeyError, TypeError, ValueError) as error:
        raise ManifestError(f"{path}: malformed safetensors header entry: {error}") from None
    return Header(8 + length, tensors, metadata)
