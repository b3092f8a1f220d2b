"""A model snapshot's tokenizer files: which files belong to the Tokenizer manifest rather than
the Model, and what they say (algorithm, vocabulary size, longest input, padding side,
special tokens), read without transformers, tokenizers or sentencepiece.

The algorithm comes from the files: tokenizer.json's model type (BPE, WordPiece, Unigram,
WordLevel); else a sentencepiece model (`tokenizer.model`, Mistral's `tokenizer.model.v3`,
`spiece.model`, Marian's `*.spm`) -> SentencePiece; a tiktoken rank file (`*.tiktoken`,
Mistral's `tekken.json`) -> tiktoken; `merges.txt` with `vocab.json` -> BPE; `vocab.txt` ->
WordPiece.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError
from toolkit.core.model_files import read_json

if TYPE_CHECKING:
    from pathlib import Path

TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt",
        "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "sentencepiece.model",
        "spm.model", "tekken.json", "chat_template.jinja", "chat_template.json",
    }
)  # fmt: skip
"""Names of files that belong to the Tokenizer manifest (with TOKENIZER_PATTERNS)."""
TOKENIZER_PATTERNS = ("tokenizer.model.v*", "*.tiktoken", "*.spm", "chat_template_*.jinja")
SENTENCEPIECE_PATTERNS = (
    "tokenizer.model", "tokenizer.model.v*", "spiece.model", "sentencepiece.bpe.model",
    "sentencepiece.model", "spm.model", "*.spm",
)  # fmt: skip
TIKTOKEN_PATTERNS = ("*.tiktoken", "tekken.json")
ALGORITHMS = ("BPE", "WordPiece", "Unigram", "WordLevel")
# transformers writes int(1e30) as model_max_length when the tokenizer sets no limit
_NO_LIMIT = 10**12


def is_tokenizer_file(name: str) -> bool:
    """Whether a file of this name (no folder) belongs to the Tokenizer, not the Model."""
    return name in TOKENIZER_FILES or any(fnmatch.fnmatch(name, p) for p in TOKENIZER_PATTERNS)


def _matching(files: dict[str, Path], patterns: tuple[str, ...]) -> list[str]:
    return sorted(n for n in files if any(fnmatch.fnmatch(n, p) for p in patterns))


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
        "algorithm": algorithm(tokenizer, files),
        "vocabSize": _vocab_size(tokenizer, files, config),
        "maxLength": _max_length(settings, config),
        "paddingSide": side,
        "specialTokens": _special_tokens(settings, special),
    }


def algorithm(tokenizer: dict[str, Any] | None, files: dict[str, Path]) -> str:
    """The Tokenizer's `algorithm` from tokenizer.json (parsed) or the other files' names."""
    if tokenizer is not None:
        kind = (tokenizer.get("model") or {}).get("type")
        return kind if kind in ALGORITHMS else "other"
    if _matching(files, SENTENCEPIECE_PATTERNS):
        return "SentencePiece"
    if _matching(files, TIKTOKEN_PATTERNS):
        return "tiktoken"
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
    elif "vocab.txt" in files:
        ids = set(range(len(files["vocab.txt"].read_text("utf-8").splitlines())))
    elif tiktoken := _matching(files, ("*.tiktoken",)):  # one "base64-token rank" a line
        lines = files[tiktoken[0]].read_text("utf-8").splitlines()
        ids = set(range(sum(1 for line in lines if line.strip())))
    elif "tekken.json" in files:
        size = (read_json(files["tekken.json"]).get("config") or {}).get("default_vocab_size")
        ids = set(range(size)) if isinstance(size, int) and size > 0 else set()
    if ids and tokenizer is None and "added_tokens.json" in files:
        ids |= set(read_json(files["added_tokens.json"]).values())
    if ids:
        return len(ids)
    text = config.get("text_config")
    size = config.get("vocab_size")
    if not isinstance(size, int) and isinstance(text, dict):
        size = text.get("vocab_size")
    if not isinstance(size, int):
        raise ManifestError("no tokenizer vocabulary and no vocab_size in config.json")
    return size


def _max_length(settings: dict[str, Any], config: dict[str, Any]) -> int:
    limit = settings.get("model_max_length")
    if isinstance(limit, int | float) and 0 < limit < _NO_LIMIT:
        return int(limit)
    text = config.get("text_config")
    for source in (config, text if isinstance(text, dict) else {}):
        fallback = source.get("max_position_embeddings") or source.get("n_positions")
        if isinstance(fallback, int):
            return fallback
    raise ManifestError(
        "tokenizer_config.json sets no model_max_length and config.json no "
        "max_position_embeddings; keel pin cannot tell the longest input"
    )


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
