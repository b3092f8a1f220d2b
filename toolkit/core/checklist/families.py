"""What keel knows of transformer families (by config `model_type`): where the norm sits, the
activation they are trained with, whether the FFN is gated, and which are encoder-only; and
how to find the embedding, output head, FFN and layers among a checkpoint's tensor names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.core.safetensors_header import TensorEntry


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


POST_NORM = _names(
    "bert roberta xlm-roberta camembert electra distilbert albert mpnet ernie deberta "
    "deberta-v2 bart mbart marian pegasus blenderbot nllb-moe m2m_100 fsmt"
)
PRE_NORM = _names(
    "llama mistral mixtral qwen2 qwen2_moe qwen3 qwen3_moe gemma gemma2 gemma3 "
    "gemma3_text gpt2 gpt_neox gptj gpt_bigcode falcon bloom t5 mt5 umt5 phi phi3 opt "
    "mpt starcoder2 olmo olmo2 stablelm cohere cohere2 whisper deepseek_v2 "
    "deepseek_v3 granite nemotron persimmon jamba codegen xglm modernbert"
)
ENCODER_ONLY = _names(
    "bert roberta xlm-roberta camembert electra distilbert albert mpnet ernie deberta "
    "deberta-v2 modernbert"
)
GATED_FFN = _names(
    "llama mistral mixtral qwen2 qwen2_moe qwen3 qwen3_moe gemma gemma2 gemma3 "
    "gemma3_text phi3 olmo olmo2 cohere cohere2 deepseek_v2 deepseek_v3 granite jamba "
    "starcoder2 stablelm"
)
ACTIVATIONS: dict[str, frozenset[str]] = {
    **{t: frozenset({"gelu"}) for t in ENCODER_ONLY - {"modernbert"}},
    "modernbert": frozenset({"gelu"}),
    **{
        t: frozenset({"silu", "swish"})
        for t in _names(
            "llama mistral mixtral qwen2 qwen2_moe qwen3 qwen3_moe phi3 olmo olmo2 cohere "
            "cohere2 deepseek_v2 deepseek_v3 granite jamba stablelm"
        )
    },
    **{
        t: frozenset({"gelu_pytorch_tanh", "gelu"})
        for t in _names("gemma gemma2 gemma3 gemma3_text")
    },
    "gpt2": frozenset({"gelu_new"}),
    "gptj": frozenset({"gelu_new"}),
    "codegen": frozenset({"gelu_new"}),
    "phi": frozenset({"gelu_new"}),
    "gpt_neox": frozenset({"gelu", "gelu_fast", "gelu_new"}),
    "gpt_bigcode": frozenset({"gelu_pytorch_tanh", "gelu"}),
    "starcoder2": frozenset({"gelu_pytorch_tanh", "gelu"}),
    "falcon": frozenset({"gelu"}),
    "bloom": frozenset({"gelu", "gelu_fast", "bloom_gelu", "gelu_pytorch_tanh"}),
    "opt": frozenset({"relu"}),
    "t5": frozenset({"relu", "gated-gelu", "gelu_new"}),
    "mt5": frozenset({"gated-gelu", "gelu_new"}),
    "bart": frozenset({"gelu"}),
    "mbart": frozenset({"gelu"}),
    "marian": frozenset({"swish", "silu", "gelu"}),
    "whisper": frozenset({"gelu"}),
}
STANDARD_ACTIVATIONS = _names(
    "gelu gelu_new gelu_fast gelu_pytorch_tanh quick_gelu silu swish relu gated-gelu"
)
# FFN width / model width: plain FFNs are trained near 4, gated ones near 8/3 (up to 8 for
# Gemma), one expert of a mixture narrower still.
FFN_RANGES = {"plain": (2.0, 6.0), "gated": (2.0, 8.0), "expert": (0.25, 8.0)}

EMBEDDING_NAMES = (
    "word_embeddings.weight", "embed_tokens.weight", "wte.weight", "tok_embeddings.weight",
    "shared.weight", "embed_in.weight",
)  # fmt: skip
HEAD_NAMES = ("lm_head.weight", "output.weight", "embed_out.weight")
FFN_NAMES = (
    "intermediate.dense.weight", "mlp.up_proj.weight", "mlp.gate_proj.weight",
    "mlp.c_fc.weight", "mlp.dense_h_to_4h.weight", "DenseReluDense.wi.weight",
    "DenseReluDense.wi_0.weight", "fc1.weight", "feed_forward.w1.weight", "ffn.lin1.weight",
    "mlp.fc1.weight", "mlp.up.weight",
)  # fmt: skip
_LAYER = re.compile(r"^(?:(.*?)\.)?(?:layers?|h|block|blocks)\.(\d+)\.")


def find(tensors: dict[str, TensorEntry], suffixes: tuple[str, ...]) -> TensorEntry | None:
    """The first 2-D tensor (by name) whose name ends with one of `suffixes`."""
    for name in sorted(tensors):
        entry = tensors[name]
        if len(entry.shape) == 2 and name.endswith(suffixes):
            return entry
    return None


def layer_counts(tensors: dict[str, TensorEntry]) -> dict[str, int]:
    """Stack prefix ('model', 'encoder', 'decoder', ...) -> number of distinct layer indices."""
    stacks: dict[str, set[int]] = {}
    for name in tensors:
        match = _LAYER.match(name)
        if match:
            stacks.setdefault(match.group(1) or "", set()).add(int(match.group(2)))
    return {prefix: len(indices) for prefix, indices in stacks.items()}
