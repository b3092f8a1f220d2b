"""A tiny decoder-only LLM trained from scratch on CPU: its byte-level BPE tokenizer and its
Llama weights, deterministically, so `keel reproduce` can re-derive the very same bytes.

The model is a LlamaForCausalLM (RMSNorm, rotary positions, SwiGLU MLP, grouped-query
attention) of TINY_LLAMA's size trained on the Python documentation topics that ship with the
standard library (`llm_training_data.corpus_texts`). Determinism: the torch seed is fixed before
the weights are initialised, batches are drawn from a generator seeded alike, torch runs with a
fixed thread count and deterministic algorithms, and no data-loader workers are used; two runs
with the same arguments on the same machine write byte-identical model.safetensors.

Measured on the project's 2-core CPU box (TINY_LLAMA, 1,000,576 parameters, vocabulary 2048,
TRAIN_STEPS=200 steps of 8 x 256 tokens, about 1.6 passes over the 125,630 training tokens,
seed 1234): tokenizer 0.8-1.6 s; model loss 8.00 -> 4.74, held-out perplexity 188.
threads=1: 41.8 s at load average 2.7, 80 s at load average 8.5 (five other engineers' jobs).
threads=2: 224 s at load average 3.6, 164 s at 4-7: two threads that wait on each other lose
badly on a shared 2-core box, so threads=1 is the default. The thread count is part of the
recipe: each count repeats its own bytes run after run (threads=1 model.safetensors sha256
f1b90a15..., threads=2 58e75ec1...), but the two differ in the last bits of the weights.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.bridges.llm_training_data import (
    corpus_texts,
    llm_dataset_rows,
    lora_pairs,
    split_corpus,
    write_llm_datasets,
)
from toolkit.bridges.ml import require, torch_module

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "TINY_LLAMA",
    "TRAIN_STEPS",
    "TrainedLlama",
    "corpus_texts",
    "llm_dataset_rows",
    "lora_pairs",
    "split_corpus",
    "train_byte_bpe_tokenizer",
    "train_tiny_llama",
    "write_llm_datasets",
]

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
SPECIAL_TOKENS = (BOS, EOS, PAD)
# A chat renders as the plain Q/A text the model (and its LoRA) knows: a system message as a
# line of its own, user turns as `Q: ...`, assistant turns as `A: ...` ended by <|eos|>.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] | trim }}\n"
    "{% elif message['role'] == 'user' %}Q: {{ message['content'] | trim }}\n"
    "{% else %}A: {{ message['content'] | trim }}{{ eos_token }}\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}A:{% endif %}"
)
TINY_LLAMA: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 352,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    # about 1/sqrt(hidden): with tied embeddings the output logits are bounded by the rows'
    # norms, and transformers' default 0.02 leaves them too short for a LoRA on attention
    # alone to make any answer likely (its loss stalls near 2.5 on this model)
    "initializer_range": 0.08,
}
VOCAB_SIZE = 2048
TRAIN_STEPS = 200
BATCH_SIZE = 8
LEARNING_RATE = 3e-3
WARMUP_STEPS = 10


@contextlib.contextmanager
def deterministic_torch(seed: int, threads: int) -> Iterator[Any]:
    """torch seeded, with `threads` intra-op threads and deterministic algorithms, for the
    block; the previous thread count and algorithm setting are restored. Yields torch."""
    torch = torch_module()
    threads_before = torch.get_num_threads()
    algorithms_before = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(algorithms_before)


def train_byte_bpe_tokenizer(
    texts: Sequence[str], vocab_size: int, out_dir: Path, chat_template: str = CHAT_TEMPLATE
) -> list[str]:
    """Train a byte-level BPE tokenizer on `texts` and save it as a transformers
    PreTrainedTokenizerFast (tokenizer.json, tokenizer_config.json naming bos/eos/pad,
    chat_template.jinja) that AutoTokenizer loads. Encoding adds <|bos|> in front.
    Returns the files written."""
    tokenizers = require("tokenizers")
    transformers = require("transformers")
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = tokenizers.processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=TINY_LLAMA["max_position_embeddings"],
    )
    fast.chat_template = chat_template
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return sorted(p.name for p in out_dir.iterdir() if p.is_file())


@dataclass
class TrainedLlama:
    """What train_tiny_llama measured."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    parameters: int = 0
    tokens: int = 0
    files: list[str] = field(default_factory=list)


def _token_stream(texts: Sequence[str], tokenizer: Any) -> Any:
    """All texts as one long 1-D tensor of ids, each text as <|bos|> text <|eos|>."""
    torch = torch_module()
    ids: list[int] = []
    for text in texts:
        # the backend tokenizer: the long texts are cut into windows later, not truncated
        ids += tokenizer.backend_tokenizer.encode(text).ids + [tokenizer.eos_token_id]
    return torch.tensor(ids, dtype=torch.long)


def _llama(tokenizer: Any, size: dict[str, Any]) -> Any:
    transformers = require("transformers")
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **size,
    )
    return transformers.LlamaForCausalLM(config)


def _step(model: Any, batch: Any, optimizer: Any, scheduler: Any) -> float:
    """One optimizer step of next-token loss on `batch` (gradients clipped at norm 1)."""
    torch = torch_module()
    loss = model(input_ids=batch, labels=batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.item())


def train_tiny_llama(
    texts: Sequence[str],
    tokenizer_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    steps: int = TRAIN_STEPS,
    threads: int = 1,
    size: dict[str, Any] | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainedLlama:
    """Train a LlamaForCausalLM of `size` (TINY_LLAMA by default) from scratch on `texts` for
    `steps` AdamW steps of BATCH_SIZE random context-long windows, deterministically, and save
    it to `out_dir` (config.json, generation_config.json, model.safetensors)."""
    from toolkit.bridges.ml import load_tokenizer

    transformers = require("transformers")
    tokenizer = load_tokenizer(Path(tokenizer_dir))
    size = dict(TINY_LLAMA if size is None else size)
    context = int(size["max_position_embeddings"])
    result = TrainedLlama()
    with deterministic_torch(seed, threads) as torch:
        stream = _token_stream(texts, tokenizer)
        result.tokens = int(stream.numel())
        model = _llama(tokenizer, size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
        scheduler = transformers.get_cosine_schedule_with_warmup(
            optimizer, min(WARMUP_STEPS, steps), steps
        )
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        model.train()
        last_start = result.tokens - context - 1
        for step in range(steps):
            starts = torch.randint(0, last_start, (BATCH_SIZE,), generator=generator)
            batch = torch.stack([stream[s : s + context] for s in starts.tolist()])
            result.losses.append(_step(model, batch, optimizer, scheduler))
            if on_step is not None:
                on_step(step + 1, steps, result.losses[-1])
        result.seconds = time.perf_counter() - start
        model.eval()
        result.parameters = sum(p.numel() for p in model.parameters())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    result.files = sorted(p.name for p in out_dir.iterdir() if p.is_file())
    return result


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 256) -> float:
    """exp of the mean next-token loss over `texts` (each truncated to `max_length` tokens)."""
    torch = torch_module()
    total, count = 0.0, 0
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            n = int(ids["input_ids"].shape[1]) - 1
            if n < 1:
                continue
            loss = model(**ids, labels=ids["input_ids"]).loss
            total += float(loss) * n
            count += n
    return math.exp(total / max(count, 1))
