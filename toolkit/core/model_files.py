"""Pure readers of a model snapshot's local files: config.json, the tokenizer files, the card.

They turn what a text model's files say into the camelCase fields of a Model and a Tokenizer
manifest (`architecture`, `tokenizer_summary`, `readme_license`). Nothing here needs
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

TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "added_tokens.json",
        "tokenizer.model",
        "spiece.model",
        "sentencepiece.bpe.model",
    }
)
SENTENCEPIECE_FILES = ("tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
ALGORITHMS = ("BPE", "WordPiece", "Unigram", "WordLevel")
# transformers writes int(1e30) as model_max_length when the tokenizer sets no limit
_NO_LIMIT = 10**12


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


def tokenizer_summary(files: dict[str, Path], config: dict[str, Any]) -> dict[str, Any]:
    """algorithm, vocabSize, maxLength, paddingSide and specialTokens (camelCase), read from the
    top-level tokenizer files {file name: path} and the model's config.json.

    vocabSize is the number of ids the tokenizer can emit: its model's vocabulary plus added
    tokens (transformers' `len(tokenizer)`). It equals config.json's vocab_size unless the
    model pads its embedding matrix, whose size the Model records as architecture.vocabSize.
    """
    tokenizer = read_json(files["tokenizer.json"]) if "tokenizer.json" in files else None
    settings = read_json(files["tokenizer_config.json"]) if "tokenizer_config.json" in files else {}
    special = (
        read_json(files["special_tokens_map.json"]) if "special_tokens_map.json" in files else {}
    )
    side = settings.get("padding_side") or "right"
    if side not in ("left", "right"):
        raise ManifestError(f"tokenizer_config.json: padding_side '{side}' is not left or right")
    return {
        "algorithm": _algorithm(tokenizer, files),
        "vocabSize": _vocab_size(tokenizer, files, config),
        "maxLength": _max_length(settings, config),
        "paddingSide": side,
        "specialTokens": _special_tokens(settings, special),
    }


def _algorithm(tokenizer: dict[str, Any] | None, files: dict[str, Path]) -> str:
    if tokenizer is not None:
        kind = (tokenizer.get("model") or {}).get("type")
        return kind if kind in ALGORITHMS else "other"
    if any(name in files for name in SENTENCEPIECE_FILES):
        return "SentencePiece"
    if "merges.txt" in files:
        return "BPE"
    return "WordPiece" if "vocab.txt" in files else "other"


def _vocab_size(
    tokenizer: dict[str, Any] | None, files: dict[str, Path], config: dict[str, Any]
) -> int:
    ids: set[int] = set()
    if tokenizer is not None:
        vocab = (tokenizer.get("model") or {}).get("vocab")
        ids = set(vocab.values()) if isinstance(vocab, dict) else set(range(len(vocab or [])))
        ids |= {t["id"] for t in tokenizer.get("added_tokens") or [] if isinstance(t, dict)}
    elif "vocab.json" in files:
        ids = set(read_json(files["vocab.json"]).values())
        if "added_tokens.json" in files:
            ids |= set(read_json(files["added_tokens.json"]).values())
    elif "vocab.txt" in files:
        ids = set(range(len(files["vocab.txt"].read_text("utf-8").splitlines())))
    if ids:
        return len(ids)
    size = config.get("vocab_size")
    if not isinstance(size, int):
        raise ManifestError("no tokenizer vocabulary and no vocab_size in config.json")
    return size


def _max_length(settings: dict[str, Any], config: dict[str, Any]) -> int:
    limit = settings.get("model_max_length")
    if isinstance(limit, int | float) and 0 < limit < _NO_LIMIT:
        return int(limit)
    fallback = config.get("max_position_embeddings") or config.get("n_positions")
    if not isinstance(fallback, int):
        raise ManifestError(
            "tokenizer_config.json sets no model_max_length and config.json no "
            "max_position_embeddings; keel pin cannot tell the longest input"
        )
    return fallback


def _special_tokens(settings: dict[str, Any], special: dict[str, Any]) -> dict[str, str]:
    """Role (without `_token`) to token, from tokenizer_config.json then special_tokens_map.json."""
    found: dict[str, str] = {}
    for source in (settings, special):
        for key, value in source.items():
            if not key.endswith("_token"):
                continue
            content = value.get("content") if isinstance(value, dict) else value
            if isinstance(content, str):
                found[key.removesuffix("_token")] = content
    return dict(sorted(found.items()))
