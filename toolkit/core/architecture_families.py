"""The family tables and config key names behind a Model's architecture summary.

Which families lack attention or positions, use ALiBi, relative or rotary positions, RMSNorm,
post-norm, a hard-coded activation, or transformers' untied defaults; and the names families
give each value (first present wins). Kept apart from the rules in `toolkit.core.architecture`.
"""

from __future__ import annotations

# no attention at all: state-space / recurrent mixers (no heads recorded)
NO_ATTENTION = frozenset({"mamba", "mamba2", "falcon_mamba", "rwkv", "xlstm", "fnet"})
# no positional signal of their own: the recurrent or state-space layers carry the order
NO_POSITION = frozenset(
    {"mamba", "mamba2", "falcon_mamba", "rwkv", "xlstm", "jamba", "zamba", "nemotron_h",
     "nemo_speechlm", "kimi_linear"}
)  # fmt: skip
ALIBI = frozenset({"bloom", "mpt"})
# relative position biases or relative attention without a rope key in the config
RELATIVE = frozenset(
    {"t5", "mt5", "umt5", "longt5", "switch_transformers", "xlnet", "transfo-xl", "pop2piano",
     "udop", "cpmant", "funnel", "inkling_text", "inkling2_text"}
)  # fmt: skip
# rotary even when an old config.json has no rope key
ROTARY = frozenset(
    {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text",
     "phi", "phi3", "gpt_neox", "gptj", "codegen", "falcon", "stablelm", "starcoder2", "olmo",
     "olmo2", "cohere", "roformer", "qwen2_moe", "qwen3_moe"}
)  # fmt: skip
ROPE_KEYS = ("rope_parameters", "rope_scaling", "rope_theta", "rotary_dim", "rotary_pct",
             "partial_rotary_factor", "rotary_emb_base", "rotary_emb_fraction")  # fmt: skip
# RMSNorm although the config names only a layer_norm_epsilon
RMS_NORM = frozenset(
    {"t5", "mt5", "umt5", "longt5", "switch_transformers", "mamba", "mamba2", "falcon_mamba",
     "pop2piano", "udop", "rwkv7", "lfm2", "lfm2_moe", "lfm3"}
)  # fmt: skip
# normalisation after each residual sub-layer (the original Transformer's placement)
POST_NORM = frozenset(
    {"bert", "roberta", "distilbert", "deberta", "deberta-v2", "electra", "albert", "camembert",
     "xlm-roberta", "xlm", "flaubert", "xlnet", "bart", "marian", "mpnet", "funnel", "ernie",
     "roformer", "convbert", "squeezebert", "mobilebert", "rembert", "data2vec-text", "ibert",
     "big_bird", "nezha", "layoutlm", "luke", "openai-gpt", "olmo2", "olmo3", "fsmt",
     "nystromformer", "yoso", "mra", "canine", "splinter", "blenderbot-small", "xmod",
     "bert-generation", "roc_bert", "tapas", "longformer", "led", "mvp", "prophetnet", "trocr",
     "git"}
)  # fmt: skip
# activation the model hard-codes (no config key)
ACTIVATION = {"bloom": "gelu_pytorch_tanh", "mpt": "gelu", "rwkv": "relu_squared", "ctrl": "relu",
              "cpmant": "gelu", "lfm2": "silu", "lfm2_moe": "silu", "lfm3": "silu",
              "xlstm": "silu", "esm": "gelu"}  # fmt: skip
# sub-configs whose keys fill what the top level leaves unset (DBRX, BLT's global transformer)
NESTED = ("attn_config", "ffn_config", "global_config")
# transformers' effective tie_word_embeddings where it is not True (fallback without transformers)
UNTIED_BY_DEFAULT = frozenset(
    {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi3", "olmo",
     "olmo2", "jamba", "codegen", "gptj", "gpt_neox", "rwkv", "cohere", "starcoder2", "stablelm",
     "phi", "mamba2"}
)  # fmt: skip
# tied whatever config.json says (transformers' config class overrides the official `false`)
ALWAYS_TIED = frozenset({"mt5", "umt5"})
# FFN width = 4 x hidden when the config leaves it unset
FOUR_X_FFN = frozenset({"gpt2", "gptj", "codegen", "bloom", "falcon", "gpt_bigcode", "openai-gpt"})
QUANT_METHODS = {"gptq": "gptq", "awq": "awq", "bitsandbytes": "bitsandbytes", "fp8": "fp8",
                 "compressed-tensors": "compressed-tensors"}  # fmt: skip

HIDDEN = ("hidden_size", "n_embd", "d_model", "dim", "model_dim", "embed_dim")
LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "num_self_attends_per_block")
HEADS = ("num_attention_heads", "n_head", "num_heads", "n_heads", "num_self_attention_heads")
CONTEXT = ("max_position_embeddings", "n_positions", "max_seq_len", "max_sequence_length",
           "seq_length", "n_ctx", "context_length", "max_target_positions")  # fmt: skip
ACTIVATION_KEYS = ("hidden_act", "hidden_activation", "activation_function", "dense_act_fn", "afn",
                   "activation", "ff_activation", "mlp_hidden_act", "ffn_act_fn")  # fmt: skip
FFN = ("moe_intermediate_size", "intermediate_size", "ffn_dim", "d_ff", "n_inner", "hidden_dim",
       "ffn_hidden_size", "d_inner", "dim_ff", "dff")  # fmt: skip
EXPERTS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
EXPERTS_PER_TOKEN = ("num_experts_per_tok", "num_experts_per_token", "moe_top_k", "top_k")
