"""Tokenizer: the tokenizer files paired with one Model, and how it behaves on our data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolkit.manifests.base import (
    ArtifactFiles,
    DatasetRef,
    Digest,
    Manifest,
    ModelRef,
    PositiveInt,
    Strict,
)


class Fertility(Strict):
    """Tokens per whitespace-separated word, measured on a dataset (higher = costlier inputs)."""

    tokens_per_word: float = Field(gt=0)
    dataset: DatasetRef


class TokenizerSpec(ArtifactFiles):
    model: ModelRef = Field(description="The Model this tokenizer belongs to.")
    algorithm: Literal[
        "BPE", "WordPiece", "Unigram", "WordLevel", "SentencePiece", "tiktoken", "other"
    ] = Field(
        description="tokenizer.json's model type; else SentencePiece for a sentencepiece model "
        "(tokenizer.model, tokenizer.model.v3, spiece.model), tiktoken for *.tiktoken or "
        "tekken.json, BPE for merges.txt with vocab.json, WordPiece for vocab.txt."
    )
    vocab_size: PositiveInt
    max_length: PositiveInt = Field(description="Longest input in tokens (model_max_length).")
    overflow: Literal["truncate", "chunk", "hierarchical", "reject"] = Field(
        description="What happens to inputs longer than max_length."
    )
    padding_side: Literal["left", "right"]
    special_tokens: dict[str, str] = Field(
        description="Role to token, e.g. {cls: '[CLS]', sep: '[SEP]', pad: '[PAD]'}."
    )
    fertility: Fertility | None = None
    chat_template_digest: Digest | None = Field(
        default=None,
        description="sha256 of the chat template as transformers loads it: the text of "
        "chat_template.jinja, else tokenizer_config.json's chat_template (see docs/manifests.md, "
        "Generation). Checked at reproduce stage 3.",
    )


class Tokenizer(Manifest):
    KIND = "Tokenizer"
    kind: Literal["Tokenizer"]
    spec: TokenizerSpec
