"""`keel checklist` and the checklist gate of `keel validate`: the example passes with every
item verified or recorded; a tiny Llama with GQA (real weights, real tokenizer) is verified
item by item from its tensors; a broken Deployment names each failing item."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from factories import deployment_set, write_set

from toolkit.cli import cli
from toolkit.core.checklist import Status
from toolkit.core.memory_budget import GIB, Budget, KvShape
from toolkit.workflows.checklist import checklist, render_markdown
from toolkit.workflows.validation.validate import validate

ROOT = Path(__file__).parents[1]
HIDDEN, HEADS, KV_HEADS, LAYERS, INNER, POSITIONS = 64, 4, 2, 2, 172, 128


def test_the_example_passes_with_every_item_verified_or_recorded() -> None:
    result = checklist(ROOT, "Deployment/semantic-search")
    statuses = {i.item: i.status for i in result.items}
    assert result.ok, [i.as_dict() for i in result.failing()]
    assert set(statuses.values()) == {Status.verified, Status.recorded}
    assert statuses["kv-cache-memory"] is Status.verified
    memory = next(i for i in result.items if i.item == "kv-cache-memory")
    assert "no KV cache (encoder-only)" in memory.assessment.evidence
    assert "of serving.memoryGiB 2" in memory.assessment.evidence
    recorded = {i.item for i in result.items if i.status is Status.recorded}
    # keel train does not clip gradients: a decision, wherever the weights are
    assert "training-stability" in recorded
    # the rest stand in for tensors not pulled here, or a field the Model may come to record
    assert recorded <= {"embedding-width", "tied-embeddings", "ffn-ratio", "training-stability"}


def test_the_example_through_the_cli() -> None:
    outcome = CliRunner().invoke(
        cli, ["checklist", "Deployment/semantic-search", "--root", str(ROOT), "-f", "json"]
    )
    assert outcome.exit_code == 0, outcome.output
    data = json.loads(outcome.output)
    assert data["ok"] is True
    assert [i["item"] for i in data["items"]][0] == "vocabulary-fertility"
    assert {i["status"] for i in data["items"]} == {"verified", "recorded"}


# ---------------------------------------------------------------------------- a tiny Llama


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Llama with grouped-query attention and its own BPE tokenizer."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch
    from families import tokenizer

    directory = tmp_path_factory.mktemp("tiny-llama")
    vocab = tokenizer(
        directory, vocab_size=400, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=INNER, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
        max_position_embeddings=POSITIONS, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def _entry(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"path": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def llama_deployment(root: Path, checkpoint: Path, **serving: Any) -> dict[str, dict[str, Any]]:
    """The factories' deployment with the tiny Llama as its model, served without adapter or
    quantization, its files and canary data really in place."""
    from toolkit.core.inspection import inspect_weights

    manifests = deployment_set()
    for stem in ("adapter", "quantization", "training", "eval-lora-canary", "eval-lora-general"):
        del manifests[stem]
    del manifests["eval-int8-canary"]
    models = root / "artifacts/models/base"
    models.mkdir(parents=True)
    for path in checkpoint.iterdir():
        (models / path.name).write_bytes(path.read_bytes())
    config = json.loads((models / "config.json").read_text())
    model = manifests["model"]["spec"]
    model["files"] = [_entry(models / n) for n in ("config.json", "model.safetensors")]
    model["parameters"] = inspect_weights(models / "model.safetensors").parameters
    model["architecture"] = {
        "modelType": "llama", "hiddenSize": HIDDEN, "numLayers": LAYERS,
        "numAttentionHeads": HEADS, "numKeyValueHeads": KV_HEADS,
        "vocabSize": config["vocab_size"], "maxPositionEmbeddings": POSITIONS,
        "positionEncoding": "rotary", "norm": "RMSNorm", "activation": "silu",
        "tiedEmbeddings": False, "intermediateSize": INNER,
    }  # fmt: skip
    tokenizer = manifests["tokenizer"]["spec"]
    tokenizer.update(algorithm="BPE", vocabSize=config["vocab_size"], maxLength=64)
    tokenizer["files"] = [_entry(models / "tokenizer.json")]
    tokenizer["specialTokens"] = {"bos": "<s>", "eos": "</s>", "unk": "<unk>"}
    tokenizer["fertility"] = {"tokensPerWord": 1.0, "dataset": "Dataset/canary"}
    canary = root / "artifacts/datasets/canary/canary.jsonl"
    canary.parent.mkdir(parents=True)
    rows = [{"id": "1", "query": "roll back a deployment", "passage": "the canary set runs"}]
    canary.write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifests["canary"]["spec"]["files"] = [_entry(canary)]
    fit = manifests["decision"]["spec"]["fit"]
    fit.update(architecture="decoder-only", maxInputTokens=64)
    manifests["requirements"]["spec"]["contextLength"] = 64  # the tokenizer's maxLength
    spec = manifests["deployment"]["spec"]
    del spec["adapter"], spec["quantization"]
    spec["evaluations"] = ["Evaluation/search-canary"]
    manifests["eval-search-canary"]["spec"]["baseline"] = "Evaluation/base-canary"
    spec["serving"].update(
        {"maxBatchSize": 4, "maxInputTokens": 64, "memoryGiB": 1, "attentionBackend": "sdpa"}
    )
    spec["serving"].update(serving)
    return manifests


def _llama_repo(tmp_path: Path, checkpoint: Path, **serving: Any) -> tuple[Path, dict[str, Any]]:
    root = tmp_path / "repo"
    manifests = llama_deployment(root, checkpoint, **serving)
    write_set(root, manifests)
    return root, manifests


def test_a_tiny_llama_with_gqa_is_verified_item_by_item(tmp_path: Path, tiny_llama: Path) -> None:
    root, _ = _llama_repo(tmp_path, tiny_llama)
    result = checklist(root, "Deployment/search")
    evidence = {i.item: i.assessment.evidence for i in result.items}
    assert result.ok, [i.as_dict() for i in result.failing()]
    assert {i.status for i in result.items} == {Status.verified}
    assert "measured" in result.items[0].assessment.source  # tokenizers, on the canary here
    assert f"× {HIDDEN}" in evidence["embedding-width"]
    assert "lm_head.weight" in evidence["tied-embeddings"]
    assert "4 heads × 16 (width 64), 2 KV heads (GQA, 2 per group)" in evidence["attention-heads"]
    assert "172 / 64 = 2.69 (gated FFN" in evidence["ffn-ratio"]
    assert "as many in the tensors" in evidence["residual-depth"]
    assert "KV cache 0.1 MiB (4 × 64 tokens)" in evidence["kv-cache-memory"]
    assert validate(root).findings == ()


def test_a_broken_deployment_names_each_failing_item(tmp_path: Path, tiny_llama: Path) -> None:
    root, manifests = _llama_repo(
        tmp_path,
        tiny_llama,
        maxInputTokens=512,  # the positions were trained for 128
        maxBatchSize=4096,  # a KV cache of 2 × 2 × 2 × 16 × 4 B × 512 × 4096 = 1 GiB
        memoryGiB=0.5,
        attentionBackend="flash_attention_2",  # on a cpu
    )
    manifests["model"]["spec"]["architecture"]["numAttentionHeads"] = 6  # 64 / 6
    write_set(root, manifests)

    failed = {i.item: i for i in checklist(root, "Deployment/search").failing()}
    assert set(failed) == {
        "positional-context", "attention-heads", "kv-cache-memory", "attention-backend",
    }  # fmt: skip
    assert all(i.status is Status.failed for i in failed.values())
    memory = failed["kv-cache-memory"]
    assert "does not fit" in memory.assessment.evidence
    assert "over" in memory.assessment.evidence
    assert "would fit: serving.maxBatchSize" in (memory.assessment.advice or "")
    assert "serving.maxInputTokens" in (memory.assessment.advice or "")

    findings = [f for f in validate(root).findings if f.check == "checklist"]
    messages = " | ".join(f.render() for f in findings)
    for item in failed:
        assert f"checklist {item}:" in messages
    assert "longer than the trained context 128" in messages
    assert "6 heads do not divide hiddenSize 64" in messages
    (heads,) = [f for f in findings if "attention-heads" in f.message]
    assert (heads.ref, heads.field) == ("Model/base", "spec.architecture.numAttentionHeads")

    outcome = CliRunner().invoke(cli, ["checklist", "Deployment/search", "--root", str(root)])
    assert outcome.exit_code == 1
    rows = {line.split()[0]: line for line in outcome.output.splitlines() if line.strip()}
    for item in failed:
        assert rows[item].split()[1] == "FAILED"
    assert "4 of 13 items need work" in outcome.output


def test_a_decision_accepts_what_lies_outside_the_usual(tmp_path: Path, tiny_llama: Path) -> None:
    root, manifests = _llama_repo(tmp_path, tiny_llama)
    manifests["model"]["spec"]["architecture"]["intermediateSize"] = 1024  # 16 × the width
    write_set(root, manifests)
    (finding,) = [f for f in validate(root).findings if f.check == "checklist"]
    assert "checklist ffn-ratio: 1024 / 64 = 16.00" in finding.message
    assert "ArchitectureDecision/encoder spec.checklist" in (finding.hint or "")

    manifests["decision"]["spec"]["checklist"] = [
        {"item": "ffn-ratio", "decision": "A wide FFN.", "rationale": "Measured better."}
    ]
    write_set(root, manifests)
    assert validate(root).findings == ()
    result = checklist(root, "Deployment/search")
    (ffn,) = [i for i in result.items if i.item == "ffn-ratio"]
    assert ffn.status is Status.recorded
    assert "A wide FFN. Rationale: Measured better." in render_markdown(result)


def test_missing_evidence_is_unverified_in_the_checklist_not_a_validate_error(
    tmp_path: Path, make_repo: Any
) -> None:
    manifests = deployment_set()  # weights not present, no memoryGiB, no backend recorded
    root = make_repo(manifests)
    result = checklist(root, "Deployment/search")
    unverified = {i.item for i in result.items if i.status is Status.unverified}
    assert {"embedding-width", "kv-cache-memory", "attention-backend"} <= unverified
    assert not result.ok
    assert [f for f in validate(root).findings if f.check == "checklist"] == []


def test_the_model_checklist_skips_the_serving_items(tmp_path: Path, tiny_llama: Path) -> None:
    root, _ = _llama_repo(tmp_path, tiny_llama)
    result = checklist(root, "Model/base")
    skipped = {i.item for i in result.items if i.status is Status.skipped}
    assert skipped == {"kv-cache-memory", "attention-backend"}
    assert result.ok


# ---------------------------------------------------------------------------- memory budget


def test_kv_cache_arithmetic_and_what_would_fit() -> None:
    # Llama-2-7B-like: 32 layers × 32 KV heads × 128 dims × 2 bytes, K and V
    kv = KvShape(layers=32, kv_heads=32, head_dim=128, bytes_per_value=2)
    assert kv.bytes_for(4096, 1) == 2 * GIB
    assert KvShape(32, 8, 128, 2).bytes_for(4096, 1) == GIB // 2  # GQA: a quarter of the KV heads
    assert KvShape(32, 8, 128, 2, window=1024).bytes_for(4096, 1) == GIB // 8  # sliding window
    assert KvShape(32, 8, 128, 2, cross_attention=True).bytes_for(4096, 1) == GIB  # + encoder's
    budget = Budget(
        parameters=7_000_000_000, bytes_per_parameter=2, weights_source="dtype bfloat16",
        kv=kv, max_batch_size=8, max_input_tokens=4096, overhead=0.2, available_gib=24,
    )  # fmt: skip
    assert budget.kv_bytes == 16 * GIB
    assert budget.fits is False
    options = budget.what_would_fit()
    assert options[0] == "serving.maxBatchSize 3"  # (13 GiB + 3 × 2 GiB) × 1.2 <= 24 GiB
    assert options[1].startswith("serving.maxInputTokens ")
    tokens = int(options[1].split()[-1])
    assert budget.total_for(weights=budget.weights_bytes, kv=kv.bytes_for(tokens, 8)) <= 24 * GIB
    assert budget.total_for(weights=budget.weights_bytes, kv=kv.bytes_for(tokens + 1, 8)) > 24 * GIB


def test_the_audit_reports_the_checklist(tmp_path: Path, tiny_llama: Path) -> None:
    from toolkit.core.repository import build_graph, manifest_files
    from toolkit.workflows.audit.checklist_check import checklist_check

    root, _ = _llama_repo(tmp_path, tiny_llama, maxInputTokens=512)
    graph = build_graph(root, manifest_files(root, [root / "manifests"])[0])
    deployment = graph.get("Deployment/search")
    check = checklist_check(graph, deployment)  # type: ignore[arg-type]
    assert check.status == "fail"
    assert check.message.startswith("13 items: 12 verified, 1 FAILED")
    (problem,) = check.findings
    assert problem.field == "spec.serving.maxInputTokens"
    assert any(e.startswith("positional-context: FAILED: ") for e in check.evidence)


def test_fertility_counts_the_text_not_the_padding(tmp_path: Path, tiny_llama: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from toolkit.bridges.fertility import count_tokens

    texts = ["roll back a deployment", "the canary set runs on every deploy"]
    plain = count_tokens(tiny_llama / "tokenizer.json", texts)
    padded = tokenizers.Tokenizer.from_file(str(tiny_llama / "tokenizer.json"))
    padded.enable_padding(pad_id=0, pad_token="<unk>", length=32)  # noqa: S106
    padded.save(str(tmp_path / "tokenizer.json"))
    assert plain == sum(len(t.split()) for t in texts)  # every word is in the vocabulary
    assert count_tokens(tmp_path / "tokenizer.json", texts) == plain


def test_rope_scaling_and_a_sliding_window_are_honoured(tmp_path: Path, tiny_llama: Path) -> None:
    root, manifests = _llama_repo(tmp_path, tiny_llama, maxInputTokens=256, memoryGiB=0.001)
    manifests["tokenizer"]["spec"]["maxLength"] = 256
    manifests["requirements"]["spec"]["contextLength"] = 256
    architecture = manifests["model"]["spec"]["architecture"]
    architecture["ropeScaling"] = {"type": "linear", "factor": 4.0}  # 128 × 4 = 512 positions
    write_set(root, manifests)
    items = {i.item: i for i in checklist(root, "Deployment/search").items}
    context = items["positional-context"]
    assert context.status is Status.verified
    assert "linear rope scaling ×4 -> 512" in context.assessment.evidence
    # 2 × 2 layers × 2 KV heads × 16 × 4 B × 256 tokens × 4 = 0.5 MiB: with the weights, over 1 MiB
    assert items["kv-cache-memory"].status is Status.failed

    architecture["slidingWindow"] = 32  # 8 times fewer tokens cached
    write_set(root, manifests)
    items = {i.item: i for i in checklist(root, "Deployment/search").items}
    assert "(4 × 32-token window)" in items["kv-cache-memory"].assessment.evidence
    assert items["kv-cache-memory"].status is Status.verified
    assert "sliding window" in items["positional-context"].assessment.evidence


def test_weights_too_large_suggest_a_precision_that_fits() -> None:
    kv = KvShape(layers=32, kv_heads=8, head_dim=128, bytes_per_value=2)  # 0.5 GiB at 4096
    budget = Budget(
        parameters=7_000_000_000, bytes_per_parameter=2, weights_source="dtype bfloat16",
        kv=kv, max_batch_size=1, max_input_tokens=4096, overhead=0.3, available_gib=12,
    )  # fmt: skip
    assert budget.fits is False  # (13.04 + 0.5) GiB × 1.3 = 17.6 GiB
    assert budget.what_would_fit() == ["int8 weights (a Quantization)"]  # (6.5 + 0.5) × 1.3
