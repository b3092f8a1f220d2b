"""A Model's `architecture` (camelCase) from a text model's config values.

`summary()` classifies one flat dict of config values: the transformers bridge
(`toolkit.bridges.configs`) passes the values transformers resolved (aliases, nested text
configs, each class's effective defaults); without transformers, `architecture()` reads
config.json itself with keel's alias table, a few family defaults and a one-level nested
`text_config`. Either way the top-level layers and heads describe the stack that produces the
output (the decoder of an encoder-decoder model); encoder and decoder are also recorded apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.core.architecture_families import (
    ACTIVATION,
    ACTIVATION_KEYS,
    ALIBI,
    ALWAYS_TIED,
    CONTEXT,
    EXPERTS,
    EXPERTS_PER_TOKEN,
    FFN,
    FOUR_X_FFN,
    HEADS,
    HIDDEN,
    LAYERS,
    NESTED,
    NO_ATTENTION,
    NO_POSITION,
    POST_NORM,
    QUANT_METHODS,
    RELATIVE,
    RMS_NORM,
    ROPE_KEYS,
    ROTARY,
    UNTIED_BY_DEFAULT,
)
from toolkit.core.errors import ManifestError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

_MISSING: Any = object()


def first(values: Mapping[str, Any], where: str, *keys: str, default: Any = _MISSING) -> Any:
    """The first of KEYS that is set (not None); a ManifestError when none is and no default."""
    for key in keys:
        if values.get(key) is not None:
            return values[key]
    if default is _MISSING:
        raise ManifestError(
            f"{where}: no {' or '.join(keys)}; keel summarises the config of a text model "
            "(a causal, masked or sequence-to-sequence language model)"
        )
    return default


def architecture(config: Mapping[str, Any], where: Path | str) -> dict[str, Any]:
    """keel's own reader of config.json, used when transformers is not installed."""
    values = dict(config)
    nested = config.get("text_config")
    if isinstance(nested, dict) and not any(config.get(k) is not None for k in HIDDEN):
        values = {**nested, **{k: v for k, v in config.items() if k in _TOP_LEVEL}}
        values["model_type"] = config.get("model_type", nested.get("model_type"))
    family = values.get("model_type")
    if values.get("tie_word_embeddings") is None or family in ALWAYS_TIED:
        values["tie_word_embeddings"] = family not in UNTIED_BY_DEFAULT
    return summary(values, str(where), source="fallback")


_TOP_LEVEL = ("model_type", "tie_word_embeddings", "quantization_config")


def summary(values: Mapping[str, Any], where: str, *, source: str) -> dict[str, Any]:
    """The camelCase `architecture` of the flat VALUES (unset optional fields left out)."""
    values = _filled(values)
    family = str(first(values, where, "model_type"))
    hidden = _positive(values, where, HIDDEN)
    encoder, decoder = _stacks(values, where, hidden)
    top = decoder or {
        "numLayers": _positive(values, where, LAYERS),
        "numAttentionHeads": _heads(values, where),
        "numKeyValueHeads": _kv_heads(values, where),
    }
    heads = top.get("numAttentionHeads")
    position = position_encoding(values, where)
    found = {
        "modelType": family,
        "hiddenSize": hidden,
        "numLayers": top["numLayers"],
        "numAttentionHeads": heads,
        "numKeyValueHeads": top.get("numKeyValueHeads"),
        "vocabSize": _positive(values, where, ("vocab_size",)),
        "maxPositionEmbeddings": _context(values, where),
        "positionEncoding": position,
        "norm": norm(values),
        "activation": activation(values, where),
        "tiedEmbeddings": bool(first(values, where, "tie_word_embeddings", default=True)),
        "summarySource": source,
        "headDim": _head_dim(values, hidden, heads),
        "intermediateSize": (decoder or {}).get("intermediateSize") or _ffn(values, hidden),
        "normPlacement": norm_placement(values),
        "encoder": encoder,
        "decoder": decoder,
    }
    if position == "rotary":
        found.update(rope(values))
    found.update(_extras(values, where))
    return {key: value for key, value in found.items() if value is not None}


def _filled(values: Mapping[str, Any]) -> dict[str, Any]:
    filled = dict(values)
    for name in NESTED:
        nested = values.get(name)
        if isinstance(nested, dict):
            filled.update({k: v for k, v in nested.items() if filled.get(k) is None})
    return filled


def _positive(values: Mapping[str, Any], where: str, keys: tuple[str, ...]) -> int:
    value = first(values, where, *keys)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        key = next(k for k in keys if values.get(k) is not None)
        raise ManifestError(f"{where}: {key} is {value!r}; expected a positive whole number")
    return value


def _optional(values: Mapping[str, Any], where: str, keys: tuple[str, ...]) -> int | None:
    if all(values.get(k) is None for k in keys):
        return None
    return _positive(values, where, keys)


def _heads(values: Mapping[str, Any], where: str) -> int | None:
    """None for models without attention (Mamba, RWKV) and configs that name no heads."""
    if values.get("model_type") in NO_ATTENTION:
        return None
    return _optional(values, where, HEADS)


def _kv_heads(values: Mapping[str, Any], where: str) -> int | None:
    heads = _heads(values, where)
    if heads is None:
        return None
    attention = values.get("attn_config")
    if isinstance(attention, dict) and attention.get("kv_n_heads"):
        return int(attention["kv_n_heads"])
    if values.get("model_type") == "falcon" and not values.get("new_decoder_architecture"):
        return 1 if values.get("multi_query", True) else heads
    if values.get("multi_query") is True:
        return 1
    return _optional(values, where, ("num_key_value_heads", "num_kv_heads", "n_head_kv")) or heads


def _context(values: Mapping[str, Any], where: str) -> int | None:
    if values.get("model_type") in ("t5", "mt5", "umt5", "longt5", "xlnet", "switch_transformers"):
        return None  # relative buckets / memory: no fixed table of positions
    return _optional(values, where, CONTEXT)


def _stacks(
    values: Mapping[str, Any], where: str, hidden: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Encoder and decoder of an encoder-decoder model (BART's and T5's naming)."""
    if not values.get("is_encoder_decoder"):
        return None, None
    stacks = []
    for side, layers in (
        ("encoder", ("encoder_layers", "num_encoder_layers", "num_layers")),
        ("decoder", ("decoder_layers", "num_decoder_layers", "num_layers")),
    ):
        heads = (f"{side}_attention_heads", f"num_{side}_attention_heads", *HEADS)
        count = _positive(values, where, heads)
        kv = _optional(values, where, (f"{side}_key_value_heads",))
        stack = {
            "numLayers": _positive(values, where, layers + LAYERS),
            "numAttentionHeads": count,
            "numKeyValueHeads": kv or count,
            "hiddenSize": hidden,
            "intermediateSize": _optional(values, where, (f"{side}_ffn_dim", *FFN)),
        }
        stacks.append({k: v for k, v in stack.items() if v is not None})
    return stacks[0], stacks[1]


def stack(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One stack's sizes from its own flat config (an encoder or decoder config of its own)."""
    values = _filled(values)
    heads = _positive(values, where, HEADS)
    hidden = _positive(values, where, HIDDEN)
    found = {
        "numLayers": _positive(values, where, LAYERS),
        "numAttentionHeads": heads,
        "numKeyValueHeads": _kv_heads(values, where) or heads,
        "hiddenSize": hidden,
        "intermediateSize": _ffn(values, hidden),
    }
    return {key: value for key, value in found.items() if value is not None}


def position_encoding(values: Mapping[str, Any], where: str) -> str:
    family = values.get("model_type")
    kind = values.get("position_embedding_type")
    attention = values.get("attn_config")
    if family in NO_POSITION or kind == "none":
        return "none"
    alibi_off = isinstance(attention, dict) and attention.get("alibi") is False  # MPT's switch
    if values.get("alibi") or (family in ALIBI and not alibi_off):
        return "alibi"
    if values.get("relative_attention") is True or family in ("t5", "mt5", "xlnet", "longt5"):
        return "relative"
    if isinstance(kind, str) and kind.startswith("relative"):
        return "relative"
    if kind in ("absolute", "learned", "sinusoidal", "rotary", "rope"):  # said outright (ESM)
        return "absolute" if kind in ("absolute", "learned", "sinusoidal") else "rotary"
    if kind is not None:
        raise ManifestError(f"{where}: position_embedding_type '{kind}' is not one keel knows")
    if any(values.get(key) is not None for key in ROPE_KEYS):
        return "rotary"
    if family in RELATIVE:
        return "relative"
    return "rotary" if family in ROTARY else "absolute"


def norm(values: Mapping[str, Any]) -> str:
    family = values.get("model_type")
    if values.get("rms_norm_eps") is not None or values.get("rms_norm") is True:
        return "RMSNorm"
    if family in RMS_NORM or "rms" in str(values.get("norm_type", "")).lower():
        return "RMSNorm"
    return "LayerNorm"


def norm_placement(values: Mapping[str, Any]) -> str:
    for key in ("normalize_before", "do_layer_norm_before", "pre_norm"):
        if isinstance(values.get(key), bool):
            return "pre" if values[key] else "post"
    if values.get("post_layer_norm") is True:
        return "post"
    return "post" if values.get("model_type") in POST_NORM else "pre"


def activation(values: Mapping[str, Any], where: str) -> str:
    family = values.get("model_type")
    found = first(values, where, *ACTIVATION_KEYS, default=ACTIVATION.get(str(family)))
    if isinstance(found, dict):  # DBRX: {"name": "silu"}
        found = found.get("name")
    if isinstance(values.get("gelu_activation"), bool):  # XLM, FlauBERT
        found = "gelu" if values["gelu_activation"] else "relu"
    if found is None:
        raise ManifestError(f"{where}: no {' or '.join(ACTIVATION_KEYS[:4])}")
    return str(found)


def _head_dim(values: Mapping[str, Any], hidden: int, heads: int | None) -> int | None:
    explicit = first(values, "", "head_dim", "d_kv", "d_head", "dim_head", default=None)
    if isinstance(explicit, int) and explicit > 0:
        return explicit
    return hidden // heads if heads and hidden % heads == 0 else None


def _ffn(values: Mapping[str, Any], hidden: int) -> int | None:
    width = first(values, "", *FFN, default=None)
    if isinstance(width, int) and width > 0:
        return width
    ratio = values.get("expansion_ratio")
    if isinstance(ratio, int | float) and ratio > 0:
        return int(ratio * hidden)
    return 4 * hidden if values.get("model_type") in FOUR_X_FFN else None


def rope(values: Mapping[str, Any]) -> dict[str, Any]:
    """ropeTheta and ropeScaling from transformers 5's rope_parameters (per layer type:
    full attention's) or an older config's rope_theta / rope_scaling."""
    parameters = values.get("rope_parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    if isinstance(parameters.get("full_attention"), dict):
        parameters = parameters["full_attention"]
    scaling = values.get("rope_scaling") or parameters
    theta = first(parameters, "", "rope_theta", default=None)
    theta = first(values, "", "rope_theta", "rotary_emb_base", default=theta)
    number = isinstance(theta, int | float) and not isinstance(theta, bool)
    found: dict[str, Any] = {"ropeTheta": float(theta) if number else None}
    kind = scaling.get("rope_type") or scaling.get("type") if isinstance(scaling, dict) else None
    if kind and kind != "default":
        factor = scaling.get("factor")
        original = scaling.get("original_max_position_embeddings")
        found["ropeScaling"] = {
            "type": str(kind),
            **({"factor": float(factor)} if isinstance(factor, int | float) else {}),
            **({"originalMaxPositionEmbeddings": original} if isinstance(original, int) else {}),
        }
    return found


def _extras(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """slidingWindow, experts, expertsPerToken and the checkpoint's quantization."""
    found: dict[str, Any] = {}
    window = values.get("sliding_window")
    if isinstance(window, int) and window > 0 and values.get("use_sliding_window") is not False:
        found["slidingWindow"] = window
    experts = first(values, where, *EXPERTS, default=None)
    if isinstance(experts, int) and experts > 1:
        found["experts"] = experts
        per_token = first(values, where, *EXPERTS_PER_TOKEN, default=None)
        found["expertsPerToken"] = per_token if isinstance(per_token, int) else None
    found["quantization"] = quantization(values.get("quantization_config"))
    return found


def quantization(config: Any) -> dict[str, Any] | None:
    """The `quantization_config` a checkpoint ships: method, bits and group size."""
    if not isinstance(config, dict):
        return None
    method = str(config.get("quant_method") or "")
    bits = config.get("bits") or config.get("w_bit")
    if config.get("load_in_4bit"):
        bits = 4
    elif config.get("load_in_8bit") or method == "fp8":
        bits = 8
    group = config.get("group_size") or config.get("q_group_size")
    found = {
        "method": QUANT_METHODS.get(method.lower(), "other"),
        "bits": bits if isinstance(bits, int) and bits > 0 else None,
        "groupSize": group if isinstance(group, int) and group > 0 else None,
    }
    return {key: value for key, value in found.items() if value is not None}


def check_tied_embeddings(
    tied: bool, tensors: set[str], config: Mapping[str, Any], where: str
) -> None:
    """The config's effective tie_word_embeddings against the weights' tensor names.

    A separate `lm_head.weight` contradicts a tied config (transformers would drop it and reuse
    the input embeddings); a causal LM that is untied but ships input embeddings and no
    lm_head.weight would load a random output layer. Either is refused: the manifest must not
    describe a model other than the one that loads.
    """
    heads = sorted(n for n in tensors if n == "lm_head.weight" or n.endswith(".lm_head.weight"))
    if tied and heads:
        raise ManifestError(
            f"{where}: tie_word_embeddings is true, but the weights hold a separate {heads[0]}; "
            "set tie_word_embeddings to false in config.json, or drop the tensor"
        )
    names = config.get("architectures")
    causal = isinstance(names, list) and any(str(n).endswith("ForCausalLM") for n in names)
    embeddings = any(n.endswith("embed_tokens.weight") for n in tensors)
    if not tied and causal and embeddings and not heads:
        raise ManifestError(
            f"{where}: tie_word_embeddings is false, but the weights hold no lm_head.weight; "
            "set tie_word_embeddings to true in config.json, or add the output layer"
        )
