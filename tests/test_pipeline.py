"""The steps reproduce and evaluate share, on a tiny random BERT built in the session."""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

import pytest
from factories import deployment_set, tiny_bert

from toolkit.manifests import Adapter, Model, Tokenizer
from toolkit.manifests.quantization import Recipe
from toolkit.workflows.evaluation import pipeline

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.bridges.ml import Encoder

INT8 = Recipe(library="torchao", version="0.18.0", config="Int8DynamicActivationInt8WeightConfig")


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path) -> Encoder:
    from toolkit.bridges import ml

    return ml.load_encoder(tiny_model_dir)


def _fresh_model(tiny_model_dir: Path) -> Any:
    from toolkit.bridges import ml

    return ml.load_model(tiny_model_dir)


def _model_manifest(model: Any, **architecture: Any) -> Model:
    data = deployment_set()["model"]
    config = model.config
    data["spec"]["architecture"].update(
        {
            "modelType": config.model_type,
            "hiddenSize": config.hidden_size,
            "numLayers": config.num_hidden_layers,
            "numAttentionHeads": config.num_attention_heads,
            "numKeyValueHeads": config.num_attention_heads,
            "vocabSize": config.vocab_size,
            "maxPositionEmbeddings": config.max_position_embeddings,
            "activation": config.hidden_act,
            "tiedEmbeddings": bool(config.tie_word_embeddings),
            **architecture,
        }
    )
    data["spec"]["parameters"] = sum(p.numel() for p in model.parameters())
    return Model.model_validate(data)


def _tokenizer_manifest(tokenizer: Any, **spec: Any) -> Tokenizer:
    data = deployment_set()["tokenizer"]
    data["spec"].update(
        {
            "vocabSize": tokenizer.vocab_size,
            "maxLength": tokenizer.model_max_length,
            "paddingSide": "right",
            "specialTokens": {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]"},
            **spec,
        }
    )
    return Tokenizer.model_validate(data)


# ------------------------------------------------------------------------- stage 3 checks


def test_a_model_matching_its_manifest_has_no_mismatch(tiny_encoder: Encoder) -> None:
    assert pipeline.check_model(tiny_encoder.model, _model_manifest(tiny_encoder.model)) == []


def test_a_model_config_differing_from_the_architecture_is_named(tiny_encoder: Encoder) -> None:
    manifest = _model_manifest(tiny_encoder.model, hiddenSize=384)

    problems = pipeline.check_model(tiny_encoder.model, manifest)

    assert [p.field for p in problems] == ["spec.architecture.hiddenSize"]
    assert "manifest says 384, config.json gives hidden_size=32" in problems[0].render()


def test_a_mismatch_is_a_finding_and_the_error_carries_them_all(
    tiny_encoder: Encoder, tmp_path: Path
) -> None:
    from factories import write_set

    from toolkit.workflows.artifacts.verify import load_graph

    manifest = _model_manifest(tiny_encoder.model, hiddenSize=384, numLayers=7)
    problems = pipeline.check_model(tiny_encoder.model, manifest)
    write_set(tmp_path, deployment_set())

    finding = problems[0].finding()
    located = problems[0].finding(load_graph(tmp_path))
    with pytest.raises(pipeline.PipelineError) as raised:
        pipeline.raise_first(problems)

    assert (finding.path, finding.ref, finding.field, finding.check) == (
        None,
        "Model/base",
        "spec.architecture.hiddenSize",
        "pipeline",
    )
    assert finding.message == "manifest says 384, config.json gives hidden_size=32"
    assert (located.path, located.line) == (tmp_path / "manifests" / "model.yaml", 23)
    assert str(raised.value) == f"{problems[0].render()} (and 1 more)"
    assert raised.value.findings == tuple(p.finding() for p in problems)


def test_a_parameter_count_differing_from_the_record_is_named(tiny_encoder: Encoder) -> None:
    counted = sum(p.numel() for p in tiny_encoder.model.parameters())
    manifest = _model_manifest(tiny_encoder.model)
    manifest = manifest.model_copy(
        update={"spec": manifest.spec.model_copy(update={"parameters": counted + 1})}
    )

    problems = pipeline.check_model(tiny_encoder.model, manifest)

    assert [p.field for p in problems] == ["spec.parameters"]


def test_tokenizer_vocab_max_length_and_special_tokens_are_checked(
    tiny_encoder: Encoder,
) -> None:
    tokenizer = tiny_encoder.tokenizer
    assert pipeline.check_tokenizer(tokenizer, _tokenizer_manifest(tokenizer)) == []
    wrong = _tokenizer_manifest(
        tokenizer,
        vocabSize=30522,
        maxLength=4096,
        specialTokens={"cls": "<s>", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]"},
    )

    fields = [p.field for p in pipeline.check_tokenizer(tokenizer, wrong)]

    assert fields == ["spec.vocabSize", "spec.maxLength", "spec.specialTokens.cls"]


# ------------------------------------------------------------------------- stage 4 checks


def _adapter_manifest(directory: Path, **spec: Any) -> Adapter:
    data = deployment_set()["adapter"]
    data["spec"].update(
        {"rank": 4, "alpha": 8, "targetModules": ["query", "value"], "directory": directory.name}
    )
    data["spec"].update(spec)
    return Adapter.model_validate(data)


def _save_lora(base: Any, directory: Path) -> Path:
    torch.manual_seed(1)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft on deprecated transformers APIs
        model = peft.get_peft_model(base, lora)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero: make the adapter change something
            parameter.data.normal_()
    model.save_pretrained(str(directory), safe_serialization=True)
    return directory


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_lora(_fresh_model(tiny_model_dir), tmp_path_factory.mktemp("adapter"))


def test_an_adapter_for_this_base_fits_and_changes_the_outputs(
    tiny_model_dir: Path, tiny_adapter: Path, tiny_encoder: Encoder
) -> None:
    from toolkit.bridges.adapters import apply_adapter, check_config, check_fits_base
    from toolkit.bridges.ml import Encoder

    base = _fresh_model(tiny_model_dir)
    assert check_config(tiny_adapter, _adapter_manifest(tiny_adapter).spec) == []
    assert check_fits_base(tiny_adapter, base) == []

    merged = apply_adapter(base, tiny_adapter, merge=True)
    unmerged = apply_adapter(_fresh_model(tiny_model_dir), tiny_adapter, merge=False)

    texts = ["roll back a deployment", "the canary set"]
    before = tiny_encoder.embed(texts)
    after = Encoder(tiny_encoder.tokenizer, merged).embed(texts)
    layered = Encoder(tiny_encoder.tokenizer, unmerged).embed(texts)
    assert not torch.equal(before, after)
    assert torch.allclose(after, layered, atol=1e-5)


def test_an_adapter_config_differing_from_the_manifest_is_named(tiny_adapter: Path) -> None:
    from toolkit.bridges.adapters import check_config

    spec = _adapter_manifest(tiny_adapter, rank=8, targetModules=["query"]).spec

    problems = check_config(tiny_adapter, spec)

    assert problems == [
        "spec.rank: manifest says 8, adapter_config.json has r=4",
        "spec.targetModules: manifest says ['query'], adapter_config.json has "
        "target_modules=['query', 'value']",
    ]


def test_an_adapter_trained_on_a_wider_base_does_not_fit(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from toolkit.bridges import ml
    from toolkit.bridges.adapters import check_fits_base

    wide = ml.load_model(tiny_bert(tmp_path / "wide", hidden_size=64))
    adapter = _save_lora(wide, tmp_path / "wide-adapter")

    problems = check_fits_base(adapter, _fresh_model(tiny_model_dir))

    assert problems
    assert (
        "has shape [4, 64] but encoder.layer.0.attention.self.query in the base takes 32"
        in (problems[0])
    )


def test_an_adapter_without_safetensors_weights_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from toolkit.bridges.adapters import AdapterError, apply_adapter

    (tmp_path / "adapter_config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "adapter_model.bin").write_bytes(b"pickle")

    with pytest.raises(AdapterError, match="no adapter_model.safetensors; keel loads safetensors"):
        apply_adapter(_fresh_model(tiny_model_dir), tmp_path, merge=False)


# ------------------------------------------------------------------------ stage 5: quantize


def test_int8_requantization_of_the_same_weights_is_bit_exact(tiny_model_dir: Path) -> None:
    from toolkit.bridges.quantize import quantize

    first = quantize(_fresh_model(tiny_model_dir), "int8", INT8)
    second = quantize(_fresh_model(tiny_model_dir), "int8", INT8)

    linear = sum(isinstance(m, torch.nn.Linear) for m in _fresh_model(tiny_model_dir).modules())
    assert first.quantized_modules == linear
    assert first.tensor_digest == second.tensor_digest
    assert first.tensor_digest != quantize(_fresh_model(tiny_model_dir), "none", INT8).tensor_digest


def test_fp16_and_bf16_are_casts_with_their_own_digests(tiny_model_dir: Path) -> None:
    from toolkit.bridges.quantize import quantize

    cast = Recipe(library="torch", version="2", config="cast")
    fp16 = quantize(_fresh_model(tiny_model_dir), "fp16", cast)
    bf16 = quantize(_fresh_model(tiny_model_dir), "bf16", cast)

    assert next(fp16.model.parameters()).dtype == torch.float16
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert fp16.tensor_digest != bf16.tensor_digest
    assert fp16.tensor_digest == quantize(_fresh_model(tiny_model_dir), "fp16", cast).tensor_digest


@pytest.mark.parametrize(
    ("scheme", "library", "needs"),
    [
        ("nf4", "bitsandbytes", "needs a CUDA GPU and bitsandbytes"),
        ("gptq", "auto-gptq", "needs a CUDA GPU and auto-gptq"),
        ("int8", "bitsandbytes", "needs a CUDA GPU and bitsandbytes"),
    ],
)
def test_gpu_schemes_say_what_they_need(
    tiny_model_dir: Path, scheme: str, library: str, needs: str
) -> None:
    from toolkit.bridges.quantize import QuantizationError, quantize

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    recipe = Recipe(library=library, version="1", config="x")

    with pytest.raises(QuantizationError, match=needs):
        quantize(_fresh_model(tiny_model_dir), scheme, recipe)


def test_an_unknown_torchao_config_names_the_field(tiny_model_dir: Path) -> None:
    from toolkit.bridges.quantize import QuantizationError, quantize

    recipe = Recipe(library="torchao", version="0.18.0", config="Int3MagicConfig")

    with pytest.raises(QuantizationError, match=r"no quantization config 'Int3MagicConfig'"):
        quantize(_fresh_model(tiny_model_dir), "int8", recipe)


# --------------------------------------------------------------------- evaluate's arithmetic


def test_retrieval_metrics_count_ties_in_favour_of_the_relevant_passage() -> None:
    from toolkit.workflows.evaluation.tasks import retrieval_metrics

    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    passages = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # query 0: passage 0 ties passage 1 (rank 1); query 1: passage 1 scores 0 and passage 2
    # scores 1 (rank 2); query 2: passage 2 scores 0 and passages 0, 1 score 1 (rank 3)
    metrics = retrieval_metrics(queries, passages)

    assert metrics["recall_at_1"] == round(1 / 3, 4)
    assert metrics["mrr"] == round((1 + 1 / 2 + 1 / 3) / 3, 4)
    assert metrics["recall_at_5"] == 1.0


@pytest.mark.parametrize("q", [0, 37.5, 50, 95, 99, 100])
def test_percentile_matches_numpy(q: float) -> None:
    numpy = pytest.importorskip("numpy")
    from toolkit.core.metrics import percentile

    samples = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.3]

    assert percentile(samples, q) == pytest.approx(float(numpy.percentile(samples, q)))


def test_the_first_differing_row_names_the_example_and_its_field() -> None:
    from toolkit.workflows.reproduce.canary import first_difference, worst_rows

    rows = [
        {"id": "a", "query": "q0", "passage": "p0"},
        {"id": "b", "query": "q1", "passage": "p1"},
    ]
    recorded = torch.eye(4, 3)
    outputs = recorded.clone()
    outputs[3, 1] += 0.5

    first = first_difference(outputs, recorded, rows, "retrieval")

    assert first is not None
    assert (first["row"], first["example"], first["field"]) == (3, "b", "passage")
    assert first["maxAbsDiff"] == pytest.approx(0.5)
    assert first_difference(recorded, recorded.clone(), rows, "retrieval") is None
    assert worst_rows(outputs, recorded)["maxAbsDiff"] == pytest.approx(0.5)


def test_outputs_digests_of_the_encoder_are_stable_across_batch_splits_only_if_equal(
    tiny_encoder: Encoder,
) -> None:
    """The protocol fixes batch composition because padding changes the bytes."""
    from toolkit.bridges.ml import outputs_digest

    texts = ["a", "a much longer text about deployments and canaries", "b", "c"]
    once = tiny_encoder.embed(texts, batch_size=4)
    again = tiny_encoder.embed(texts, batch_size=4)

    assert outputs_digest(once) == outputs_digest(again)
    assert json.dumps(once.tolist()) == json.dumps(again.tolist())
