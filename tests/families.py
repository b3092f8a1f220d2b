"""Tiny real checkpoints of transformer families, for tests: random weights written by
`save_pretrained`, a tokenizer trained with `tokenizers` on a few sentences and saved through
transformers' `PreTrainedTokenizerFast` (tokenizer.json, tokenizer_config.json).

`tiny_checkpoint(directory, family)` writes one into `directory` and returns a `Checkpoint`
with the parameter count transformers gives for the saved model
(`sum(p.numel() for p in model.parameters())`, tied weights once). Each is well under 1 MB.

Families: t5, bart, bloom, falcon, distilbert, gemma3 (Gemma3ForConditionalGeneration, its
text config nested under `text_config`), mixtral (MoE), llama-sharded (2+ shards and
model.safetensors.index.json) and mistral-consolidated (model.safetensors plus Mistral's own
export `consolidated.safetensors` of the same tensors under Mistral's names, and its
`params.json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SENTENCES = [
    "the model is deployed to the search service",
    "roll back a deployment to the previous revision",
    "training jobs wait in pending when no gpu is free",
    "quantize the merged model to int8 before serving",
    "the canary set runs on every deploy",
    "tokens are pooled and normalised",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass(frozen=True)
class Checkpoint:
    family: str
    directory: Path
    model_type: str
    parameters: int
    """sum(p.numel() for p in model.parameters()) of the saved model."""
    algorithm: str
    """The tokenizer's algorithm, as the Tokenizer manifest records it."""


def tokenizer(
    directory: Path,
    algorithm: str = "BPE",
    *,
    vocab_size: int = 96,
    chat: bool = False,
    **tokens: str,
) -> int:
    """Train a tokenizer of `algorithm` (BPE, Unigram or WordPiece) on SENTENCES, save it in
    `directory` with its special tokens (role=token), and return its vocabulary size."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    special = list(dict.fromkeys(tokens.values()))
    if algorithm == "Unigram":
        model: Any = models.Unigram()
        trainer: Any = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=special, unk_token=tokens.get("unk_token")
        )
    elif algorithm == "WordPiece":
        model = models.WordPiece(unk_token=tokens.get("unk_token", "[UNK]"))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special)
    else:
        model = models.BPE(unk_token=tokens.get("unk_token"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special)
    trained = Tokenizer(model)
    trained.pre_tokenizer = pre_tokenizers.Whitespace()
    trained.train_from_iterator(SENTENCES, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=trained, model_max_length=64, **tokens
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)
    return len(fast)


def _save(model: Any, directory: Path, **options: Any) -> int:
    model.save_pretrained(directory, **options)
    return sum(p.numel() for p in model.parameters())


def _t5(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(directory, "Unigram", pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config = transformers.T5Config(
        vocab_size=vocab, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2,
        num_heads=2, relative_attention_num_buckets=8, relative_attention_max_distance=16,
        decoder_start_token_id=0,
    )  # fmt: skip
    return _save(transformers.T5ForConditionalGeneration(config), directory), "Unigram"


def _bart(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(
        directory, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    config = transformers.BartConfig(
        vocab_size=vocab, d_model=16, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=64,
    )  # fmt: skip
    return _save(transformers.BartForConditionalGeneration(config), directory), "BPE"


def _bloom(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(directory, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    config = transformers.BloomConfig(vocab_size=vocab, hidden_size=16, n_layer=2, n_head=2)
    return _save(transformers.BloomForCausalLM(config), directory), "BPE"


def _falcon(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(directory, eos_token="<|endoftext|>")
    config = transformers.FalconConfig(
        vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        new_decoder_architecture=True, num_kv_heads=1, max_position_embeddings=64,
    )  # fmt: skip
    return _save(transformers.FalconForCausalLM(config), directory), "BPE"


def _distilbert(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(
        directory, "WordPiece", unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip
    config = transformers.DistilBertConfig(
        vocab_size=vocab, dim=16, n_layers=2, n_heads=2, hidden_dim=32, max_position_embeddings=64
    )
    return _save(transformers.DistilBertModel(config), directory), "WordPiece"


def _gemma3(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(
        directory, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", boi_token="<start_of_image>", eoi_token="<end_of_image>",
        image_token="<image_soft_token>", chat=True,
    )  # fmt: skip
    text = transformers.Gemma3TextConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=64,
        sliding_window=16,
    )  # fmt: skip
    vision = transformers.SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=28, patch_size=14,
    )  # fmt: skip
    config = transformers.Gemma3Config(
        text_config=text, vision_config=vision, mm_tokens_per_image=1,
        image_token_index=vocab - 1, boi_token_index=vocab - 3, eoi_token_index=vocab - 2,
    )  # fmt: skip
    model = transformers.Gemma3ForConditionalGeneration(config)
    return _save(model, directory), "BPE"


def _mixtral(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(directory, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    config = transformers.MixtralConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, num_local_experts=4,
        num_experts_per_tok=2, max_position_embeddings=64,
    )  # fmt: skip
    return _save(transformers.MixtralForCausalLM(config), directory), "BPE"


def _llama_config(vocab: int, **extra: Any) -> Any:
    import transformers

    return transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64, **extra,
    )  # fmt: skip


def _llama_sharded(directory: Path) -> tuple[int, str]:
    import transformers

    vocab = tokenizer(directory, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    model = transformers.LlamaForCausalLM(_llama_config(vocab))
    return _save(model, directory, max_shard_size="12KB"), "BPE"


MISTRAL_NAMES = (
    ("model.embed_tokens.", "tok_embeddings."),
    ("model.norm.", "norm."),
    ("lm_head.", "output."),
    ("model.layers.", "layers."),
    ("self_attn.q_proj.", "attention.wq."),
    ("self_attn.k_proj.", "attention.wk."),
    ("self_attn.v_proj.", "attention.wv."),
    ("self_attn.o_proj.", "attention.wo."),
    ("mlp.gate_proj.", "feed_forward.w1."),
    ("mlp.down_proj.", "feed_forward.w2."),
    ("mlp.up_proj.", "feed_forward.w3."),
    ("input_layernorm.", "attention_norm."),
    ("post_attention_layernorm.", "ffn_norm."),
)


def _mistral_consolidated(directory: Path) -> tuple[int, str]:
    import safetensors.torch
    import transformers

    vocab = tokenizer(directory, bos_token="<s>", eos_token="</s>", unk_token="<unk>", chat=True)
    config = transformers.MistralConfig(**_llama_config(vocab).to_diff_dict())
    model = transformers.MistralForCausalLM(config)
    parameters = _save(model, directory)
    native = {}
    for name, tensor in model.state_dict().items():
        for hf, mistral in MISTRAL_NAMES:
            name = name.replace(hf, mistral)
        native[name] = tensor.contiguous()
    safetensors.torch.save_file(native, str(directory / "consolidated.safetensors"))
    params = {"dim": 16, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "head_dim": 8,
              "hidden_dim": 32, "norm_eps": 1e-6, "vocab_size": vocab}  # fmt: skip
    (directory / "params.json").write_text(json.dumps(params, indent=2))
    return parameters, "BPE"


BUILDERS: dict[str, Callable[[Path], tuple[int, str]]] = {
    "t5": _t5,
    "bart": _bart,
    "bloom": _bloom,
    "falcon": _falcon,
    "distilbert": _distilbert,
    "gemma3": _gemma3,
    "mixtral": _mixtral,
    "llama-sharded": _llama_sharded,
    "mistral-consolidated": _mistral_consolidated,
}
FAMILIES = tuple(BUILDERS)


def tiny_checkpoint(directory: Path, family: str) -> Checkpoint:
    """Write a tiny random-weight checkpoint of `family` (one of FAMILIES) into `directory`."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    parameters, algorithm = BUILDERS[family](directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# tiny {family}\n")
    return Checkpoint(family, directory, config["model_type"], parameters, algorithm)
