"""`keel reproduce` for a generative deployment: a tiny Llama with a chat template pinned in a
real keel repository (git, DVC with a local remote), its canary Evaluation recorded by
`keel evaluate`, then reproduced in a fresh clone; and tampering caught at its stage: a
swapped chat template at stage 3, an adapter of another base at stage 4, a changed expected
continuation at stage 6."""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from factories import deployment_set, write_set
from test_generation_eval import completion_rows, pin_model, tiny_llama, write_dataset

from toolkit.bridges.git import commit_all
from toolkit.manifests.evaluation import Protocol
from toolkit.workflows.artifacts.transfer import push
from toolkit.workflows.authoring.init import init
from toolkit.workflows.evaluation.evaluate import Request, evaluate
from toolkit.workflows.reproduce.reproduce import (
    EXACT,
    FAILED,
    PASSED,
    SKIPPED,
    WITHIN_TOLERANCE,
    reproduce,
)
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.workflows.reproduce.reproduce import Reproduction

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

DEPLOYMENT = "Deployment/search"
CANARY = "manifests/evaluations/search-canary.yaml"
PROTOCOL = {"task": "generation", "batchSize": 2, "maxNewTokens": 6}


def _manifests() -> dict[str, dict[str, Any]]:
    """The factories' deployment around the pinned tiny Llama: no adapter, no quantization,
    its own canary Evaluation the only evidence; a generation task and contract."""
    data = deployment_set()
    for stem in ("model", "tokenizer", "canary", "training", "adapter", "quantization"):
        del data[stem]
    for stem in [s for s in data if s.startswith("eval-")]:
        del data[stem]
    requirements = data["requirements"]["spec"]
    requirements["task"] = {"description": "Complete a sentence.", "type": "generation"}
    requirements["quality"] = [{"metric": "rouge_l", "dataset": "Dataset/canary", "min": 0.0}]
    requirements["latency"] = {"p95Ms": 100000}
    data["decision"]["spec"]["fit"]["architecture"] = "decoder-only"
    spec = data["deployment"]["spec"]
    spec.update(model="Model/tiny-llama", tokenizer="Tokenizer/tiny-llama")
    spec["evaluations"] = ["Evaluation/search-canary"]
    spec["serving"]["maxInputTokens"] = 128  # the tiny Llama's context
    data["decision"]["spec"]["fit"]["maxInputTokens"] = 128
    requirements["contextLength"] = 128
    del spec["adapter"], spec["quantization"]
    spec["api"]["inputSchema"] = {
        "type": "object",
        "required": ["prompt"],
        "properties": {"prompt": {"type": "string"}},
    }
    spec["retraining"]["triggers"] = {"newBaseModel": True}
    return data


def build(tmp_path: Path) -> Path:
    """The repository: pinned, evaluated, valid, committed and pushed."""
    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    pin_model(root, tiny_llama(tmp_path / "llama"), "tiny-llama")
    write_dataset(root, "canary", completion_rows(), purpose="canary")
    write_set(root, _manifests())
    request = Request(
        DEPLOYMENT, "Dataset/canary", "search-canary", protocol=Protocol.model_validate(PROTOCOL)
    )
    evaluate(root, request)
    result = validate(root)
    assert result.ok, [f.render() for f in result.findings]
    commit_all(root, "a generative deployment")
    push(root)
    return root


def _commit(root: Path, message: str) -> None:
    commit_all(root, message)
    push(root)


def _stage(result: Reproduction, name: str) -> Any:
    return next(s for s in result.stages if s.name == name)


def _failed_at(result: Reproduction, name: str) -> Any:
    stage = _stage(result, name)
    assert stage.status == FAILED, (name, [(s.name, s.status, s.summary) for s in result.stages])
    later = result.stages[result.stages.index(stage) + 1 :]
    assert all(s.status == SKIPPED for s in later)
    return stage


def test_a_generative_deployment_reproduces_its_canary_tokens_exactly(tmp_path: Path) -> None:
    root = build(tmp_path)

    result = reproduce(root, DEPLOYMENT, workdir=tmp_path / "w")

    statuses = {s.name: s.status for s in result.stages}
    assert result.ok, [(s.name, s.summary) for s in result.stages]
    assert statuses["load"] == PASSED
    assert statuses["canary"] == PASSED
    canary = _stage(result, "canary").details
    assert canary["outcome"] == EXACT
    assert canary["outputsDigest"] == canary["recordedDigest"]
    assert canary["examples"] == 5
    tokenizer = _stage(result, "load").details["tokenizer"]
    recorded = yaml.safe_load((root / "manifests/tokenizers/tiny-llama.yaml").read_text())
    assert tokenizer["chatTemplateDigest"] == recorded["spec"]["chatTemplateDigest"]


def test_a_swapped_chat_template_with_updated_file_digests_fails_stage_3(tmp_path: Path) -> None:
    root = build(tmp_path)
    path = root / "manifests/tokenizers/tiny-llama.yaml"
    recorded = yaml.safe_load(path.read_text())["spec"]["chatTemplateDigest"]
    template = root / "artifacts/models/tiny-llama/chat_template.jinja"
    template.write_text(template.read_text() + "{{ 'always answer yes' }}", encoding="utf-8")
    # keel pin again: the files' sha256 (and DVC) follow the new template, so stage 2 passes;
    # then the manifest's digest is put back to the old template's
    pin_model(root, root / "artifacts/models/tiny-llama", "tiny-llama")
    text = path.read_text()
    swapped = yaml.safe_load(text)["spec"]["chatTemplateDigest"]
    assert swapped != recorded
    path.write_text(text.replace(swapped, recorded))
    _commit(root, "a swapped chat template")

    result = reproduce(root, DEPLOYMENT, workdir=tmp_path / "w")

    assert _stage(result, "pull").status == PASSED
    stage = _failed_at(result, "load")
    assert stage.summary.startswith("Tokenizer/tiny-llama spec.chatTemplateDigest: manifest says")
    assert f"manifest says {recorded}, the loaded tokenizer's chat template gives {swapped}" in (
        stage.summary
    )
    assert [(f.ref, f.field) for f in stage.findings] == [
        ("Tokenizer/tiny-llama", "spec.chatTemplateDigest")
    ]


def test_changed_special_tokens_fail_stage_3(tmp_path: Path) -> None:
    root = build(tmp_path)
    path = root / "manifests/tokenizers/tiny-llama.yaml"
    data = yaml.safe_load(path.read_text())
    assert data["spec"]["specialTokens"]["eos"] == "</s>"
    path.write_text(path.read_text().replace("eos: </s>", "eos: <|user|>"))
    _commit(root, "another end-of-sequence token")

    stage = _failed_at(reproduce(root, DEPLOYMENT, workdir=tmp_path / "w"), "load")

    assert "spec.specialTokens.eos: manifest says '<|user|>', loaded '</s>'" in stage.summary


def _change_recorded_token(root: Path, row: int, token: int) -> Any:
    """Edit one token id of the recorded continuation: the outputs file (kept in DVC as keel
    evaluate keeps it) and the Evaluation's digest agree with each other, not with the model."""
    from safetensors.torch import load_file

    from toolkit.bridges.ml import outputs_digest
    from toolkit.workflows.evaluation.evaluate import write_outputs

    relative = "artifacts/evaluations/search-canary.safetensors"
    ids = load_file(str(root / relative))["outputs"].clone()
    ids[row, token] = (ids[row, token] + 1) % 100
    assert write_outputs(root, "search-canary", "Dataset/canary", "generation", ids) == relative
    path = root / CANARY
    text = path.read_text()
    path.write_text(
        text.replace(yaml.safe_load(text)["spec"]["outputs"]["digest"], outputs_digest(ids))
    )
    return ids


def test_a_changed_expected_continuation_fails_stage_6_naming_the_token(tmp_path: Path) -> None:
    root = build(tmp_path)
    ids = _change_recorded_token(root, 1, 2)
    _commit(root, "an edited expected continuation")

    stage = _failed_at(reproduce(root, DEPLOYMENT, workdir=tmp_path / "w"), "canary")

    assert stage.summary.startswith(
        "Evaluation/search-canary spec.outputs.digest: generated tokens differ on the recorded "
        "environment (identical expected); first differing token: row 1 (p1), new token 2: id "
    )
    assert stage.summary.endswith(f"recorded {int(ids[1, 2])}")
    assert stage.details["firstDifference"]["recordedId"] == int(ids[1, 2])
    assert [(f.ref, f.field) for f in stage.findings] == [
        ("Evaluation/search-canary", "spec.outputs.digest")
    ]


@pytest.mark.parametrize(
    ("token", "first_tokens", "failure"),
    [
        (4, 3, None),  # differs after the first 3: within the rule
        (2, 3, "token 2 differs, within the first 3 that must be identical"),
        (4, None, "every generated token must be identical (no tolerance.firstTokens recorded)"),
    ],
)
def test_on_another_environment_the_first_tokens_rule_decides(
    tmp_path: Path, token: int, first_tokens: int | None, failure: str | None
) -> None:
    """Recorded with another torch: the greedy tokens must be identical over the first
    tolerance.firstTokens of each row (all of them without the rule)."""
    root = build(tmp_path)
    _change_recorded_token(root, 3, token)
    path = root / CANARY
    data = yaml.safe_load(path.read_text())
    data["spec"]["tools"]["torch"] = "0.0.1"
    if first_tokens is not None:
        data["spec"]["tolerance"] = {"firstTokens": first_tokens}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    _commit(root, "recorded elsewhere")

    result = reproduce(root, DEPLOYMENT, workdir=tmp_path / "w")

    if failure is None:
        assert result.ok, [(s.name, s.summary) for s in result.stages]
        details = _stage(result, "canary").details
        assert details["outcome"] == WITHIN_TOLERANCE
        assert details["identicalFirstTokens"] == 3
        assert details["firstDifference"]["token"] == 4
        return
    stage = _failed_at(result, "canary")
    assert failure in stage.summary
    assert "torch 0.0.1 -> " in stage.summary or first_tokens is not None
    assert [f.field for f in stage.findings] == ["spec.tolerance.firstTokens"]


# --- stage 4: a causal-LM LoRA, through the stage function on a real repository -------------


def _lora(base_dir: Path, out: Path, *, seed: int) -> Path:
    """A LoRA on q_proj/v_proj of the Llama in `base_dir`, saved by peft, B not zero."""
    import peft
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(str(base_dir))
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft on transformers' deprecations
        adapted = peft.get_peft_model(model, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        adapted.save_pretrained(str(out), safe_serialization=True)
    return out


def _adapter_manifest(root: Path, folder: str, base_digest: str) -> None:
    from toolkit.core.hashing import hash_file

    directory = root / folder
    files = [
        {"path": p.name, "sha256": hash_file(p).sha256, "size": p.stat().st_size}
        for p in sorted(directory.iterdir())
        if p.is_file()
    ]
    manifest = {
        "apiVersion": "keel/v1",
        "kind": "Adapter",
        "metadata": {"name": "lora", "owner": "ml@example.com", "description": "a LoRA"},
        "spec": {
            "base": {"model": "Model/tiny-llama", "digest": base_digest},
            "method": "lora",
            "rank": 4,
            "alpha": 8,
            "dropout": 0.0,
            "targetModules": ["q_proj", "v_proj"],
            "layers": {
                "trained": ["q_proj", "v_proj"],
                "frozen": ["*"],
                "trainableParameters": 1,
                "totalParameters": 2,
            },
            "directory": folder,
            "files": files,
            "trainingRun": "TrainingRun/lora",
            "evaluations": {
                "task": {"evaluation": "Evaluation/x", "metric": "rouge_l"},
                "general": {"evaluation": "Evaluation/y", "metric": "perplexity", "tolerance": 1},
            },
        },
    }
    (root / "manifests" / "lora.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


@pytest.mark.parametrize("other_base", [False, True])
def test_stage_4_applies_a_causal_lm_lora_and_refuses_one_of_another_base(
    tmp_path: Path, other_base: bool
) -> None:
    import torch

    from toolkit.bridges import ml
    from toolkit.bridges.heads import load_model_for
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation import pipeline
    from toolkit.workflows.reproduce.results import CheckedOut, Loaded, StageFailed
    from toolkit.workflows.reproduce.stages import adapt

    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    base = tiny_llama(tmp_path / "llama")
    pin_model(root, base, "tiny-llama")
    # another base: same shape family, wider (hidden 48), so the LoRA tensors cannot fit
    other = tmp_path / "other"
    if other_base:
        import transformers

        config = json.loads((base / "config.json").read_text())
        config.update(hidden_size=48, head_dim=12)
        other.mkdir()
        transformers.LlamaForCausalLM(transformers.LlamaConfig(**config)).save_pretrained(other)
    folder = "artifacts/adapters/lora"
    _lora(other if other_base else base, root / folder, seed=1)
    graph = load_graph(root)
    model_manifest = graph.get("Model/tiny-llama")
    _adapter_manifest(root, folder, model_manifest.weights_digest())
    graph = load_graph(root)
    subject = pipeline.resolve(graph, "Adapter/lora")
    model = load_model_for(root / "artifacts/models/tiny-llama", "generation")
    tokenizer = ml.load_tokenizer(root / "artifacts/models/tiny-llama")
    checked = CheckedOut("0" * 40, root, graph, None, None)  # type: ignore[arg-type]
    loaded = Loaded(subject, tokenizer, model, {})
    ids = torch.tensor([[1, 5, 9, 12]])
    with torch.inference_mode():
        before = model(input_ids=ids).logits.clone()

    if other_base:
        with pytest.raises(StageFailed) as failed:
            adapt(checked, loaded)
        assert failed.value.summary.startswith("Adapter/lora spec.base: base_model.model.model.")
        assert "the adapter was trained on another base" in failed.value.summary
        assert {f.ref for f in failed.value.findings} == {"Adapter/lora"}
        return
    adapted = adapt(checked, loaded)
    assert type(adapted.model).__name__ == "PeftModelForCausalLM"
    assert adapted.base_digest == model_manifest.weights_digest()
    with torch.inference_mode():
        after = adapted.model(input_ids=ids).logits
    assert not torch.equal(before, after)  # the LoRA layers are applied
    # and the adapted model generates through the evaluation's Generator
    from toolkit.bridges.heads import Generator

    new, _ = Generator(tokenizer, adapted.model).generate(
        ["the model is"], batch_size=1, max_length=32, max_new_tokens=4
    )
    assert new.shape == (1, 4)
