"""Serving memory of a Deployment: weights + KV cache, plus a stated overhead, against the
device's `serving.memoryGiB`.

    weights  = parameters × bytes per parameter (the Quantization's `bytesPerParameter`, packed
               formats included, or the stored dtype's)
    KV cache = 2 (K and V) × layers × KV heads × head dim × bytes × cached tokens × batch
               (cached tokens: maxInputTokens, or the sliding window when shorter; an
               encoder-decoder also caches the encoder's keys and values in each decoder
               layer's cross-attention; an encoder-only model keeps no KV cache)
    total    = (weights + KV cache) × (1 + overhead)

Pure arithmetic over manifest values: no file is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

GIB = 1024**3
DEFAULT_OVERHEAD = 0.3
DTYPE_BYTES = {
    "float64": 8.0, "float32": 4.0, "float16": 2.0, "bfloat16": 2.0,
    "float8_e4m3fn": 1.0, "float8_e4m3fnuz": 1.0, "float8_e5m2": 1.0, "float8_e5m2fnuz": 1.0,
    "float8_e8m0fnu": 1.0, "float6_e2m3": 0.75, "float6_e3m2": 0.75, "float4_e2m1": 0.5,
    "int8": 1.0, "int4": 0.5, "int3": 0.375, "int2": 0.25,
}  # fmt: skip
"""Bytes per parameter of the Model's stored dtype (torch's names, intN for packed weights)."""
PRECISIONS = (("int8", 1.0), ("int4", 0.5))


@dataclass(frozen=True)
class KvShape:
    """What one cached token costs: per layer, K and V of every KV head."""

    layers: int
    kv_heads: int
    head_dim: int
    bytes_per_value: float
    window: int | None = None
    """Sliding window: at most this many tokens are cached per sequence."""
    cross_attention: bool = False
    """Encoder-decoder: the decoder also keeps the encoder's K and V (maxInputTokens long)."""

    def bytes_for(self, tokens: int, batch: int) -> int:
        cached = min(tokens, self.window) if self.window else tokens
        if self.cross_attention:
            cached += tokens
        per_token = 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_value
        return math.ceil(per_token * cached * batch)


@dataclass(frozen=True)
class Budget:
    parameters: int
    bytes_per_parameter: float
    weights_source: str
    """Where bytes per parameter came from, e.g. 'Quantization/x' or 'dtype float32'."""
    kv: KvShape | None
    """None: the model keeps no KV cache (`no_kv` says why)."""
    max_batch_size: int
    max_input_tokens: int
    overhead: float
    available_gib: float | None
    no_kv: str = "encoder-only"

    @property
    def weights_bytes(self) -> int:
        return math.ceil(self.parameters * self.bytes_per_parameter)

    @property
    def kv_bytes(self) -> int:
        return self.kv.bytes_for(self.max_input_tokens, self.max_batch_size) if self.kv else 0

    def total_for(self, *, weights: int, kv: int) -> int:
        return math.ceil((weights + kv) * (1 + self.overhead))

    @property
    def total_bytes(self) -> int:
        return self.total_for(weights=self.weights_bytes, kv=self.kv_bytes)

    @property
    def available_bytes(self) -> int | None:
        return None if self.available_gib is None else math.floor(self.available_gib * GIB)

    @property
    def fits(self) -> bool | None:
        available = self.available_bytes
        return None if available is None else self.total_bytes <= available

    def describe(self) -> str:
        """'weights 58.7 MB + no KV cache (encoder-only) + 30% overhead = 76.3 MB of 2 GiB'."""
        kv = (
            f"KV cache {gib(self.kv_bytes)} ({self.max_batch_size} × {self._cached_tokens()})"
            if self.kv
            else f"no KV cache ({self.no_kv})"
        )
        text = (
            f"weights {gib(self.weights_bytes)} ({self.parameters} × "
            f"{self.bytes_per_parameter:g} B, {self.weights_source}) + {kv} + "
            f"{self.overhead:.0%} overhead = {gib(self.total_bytes)}"
        )
        if self.available_gib is None:
            return text
        return f"{text} of serving.memoryGiB {self.available_gib:g}"

    def _cached_tokens(self) -> str:
        """'256 tokens', '32-token window', '256 tokens + 256 cross-attention'."""
        assert self.kv is not None
        window, tokens = self.kv.window, self.max_input_tokens
        text = f"{window}-token window" if window and window < tokens else f"{tokens} tokens"
        return text + (f" + {tokens} cross-attention" if self.kv.cross_attention else "")

    def what_would_fit(self) -> list[str]:
        """When it does not fit: the largest batch, the shortest context cut, a precision."""
        available = self.available_bytes
        if available is None or self.fits:
            return []
        options: list[str] = []
        if self.kv:
            batch = self._largest(lambda b: self.kv_bytes_at(self.max_input_tokens, b))
            if batch:
                options.append(f"serving.maxBatchSize {batch}")
            tokens = self._largest(lambda t: self.kv_bytes_at(t, self.max_batch_size))
            if tokens:
                options.append(f"serving.maxInputTokens {tokens}")
        for name, size in PRECISIONS:
            weights = math.ceil(self.parameters * size)
            if (
                size < self.bytes_per_parameter
                and self.total_for(weights=weights, kv=self.kv_bytes) <= available
            ):
                options.append(f"{name} weights (a Quantization)")
                break
        return options

    def kv_bytes_at(self, tokens: int, batch: int) -> int:
        return self.kv.bytes_for(tokens, batch) if self.kv else 0

    def _largest(self, kv_at: Callable[[int], int]) -> int | None:
        """The largest n whose total fits (the KV cache grows with n), by bisection."""
        available = self.available_bytes or 0

        def fits(n: int) -> bool:
            return self.total_for(weights=self.weights_bytes, kv=kv_at(n)) <= available

        low, high = 1, max(self.max_batch_size, self.max_input_tokens)
        if not fits(1):
            return None
        while low < high:
            middle = (low + high + 1) // 2
            if fits(middle):
                low = middle
            else:
                high = middle - 1
        return low


def gib(size: float) -> str:
    """Bytes as GiB, or MiB below one GiB."""
    if size >= GIB:
        return f"{size / GIB:.2f} GiB"
    return f"{size / 1024**2:.1f} MiB"
