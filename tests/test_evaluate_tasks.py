"""`keel evaluate` for classification and generation, on tiny random models pinned in a repo."""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from factories import TINY_SENTENCES, tiny_bert

from toolkit.manifests.evaluation import Protocol
from toolkit.workflows.artifacts.pin import pin
from toolkit.workflows.artifacts.pin_values import PinRequest
from toolkit.workflows.artifacts.verify import load_graph
from toolkit.workflows.authoring.init import init
from toolkit.workflows.evaluation.evaluate import Request, evaluate, request_for
from toolkit.workflows.validation.validate import validate

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

if TYPE_CHECKING:
    from pathlib import Path

LABELS = ["neg", "pos", "pos", "neg", "pos", "neg"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    return root


def _pin(root: Path, source: Path, name: str) -> None:
    pin(
        root,
        PinRequest(
            source=str(source),
            name=name,
            directory=f"artifacts/models/{name}",
            license="apache-2.0",
            owner="ml@example.com",
            description=f"{name}, random weights, for tests",
        ),
    )


def _dataset(root: Path, name: str, rows: list[dict[str, Any]]) -> None:
    directory = root / "artifacts" / "datasets" / name
    directory.mkdir(parents=True)
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    digest = hashlib.sha256(data).hexdigest()
    (directory / "rows.jsonl").write_bytes(data)
    manifest = {
        "apiVersion": "keel/v1",
        "kind": "Dataset",
        "metadata": {"name": name, "owner": "ml@example.com", "description": f"{name} rows"},
        "spec": {
            "purpose": "eval",
            "directory": f"artifacts/datasets/{name}",
            "files": [{"path": "rows.jsonl", "sha256": digest, "size": len(data)}],
            "rows": len(rows),
            "license": "CC0-1.0",
            "provenance": {"origin": "written for this test"},
            "containsPii": False,
        },
    }
    path = root / "manifests" / "datasets" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")


def _outputs(root: Path, relative: str) -> Any:
    from safetensors.torch import load_file

    return load_file(str(root / relative))["outputs"]


def test_classification_records_accuracy_and_f1_of_the_model_s_predictions(
    repo: Path, tmp_path: Path
) -> None:
    source = tiny_bert(tmp_path / "base")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "newly initialised classifier": it is meant to be
        model = transformers.BertForSequenceClassification.from_pretrained(
            str(source), num_labels=2, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1}
        )
    model.save_pretrained(str(source), safe_serialization=True)
    _pin(repo, source, "tiny-classifier")
    rows = [
        {"id": f"r{i}", "text": text, "label": label}
        for i, (text, label) in enumerate(zip(TINY_SENTENCES, LABELS, strict=True))
    ]
    _dataset(repo, "sentiment", rows)
    request = Request(
        "Model/tiny-classifier",
        "Dataset/sentiment",
        "tiny-classifier-sentiment",
        protocol=Protocol.model_validate({"task": "classification", "batchSize": 2}),
    )

    result = evaluate(repo, request)

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
    with torch.inference_mode():
        logits = model.eval()(**tokenizer(TINY_SENTENCES, padding=True, return_tensors="pt")).logits
    predicted = [model.config.id2label[i] for i in logits.argmax(dim=1).tolist()]
    accuracy = sum(p == e for p, e in zip(predicted, LABELS, strict=True)) / len(LABELS)
    assert result.created
    assert result.metrics["accuracy"] == round(accuracy, 4)
    assert set(result.metrics) == {"accuracy", "f1_macro"}
    outputs = _outputs(repo, result.outputs_path)
    assert outputs.shape == (6, 2)
    assert outputs.argmax(dim=1).tolist() == logits.argmax(dim=1).tolist()
    assert validate(repo).ok


def test_evaluating_again_updates_the_same_manifest_with_the_same_outputs(
    repo: Path, tmp_path: Path
) -> None:
    source = tiny_bert(tmp_path / "base")
    _pin(repo, source, "tiny")
    _dataset(repo, "texts", [{"id": f"t{i}", "text": t} for i, t in enumerate(TINY_SENTENCES)])
    first = evaluate(repo, request_for(load_graph(repo), "Model/tiny", "Dataset/texts", None))

    second = evaluate(repo, request_for(load_graph(repo), "Evaluation/tiny-texts", None, None))

    assert first.created
    assert not second.created
    assert second.path == first.path
    assert second.outputs_digest == first.outputs_digest
    assert second.metrics == {"cosine_to_reference_mean": 1.0, "cosine_to_reference_min": 1.0}
    recorded = yaml.safe_load(first.path.read_text(encoding="utf-8"))["spec"]
    assert recorded["protocol"] == {
        "task": "embedding",
        "batchSize": 16,
        "maxLength": 256,
        "padding": "longest",
    }
    assert recorded["outputs"]["path"] == "artifacts/evaluations/tiny-texts.safetensors"
    assert (repo / "artifacts/evaluations/tiny-texts.safetensors.dvc").is_file()


def _tiny_gpt2(directory: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        TINY_SENTENCES,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = transformers.GPT2TokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=64,
    )
    fast.save_pretrained(str(directory))
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=tokenizer.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=2
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(str(directory), safe_serialization=True)
    return directory


def test_generation_records_exact_match_and_rouge_l_of_greedy_outputs(
    repo: Path, tmp_path: Path
) -> None:
    from toolkit.core.metrics import exact_match, rouge_l

    source = _tiny_gpt2(tmp_path / "gpt2")
    _pin(repo, source, "tiny-gpt2")
    rows = [
        {"id": f"g{i}", "prompt": sentence.split()[0], "reference": " ".join(sentence.split()[1:])}
        for i, sentence in enumerate(TINY_SENTENCES)
    ]
    _dataset(repo, "completions", rows)
    request = Request(
        "Model/tiny-gpt2",
        "Dataset/completions",
        "tiny-gpt2-completions",
        protocol=Protocol.model_validate({"task": "generation", "batchSize": 4, "maxNewTokens": 5}),
    )

    first = evaluate(repo, request)
    second = evaluate(repo, request)

    ids = _outputs(repo, first.outputs_path)
    assert ids.shape == (6, 5)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
    texts = [
        tokenizer.decode([int(t) for t in row if t >= 0], skip_special_tokens=True).strip()
        for row in ids
    ]
    references = [row["reference"] for row in rows]
    assert first.metrics == {
        "exact_match": round(exact_match(texts, references), 4),
        "rouge_l": round(rouge_l(texts, references), 4),
    }
    assert second.outputs_digest == first.outputs_digest  # greedy decoding is deterministic
    assert validate(repo).ok


def test_the_evaluate_command_prints_what_it_recorded(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolkit.cli import main

    _pin(repo, tiny_bert(tmp_path / "base"), "tiny")
    _dataset(repo, "texts", [{"id": f"t{i}", "text": t} for i, t in enumerate(TINY_SENTENCES)])

    code = main(["evaluate", "Model/tiny", "--dataset", "Dataset/texts", "--root", str(repo)])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("wrote manifests/evaluations/tiny-texts.yaml\n")
    assert "  cosine_to_reference_mean: 1.0\n" in out
    assert "latency p50/p95/p99: " in out
    assert "outputs: artifacts/evaluations/tiny-texts.safetensors (sha256:" in out
    assert main(["evaluate", "Model/tiny", "--root", str(repo)]) == 2
    assert "give --dataset Dataset/<name>" in capsys.readouterr().err
