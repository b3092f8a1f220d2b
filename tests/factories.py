"""A small, complete, valid deployment as plain data, for tests to write and then break.

Every gate passes on it as built; each test changes one value and expects one finding.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SHA_A = hashlib.sha256(b"weights").hexdigest()
SHA_B = hashlib.sha256(b"config").hexdigest()
SHA_C = hashlib.sha256(b"vocab").hexdigest()
SHA_D = hashlib.sha256(b"rows").hexdigest()
SHA_E = hashlib.sha256(b"adapter").hexdigest()
COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
OUTPUTS = "sha256:" + hashlib.sha256(b"outputs").hexdigest()


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "owner": "search-platform@example.com", "description": f"Test {name}."}


def _manifest(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "keel/v1", "kind": kind, "metadata": _meta(name), "spec": spec}


def _evaluation(name: str, subject: str, metrics: dict[str, float], **extra: Any) -> dict[str, Any]:
    spec = {
        "subject": subject,
        "dataset": "Dataset/canary",
        "metrics": [{"name": k, "value": v} for k, v in metrics.items()],
        "latency": {"p50Ms": 4.0, "p95Ms": 6.0, "p99Ms": 8.0, "requests": 40},
        "hardware": {"cpu": "Test CPU", "threads": 2},
        "date": "2026-11-20",
        "tools": {"torch": "2.13.0", "transformers": "5.0.0"},
        "outputs": {"digest": OUTPUTS},
    }
    spec.update(extra)
    return _manifest("Evaluation", name, spec)


def deployment_set() -> dict[str, dict[str, Any]]:
    """file stem -> manifest data; a fresh deep copy each call."""
    manifests = {
        "requirements": _manifest(
            "Requirements",
            "search",
            {
                "task": {"description": "Rank help articles for a query.", "type": "retrieval"},
                "quality": [{"metric": "recall_at_1", "dataset": "Dataset/canary", "min": 0.8}],
                "latency": {"p95Ms": 50, "p99Ms": 100},
                "memoryCeilingBytes": 200_000_000,
                "contextLength": 256,
                "context": {"hosting": "self-hosted", "location": "cloud", "dataResidency": "EU"},
            },
        ),
        "decision": _manifest(
            "ArchitectureDecision",
            "encoder",
            {
                "status": "accepted",
                "date": "2026-11-01",
                "context": "Short queries, CPU serving.",
                "decision": "Use a small encoder.",
                "alternatives": [{"option": "A decoder LLM", "reasonRejected": "Too slow on CPU."}],
                "consequences": "Cheap to serve; no generation.",
                "fit": {
                    "longRangeContextIsCore": False,
                    "modality": "text",
                    "maxInputTokens": 256,
                    "architecture": "encoder-only",
                },
            },
        ),
        "model": _manifest(
            "Model",
            "base",
            {
                "source": {"hub": {"repoId": "org/base", "revision": COMMIT}},
                "license": "apache-2.0",
                "directory": "artifacts/models/base",
                "files": [
                    {"path": "model.safetensors", "sha256": SHA_A, "size": 7},
                    {"path": "config.json", "sha256": SHA_B, "size": 6},
                ],
                "architecture": {
                    "modelType": "bert",
                    "hiddenSize": 384,
                    "numLayers": 6,
                    "numAttentionHeads": 12,
                    "numKeyValueHeads": 12,
                    "vocabSize": 30522,
                    "maxPositionEmbeddings": 512,
                    "positionEncoding": "absolute",
                    "norm": "LayerNorm",
                    "activation": "gelu",
                    "tiedEmbeddings": True,
                },
                "parameters": 22713216,
                "dtype": "float32",
            },
        ),
        "tokenizer": _manifest(
            "Tokenizer",
            "base",
            {
                "model": "Model/base",
                "directory": "artifacts/models/base",
                "files": [{"path": "vocab.txt", "sha256": SHA_C, "size": 5}],
                "algorithm": "WordPiece",
                "vocabSize": 30522,
                "maxLength": 512,
                "overflow": "truncate",
                "paddingSide": "right",
                "specialTokens": {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]"},
                "fertility": {"tokensPerWord": 1.3, "dataset": "Dataset/canary"},
            },
        ),
        "canary": _manifest(
            "Dataset",
            "canary",
            {
                "purpose": "canary",
                "directory": "artifacts/datasets/canary",
                "files": [{"path": "canary.jsonl", "sha256": SHA_D, "size": 4}],
                "rows": 40,
                "license": "CC-BY-4.0",
                "provenance": {"origin": "Written by the team."},
                "containsPii": False,
            },
        ),
        "training": _manifest(
            "TrainingRun",
            "lora",
            {
                "base": "Model/base",
                "method": "lora",
                "optimizer": {
                    "name": "AdamW",
                    "learningRate": 2e-4,
                    "scheduler": "linear",
                    "warmupSteps": 4,
                    "weightDecay": 0.0,
                },
                "batchSize": 16,
                "epochs": 2,
                "dropout": 0.05,
                "seed": 1234,
                "hardware": {"accelerator": "cpu"},
                "datasets": ["Dataset/canary"],
            },
        ),
        "adapter": _manifest(
            "Adapter",
            "lora",
            {
                "base": {"model": "Model/base", "digest": f"sha256:{SHA_A}"},
                "method": "lora",
                "rank": 8,
                "alpha": 16,
                "dropout": 0.05,
                "targetModules": ["query", "value"],
                "layers": {
                    "trained": ["query", "value"],
                    "frozen": ["*"],
                    "trainableParameters": 73728,
                    "totalParameters": 22786944,
                },
                "directory": "artifacts/adapters/lora",
                "files": [{"path": "adapter_model.safetensors", "sha256": SHA_E, "size": 7}],
                "trainingRun": "TrainingRun/lora",
                "evaluations": {
                    "task": {"evaluation": "Evaluation/lora-canary", "metric": "recall_at_1"},
                    "general": {
                        "evaluation": "Evaluation/lora-general",
                        "metric": "cosine",
                        "tolerance": 0.05,
                    },
                },
            },
        ),
        "quantization": _manifest(
            "Quantization",
            "int8",
            {
                "model": "Model/base",
                "adapter": "Adapter/lora",
                "scheme": "int8",
                "recipe": {
                    "library": "torchao",
                    "version": "0.18.0",
                    "config": "Int8DynamicActivationInt8WeightConfig",
                    "engine": "x86",
                },
                "memoryBudget": {
                    "parameters": 22713216,
                    "bytesPerParameter": 1,
                    "overhead": 0.3,
                    "totalBytes": 29527181,
                },
                "baseline": "Evaluation/lora-canary",
                "evaluation": "Evaluation/int8-canary",
                "maxDegradation": {"metric": "recall_at_1", "by": 0.02},
                "result": {"tensorDigest": OUTPUTS},
            },
        ),
        "runbook": _manifest(
            "Runbook",
            "search",
            {
                "owner": "search-platform@example.com",
                "lastReviewed": "2026-11-01",
                "reviewIntervalDays": 90,
                "steps": {
                    "load": [
                        {"description": "Pull weights", "command": "keel pull Deployment/search"}
                    ],
                    "serve": [
                        {
                            "description": "Serve",
                            "command": "keel reproduce Deployment/search --serve",
                        }
                    ],
                    "rollback": [{"description": "Previous release", "command": "git revert HEAD"}],
                },
                "escalation": {"contact": "oncall@example.com"},
            },
        ),
        "deployment": _manifest(
            "Deployment",
            "search",
            {
                "requirements": "Requirements/search",
                "decision": "ArchitectureDecision/encoder",
                "model": "Model/base",
                "tokenizer": "Tokenizer/base",
                "adapter": "Adapter/lora",
                "quantization": "Quantization/int8",
                "runbook": "Runbook/search",
                "evaluations": ["Evaluation/search-canary", "Evaluation/int8-canary"],
                "serving": {
                    "framework": "keel",
                    "batching": "dynamic",
                    "maxBatchSize": 16,
                    "maxInputTokens": 256,
                    "device": "cpu",
                },
                "api": {
                    "inputSchema": {
                        "type": "object",
                        "required": ["texts"],
                        "properties": {"texts": {"type": "array", "items": {"type": "string"}}},
                    },
                    "outputSchema": {
                        "type": "object",
                        "properties": {"embeddings": {"type": "array"}},
                    },
                    "rateLimit": {"requestsPerMinute": 600},
                    "errors": [
                        {"code": "input_too_long", "status": 413, "meaning": "Too many tokens."}
                    ],
                    "fallback": "Keyword search.",
                },
                "slos": {
                    "latencyP95Ms": 50,
                    "latencyP99Ms": 100,
                    "availability": 0.999,
                    "errorRate": 0.001,
                },
                "monitoring": {
                    "metrics": ["latency_ms"],
                    "drift": {"method": "centroid-cosine", "threshold": 0.1},
                },
                "retraining": {
                    "owner": "search-platform@example.com",
                    "triggers": {
                        "metricDrop": {"metric": "recall_at_1", "by": 0.05, "windowDays": 7},
                        "newBaseModel": True,
                    },
                },
                "canary": {"dataset": "Dataset/canary", "schedule": "0 * * * *"},
            },
        ),
        "eval-base-canary": _evaluation("base-canary", "Model/base", {"recall_at_1": 0.80}),
        "eval-base-general": _evaluation("base-general", "Model/base", {"cosine": 1.0}),
        "eval-lora-canary": _evaluation(
            "lora-canary", "Adapter/lora", {"recall_at_1": 0.90}, baseline="Evaluation/base-canary"
        ),
        "eval-lora-general": _evaluation(
            "lora-general", "Adapter/lora", {"cosine": 0.97}, baseline="Evaluation/base-general"
        ),
        "eval-int8-canary": _evaluation(
            "int8-canary",
            "Quantization/int8",
            {"recall_at_1": 0.89},
            baseline="Evaluation/lora-canary",
        ),
        "eval-search-canary": _evaluation(
            "search-canary",
            "Deployment/search",
            {"recall_at_1": 0.89},
            baseline="Evaluation/lora-canary",
        ),
    }
    return copy.deepcopy(manifests)


def write_set(root: Path, manifests: dict[str, dict[str, Any]]) -> Path:
    """Write each manifest to root/manifests/<stem>.yaml; return the manifests directory."""
    directory = root / "manifests"
    directory.mkdir(parents=True, exist_ok=True)
    for stem, data in manifests.items():
        (directory / f"{stem}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return directory


def safetensors_bytes(
    tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict[str, str] | None = None
) -> bytes:
    """A safetensors file written by hand: {name: (dtype, shape, raw bytes)}."""
    import json
    import struct

    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    return (
        struct.pack("<Q", len(encoded)) + encoded + b"".join(raw for _, _, raw in tensors.values())
    )


def with_real_files(root: Path, manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Write real artifact files under root and record their true sha256 and size in `manifests`."""
    import struct

    from toolkit.core.digests import canonical_tensor_digest

    weights = safetensors_bytes(
        {
            "encoder.weight": ("F32", [4, 4], struct.pack("<16f", *range(16))),
            "position_ids": ("I64", [4], struct.pack("<4q", 0, 1, 2, 3)),
        },
        {"format": "pt"},
    )
    adapter = safetensors_bytes({"lora_A": ("F32", [2, 4], struct.pack("<8f", *range(8)))})
    contents = {
        "model": {"model.safetensors": weights, "config.json": b'{"model_type": "bert"}\n'},
        "tokenizer": {"vocab.txt": b"[PAD]\n[CLS]\n[SEP]\nhello\n"},
        "canary": {"canary.jsonl": b'{"query": "q", "passage": "p"}\n'},
        "adapter": {"adapter_model.safetensors": adapter},
    }
    for stem, files in contents.items():
        spec = manifests[stem]["spec"]
        directory = root / spec["directory"]
        directory.mkdir(parents=True, exist_ok=True)
        entries = []
        for name, data in files.items():
            (directory / name).write_bytes(data)
            entry = {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            if name.endswith(".safetensors"):
                entry["tensorDigest"] = canonical_tensor_digest(directory / name)
            entries.append(entry)
        spec["files"] = entries
    manifests["model"]["spec"]["parameters"] = 16  # the F32 elements of encoder.weight
    manifests["quantization"]["spec"]["memoryBudget"].update(parameters=16, totalBytes=21)
    model_digest = manifests["model"]["spec"]["files"][0]["tensorDigest"]
    manifests["adapter"]["spec"]["base"]["digest"] = model_digest
    return manifests


TINY_SENTENCES = [
    "the model is deployed to the search service",
    "roll back a deployment to the previous revision",
    "training jobs wait in pending when no gpu is free",
    "quantize the merged model to int8 before serving",
    "the canary set runs on every deploy",
    "tokens are pooled and normalised",
]


def tiny_bert(directory: Path, *, hidden_size: int = 32, vocab_size: int = 200) -> Path:
    """A random-weight two-layer BERT and a WordPiece tokenizer trained on TINY_SENTENCES,
    saved as safetensors in `directory` (well under 1 MB, well under a second)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        TINY_SENTENCES, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special)
    )
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    transformers.BertTokenizerFast(tokenizer_object=tokenizer, model_max_length=64).save_pretrained(
        directory
    )

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.BertModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def audit_manifest(status: str = "pass") -> dict[str, Any]:
    """A valid Audit of the factory deployment (audits are not part of `deployment_set`:
    `keel audit` writes them)."""
    return _manifest(
        "Audit",
        "search-2026-11-24",
        {
            "deployment": "Deployment/search",
            "date": "2026-11-24",
            "auditor": "Keel Test <keel-test@example.invalid>",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "status": status,
            "findings": [
                {"check": "runbook.review", "status": "pass", "message": "reviewed in time"}
            ],
            "report": {"digest": f"sha256:{'0' * 64}", "format": "md"},
        },
    )


def audited_repo(tmp_path: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """The factory deployment with real files, in git, its weights pushed to a DVC remote."""

    from toolkit.bridges.git import commit_all
    from toolkit.workflows.artifacts.track import track
    from toolkit.workflows.artifacts.transfer import push
    from toolkit.workflows.authoring.init import init

    root = tmp_path / "repo"
    data = deployment_set()
    if change:
        change(data)
    data = with_real_files(root, data)
    write_set(root, data)
    init(root, str(tmp_path / "remote"))
    identity(root)
    track(root, [root / data["model"]["spec"]["directory"] / "model.safetensors"], "Model/base")
    push(root)
    commit_all(root, "the search deployment")
    return root


def identity(root: Path) -> None:
    import git

    with git.Repo(root).config_writer() as config:
        config.set_value("user", "name", "Ada Auditor")
        config.set_value("user", "email", "ada@example.com")


def kill_when(root: Path, args: list[str], seen: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Start `keel ARGS --root ROOT`, SIGKILL it as soon as `seen()` holds (polled every
    2 ms, for at most `timeout` seconds). True when it was killed before it ended."""
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "toolkit", *args, "--root", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if seen():
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=timeout)
                return True
            time.sleep(0.002)
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=timeout)
