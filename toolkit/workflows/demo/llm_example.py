"""The LLM example's names and training settings, shared by `keel demo --example llm` and
`scripts/write_llm_example.py`.

The example is a tiny decoder-only assistant that answers short questions about Python's
statements: a Llama-shaped model and a byte-level BPE tokenizer trained from scratch on
`pydoc_data.topics` (the documentation that ships with CPython), a causal-LM LoRA on the
question/answer pairs, int8 weight-only quantization through torchao, served behind the
generation contract with streaming. The corpus, the chat template and the three datasets are
`toolkit.bridges.llm_training_data`'s (engineer llm-train's), deterministic: the same Python
gives the same bytes.
"""

from __future__ import annotations

from typing import Any

DEPLOYMENT = "pydoc-assistant"
MODEL = "pydoc-llama"
ADAPTER = "pydoc-assistant-lora"
QUANTIZATION = "pydoc-assistant-int8"
DECISION = "tiny-decoder"
TRAIN, CANARY, HELDOUT = "llm-train", "llm-canary", "llm-heldout"
DATASETS = (TRAIN, CANARY, HELDOUT)
MODEL_DIR = f"artifacts/models/{MODEL}"
ADAPTER_DIR = f"artifacts/adapters/{ADAPTER}"
DATASETS_DIR = "artifacts/datasets"
MODEL_DESCRIPTION = (
    "trained by keel demo from pydoc_data.topics: a 4-layer Llama and a byte-level BPE "
    "tokenizer, from scratch, on the documentation that ships with CPython"
)

# the base model and tokenizer (what `train_tiny_llama` and `train_byte_bpe_tokenizer` get)
SEED = 1234
THREADS = 1  # llm-train measured: 1 thread is 5-10 times faster than 2 on a busy 2-core box
VOCAB_SIZE = 2048
BASE_STEPS = 200
MAX_LENGTH = 256
MAX_NEW_TOKENS = 16


def dataset_file(name: str) -> str:
    """Where `write_llm_datasets` puts a dataset, relative to the repository."""
    return f"{DATASETS_DIR}/{name}/{name}.jsonl"


def dataset_rows() -> dict[str, list[dict[str, Any]]]:
    from toolkit.bridges.llm_training_data import llm_dataset_rows

    return llm_dataset_rows()
