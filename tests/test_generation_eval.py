"""Generation evaluation on a tiny Llama built here: greedy token ids, chat prompts through the
chat template, perplexity on held-out text, time to first token and tokens per second, the
Tokenizer's chat template digest recorded by `keel pin`, and the generation SLO gate at its
boundaries through `keel validate`."""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from toolkit.cli import main
from toolkit.core.chat_templates import chat_template, template_digest
from toolkit.manifests.evaluation import Protocol
from toolkit.workflows.artifacts.pin import pin
from toolkit.workflows.artifacts.pin_values import PinRequest
from toolkit.workflows.artifacts.verify import load_graph
from toolkit.workflows.authoring.init import init
from toolkit.workflows.evaluation.evaluate import Request, evaluate, request_for
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

CORPUS = [
    "the model is deployed to the search service",
    "roll back a deployment to the previous revision",
    "training jobs wait in pending when no gpu is free",
    "quantize the merged model to int8 before serving",
    "the canary set runs on every deploy",
    "tokens are pooled and normalised",
]
HELD_OUT = [
    "the canary runs before the model is served",
    "a deployment waits for the previous revision to roll back and for the gpu to be free",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_llama(directory: Path, *, chat: str | None = CHAT_TEMPLATE, seed: int = 0) -> Path:
    """LlamaForCausalLM (hidden 32, 2 layers, 4 heads, 2 KV heads) with random weights and a
    byte-level BPE tokenizer trained on CORPUS, its chat template in chat_template.jinja."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.decoder = decoders.ByteLevel()
    specials = ["<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    trained.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=trained, bos_token="<s>", eos_token="</s>", model_max_length=128
    )
    if chat is not None:
        tokenizer.chat_template = chat
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    transformers.LlamaForCausalLM(config).save_pretrained(str(directory))
    return directory


def pin_model(root: Path, source: Path, name: str) -> None:
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


def write_dataset(root: Path, name: str, rows: list[dict[str, Any]], purpose: str = "eval") -> None:
    directory = root / "artifacts" / "datasets" / name
    directory.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    (directory / "rows.jsonl").write_bytes(data)
    manifest = {
        "apiVersion": "keel/v1",
        "kind": "Dataset",
        "metadata": {"name": name, "owner": "ml@example.com", "description": f"{name} rows"},
        "spec": {
            "purpose": purpose,
            "directory": f"artifacts/datasets/{name}",
            "files": [
                {
                    "path": "rows.jsonl",
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                }
            ],
            "rows": len(rows),
            "license": "CC0-1.0",
            "provenance": {"origin": "written for this test"},
            "containsPii": False,
        },
    }
    path = root / "manifests" / "datasets" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")


def completion_rows() -> list[dict[str, Any]]:
    """Three prompts and two chat conversations, each with the rest of a sentence to match."""
    rows: list[dict[str, Any]] = [
        {"id": f"p{i}", "prompt": " ".join(s.split()[:3]), "reference": " ".join(s.split()[3:])}
        for i, s in enumerate(CORPUS[:3])
    ]
    rows += [
        {
            "id": f"c{i}",
            "messages": [
                {"role": "system", "content": "answer briefly"},
                {"role": "user", "content": s},
            ],
            "reference": s,
        }
        for i, s in enumerate(CORPUS[3:5])
    ]
    return rows


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    return root


def _outputs(root: Path, relative: str) -> Any:
    from safetensors.torch import load_file

    return load_file(str(root / relative))["outputs"]


def test_a_generation_canary_records_greedy_tokens_metrics_and_generation_timing(
    repo: Path, llama_dir: Path
) -> None:
    import torch
    import transformers

    from toolkit.core.metrics import exact_match, rouge_l

    pin_model(repo, llama_dir, "tiny-llama")
    rows = completion_rows()
    write_dataset(repo, "completions", rows, purpose="canary")
    protocol = Protocol.model_validate({"task": "generation", "batchSize": 2, "maxNewTokens": 6})

    first = evaluate(
        repo, Request("Model/tiny-llama", "Dataset/completions", "llama-gen", protocol=protocol)
    )
    second = evaluate(repo, request_for(load_graph(repo), "Evaluation/llama-gen", None, None))

    ids = _outputs(repo, first.outputs_path)
    assert ids.shape == (5, 6)
    # the same greedy decoding, one prompt at a time, chat rows rendered by transformers itself
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(llama_dir))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(llama_dir)).eval()
    texts = []
    for index, row in enumerate(rows):
        prompt = row.get("prompt") or tokenizer.apply_chat_template(
            row["messages"], tokenize=False, add_generation_prompt=True
        )
        encoded = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(
                **encoded, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.eos_token_id
            )
        new = out[0, encoded["input_ids"].shape[1] :].tolist()
        assert [int(t) for t in ids[index].tolist() if t >= 0] == new, row["id"]
        texts.append(tokenizer.decode(new, skip_special_tokens=True).strip())
    references = [row["reference"] for row in rows]
    assert first.metrics == {
        "exact_match": round(exact_match(texts, references), 4),
        "rouge_l": round(rouge_l(texts, references), 4),
    }
    assert second.outputs_digest == first.outputs_digest  # greedy decoding is deterministic
    latency = yaml.safe_load(first.path.read_text(encoding="utf-8"))["spec"]["latency"]
    assert latency["requests"] == 5
    # both are measured (TTFT and whole requests are timed in separate runs, so on a busy
    # machine neither bounds the other: only that each was recorded is asserted)
    assert latency["timeToFirstTokenP95Ms"] > 0
    assert latency["outputTokensPerSecond"] > 0
    assert validate(repo).ok


def test_a_chat_row_without_a_chat_template_is_refused_by_name(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pin_model(repo, tiny_llama(tmp_path / "plain", chat=None), "plain")
    write_dataset(repo, "chats", completion_rows()[3:])

    code = main(["evaluate", "Model/plain", "--dataset", "Dataset/chats", "--root", str(repo)])

    assert code == 2  # the user's data, not a keel bug
    assert "gives chat messages but the tokenizer has no chat template" in capsys.readouterr().err


def _reference_perplexity(source: Path, texts: list[str], window: int) -> float:
    """Perplexity computed from the logits directly: log-softmax, the next token's log-prob."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(source)).eval()
    nll, count = 0.0, 0
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        for start in range(0, len(ids), window):
            chunk = torch.tensor([ids[start : start + window]])
            if chunk.shape[1] < 2:
                continue
            with torch.inference_mode():
                logits = model(input_ids=chunk).logits.double()
            logprobs = torch.log_softmax(logits[0, :-1], dim=-1)
            picked = logprobs.gather(1, chunk[0, 1:, None])
            nll -= float(picked.sum())
            count += chunk.shape[1] - 1
    return math.exp(nll / count)


def test_perplexity_on_a_held_out_split_in_fixed_windows(repo: Path, llama_dir: Path) -> None:
    pin_model(repo, llama_dir, "tiny-llama")
    write_dataset(repo, "held-out", [{"id": f"h{i}", "text": t} for i, t in enumerate(HELD_OUT)])
    graph = load_graph(repo)

    # text rows and a causal LM: keel evaluate measures perplexity without being told
    guessed = evaluate(repo, request_for(graph, "Model/tiny-llama", "Dataset/held-out", "lm"))
    windowed = evaluate(
        repo,
        Request(
            "Model/tiny-llama",
            "Dataset/held-out",
            "lm-8",
            protocol=Protocol.model_validate({"task": "language-modeling", "maxLength": 8}),
        ),
    )
    again = evaluate(repo, request_for(load_graph(repo), "Evaluation/lm-8", None, None))

    spec = yaml.safe_load(guessed.path.read_text(encoding="utf-8"))["spec"]
    assert spec["protocol"]["task"] == "language-modeling"
    assert set(guessed.metrics) == {"perplexity"}
    assert guessed.metrics["perplexity"] == pytest.approx(
        _reference_perplexity(llama_dir, HELD_OUT, 256), abs=2e-4
    )
    assert windowed.metrics["perplexity"] == pytest.approx(
        _reference_perplexity(llama_dir, HELD_OUT, 8), abs=2e-4
    )
    assert windowed.metrics["perplexity"] != guessed.metrics["perplexity"]  # windows matter
    assert again.outputs_digest == windowed.outputs_digest
    assert _outputs(repo, windowed.outputs_path).shape == (2, 2)  # [NLL sum, tokens] per text
    assert validate(repo).ok


def test_pin_records_the_chat_template_digest_as_transformers_loads_it(
    repo: Path, llama_dir: Path, tmp_path: Path
) -> None:
    import transformers

    pin_model(repo, llama_dir, "tiny-llama")
    spec = yaml.safe_load((repo / "manifests/tokenizers/tiny-llama.yaml").read_text())["spec"]
    loaded = transformers.AutoTokenizer.from_pretrained(str(llama_dir)).chat_template
    expected = "sha256:" + hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest()
    assert loaded == CHAT_TEMPLATE
    assert spec["chatTemplateDigest"] == expected == template_digest(loaded)
    assert any(f["path"] == "chat_template.jinja" for f in spec["files"])

    # without chat_template.jinja, tokenizer_config.json's chat_template is the template
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    settings = json.loads((llama_dir / "tokenizer_config.json").read_text())
    (legacy / "tokenizer_config.json").write_text(json.dumps({**settings, "chat_template": "X"}))
    assert chat_template({"tokenizer_config.json": legacy / "tokenizer_config.json"}) == "X"
    # a CRLF template file loads as LF, as transformers reads it
    crlf = legacy / "chat_template.jinja"
    crlf.write_bytes(b"a\r\nb")
    files = {"chat_template.jinja": crlf, "tokenizer_config.json": legacy / "tokenizer_config.json"}
    assert chat_template(files) == "a\nb"


def test_a_tokenizer_without_a_chat_template_records_no_digest(repo: Path, tmp_path: Path) -> None:
    pin_model(repo, tiny_llama(tmp_path / "plain", chat=None), "plain")
    spec = yaml.safe_load((repo / "manifests/tokenizers/plain.yaml").read_text())["spec"]
    assert "chatTemplateDigest" not in spec


# --- the generation SLO gate, through keel validate ----------------------------------------


def _gate(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    *,
    slos: dict[str, float],
    latency: dict[str, float],
    price: float | None = 1.8,
) -> tuple[int, list[str]]:
    """keel validate with the canary Evaluation's generation timing and the Deployment's SLOs."""
    spec = manifests["deployment"]["spec"]
    spec["slos"].update(slos)
    if price is not None:
        spec["serving"]["hardwarePricePerHour"] = price
    manifests["eval-search-canary"]["spec"]["latency"].update(latency)
    code = main(["validate", "--root", str(make_repo(manifests))])
    lines = capsys.readouterr().out.splitlines()[:-1]
    return code, [line.split(": ", 1)[1] for line in lines]


@pytest.mark.parametrize(("ttft", "code"), [(20.0, 0), (20.01, 1)])
def test_time_to_first_token_on_its_bound_passes_and_above_fails(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    ttft: float,
    code: int,
) -> None:
    got, findings = _gate(
        manifests,
        make_repo,
        capsys,
        slos={"timeToFirstTokenP95Ms": 20},
        latency={"timeToFirstTokenP95Ms": ttft},
    )
    assert (got, findings[1:]) == (code, [])
    if code:
        assert findings == [
            "Deployment/search: spec.slos.timeToFirstTokenP95Ms: Evaluation/search-canary "
            "latency.timeToFirstTokenP95Ms = 20.01 ms exceeds spec.slos.timeToFirstTokenP95Ms 20 ms"
        ]


@pytest.mark.parametrize(("speed", "code"), [(50.0, 0), (49.99, 1)])
def test_tokens_per_second_on_its_floor_passes_and_below_fails(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    speed: float,
    code: int,
) -> None:
    got, findings = _gate(
        manifests,
        make_repo,
        capsys,
        slos={"outputTokensPerSecondMin": 50},
        latency={"outputTokensPerSecond": speed},
    )
    assert got == code
    if code:
        assert findings == [
            "Deployment/search: spec.slos.outputTokensPerSecondMin: Evaluation/search-canary "
            "latency.outputTokensPerSecond = 49.99 tokens/s is below "
            "spec.slos.outputTokensPerSecondMin 50 tokens/s"
        ]


@pytest.mark.parametrize(("ceiling", "code"), [(0.01, 0), (0.0099, 1)])
def test_cost_per_1k_tokens_on_its_ceiling_passes_and_below_it_fails(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    ceiling: float,
    code: int,
) -> None:
    # 1.8 USD per hour / 3600 s / 50 tokens per second x 1000 tokens = 0.01 USD
    got, findings = _gate(
        manifests,
        make_repo,
        capsys,
        slos={"costPer1kTokensMax": ceiling},
        latency={"outputTokensPerSecond": 50},
    )
    assert got == code
    if code:
        assert findings == [
            "Deployment/search: spec.slos.costPer1kTokensMax: cost per 1k tokens = 0.01 USD "
            "(hardwarePricePerHour 1.8 / 3600 / 50 tokens/s of Evaluation/search-canary x 1000) "
            "exceeds spec.slos.costPer1kTokensMax 0.0099 USD"
        ]


def test_an_slo_without_its_measurement_or_price_names_what_is_missing(
    manifests: dict[str, Any], make_repo: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, findings = _gate(
        manifests,
        make_repo,
        capsys,
        slos={"timeToFirstTokenP95Ms": 20, "costPer1kTokensMax": 0.01},
        latency={},
        price=None,
    )
    assert code == 1
    assert findings == [
        "Deployment/search: spec.serving.hardwarePricePerHour: spec.slos.costPer1kTokensMax "
        "needs the price of the serving hardware (spec.serving.hardwarePricePerHour, USD per hour)",
        "Deployment/search: spec.slos.timeToFirstTokenP95Ms: Evaluation/search-canary records "
        "no latency.timeToFirstTokenP95Ms, which spec.slos.timeToFirstTokenP95Ms bounds; run "
        "`keel evaluate Evaluation/search-canary` again",
    ]


def test_timing_from_a_busy_machine_is_a_warning_not_a_verdict(
    manifests: dict[str, Any], make_repo: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, findings = _gate(
        manifests,
        make_repo,
        capsys,
        slos={"timeToFirstTokenP95Ms": 20},
        latency={"timeToFirstTokenP95Ms": 500, "loadAverage": 7.5},
    )
    assert code == 0
    assert findings[1:] == [
        "Deployment/search: spec.slos.timeToFirstTokenP95Ms: Evaluation/search-canary timing "
        "is not comparable with spec.slos: measured on a busy machine (load average 7.5 on 2 "
        "threads)"
    ]


def test_without_generation_slos_the_gate_is_silent(
    manifests: dict[str, Any], make_repo: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, findings = _gate(manifests, make_repo, capsys, slos={}, latency={}, price=None)
    assert (code, findings) == (0, [])


def test_perplexity_of_texts_too_short_to_predict_a_token_is_refused_by_name(
    repo: Path, llama_dir: Path
) -> None:
    from toolkit.core.errors import UsageError

    pin_model(repo, llama_dir, "tiny-llama")
    write_dataset(repo, "tiny-texts", [{"id": "t0", "text": "a"}])

    with pytest.raises(UsageError, match="^Dataset/tiny-texts: every text is shorter than 2"):
        evaluate(
            repo, request_for(load_graph(repo), "Model/tiny-llama", "Dataset/tiny-texts", None)
        )
