"""Weights keel reads from safetensors headers alone: every dtype with its exact byte length,
GPTQ/AWQ packed weights counted from config.json's bits, FP8 checkpoints recorded as FP8,
duplicate exports found, sharded indexes checked, tokenizer files told from model files."""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from factories import safetensors_bytes

from toolkit.core.checkpoint_files import check_index, duplicate_exports
from toolkit.core.errors import ManifestError
from toolkit.core.inspection import inspect_weights
from toolkit.core.safetensors_header import read_header
from toolkit.core.tokenizer_files import algorithm, is_tokenizer_file, tokenizer_summary
from toolkit.core.weight_counts import Packing, packing, parameters
from toolkit.workflows.artifacts.pin import pin
from toolkit.workflows.artifacts.pin_values import PinRequest
from toolkit.workflows.authoring.init import init
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from pathlib import Path


def _file(tmp_path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes(tensors))
    return path


@pytest.mark.parametrize(
    ("dtype", "shape", "size"),
    [
        ("F8_E4M3", [4, 4], 16), ("F8_E5M2", [3], 3), ("F8_E8M0", [2], 2),
        ("F8_E4M3FNUZ", [2], 2), ("BOOL", [3], 3), ("I4", [4, 3], 6), ("U4", [2], 1),
        ("F4", [6], 3), ("F6_E2M3", [4], 3), ("C64", [2], 16), ("F64", [1], 8),
    ],
)  # fmt: skip
def test_every_safetensors_dtype_is_read_with_its_exact_size(
    tmp_path: Path, dtype: str, shape: list[int], size: int
) -> None:
    header = read_header(_file(tmp_path, {"t": (dtype, shape, bytes(size))}))
    assert header.tensors["t"].dtype == dtype
    assert header.tensors["t"].shape == tuple(shape)


@pytest.mark.parametrize(
    ("dtype", "shape", "size", "message"),
    [
        ("F8_E4M3", [4], 8, r"data_offsets \[0, 8\] hold 8 bytes, but 4 F8_E4M3 elements need 4"),
        ("BOOL", [2], 1, r"data_offsets \[0, 1\] hold 1 bytes, but 2 BOOL elements need 2"),
        ("I4", [4], 4, r"data_offsets \[0, 4\] hold 4 bytes, but 4 I4 elements need 2"),
        ("I4", [3], 2, r"3 I4 elements take 12 bits, not whole bytes"),
        ("F6_E3M2", [3], 3, r"3 F6_E3M2 elements take 18 bits, not whole bytes"),
        ("F12", [1], 2, r"dtype 'F12' is not a safetensors dtype \(BOOL, U8"),
    ],
)
def test_a_wrong_byte_length_or_unknown_dtype_is_one_line_naming_the_tensor(
    tmp_path: Path, dtype: str, shape: list[int], size: int, message: str
) -> None:
    path = _file(tmp_path, {"layer.weight": (dtype, shape, bytes(size))})
    with pytest.raises(ManifestError, match=f"model.safetensors: tensor 'layer.weight': {message}"):
        read_header(path)


GPTQ_CONFIG = {
    "model_type": "llama",
    "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 16, "desc_act": False},
}


def _gptq_tensors(bits: int = 4) -> dict[str, tuple[str, list[int], bytes]]:
    """One GPTQ linear 32 -> 8 (bits-bit weights packed in int32 along the input), its zeros,
    scales and g_idx, with a float16 bias, embeddings and norm."""
    rows = 32 * bits // 32
    return {
        "model.embed_tokens.weight": ("F16", [4, 8], bytes(64)),
        "model.norm.weight": ("F16", [8], bytes(16)),
        "model.layers.0.mlp.down_proj.qweight": ("I32", [rows, 8], bytes(rows * 8 * 4)),
        "model.layers.0.mlp.down_proj.qzeros": ("I32", [2, 8 * bits // 32], bytes(8 * bits // 4)),
        "model.layers.0.mlp.down_proj.scales": ("F16", [2, 8], bytes(32)),
        "model.layers.0.mlp.down_proj.g_idx": ("I32", [32], bytes(128)),
        "model.layers.0.mlp.down_proj.bias": ("F16", [8], bytes(16)),
    }


def test_gptq_weights_are_counted_from_their_packing(tmp_path: Path) -> None:
    path = _file(tmp_path, _gptq_tensors())
    (tmp_path / "config.json").write_text(json.dumps(GPTQ_CONFIG))
    assert packing(GPTQ_CONFIG) == Packing("gptq", 4, 16)
    counted = parameters(read_header(path).tensors.values(), Packing("gptq", 4, 16), path)
    assert counted["model.layers.0.mlp.down_proj.qweight"] == (32 * 8, "int4")
    assert "model.layers.0.mlp.down_proj.scales" not in counted  # quantization metadata
    assert "model.layers.0.mlp.down_proj.g_idx" not in counted
    result = inspect_weights(path)  # the bits from the config.json beside it
    assert result.parameters == 32 * 8 + 8 + 32 + 8
    assert {b.name.rsplit(".", 1)[1] for b in result.buffers} == {"qzeros", "scales", "g_idx"}

    eight_bit = parameters(read_header(path).tensors.values(), Packing("gptq", 8, 16), path)
    assert eight_bit["model.layers.0.mlp.down_proj.qweight"] == (16 * 8, "int8")


def test_awq_original_keys_and_bad_bits() -> None:
    awq = {"quantization_config": {"quant_method": "awq", "w_bit": 4, "q_group_size": 128}}
    assert packing(awq) == Packing("awq", 4, 128)
    assert packing({"quantization_config": {"quant_method": "bitsandbytes"}}) is None
    with pytest.raises(ManifestError, match=r"quantization_config.bits 5 is not one of"):
        packing({"quantization_config": {"quant_method": "gptq", "bits": 5}})


def test_fp8_scales_are_metadata_and_bart_logits_bias_is_a_buffer(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        {
            "lm_head.weight": ("BF16", [4, 8], bytes(64)),
            "layers.0.q_proj.weight": ("F8_E4M3", [16, 8], bytes(128)),
            "layers.0.q_proj.weight_scale_inv": ("F32", [1, 1], bytes(4)),
            "final_logits_bias": ("F32", [1, 4], bytes(16)),
        },
    )
    counted = parameters(read_header(path).tensors.values(), None, path)
    assert counted == {
        "lm_head.weight": (32, "bfloat16"),
        "layers.0.q_proj.weight": (128, "float8_e4m3fn"),
    }


def _checkpoint(directory: Path, tensors: dict[str, Any], config: dict[str, Any]) -> Path:
    directory.mkdir(parents=True)
    llama = {
        "model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 4,
        "intermediate_size": 32, "max_position_embeddings": 16, "rms_norm_eps": 1e-6,
        "hidden_act": "silu", "tie_word_embeddings": True,
    }  # fmt: skip
    (directory / "config.json").write_text(json.dumps({**llama, **config}))
    (directory / "model.safetensors").write_bytes(safetensors_bytes(tensors))
    (directory / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    return directory


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("gptq", (32 * 8 + 8 + 32 + 8, "int4")), ("fp8", (32 + 64 + 8, "float8_e5m2"))],
)
def test_pin_records_quantized_counts_and_dtypes_and_validate_agrees(
    tmp_path: Path, kind: str, expected: tuple[int, str]
) -> None:
    if kind == "gptq":
        source = _checkpoint(tmp_path / "src", _gptq_tensors(), GPTQ_CONFIG)
    else:
        tensors = {
            "model.embed_tokens.weight": ("BF16", [4, 8], bytes(64)),
            "model.layers.0.mlp.down_proj.weight": ("F8_E5M2", [8, 8], bytes(64)),
            "model.layers.0.mlp.down_proj.weight_scale": ("F32", [8], bytes(32)),
            "model.norm.weight": ("BF16", [8], bytes(16)),
        }
        source = _checkpoint(tmp_path / "src", tensors, {})
    root = tmp_path / "repo"
    init(root)
    pin(root, PinRequest(str(source), "q", owner="me@example.com", description="quantized"))
    spec = yaml.safe_load((root / "manifests/models/q.yaml").read_text())["spec"]
    assert (spec["parameters"], spec["dtype"]) == expected
    assert validate(root).findings == ()


def test_duplicate_exports_are_named_with_the_reason() -> None:
    found = duplicate_exports(
        [
            "config.json", "model.safetensors", "consolidated.safetensors", "params.json",
            "tf_model.h5", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
            "model.safetensors.index.json", "tokenizer.model.v3",
            "original/consolidated.00.pth", "2_Dense/model.safetensors", "2_Dense/config.json",
        ]
    )  # fmt: skip
    assert found == {
        "consolidated.safetensors": "Mistral's native export of the weights in model.safetensors",
        "model-00001-of-00002.safetensors": (
            "a sharded copy of the weights in model.safetensors, which transformers loads"
        ),
        "model-00002-of-00002.safetensors": (
            "a sharded copy of the weights in model.safetensors, which transformers loads"
        ),
        "model.safetensors.index.json": (
            "a sharded copy of the weights in model.safetensors, which transformers loads"
        ),
        "params.json": "the config of Mistral's native export, consolidated.safetensors",
        "tf_model.h5": "the TensorFlow export of the weights in model.safetensors",
    }
    # Mistral's own layout (no transformers weights) and a sharded-only folder have none
    assert duplicate_exports(["consolidated.safetensors", "params.json"]) == {}
    sharded = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert duplicate_exports([*sharded, "model.safetensors.index.json"]) == {}
    assert duplicate_exports([*sharded, "consolidated.safetensors"]) == {
        "consolidated.safetensors": (
            "Mistral's native export of the weights in model.safetensors.index.json"
        )
    }


def test_an_index_must_name_exactly_the_shards(tmp_path: Path) -> None:
    index = tmp_path / "model.safetensors.index.json"
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    index.write_text(json.dumps({"weight_map": {"a": shards[0], "b": shards[1]}}))
    assert check_index(index, "sub/model.safetensors.index.json", [f"sub/{s}" for s in shards])
    with pytest.raises(ManifestError, match=r"names model-00002-of-00002.safetensors, not in"):
        check_index(index, index.name, shards[:1])
    index.write_text(json.dumps({"weight_map": {"a": shards[0]}}))
    with pytest.raises(ManifestError, match=r"does not name model-00002-of-00002.safetensors"):
        check_index(index, index.name, shards)
    index.write_text(json.dumps({"weight_map": {"a": "pytorch_model.bin"}}))
    with pytest.raises(ManifestError, match=r"pytorch_model.bin is not a safetensors file"):
        check_index(index, index.name, ["pytorch_model.bin"])


@pytest.mark.parametrize(
    "name",
    [
        "tokenizer.json", "chat_template.jinja", "chat_template.json", "tokenizer.model.v3",
        "tokenizer.model.v7", "qwen.tiktoken", "tekken.json", "merges.txt", "vocab.json",
        "added_tokens.json", "spiece.model", "source.spm", "special_tokens_map.json",
    ],
)  # fmt: skip
def test_tokenizer_files_belong_to_the_tokenizer(name: str) -> None:
    assert is_tokenizer_file(name)


@pytest.mark.parametrize(
    "name", ["config.json", "params.json", "model.safetensors", "generation_config.json"]
)
def test_model_files_do_not(name: str) -> None:
    assert not is_tokenizer_file(name)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["tokenizer.model.v3", "tokenizer_config.json"], "SentencePiece"),
        (["spiece.model"], "SentencePiece"),
        (["qwen.tiktoken"], "tiktoken"),
        (["tekken.json"], "tiktoken"),
        (["vocab.json", "merges.txt"], "BPE"),
        (["vocab.txt"], "WordPiece"),
        (["chat_template.jinja"], "other"),
    ],
)
def test_the_algorithm_is_recognised_from_the_files(
    tmp_path: Path, names: list[str], expected: str
) -> None:
    assert algorithm(None, {name: tmp_path / name for name in names}) == expected
    assert algorithm({"model": {"type": "Unigram"}}, {}) == "Unigram"


def test_tiktoken_vocabulary_and_nested_text_config(tmp_path: Path) -> None:
    ranks = tmp_path / "qwen.tiktoken"
    ranks.write_text("IQ== 0\nIg== 1\nIw== 2\n")
    added = tmp_path / "added_tokens.json"
    added.write_text(json.dumps({"<|endoftext|>": 3}))
    config = {"text_config": {"max_position_embeddings": 32, "vocab_size": 4}}
    summary = tokenizer_summary({ranks.name: ranks, added.name: added}, config)
    assert (summary["algorithm"], summary["vocabSize"], summary["maxLength"]) == (
        "tiktoken",
        4,
        32,
    )


def test_bits_of_a_float_unpack(tmp_path: Path) -> None:
    """A qweight whose bits do not divide into the declared width is refused in one line."""
    path = _file(tmp_path, {"x.qweight": ("F16", [3], struct.pack("<3e", 0, 0, 0))})
    with pytest.raises(ManifestError, match=r"tensor 'x.qweight': 3 F16 elements do not pack"):
        parameters(read_header(path).tensors.values(), Packing("gptq", 4, None), path)


def test_inspect_of_a_directory_leaves_out_the_duplicate_export(tmp_path: Path) -> None:
    tensors = {"layers.0.weight": ("F16", [4, 4], bytes(32))}
    (tmp_path / "model.safetensors").write_bytes(safetensors_bytes(tensors))
    (tmp_path / "consolidated.safetensors").write_bytes(safetensors_bytes(tensors))
    result = inspect_weights(tmp_path)
    assert [f.name for f in result.files] == ["model.safetensors"]
    assert result.parameters == 16
    assert result.left_out == (
        ("consolidated.safetensors", "Mistral's native export of the weights in model.safetensors"),
    )


@pytest.mark.parametrize(
    ("tensors", "config", "named"),
    [
        (_gptq_tensors(), {}, "model.layers.0.mlp.down_proj.qweight"),  # no bits in config.json
        (
            {
                "model.embed_tokens.weight": ("F16", [4, 8], bytes(64)),
                "model.layers.0.mlp.down_proj.weight": ("U8", [128, 1], bytes(128)),
                "model.layers.0.mlp.down_proj.weight.absmax": ("F32", [4], bytes(16)),
            },
            {"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}},
            "model.layers.0.mlp.down_proj.weight",
        ),
    ],
)
def test_packed_weights_keel_cannot_count_are_refused_not_pinned_as_float16(
    tmp_path: Path, tensors: dict[str, Any], config: dict[str, Any], named: str
) -> None:
    source = _checkpoint(tmp_path / "src", tensors, config)
    root = tmp_path / "repo"
    init(root)
    with pytest.raises(ManifestError, match=f"{named} holds packed weights keel cannot count"):
        pin(root, PinRequest(str(source), "q", owner="me@example.com", description="packed"))
    assert not (root / "manifests/models/q.yaml").exists()
