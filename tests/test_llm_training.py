"""The tiny LLM trained from scratch (toolkit.bridges.llm_training): its byte-level BPE tokenizer
as transformers loads it, byte-identical weights and adapters from two runs, a causal-LM LoRA
that learns its completions, the LLM datasets' bytes, and `keel train` on a causal-lm
TrainingRun in a real repository. Step counts are small here; the full-size numbers are in the
module docstrings."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from toolkit.cli import main

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

# a smaller Llama than TINY_LLAMA for the tests that train it for real
SMALL = {
    "initializer_range": 0.08,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "tie_word_embeddings": True,
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def texts() -> list[str]:
    from toolkit.bridges.llm_training import split_corpus

    return split_corpus()[0]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> Path:
    from toolkit.bridges.llm_training import train_byte_bpe_tokenizer

    directory = tmp_path_factory.mktemp("tokenizer")
    train_byte_bpe_tokenizer(texts, 512, directory)
    return directory


@pytest.fixture(scope="module")
def base_dir(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str], tokenizer_dir: Path
) -> Path:
    """SMALL trained for 150 steps, the tokenizer files beside the weights (as `keel pin` wants)."""
    import shutil

    from toolkit.bridges.llm_training import train_tiny_llama

    directory = tmp_path_factory.mktemp("base")
    train_tiny_llama(texts, tokenizer_dir, directory, seed=1, steps=150, threads=1, size=SMALL)
    for path in tokenizer_dir.iterdir():
        shutil.copyfile(path, directory / path.name)
    return directory


def test_the_tokenizer_round_trips_and_renders_its_chat_template(tokenizer_dir: Path) -> None:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    text = 'The "with" statement — naïve “quotes”, tabs\tand 3 spaces:   x = {1: 2}\n'
    ids = tokenizer(text)["input_ids"]

    assert (config["bos_token"], config["eos_token"], config["pad_token"]) == (
        "<|bos|>",
        "<|eos|>",
        "<|pad|>",
    )
    assert len(tokenizer) == 512
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text  # byte-level: lossless
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    messages = [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "what does the `pass` statement do?"},
        {"role": "assistant", "content": "It does nothing."},
        {"role": "user", "content": "what does the `del` statement do?"},
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|bos|>Answer in one sentence.\nQ: what does the `pass` statement do?\n"
        "A: It does nothing.<|eos|>\nQ: what does the `del` statement do?\nA:"
    )
    assert (tokenizer_dir / "chat_template.jinja").is_file()
    chat_ids = tokenizer.apply_chat_template(
        messages[1:2], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    # one user turn renders exactly as the LoRA's prompt, one <|bos|> in front
    assert list(chat_ids) == tokenizer("Q: what does the `pass` statement do?\nA:")["input_ids"]


def test_two_trainings_write_identical_weights_and_another_seed_does_not(
    tmp_path: Path, texts: list[str], tokenizer_dir: Path
) -> None:
    import transformers

    from toolkit.bridges.llm_training import train_tiny_llama

    digests = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        result = train_tiny_llama(
            texts[:12], tokenizer_dir, tmp_path / name, seed=seed, steps=2, threads=1
        )
        digests.append(sha256(tmp_path / name / "model.safetensors"))

    assert digests[0] == digests[1]
    assert digests[2] != digests[0]
    assert result.files == ["config.json", "generation_config.json", "model.safetensors"]
    config = transformers.AutoConfig.from_pretrained(str(tmp_path / "a"))
    assert config.model_type == "llama"
    assert (config.hidden_size, config.num_hidden_layers) == (128, 4)
    assert (config.num_attention_heads, config.num_key_value_heads) == (4, 2)  # grouped-query
    assert config.hidden_act == "silu"  # SwiGLU
    assert result.parameters == sum(
        p.numel()
        for p in transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "a")).parameters()
    )


PAIRS = [
    ("Q: what does the `pass` statement do?\nA:", " It does nothing."),
    ("Q: what does the `raise` statement do?\nA:", " It raises an exception."),
    ("Q: what does the `del` statement do?\nA:", " It deletes names or items."),
    ("Q: what does the `yield` expression do?\nA:", " It makes a function a generator."),
]


def test_the_lora_is_deterministic_lowers_its_loss_and_answers(
    tmp_path: Path, base_dir: Path
) -> None:
    from toolkit.bridges import ml
    from toolkit.bridges.adapters import apply_adapter
    from toolkit.bridges.heads import Generator
    from toolkit.bridges.llm_training_lora import completion_loss, train_causal_lora

    results = [
        train_causal_lora(
            base_dir,
            base_dir,
            PAIRS,
            tmp_path / name,
            seed=3,
            steps=150,
            rank=8,
            alpha=16,
            threads=1,
        )
        for name in ("a", "b")
    ]
    tokenizer = ml.load_tokenizer(base_dir)
    base = ml.load_model(base_dir, "AutoModelForCausalLM")
    before = completion_loss(base, tokenizer, PAIRS)
    tuned = apply_adapter(base, tmp_path / "a", merge=True)
    after = completion_loss(tuned, tokenizer, PAIRS)
    _, texts = Generator(tokenizer, tuned).generate(
        [p for p, _ in PAIRS], batch_size=4, max_length=64, max_new_tokens=24
    )

    assert results[0].final_loss == results[1].final_loss
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        assert sha256(tmp_path / "a" / name) == sha256(tmp_path / "b" / name)
    config = json.loads((tmp_path / "a" / "adapter_config.json").read_text(encoding="utf-8"))
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert config["task_type"] == "CAUSAL_LM"
    assert results[0].final_loss < results[0].first_loss / 3
    assert after < before / 3  # the merged adapter, measured apart from training
    assert 0 < results[0].trainable_parameters < results[0].total_parameters / 10
    assert sum(t == c.strip() for t, (_, c) in zip(texts, PAIRS, strict=True)) >= 3, texts


def test_the_llm_datasets_are_the_same_bytes_every_time(tmp_path: Path) -> None:
    from toolkit.bridges.llm_training import corpus_texts, split_corpus, write_llm_datasets

    first = write_llm_datasets(tmp_path / "a")
    second = write_llm_datasets(tmp_path / "b")
    rows = {
        name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for name, path in first.items()
    }
    train, held = split_corpus()

    assert sorted(first) == ["llm-canary", "llm-heldout", "llm-train"]
    assert all(path.read_bytes() == second[name].read_bytes() for name, path in first.items())
    assert len(rows["llm-train"]) == len(rows["llm-canary"]) == 16
    assert [r["prompt"] for r in rows["llm-train"]] == [r["prompt"] for r in rows["llm-canary"]]
    assert all(
        r["completion"] == " " + c["reference"]
        for r, c in zip(rows["llm-train"], rows["llm-canary"], strict=True)
    )
    assert len(rows["llm-heldout"]) == 16
    assert len({r["id"] for r in rows["llm-heldout"]}) == 16
    assert all(any(r["text"] in t for t in held) for r in rows["llm-heldout"])
    assert not any(r["text"] in t for r in rows["llm-heldout"] for t in train)
    assert len(train) + len(held) == len(corpus_texts()) == 79


def _write(root: Path, folder: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    data = {
        "apiVersion": "keel/v1",
        "kind": kind,
        "metadata": {"name": name, "owner": "ml@example.com", "description": f"{name}, for tests"},
        "spec": spec,
    }
    path = root / "manifests" / folder / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def _causal_repo(
    root: Path,
    base_dir: Path,
    objective: str = "causal-lm",
    *,
    rows: list[dict[str, str]] | None = None,
    targets: list[str] = TARGETS,
) -> None:
    """The pinned base, the llm-train dataset (or `rows`), a TrainingRun and an Adapter with
    placeholder files (what `keel train` fills in)."""
    from toolkit.bridges.llm_training import write_llm_datasets
    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest

    request = PinRequest(
        source=str(base_dir),
        name="tiny-llama",
        directory="artifacts/models/tiny-llama",
        license="apache-2.0",
        owner="ml@example.com",
        description="a tiny llama",
    )
    pin(root, request)
    path = write_llm_datasets(root / "artifacts" / "datasets")["llm-train"]
    if rows is not None:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = path.read_bytes()
    dataset = {
        "purpose": "train",
        "format": "jsonl",
        "directory": "artifacts/datasets/llm-train",
        "files": [{"path": path.name, "sha256": sha256(path), "size": len(data)}],
        "rows": len(data.splitlines()),
        "license": "CC0-1.0",
        "provenance": {"origin": "toolkit.bridges.llm_training_data"},
        "containsPii": False,
    }
    _write(root, "datasets", "Dataset", "llm-train", dataset)
    optimizer = {
        "name": "AdamW",
        "learningRate": 0.015,
        "scheduler": "linear",
        "warmupSteps": 2,
        "weightDecay": 0.0,
    }
    run = {
        "base": "Model/tiny-llama",
        "method": "lora",
        "optimizer": optimizer,
        "batchSize": 16,
        **({"epochs": 2} if objective == "contrastive" else {"steps": 12}),
        "dropout": 0.0,
        "seed": 5,
        "hyperparameters": {"objective": objective, "maxLength": 64, "threads": 1},
        "hardware": {"accelerator": "cpu"},
        "datasets": ["Dataset/llm-train"],
    }
    _write(root, "training-runs", "TrainingRun", "qa-lora", run)
    placeholder = {"sha256": "0" * 64, "size": 1}
    adapter = {
        "base": {"model": "Model/tiny-llama", "digest": "sha256:" + "0" * 64},
        "method": "lora",
        "rank": 4,
        "alpha": 8,
        "dropout": 0.0,
        "targetModules": targets,
        "layers": {
            "trained": [f"*.{t}" for t in targets],
            "frozen": ["model.embed_tokens", "model.layers.*.mlp", "lm_head"],
            "trainableParameters": 1,
            "totalParameters": 1,
        },
        "directory": "artifacts/adapters/qa-lora",
        "files": [
            {"path": "adapter_config.json", **placeholder},
            {"path": "adapter_model.safetensors", **placeholder},
        ],
        "trainingRun": "TrainingRun/qa-lora",
        "evaluations": {
            "task": {"evaluation": "Evaluation/qa-canary", "metric": "exact_match"},
            "general": {
                "evaluation": "Evaluation/qa-heldout",
                "metric": "perplexity",
                "goal": "minimize",
                "tolerance": 1.0,
            },
        },
    }
    _write(root, "adapters", "Adapter", "qa-lora", adapter)


def test_keel_train_runs_a_causal_lm_training_run(
    tmp_path: Path, base_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolkit.workflows.authoring.init import init

    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    _causal_repo(root, base_dir)

    assert main(["train", "TrainingRun/qa-lora", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    adapter = yaml.safe_load((root / "manifests/adapters/qa-lora.yaml").read_text(encoding="utf-8"))
    run = yaml.safe_load(
        (root / "manifests/training-runs/qa-lora.yaml").read_text(encoding="utf-8")
    )
    folder = root / "artifacts/adapters/qa-lora"
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))

    assert out.startswith("Adapter/qa-lora: 12 steps in ")
    assert "adapter_config.json, adapter_model.safetensors" in out
    assert config["task_type"] == "CAUSAL_LM"
    assert config["base_model_name_or_path"] == "artifacts/models/tiny-llama"
    files = {f["path"]: f["sha256"] for f in adapter["spec"]["files"]}
    assert files["adapter_model.safetensors"] == sha256(folder / "adapter_model.safetensors")
    # rank 4 on 2 layers: q and o 4 * (64 + 64) each, k and v 4 * (64 + 32) each (2 KV heads)
    assert adapter["spec"]["layers"]["trainableParameters"] == 2 * (2 * 512 + 2 * 384)
    assert adapter["spec"]["base"]["digest"] != "sha256:" + "0" * 64
    assert run["spec"]["outcome"]["steps"] == 12
    first, final = (float(x) for x in out.split(" loss ")[1].split(";")[0].split(" -> "))
    assert final < first
    assert run["spec"]["outcome"]["finalLoss"] == round(final, 4)

    # run again: the same adapter bytes, so the Adapter manifest does not change
    recorded = (root / "manifests/adapters/qa-lora.yaml").read_text(encoding="utf-8")
    assert main(["train", "TrainingRun/qa-lora", "--root", str(root)]) == 0
    assert (root / "manifests/adapters/qa-lora.yaml").read_text(encoding="utf-8") == recorded


def test_an_unknown_objective_is_one_line_naming_the_field(
    tmp_path: Path, base_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolkit.workflows.authoring.init import init

    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    _causal_repo(root, base_dir, objective="masked-lm")

    assert main(["train", "TrainingRun/qa-lora", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "TrainingRun/qa-lora spec.hyperparameters.objective: expected one of contrastive, "
        "causal-lm, got 'masked-lm'"
    )
    assert "Traceback" not in err


def test_keel_train_still_runs_a_contrastive_training_run(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default objective: in-batch contrastive on (query, passage) rows of an encoder."""
    from toolkit.workflows.authoring.init import init

    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    rows = [
        {"id": f"r{i}", "query": f"how do I {verb} a model", "passage": f"{verb} it with keel"}
        for i, verb in enumerate(["deploy", "train", "quantize", "pin", "serve", "audit"])
    ]
    _causal_repo(root, tiny_model_dir, "contrastive", rows=rows, targets=["query", "value"])

    assert main(["train", "TrainingRun/qa-lora", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    config = json.loads(
        (root / "artifacts/adapters/qa-lora/adapter_config.json").read_text(encoding="utf-8")
    )

    assert out.startswith("Adapter/qa-lora: 2 steps in ")  # 6 rows in one batch, 2 epochs
    assert config["task_type"] == "FEATURE_EXTRACTION"
    assert sorted(config["target_modules"]) == ["query", "value"]
