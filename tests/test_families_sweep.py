"""Architecture summaries across every config class of the installed transformers.

The sweep feeds each of transformers' ~820 config types, with its own defaults, to the bridge:
none may crash, a non-text config is refused with one ManifestError, and every text language
model (a causal-, masked- or seq2seq-LM auto mapping) is summarised. A pinned table of families
hard-codes what keel records for a tiny config of each, and checks it against the model
transformers builds from that config (on the meta device: no weights are allocated).
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from toolkit.core.architecture import architecture, check_tied_embeddings
from toolkit.core.errors import ManifestError
from toolkit.manifests.model import Architecture

if TYPE_CHECKING:
    from pathlib import Path

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers.models.auto import configuration_auto, modeling_auto  # noqa: E402

from toolkit.bridges.configs import load, summarise, summarise_config  # noqa: E402

TEXT_LMS = (
    set(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    | set(modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    | set(modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)
)
# defaults that leave a text model's config incomplete: what a real checkpoint's config.json sets
COMPLETE = {"esm": {"vocab_size": 33}}


def _quiet() -> Any:
    from transformers.utils import logging

    logging.set_verbosity_error()
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("ignore")
    return context


def test_every_config_class_is_summarised_or_cleanly_refused() -> None:
    summarised, refused = {}, {}
    context = _quiet()
    try:
        for family in configuration_auto.CONFIG_MAPPING_NAMES:
            try:
                config = transformers.AutoConfig.for_model(family, **COMPLETE.get(family, {}))
            except Exception:  # noqa: BLE001 - transformers' own defaults do not validate
                with pytest.raises(ManifestError, match=f"refuses this {family} config") as caught:
                    load({"model_type": family}, "config.json")
                refused[family] = str(caught.value)
                continue
            summary, message = _summary_or_refusal(config)
            if message is not None:
                refused[family] = message
                continue
            Architecture.model_validate(summary)
            summarised[family] = summary
    finally:
        context.__exit__(None, None, None)
    badly = {f: m for f, m in refused.items() if not m.startswith("config.json: ") or "\n" in m}
    assert not badly
    missed = {family: refused[family] for family in sorted(TEXT_LMS) if family in refused}
    # gemma4_assistant: transformers 5.x refuses its own default config (no text model to find)
    assert set(missed) <= {"gemma4_assistant"}, missed
    assert len(summarised) > 450
    assert all(s["summarySource"] == "transformers" for s in summarised.values())


def _summary_or_refusal(config: Any) -> tuple[dict[str, Any], str | None]:
    try:
        return summarise_config(config, "config.json"), None
    except ManifestError as error:
        return {}, str(error)


def _tiny(**values: Any) -> dict[str, Any]:
    return values


DECODER = _tiny(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
    vocab_size=128, max_position_embeddings=64,
)  # fmt: skip
SEQ2SEQ = _tiny(
    d_model=64, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=128,
    max_position_embeddings=64, pad_token_id=0, eos_token_id=2, decoder_start_token_id=0,
)  # fmt: skip
T5 = _tiny(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=3, num_heads=4,
           vocab_size=128)  # fmt: skip
GPTJ = _tiny(n_embd=64, n_layer=2, n_head=4, rotary_dim=8, vocab_size=128, n_positions=64)
JAMBA = _tiny(
    **DECODER, num_key_value_heads=2, attn_layer_period=2, attn_layer_offset=1,
    expert_layer_period=2, expert_layer_offset=1, num_experts=4, num_experts_per_tok=2,
    mamba_d_state=8, use_mamba_kernels=False,
)  # fmt: skip
GEMMA3_TEXT = _tiny(**DECODER, num_key_value_heads=2, head_dim=16, sliding_window=16)
GEMMA3_VISION = _tiny(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, image_size=28, patch_size=14)  # fmt: skip

# family: (config.json values, expected (layers, heads, kv heads, hidden, vocab, context,
#          position, norm, activation, tied))
FAMILIES: dict[str, tuple[dict[str, Any], tuple[Any, ...]]] = {
    "bert": (DECODER, (2, 4, 4, 64, 128, 64, "absolute", "LayerNorm", "gelu", True)),
    "roberta": (
        {**DECODER, "pad_token_id": 1},
        (2, 4, 4, 64, 128, 64, "absolute", "LayerNorm", "gelu", True),
    ),
    "distilbert": (
        _tiny(
            dim=64,
            n_layers=2,
            n_heads=4,
            hidden_dim=128,
            vocab_size=128,
            max_position_embeddings=64,
        ),  # fmt: skip
        (2, 4, 4, 64, 128, 64, "absolute", "LayerNorm", "gelu", True),
    ),
    "deberta-v2": (  # DeBERTa-v3's settings: relative attention, no absolute positions
        {
            **DECODER,
            "relative_attention": True,
            "position_biased_input": False,
            "pos_att_type": ["p2c", "c2p"],
        },  # fmt: skip
        (2, 4, 4, 64, 128, 64, "relative", "LayerNorm", "gelu", True),
    ),
    "t5": (T5, (3, 4, 4, 64, 128, None, "relative", "RMSNorm", "relu", True)),
    "mt5": (  # official configs say untied; MT5Config forces tying, and so does the model
        {**T5, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False},
        (3, 4, 4, 64, 128, None, "relative", "RMSNorm", "gelu_new", True),
    ),
    "bart": (SEQ2SEQ, (3, 4, 4, 64, 128, 64, "absolute", "LayerNorm", "gelu", True)),
    "marian": (
        {**SEQ2SEQ, "activation_function": "swish"},
        (3, 4, 4, 64, 128, 64, "absolute", "LayerNorm", "swish", True),
    ),
    "gpt2": (
        _tiny(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64),
        (2, 4, 4, 64, 128, 64, "absolute", "LayerNorm", "gelu_new", True),
    ),
    "gptj": (GPTJ, (2, 4, 4, 64, 128, 64, "rotary", "LayerNorm", "gelu_new", False)),
    "codegen": (  # rotary on rotary_dim of each head, no absolute table
        {**GPTJ, "n_ctx": 64},
        (2, 4, 4, 64, 128, 64, "rotary", "LayerNorm", "gelu_new", False),
    ),
    "gpt_neox": (DECODER, (2, 4, 4, 64, 128, 64, "rotary", "LayerNorm", "gelu", False)),
    "bloom": (
        _tiny(hidden_size=64, n_layer=2, n_head=4, vocab_size=128),
        (2, 4, 4, 64, 128, None, "alibi", "LayerNorm", "gelu_pytorch_tanh", True),
    ),
    "falcon": (  # Falcon-7B's multi-query attention: one key/value head
        _tiny(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=128),
        (2, 4, 1, 64, 128, 2048, "rotary", "LayerNorm", "gelu", True),
    ),
    "mpt": (
        _tiny(
            d_model=64, n_heads=4, n_layers=2, expansion_ratio=2, max_seq_len=64, vocab_size=128
        ),  # fmt: skip
        (2, 4, 4, 64, 128, 64, "alibi", "LayerNorm", "gelu", True),
    ),
    "llama": (  # LlamaConfig defaults to untied embeddings
        {
            **DECODER,
            "num_key_value_heads": 2,
            "rope_theta": 500000.0,
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 32,
            },
        },
        (2, 4, 2, 64, 128, 64, "rotary", "RMSNorm", "silu", False),
    ),  # fmt: skip
    "mistral": (
        {**DECODER, "num_key_value_heads": 2, "sliding_window": 32},
        (2, 4, 2, 64, 128, 64, "rotary", "RMSNorm", "silu", False),
    ),
    "mixtral": (
        {**DECODER, "num_key_value_heads": 2, "num_local_experts": 4, "num_experts_per_tok": 2},
        (2, 4, 2, 64, 128, 64, "rotary", "RMSNorm", "silu", False),
    ),
    "qwen2": (  # Qwen2.5-0.5B ties its embeddings
        {**DECODER, "num_key_value_heads": 2, "tie_word_embeddings": True},
        (2, 4, 2, 64, 128, 64, "rotary", "RMSNorm", "silu", True),
    ),
    "qwen3": (
        {**DECODER, "num_key_value_heads": 2, "head_dim": 32},
        (2, 4, 2, 64, 128, 64, "rotary", "RMSNorm", "silu", False),
    ),
    "gemma": (
        {**DECODER, "num_key_value_heads": 1, "head_dim": 16},
        (2, 4, 1, 64, 128, 64, "rotary", "RMSNorm", "gelu_pytorch_tanh", True),
    ),
    "gemma3": (  # the language model is nested in text_config
        {"text_config": GEMMA3_TEXT, "vision_config": GEMMA3_VISION, "mm_tokens_per_image": 4},
        (2, 4, 2, 64, 128, 64, "rotary", "RMSNorm", "gelu_pytorch_tanh", True),
    ),
    "phi3": (
        {**DECODER, "pad_token_id": 0},
        (2, 4, 4, 64, 128, 64, "rotary", "RMSNorm", "silu", False),
    ),
    "olmo": (DECODER, (2, 4, 4, 64, 128, 64, "rotary", "LayerNorm", "silu", False)),
    "jamba": (JAMBA, (2, 4, 2, 64, 128, 64, "none", "RMSNorm", "silu", False)),
    "mamba": (
        _tiny(hidden_size=64, num_hidden_layers=2, vocab_size=128, state_size=8),
        (2, None, None, 64, 128, None, "none", "RMSNorm", "silu", True),
    ),
    "rwkv": (
        _tiny(
            hidden_size=64,
            num_hidden_layers=2,
            vocab_size=128,
            context_length=64,
            attention_hidden_size=64,
            intermediate_size=128,
        ),  # fmt: skip
        (2, None, None, 64, 128, 64, "none", "LayerNorm", "relu_squared", False),
    ),
    "xlnet": (
        _tiny(d_model=64, n_layer=2, n_head=4, d_inner=128, vocab_size=128),
        (2, 4, 4, 64, 128, None, "relative", "LayerNorm", "gelu", True),
    ),
}
FIELDS = ("numLayers", "numAttentionHeads", "numKeyValueHeads", "hiddenSize", "vocabSize",
          "maxPositionEmbeddings", "positionEncoding", "norm", "activation",
          "tiedEmbeddings")  # fmt: skip
HEADS = ("num_heads", "num_attention_heads", "n_head", "n_heads")
KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "kv_n_heads")


def _summary(family: str, values: dict[str, Any]) -> dict[str, Any]:
    """What keel pin records for this config.json: written to disk and read back as JSON."""
    config = {"model_type": family, **values}
    return summarise(json.loads(json.dumps(config)), "config.json")


def _built(family: str, values: dict[str, Any]) -> Any:
    """transformers' own LM for this config, on the meta device."""
    mappings = (
        modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )
    name = next(mapping[family] for mapping in mappings if family in mapping)
    context = _quiet()
    try:
        config = transformers.AutoConfig.for_model(family, **values)
        with torch.device("meta"):
            return getattr(transformers, name)._from_config(config)
    finally:
        context.__exit__(None, None, None)


def _module_view(model: Any, seq2seq: bool) -> dict[str, Any]:
    """Layers, heads, widths and tying read from the built modules, not from the config."""
    lists = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.ModuleList)
        and name.rsplit(".", 1)[-1] in ("layers", "layer", "h", "blocks", "block")
    }
    stacks = [name for name in lists if "decoder" in name] if seq2seq else list(lists)
    stack = min(stacks, key=len)
    heads = kv = None
    for module in lists[stack][-1].modules():
        heads = heads or next((getattr(module, a) for a in HEADS if hasattr(module, a)), None)
        kv = kv or next((getattr(module, a) for a in KV_HEADS if hasattr(module, a)), None)
        if heads is None and hasattr(module, "query_key_value"):  # GPT-NeoX: fused q, k, v
            heads = module.query_key_value.out_features // (3 * module.head_size)
        if heads is None and hasattr(module, "num_key_value_groups"):
            kv = getattr(module.config, "num_key_value_heads", None)
            heads = kv * module.num_key_value_groups
    embeddings = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    return {
        "numLayers": len(lists[stack]),
        "numAttentionHeads": heads,
        "numKeyValueHeads": kv or heads,
        "hiddenSize": embeddings.shape[1],
        "vocabSize": embeddings.shape[0],
        "tiedEmbeddings": output is not None and output.weight is embeddings,
    }


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_pinned_family_matches_what_transformers_builds(family: str) -> None:
    values, expected = FAMILIES[family]
    summary = _summary(family, values)
    assert tuple(summary.get(field) for field in FIELDS) == expected
    assert summary["summarySource"] == "transformers"
    Architecture.model_validate(summary)

    seq2seq = family in modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
    built = _module_view(_built(family, values), seq2seq)
    assert {key: summary.get(key) for key in built} == built


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("llama", {"ropeTheta": 500000.0, "headDim": 16, "intermediateSize": 128,
                   "ropeScaling": {"type": "llama3", "factor": 8.0,
                                   "originalMaxPositionEmbeddings": 32}}),
        ("mistral", {"slidingWindow": 32, "normPlacement": "pre"}),
        ("mixtral", {"experts": 4, "expertsPerToken": 2, "intermediateSize": 128}),
        ("jamba", {"experts": 4, "expertsPerToken": 2}),
        ("qwen3", {"headDim": 32}),
        ("gemma3", {"slidingWindow": 16, "headDim": 16, "modelType": "gemma3"}),
        ("bert", {"normPlacement": "post", "headDim": 16}),
        ("mpt", {"intermediateSize": 128}),
        ("t5", {"encoder": {"numLayers": 2, "numAttentionHeads": 4, "numKeyValueHeads": 4,
                            "hiddenSize": 64, "intermediateSize": 128},
                "decoder": {"numLayers": 3, "numAttentionHeads": 4, "numKeyValueHeads": 4,
                            "hiddenSize": 64, "intermediateSize": 128}}),
        ("bart", {"encoder": {"numLayers": 2, "numAttentionHeads": 4, "numKeyValueHeads": 4,
                              "hiddenSize": 64, "intermediateSize": 128}}),
    ],
)  # fmt: skip
def test_pinned_family_details(family: str, expected: dict[str, Any]) -> None:
    summary = _summary(family, FAMILIES[family][0])
    assert {key: summary.get(key) for key in expected} == expected
    if "encoder" in expected:  # the encoder's layers as transformers builds them
        lists = [
            module
            for name, module in _built(family, FAMILIES[family][0]).named_modules()
            if name.endswith(("encoder.layers", "encoder.block"))
        ]
        assert len(lists[0]) == expected["encoder"]["numLayers"]


@pytest.mark.parametrize(
    ("family", "variant"),
    [("bert", "MHA"), ("llama", "GQA"), ("falcon", "MQA"), ("gemma", "MQA"), ("mamba", None)],
)
def test_attention_variant_of_a_summary(family: str, variant: str | None) -> None:
    summary = Architecture.model_validate(_summary(family, FAMILIES[family][0]))
    assert summary.attention_variant == variant


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keels_own_reader_agrees_on_the_config_json_transformers_writes(
    family: str, tmp_path: Path
) -> None:
    """Without transformers, pin reads config.json itself: same summary, other source."""
    context = _quiet()
    try:
        transformers.AutoConfig.for_model(family, **FAMILIES[family][0]).save_pretrained(tmp_path)
    finally:
        context.__exit__(None, None, None)
    written = json.loads((tmp_path / "config.json").read_text())
    fallback = architecture(written, tmp_path / "config.json")
    assert fallback.pop("summarySource") == "fallback"
    through = summarise(written, "config.json")
    assert through.pop("summarySource") == "transformers"
    assert fallback == through


LLAMA = {
    "model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "hidden_act": "silu", "intermediate_size": 8192,
}  # fmt: skip


def test_fallback_reads_a_flat_llama_config_json() -> None:
    summary = architecture(LLAMA, "config.json")
    assert summary == {
        "modelType": "llama", "hiddenSize": 2048, "numLayers": 16, "numAttentionHeads": 32,
        "numKeyValueHeads": 8, "vocabSize": 128256, "maxPositionEmbeddings": 131072,
        "positionEncoding": "rotary", "norm": "RMSNorm", "activation": "silu",
        "tiedEmbeddings": False,  # no tie_word_embeddings: LlamaConfig's default, untied
        "summarySource": "fallback", "headDim": 64, "intermediateSize": 8192,
        "normPlacement": "pre", "ropeTheta": 500000.0,
        "ropeScaling": {"type": "llama3", "factor": 32.0, "originalMaxPositionEmbeddings": 8192},
    }  # fmt: skip
    assert Architecture.model_validate(summary).attention_variant == "GQA"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"model_type": "t5", "d_model": 512, "num_layers": 6, "num_decoder_layers": 4,
          "num_heads": 8, "d_ff": 2048, "vocab_size": 32128, "dense_act_fn": "relu",
          "is_encoder_decoder": True, "tie_word_embeddings": False},
         {"numLayers": 4, "positionEncoding": "relative", "norm": "RMSNorm",
          "tiedEmbeddings": False, "maxPositionEmbeddings": None,
          "encoder": {"numLayers": 6, "numAttentionHeads": 8, "numKeyValueHeads": 8,
                      "hiddenSize": 512, "intermediateSize": 2048}}),
        ({"model_type": "mt5", "d_model": 8, "num_layers": 1, "num_heads": 2, "vocab_size": 9,
          "dense_act_fn": "gelu_new", "tie_word_embeddings": False},
         {"tiedEmbeddings": True, "activation": "gelu_new"}),
        ({"model_type": "gemma3", "text_config": {"hidden_size": 8, "num_hidden_layers": 2,
          "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 16,
          "max_position_embeddings": 32, "rms_norm_eps": 1e-6,
          "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 4}},
         {"modelType": "gemma3", "numLayers": 2, "numKeyValueHeads": 1, "slidingWindow": 4,
          "positionEncoding": "rotary", "tiedEmbeddings": True}),
        ({"model_type": "mamba", "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 16,
          "hidden_act": "silu", "layer_norm_epsilon": 1e-5},
         {"numAttentionHeads": None, "positionEncoding": "none", "norm": "RMSNorm"}),
        ({"model_type": "codegen", "n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 9,
          "n_positions": 16, "rotary_dim": 2, "activation_function": "gelu_new"},
         {"positionEncoding": "rotary", "tiedEmbeddings": False, "intermediateSize": 32}),
        ({"model_type": "deberta-v2", "hidden_size": 8, "num_hidden_layers": 1,
          "num_attention_heads": 2, "vocab_size": 9, "max_position_embeddings": 16,
          "hidden_act": "gelu", "relative_attention": True, "position_biased_input": False,
          "position_embedding_type": "absolute"},
         {"positionEncoding": "relative", "normPlacement": "post"}),
        ({"model_type": "falcon", "hidden_size": 8, "num_hidden_layers": 1,
          "num_attention_heads": 2, "vocab_size": 9, "alibi": True, "activation": "gelu"},
         {"positionEncoding": "alibi", "numKeyValueHeads": 1}),
    ],
)  # fmt: skip
def test_fallback_on_flat_and_nested_configs(
    config: dict[str, Any], expected: dict[str, Any]
) -> None:
    summary = architecture(config, "config.json")
    assert {key: summary.get(key) for key in expected} == expected
    Architecture.model_validate(summary)


@pytest.mark.parametrize(
    ("quantization", "expected"),
    [
        ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False},
         {"method": "gptq", "bits": 4, "groupSize": 128}),
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"},
         {"method": "awq", "bits": 4, "groupSize": 128}),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True,
          "bnb_4bit_quant_type": "nf4"}, {"method": "bitsandbytes", "bits": 4}),
        ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]},
         {"method": "fp8", "bits": 8}),
        ({"quant_method": "hqq", "nbits": 4}, {"method": "other"}),
    ],
)  # fmt: skip
def test_the_quantization_a_checkpoint_ships_is_recorded(
    quantization: dict[str, Any], expected: dict[str, Any]
) -> None:
    config = {**LLAMA, "quantization_config": quantization}
    assert architecture(config, "config.json")["quantization"] == expected
    summary = summarise(config, "config.json")
    assert summary["quantization"] == expected
    assert Architecture.model_validate(summary).quantization is not None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "llama", "vocab_size": 8}, "config.json: no hidden_size or n_embd"),
        ({**LLAMA, "hidden_size": -4}, "config.json: hidden_size is -4; expected a positive"),
        ({**LLAMA, "model_type": "bert", "position_embedding_type": "spiral"},
         "config.json: position_embedding_type 'spiral' is not one keel knows"),
    ],
)  # fmt: skip
def test_fallback_refuses_what_it_cannot_summarise_in_one_line(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ManifestError, match=message) as caught:
        architecture(config, "config.json")
    assert "\n" not in str(caught.value)


def test_an_image_models_config_is_refused_in_one_line() -> None:
    with pytest.raises(ManifestError, match=r"^config\.json: no vocab_size; keel summarises"):
        summarise({"model_type": "vit"}, "config.json")
    with pytest.raises(ManifestError, match="no model_type"):
        summarise({"hidden_size": 8}, "config.json")


def test_a_model_type_transformers_does_not_know_is_read_by_keels_reader() -> None:
    summary = summarise({**LLAMA, "model_type": "acme_lm"}, "config.json")
    assert (summary["summarySource"], summary["modelType"]) == ("fallback", "acme_lm")


@pytest.mark.parametrize(
    ("tied", "tensors", "message"),
    [
        (True, {"model.embed_tokens.weight", "lm_head.weight"},
         "tie_word_embeddings is true, but the weights hold a separate lm_head.weight"),
        (False, {"model.embed_tokens.weight"},
         "tie_word_embeddings is false, but the weights hold no lm_head.weight"),
        (True, {"model.embed_tokens.weight"}, None),
        (False, {"model.embed_tokens.weight", "lm_head.weight"}, None),
    ],
)  # fmt: skip
def test_tied_embeddings_are_checked_against_the_tensor_names(
    tied: bool, tensors: set[str], message: str | None
) -> None:
    config = {"architectures": ["LlamaForCausalLM"]}
    if message is None:
        check_tied_embeddings(tied, tensors, config, "config.json")
    else:
        with pytest.raises(ManifestError, match=f"config.json: {message}"):
            check_tied_embeddings(tied, tensors, config, "config.json")


def _tiny_llama(directory: Path) -> None:
    """A random two-layer Llama (untied, as LlamaConfig defaults) with its own BPE tokenizer."""
    from families import tokenizer

    vocab = tokenizer(directory, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
    )  # fmt: skip
    context = _quiet()
    try:
        transformers.LlamaForCausalLM(config).save_pretrained(directory)
    finally:
        context.__exit__(None, None, None)


def test_pin_records_a_tiny_llama_and_refuses_a_tie_its_weights_contradict(
    tmp_path: Path,
) -> None:
    import yaml

    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest
    from toolkit.workflows.authoring.init import init

    source, root = tmp_path / "tiny-llama", tmp_path / "repo"
    _tiny_llama(source)
    init(root)
    request = PinRequest(
        str(source), "tiny-llama", owner="ml@example.com", license="apache-2.0",
        description="A random two-layer Llama.",
    )  # fmt: skip
    pin(root, request)
    manifest = yaml.safe_load((root / "manifests/models/tiny-llama.yaml").read_text())
    architecture = manifest["spec"]["architecture"]
    assert architecture == {
        "modelType": "llama", "hiddenSize": 16, "numLayers": 2, "numAttentionHeads": 2,
        "numKeyValueHeads": 1, "vocabSize": architecture["vocabSize"],
        "maxPositionEmbeddings": 64, "positionEncoding": "rotary", "norm": "RMSNorm",
        "activation": "silu", "tiedEmbeddings": False, "summarySource": "transformers",
        "headDim": 8, "intermediateSize": 32, "normPlacement": "pre", "ropeTheta": 10000.0,
    }  # fmt: skip

    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": True}))
    before = _files(root)
    tied = PinRequest(
        str(source), "tied-llama", owner="ml@example.com", license="apache-2.0",
        description="The same, said to be tied.",
    )  # fmt: skip
    message = "tie_word_embeddings is true, but the weights hold a separate lm_head.weight"
    with pytest.raises(ManifestError, match=message) as caught:
        pin(root, tied)
    assert str(caught.value).startswith(str(source / "config.json"))
    assert _files(root) == before


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if ".git" not in p.parts)


def test_without_transformers_pin_uses_keels_reader_and_records_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import yaml

    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest
    from toolkit.workflows.authoring.init import init

    source, root = tmp_path / "tiny-llama", tmp_path / "repo"
    _tiny_llama(source)
    init(root)
    request = PinRequest(
        str(source), "tiny-llama", owner="ml@example.com", license="apache-2.0",
        description="A random two-layer Llama.",
    )  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "transformers", None)  # `import transformers` fails
        pin(root, request)
    manifest = yaml.safe_load((root / "manifests/models/tiny-llama.yaml").read_text())
    architecture = manifest["spec"]["architecture"]
    assert architecture["summarySource"] == "fallback"
    written = json.loads((source / "config.json").read_text())
    assert {**architecture, "summarySource": "transformers"} == summarise(written, "config.json")


LONGROPE = {"rope_type": "longrope", "short_factor": [1.0] * 48, "long_factor": [4.0] * 48,
            "original_max_position_embeddings": 4096}  # fmt: skip


@pytest.mark.parametrize(
    ("family", "values", "expected"),
    [
        # DebertaConfig leaves relative attention off; DeBERTa-v3's configs turn it on
        ("deberta", {}, {"positionEncoding": "absolute"}),
        ("deberta-v2", {"relative_attention": True}, {"positionEncoding": "relative"}),
        ("fnet", {}, {"numAttentionHeads": None, "positionEncoding": "absolute"}),
        ("nemotron_h", {}, {"positionEncoding": "none", "activation": "relu2"}),
        ("esm", {"vocab_size": 33}, {"positionEncoding": "absolute", "activation": "gelu"}),
        ("esm", {"vocab_size": 33, "position_embedding_type": "rotary"},
         {"positionEncoding": "rotary"}),
        ("opt", {"do_layer_norm_before": False}, {"normPlacement": "post"}),
        ("falcon", {"alibi": True}, {"positionEncoding": "alibi"}),
        ("qwen2", {"use_sliding_window": False, "sliding_window": 4096}, {"slidingWindow": None}),
        ("whisper", {}, {"maxPositionEmbeddings": 448, "normPlacement": "pre"}),
        ("phi3", {"rope_scaling": LONGROPE, "max_position_embeddings": 131072},
         {"ropeScaling": {"type": "longrope", "originalMaxPositionEmbeddings": 4096}}),
        ("dbrx", {}, {"activation": "silu", "experts": 4, "expertsPerToken": 1,
                      "numKeyValueHeads": 1}),
    ],
)  # fmt: skip
def test_family_rules_on_transformers_defaults(
    family: str, values: dict[str, Any], expected: dict[str, Any]
) -> None:
    summary = summarise({"model_type": family, **values}, "config.json")
    assert {key: summary.get(key) for key in expected} == expected


@pytest.mark.parametrize(
    "odd",
    [
        {"rope_theta": "fast"},
        {"rope_parameters": ["not", "a", "mapping"]},
        {"rope_scaling": "yarn"},
        {"quantization_config": "gptq"},
        {"sliding_window": "4k"},
    ],
)
def test_fallback_reads_odd_values_without_an_internal_error(odd: dict[str, Any]) -> None:
    summary = architecture({**LLAMA, "rope_scaling": None, **odd}, "config.json")
    assert summary["positionEncoding"] == "rotary"
    assert "quantization" not in summary
    assert "slidingWindow" not in summary
