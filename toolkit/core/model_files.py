"""Pure readers of a model snapshot's local files: config.json and the model card.

They turn what a text model's files say into fields of a Model manifest (`architecture`,
`readme_license`); `tokenizer_files` reads the tokenizer files. Nothing here needs
huggingface_hub or the network: the files may come from the HF cache, an installed package or
any local directory.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError

if TYPE_CHECKING:
    from pathlib import Path

# families that use rotary embeddings even when an old config.json has no rope_* key
_ROTARY_FAMILIES = frozenset(
    {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "phi", "phi3",
     "gpt_neox", "gptj", "falcon", "stablelm", "starcoder2", "olmo", "cohere", "roformer"}
)  # fmt: skip
_ROPE_KEYS = ("rope_theta", "rope_scaling", "rope_parameters", "rotary_pct", "rotary_emb_base")
_MISSING: Any = object()


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object")
    return data


def readme_license(path: Path) -> str | None:
    """`license:` of a model card's YAML front matter (`license_name:` when it is 'other')."""
    import yaml

    match = re.match(
        r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)",
        path.read_text("utf-8", errors="replace"),
        re.S,
    )
    try:
        card = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        return None
    if not isinstance(card, dict):
        return None
    value = card.get("license")
    if value == "other" and isinstance(card.get("license_name"), str):
        value = card["license_name"]
    if isinstance(value, list) and value:
        value = value[0]
    return value.strip() if isinstance(value, str) and value.strip() else None


def architecture(config: dict[str, Any], where: Path) -> dict[str, Any]:
    """The manifest's `architecture` (camelCase) from a text model's flat config.json."""

    def first(*keys: str, default: Any = _MISSING) -> Any:
        for key in keys:
            if config.get(key) is not None:
                return config[key]
        if default is _MISSING:
            raise ManifestError(
                f"{where}: no {' or '.join(keys)}; keel pin reads the architecture from the flat "
                "config.json of a text model"
            )
        return default

    heads = first("num_attention_heads", "n_head", "num_heads")
    return {
        "modelType": first("model_type"),
        "hiddenSize": first("hidden_size", "n_embd", "d_model"),
        "numLayers": first("num_hidden_layers", "n_layer", "num_layers"),
        "numAttentionHeads": heads,
        "numKeyValueHeads": first("num_key_value_heads", default=heads),
        "vocabSize": first("vocab_size"),
        "maxPositionEmbeddings": first("max_position_embeddings", "n_positions", "max_seq_len"),
        "positionEncoding": _position_encoding(config, where),
        "norm": "RMSNorm" if "rms_norm_eps" in config else "LayerNorm",
        "activation": first("hidden_act", "hidden_activation", "activation_function"),
        "tiedEmbeddings": bool(first("tie_word_embeddings", default=True)),  # as transformers
    }


def _position_encoding(config: dict[str, Any], where: Path) -> str:
    if config.get("alibi") or config.get("model_type") in ("bloom", "mpt"):
        return "alibi"
    if any(config.get(key) is not None for key in _ROPE_KEYS):
        return "rotary"
    kind = config.get("position_embedding_type")
    if kind is None:
        return "rotary" if config.get("model_type") in _ROTARY_FAMILIES else "absolute"
    if kind in ("absolute", "rotary"):
        return str(kind)
    if str(kind).startswith("relative"):
        return "relative"
    raise ManifestError(f"{where}: position_embedding_type '{kind}' is not one keel knows")
