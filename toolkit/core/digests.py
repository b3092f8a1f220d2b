"""Digests: the sha256 of bytes as shipped, and canonical digests of what libraries re-write.

Files as shipped are pinned by the sha256 of their bytes. Files keel or a library writes are
not byte-stable (safetensors writes its metadata in no fixed order; peft lists target modules
in varying order), so they also get a canonical digest that only changes when content does.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError
from toolkit.core.hashing import aligned_buffer, hash_file
from toolkit.core.safetensors_header import read_header

if TYPE_CHECKING:
    from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hash_file(path).sha256


def _u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def _prefixed(data: bytes) -> bytes:
    return _u64(len(data)) + data


def canonical_tensor_digest(path: Path) -> str:
    """`sha256:<hex>` over the tensors of a safetensors file, independent of layout.

    Fed in order, for each tensor name sorted by code point: the length-prefixed UTF-8 name,
    the length-prefixed dtype string, ndim and each dimension, then the length-prefixed raw
    tensor bytes as stored. Then, once, the length-prefixed UTF-8 JSON of the metadata with
    sorted keys and compact separators. Every integer is 8 bytes little-endian.
    """
    header = read_header(path)
    digest = hashlib.sha256()
    view = memoryview(aligned_buffer())
    with path.open("rb", buffering=0) as handle:
        for name in sorted(header.tensors):
            entry = header.tensors[name]
            digest.update(_prefixed(name.encode("utf-8")))
            digest.update(_prefixed(entry.dtype.encode("ascii")))
            digest.update(_u64(len(entry.shape)) + b"".join(_u64(d) for d in entry.shape))
            digest.update(_u64(entry.end - entry.begin))
            handle.seek(header.data_start + entry.begin)
            remaining = entry.end - entry.begin
            while remaining:
                n = handle.readinto(view[: min(remaining, CHUNK)])
                if not n:
                    raise ValueError(f"{path}: truncated tensor data for {name!r}")
                digest.update(view[:n])
                remaining -= n
    metadata = json.dumps(
        header.metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest.update(_prefixed(metadata.encode("utf-8")))
    return "sha256:" + digest.hexdigest()


_ABSOLUTE = re.compile(r"^(/|\\\\|[A-Za-z]:[/\\])")


def canonical_json(value: Any, key: str | None = None) -> Any:
    """Sorted lists, no absolute paths, no base-model path: what stays equal across machines."""
    if key == "base_model_name_or_path":
        return None
    if isinstance(value, dict):
        return {k: canonical_json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((canonical_json(v) for v in value), key=_compact)
    if isinstance(value, str) and _ABSOLUTE.match(value):
        return None
    return value


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json_digest(path: Path) -> str:
    """`sha256:<hex>` of the compact, key-sorted JSON of `canonical_json(file)`."""
    try:
        canonical = _compact(canonical_json(json.loads(path.read_text(encoding="utf-8"))))
    except RecursionError:
        raise ManifestError(f"{path}: JSON nested too deeply to digest") from None
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
