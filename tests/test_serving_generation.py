"""The generation and classification contracts served over real HTTP on loopback, and `keel serve`.

A tiny random Llama (hidden 32, 2 layers, 4 heads, 2 KV heads) with a BPE tokenizer trained with
`tokenizers` and a chat template is pinned into a real keel repository, with a Deployment whose
api is the canonical generation contract (`toolkit.core.contracts`), and served by
`serve_deployment` on a free port. The client is the standard library's. The EOS row of the LM
head is zeroed so that greedy decoding runs to max_tokens and the tests can count tokens.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml
from factories import TINY_SENTENCES, deployment_set, tiny_bert
from families import tokenizer as train_tokenizer
from jsonschema import Draft202012Validator

from toolkit.bridges.serving import ContractServer
from toolkit.bridges.serving_contract import Contract
from toolkit.core import contracts
from toolkit.core.errors import UsageError
from toolkit.workflows.serve import serve_deployment

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_INPUT_TOKENS = 64
DEFAULT_MAX_TOKENS = 8
PROMPT = "the model is deployed"


def call(
    url: str, method: str, path: str, body: object = None, raw: bytes | None = None
) -> tuple[int, Any, str]:
    """One request over its own connection: status, headers, body text."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    try:
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def complete(url: str, body: object, path: str = "/v1/completions") -> tuple[int, dict[str, Any]]:
    status, _, text = call(url, "POST", path, body)
    return status, json.loads(text)


def stream(url: str, body: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The headers and the events of a streamed completion, each `data:` payload parsed."""
    status, headers, text = call(url, "POST", "/v1/completions", {**body, "stream": True})
    assert status == 200
    assert text.endswith("\n\n")
    events = []
    for block in text[:-2].split("\n\n"):
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        events.append(data if data == "[DONE]" else json.loads(data))
    return headers, events


# --- fixtures ----------------------------------------------------------------------------------


def _tiny_llama(directory: Path) -> None:
    vocab = train_tokenizer(
        directory, "BPE", chat=True, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight[tokenizer.eos_token_id] = 0  # never the argmax: runs to max_tokens
    model.save_pretrained(str(directory))


def _generation_deployment(root: Path) -> None:
    data = deployment_set()["deployment"]
    data["metadata"]["name"] = "tiny-chat"
    spec = data["spec"]
    spec.update(model="Model/tiny-llama", tokenizer="Tokenizer/tiny-llama")
    del spec["adapter"], spec["quantization"]
    spec["serving"]["maxInputTokens"] = MAX_INPUT_TOKENS
    spec["api"]["inputSchema"] = contracts.generation_input_schema(32, DEFAULT_MAX_TOKENS)
    spec["api"]["outputSchema"] = contracts.GENERATION_OUTPUT_SCHEMA
    spec["api"]["errors"] = contracts.GENERATION_ERRORS
    path = root / "manifests" / "deployments" / "tiny-chat.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest
    from toolkit.workflows.authoring.init import init

    base = tmp_path_factory.mktemp("serving-generation")
    source = base / "tiny-llama"
    _tiny_llama(source)
    root = base / "repo"
    init(root, str(base / "remote"))
    request = PinRequest(
        source=str(source),
        name="tiny-llama",
        directory="artifacts/models/tiny-llama",
        license="apache-2.0",
        owner="ml@example.com",
        description="tiny random Llama, for tests",
    )
    pin(root, request)
    _generation_deployment(root)
    return root


@pytest.fixture(scope="module")
def server(repo: Path) -> Iterator[ContractServer]:
    with serve_deployment(repo, "Deployment/tiny-chat", port=0) as running:
        yield running


@pytest.fixture(scope="module")
def hf(repo: Path) -> tuple[Any, Any]:
    """The same tokenizer and model, loaded by transformers directly."""
    directory = str(repo / "artifacts" / "models" / "tiny-llama")
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()
    return tokenizer, model


def _generate(hf: tuple[Any, Any], ids: list[int], max_new_tokens: int) -> list[int]:
    _, model = hf
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0
        )
    return out[0, len(ids) :].tolist()


# --- completions -------------------------------------------------------------------------------


def test_the_deployment_serves_the_generation_contract(server: ContractServer) -> None:
    assert server.contract.kind == "generation"
    assert server.contract.paths == ("/v1/completions",)
    status, text = call(server.url, "GET", "/healthz")[::2]
    assert (status, json.loads(text)) == (
        200,
        {"status": "ok", "deployment": "Deployment/tiny-chat"},
    )


def test_a_prompt_gets_the_greedy_tokens_transformers_generates(
    server: ContractServer, hf: tuple[Any, Any]
) -> None:
    status, body = complete(server.url, {"prompt": PROMPT, "max_tokens": 12})
    assert status == 200
    assert Draft202012Validator(contracts.GENERATION_OUTPUT_SCHEMA).is_valid(body)
    tokenizer, _ = hf
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    assert body["token_ids"] == _generate(hf, prompt_ids, 12)
    assert body["text"] == tokenizer.decode(body["token_ids"], skip_special_tokens=True)
    assert body["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": len(prompt_ids), "completion_tokens": 12}
    assert body["model"] == "tiny-chat"


def test_chat_messages_are_rendered_with_the_chat_template(
    server: ContractServer, hf: tuple[Any, Any]
) -> None:
    messages = [
        {"role": "system", "content": "answer briefly"},
        {"role": "user", "content": "roll back a deployment"},
    ]
    status, body = complete(server.url, {"messages": messages, "max_tokens": 6})
    tokenizer, _ = hf
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("<|assistant|>")
    prompt_ids = tokenizer(rendered)["input_ids"]  # as keel evaluate reads a chat row
    assert status == 200
    assert body["usage"]["prompt_tokens"] == len(prompt_ids)
    assert body["token_ids"] == _generate(hf, prompt_ids, 6)
    # the same text sent as a prompt gives the same answer
    assert complete(server.url, {"prompt": rendered, "max_tokens": 6})[1] == body


def test_max_tokens_defaults_to_the_contract_s_default_and_bounds_the_answer(
    server: ContractServer,
) -> None:
    default = complete(server.url, {"prompt": PROMPT})[1]
    three = complete(server.url, {"prompt": PROMPT, "max_tokens": 3})[1]
    assert default["usage"]["completion_tokens"] == DEFAULT_MAX_TOKENS
    assert (three["usage"]["completion_tokens"], three["finish_reason"]) == (3, "length")
    assert three["token_ids"] == default["token_ids"][:3]
    status, body = complete(server.url, {"prompt": PROMPT, "max_tokens": 33})
    assert (status, body["error"]["code"]) == (400, "invalid_input")
    assert body["error"]["message"].startswith("$.max_tokens: 33 is greater than the maximum")


def test_a_stop_sequence_ends_the_text_before_it(server: ContractServer) -> None:
    full = complete(server.url, {"prompt": PROMPT, "max_tokens": 12})[1]
    text = full["text"]
    start = len(text) // 2
    stop = text[start : start + 3]
    cut = text.find(stop)
    status, body = complete(server.url, {"prompt": PROMPT, "max_tokens": 12, "stop": [stop]})
    assert status == 200
    assert body["finish_reason"] == "stop"
    assert body["text"] == text[:cut]
    ids = body["token_ids"]
    assert ids == full["token_ids"][: len(ids)]
    assert len(ids) < 12
    _, events = stream(server.url, {"prompt": PROMPT, "max_tokens": 12, "stop": [stop]})
    assert [i for e in events[:-2] for i in e["token_ids"]] == ids
    assert "".join(e["text"] for e in events[:-2]) == body["text"]
    assert events[-2]["finish_reason"] == "stop"


def test_streamed_tokens_equal_the_whole_answer(server: ContractServer) -> None:
    request = {"prompt": PROMPT, "max_tokens": 10}
    whole = complete(server.url, request)[1]
    headers, events = stream(server.url, request)
    assert headers["Content-Type"] == "text/event-stream"
    tokens, finish, done = events[:-2], events[-2], events[-1]
    assert len(tokens) == 10
    assert all(set(e) == {"text", "token_ids"} and len(e["token_ids"]) == 1 for e in tokens)
    assert [e["token_ids"][0] for e in tokens] == whole["token_ids"]
    assert "".join(e["text"] for e in tokens) == whole["text"]
    assert finish == {"finish_reason": "length", "usage": whole["usage"]}
    assert done == "[DONE]"


class _Letters:
    """A stand-in TextGenerator for the decoding loop alone: token i is the i-th letter of
    `script`, and id 1 is EOS (decoded as nothing)."""

    eos_ids = frozenset({1})

    def __init__(self, script: str) -> None:
        self.script = script

    def prompt_ids(self, prompt: str | None, messages: Any) -> list[int]:
        return [0]

    def tokens(self, prompt_ids: list[int], max_tokens: int) -> Iterator[int]:
        ids = [ord(c) for c in self.script] + [1]
        yield from ids[:max_tokens]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids if i != 1)


@pytest.mark.parametrize(
    ("script", "stop", "pieces", "reason"),
    [
        ("abcd", [], ["a", "b", "c", "d", ""], "stop"),  # EOS: its id is the last, no text
        ("abXYcd", ["XYc"], ["a", "b", "", "", ""], "stop"),  # "X", "XY" held: may start XYc
        ("abXd", ["XY"], ["a", "b", "", "Xd", ""], "stop"),  # "X" was not XY after all
        ("abX", ["XY"], ["a", "b", "", "X"], "stop"),  # EOS, the last token, shows what was held
    ],
)
def test_streamed_pieces_never_show_the_start_of_a_stop_sequence(
    script: str, stop: list[str], pieces: list[str], reason: str
) -> None:
    from toolkit.bridges.serving_generation import Finish, Step, steps

    items = list(steps(_Letters(script), [0], 10, stop))
    got = [item.text for item in items if isinstance(item, Step)]
    finish = items[-1]
    assert isinstance(finish, Finish)
    assert got == pieces
    assert (finish.text, finish.finish_reason) == ("".join(pieces), reason)
    assert finish.token_ids == [item.token_id for item in items if isinstance(item, Step)]


def test_max_tokens_ends_the_loop_with_length() -> None:
    from toolkit.bridges.serving_generation import Finish, steps

    finish = list(steps(_Letters("abXYZ"), [0], 3, ["XY"]))[-1]
    assert isinstance(finish, Finish)
    # "X" might start "XY", but the third token is the last: it shows
    assert (finish.text, finish.finish_reason, len(finish.token_ids)) == ("abX", "length", 3)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "starts"),
    [
        ({"prompt": PROMPT, "messages": [{"role": "user", "content": "x"}]}, "$: "),
        ({}, "$: "),
        ({"messages": [{"role": "robot", "content": "x"}]}, "$.messages[0].role: "),
        ({"prompt": PROMPT, "stop": ["a", "b", "c", "d", "e"]}, "$.stop: "),
        ({"prompt": PROMPT, "temperature": 0.7}, "$: "),
        ({"prompt": PROMPT, "stream": "yes"}, "$.stream: "),
    ],
)
def test_a_body_outside_the_input_schema_is_invalid_input(
    server: ContractServer, body: dict[str, Any], starts: str
) -> None:
    status, answer = complete(server.url, body)
    assert (status, answer["error"]["code"]) == (400, "invalid_input")
    assert answer["error"]["message"].startswith(starts)


def test_a_body_that_is_not_json_is_invalid_input(server: ContractServer) -> None:
    status, _, text = call(server.url, "POST", "/v1/completions", raw=b'{"prompt": ')
    assert (status, json.loads(text)["error"]["code"]) == (400, "invalid_input")


def test_too_many_tokens_is_input_too_long_with_the_documented_status(
    server: ContractServer, hf: tuple[Any, Any]
) -> None:
    words = " ".join(TINY_SENTENCES).split()

    def count(text: str) -> int:
        return len(hf[0](text, verbose=False)["input_ids"])

    prompt = next(
        " ".join(words[:n]) for n in range(1, len(words)) if count(" ".join(words[:n])) >= 33
    )
    tokens = count(prompt)
    room = MAX_INPUT_TOKENS - tokens  # prompt tokens + max_tokens may reach the limit
    status, body = complete(server.url, {"prompt": prompt, "max_tokens": room + 1})
    assert status == 413
    assert body["error"] == {
        "code": "input_too_long",
        "message": f"{tokens} prompt tokens + max_tokens {room + 1} = 65; the limit is 64",
    }
    assert complete(server.url, {"prompt": prompt, "max_tokens": room})[0] == 200


def test_unknown_paths_and_wrong_methods(server: ContractServer) -> None:
    status, _, text = call(server.url, "POST", "/v1/embed", {"texts": ["a"]})
    assert (status, json.loads(text)["error"]["code"]) == (404, "not_found")
    assert "POST to /v1/completions" in json.loads(text)["error"]["message"]
    status, headers, text = call(server.url, "GET", "/v1/completions")
    assert (status, headers["Allow"], json.loads(text)["error"]["code"]) == (
        405,
        "POST",
        "method_not_allowed",
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def contract(server: ContractServer) -> Contract:
    return server.contract


@pytest.fixture(scope="module")
def causal_lm(repo: Path) -> Any:
    from toolkit.bridges.serving_models import CausalLM

    tokenizer, model = (
        transformers.AutoTokenizer.from_pretrained(str(repo / "artifacts/models/tiny-llama")),
        transformers.AutoModelForCausalLM.from_pretrained(
            str(repo / "artifacts/models/tiny-llama")
        ).eval(),
    )
    return CausalLM(tokenizer, model)


def test_over_the_rate_limit_is_rate_limited(contract: Contract, causal_lm: Any) -> None:
    import dataclasses

    limited = dataclasses.replace(contract, requests_per_minute=2)
    clock = Clock()
    body = {"prompt": PROMPT, "max_tokens": 1}
    with ContractServer(limited, causal_lm, clock=clock) as running:
        assert [complete(running.url, body)[0] for _ in range(2)] == [200, 200]
        status, headers, text = call(running.url, "POST", "/v1/completions", body)
        assert (status, json.loads(text)["error"]["code"]) == (429, "rate_limited")
        assert headers["Retry-After"] == "30"
        clock.now += 30
        assert complete(running.url, body)[0] == 200


def test_a_body_over_the_cap_is_payload_too_large(contract: Contract, causal_lm: Any) -> None:
    with ContractServer(contract, causal_lm, max_body_bytes=64) as running:
        status, body = complete(running.url, {"prompt": "x" * 200})
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_without_a_model_the_contract_says_model_unavailable(contract: Contract) -> None:
    with ContractServer(contract, None) as running:
        status, body = complete(running.url, {"prompt": PROMPT})
        health = call(running.url, "GET", "/healthz")
    assert (status, body["error"]["code"]) == (503, "model_unavailable")
    assert health[0] == 503


def test_messages_without_a_chat_template_are_invalid_input(
    contract: Contract, causal_lm: Any
) -> None:
    import copy

    plain = copy.copy(causal_lm)
    plain.tokenizer = copy.deepcopy(causal_lm.tokenizer)
    plain.tokenizer.chat_template = None
    with ContractServer(contract, plain) as running:
        status, body = complete(running.url, {"messages": [{"role": "user", "content": "hi"}]})
    assert (status, body["error"]["code"]) == (400, "invalid_input")
    assert "no chat template" in body["error"]["message"]


def test_a_loose_input_schema_still_gets_one_line_errors(causal_lm: Any) -> None:
    """A Deployment whose schema lets through what the model cannot take: invalid_input."""
    loose = Contract(
        name="loose",
        input_schema={"properties": {"prompt": {"type": "string"}}},
        output_schema=contracts.GENERATION_OUTPUT_SCHEMA,
        errors={"invalid_input": 400},
        max_batch_size=1,
        requests_per_minute=600,
        kind="generation",
        max_input_tokens=64,
    )
    with ContractServer(loose, causal_lm) as running:
        answers = [complete(running.url, body) for body in ([], {}, {"prompt": ""})]
        streamed = complete(running.url, {"prompt": "", "stream": True})
    assert [(status, body["error"]["message"]) for status, body in answers] == [
        (400, "$: expected one of 'prompt' or 'messages'"),
        (400, "$: expected one of 'prompt' or 'messages'"),
        (400, "$.prompt: no tokens to continue"),
    ]
    assert streamed[0] == 400


# --- /metrics ----------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_prometheus(text: str) -> dict[str, Any]:
    """A strict parser of the Prometheus text format (0.0.4): every line is a HELP, a TYPE or a
    sample of a declared family; returns {family: {"type", "samples": [(name, labels, value)]}}."""
    families: dict[str, Any] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}
            assert name not in families, f"{name} declared twice"
            families[name] = {"type": kind, "samples": []}
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample: {line!r}"
        name, _, raw_labels, value = match.groups()
        labels: dict[str, str] = {}
        rest = raw_labels or ""
        while rest:
            label = _LABEL.match(rest)
            assert label, f"bad labels in {line!r}"
            labels[label.group(1)] = label.group(2)
            rest = rest[label.end() :]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        family = family if family in families else name
        assert family in families, f"{name} has no TYPE"
        number = float(value)
        assert not math.isnan(number)
        families[family]["samples"].append((name, labels, number))
    return families


def test_metrics_parse_as_prometheus_text_and_count_the_requests(
    contract: Contract, causal_lm: Any
) -> None:
    with ContractServer(contract, causal_lm) as running:
        complete(running.url, {"prompt": PROMPT, "max_tokens": 4})
        stream(running.url, {"prompt": PROMPT, "max_tokens": 3})
        complete(running.url, {"prompt": PROMPT, "max_tokens": 99})
        status, headers, text = call(running.url, "GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = parse_prometheus(text)
    assert {name: f["type"] for name, f in families.items()} == {
        "keel_requests_total": "counter",
        "keel_request_errors_total": "counter",
        "keel_request_duration_seconds": "histogram",
        "keel_time_to_first_token_seconds": "histogram",
        "keel_output_tokens_total": "counter",
        "keel_decode_seconds_total": "counter",
    }
    who = {"deployment": "Deployment/tiny-chat", "endpoint": "/v1/completions"}
    requests = {s[1]["code"]: s[2] for s in families["keel_requests_total"]["samples"]}
    assert requests == {"200": 2, "400": 1}
    assert all(s[1].items() >= who.items() for s in families["keel_requests_total"]["samples"])
    errors = families["keel_request_errors_total"]["samples"]
    assert errors == [("keel_request_errors_total", {**who, "code": "invalid_input"}, 1.0)]
    duration = {s[0]: s[2] for s in families["keel_request_duration_seconds"]["samples"]}
    assert duration["keel_request_duration_seconds_count"] == 3
    buckets = [s[2] for s in families["keel_request_duration_seconds"]["samples"] if "le" in s[1]]
    assert buckets == sorted(buckets)
    assert buckets[-1] == 3
    ttft = {s[0]: s[2] for s in families["keel_time_to_first_token_seconds"]["samples"]}
    assert ttft["keel_time_to_first_token_seconds_count"] == 2
    assert families["keel_output_tokens_total"]["samples"][0][2] == 7
    assert families["keel_decode_seconds_total"]["samples"][0][2] > 0


# --- classification ----------------------------------------------------------------------------


def test_a_classifier_is_served_on_v1_classify(tmp_path: Path) -> None:
    from toolkit.bridges.heads import Classifier
    from toolkit.bridges.serving_models import classify_function

    source = tiny_bert(tmp_path / "bert")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.BertForSequenceClassification.from_pretrained(
            str(source), num_labels=2, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1}
        ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
    contract = Contract(
        name="tiny-sentiment",
        input_schema=contracts.CLASSIFICATION_INPUT_SCHEMA,
        output_schema=contracts.CLASSIFICATION_OUTPUT_SCHEMA,
        errors={e["code"]: e["status"] for e in contracts.CLASSIFICATION_ERRORS},
        max_batch_size=4,
        requests_per_minute=600,
        kind="classification",
    )
    classify = classify_function(Classifier(tokenizer, model), batch_size=4, max_length=64)
    texts = TINY_SENTENCES[:3]
    with ContractServer(contract, classify) as running:
        status, body = complete(running.url, {"texts": texts}, "/v1/classify")
        too_many = complete(running.url, {"texts": TINY_SENTENCES[:5]}, "/v1/classify")
        empty = complete(running.url, {"texts": []}, "/v1/classify")
        metrics = call(running.url, "GET", "/metrics")[2]
    with torch.inference_mode():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    assert status == 200
    assert Draft202012Validator(contracts.CLASSIFICATION_OUTPUT_SCHEMA).is_valid(body)
    assert body["labels"] == [model.config.id2label[i] for i in logits.argmax(dim=1).tolist()]
    expected = torch.softmax(logits, dim=1).tolist()
    assert [len(row) for row in body["scores"]] == [2, 2, 2]
    flat = [score for row in body["scores"] for score in row]
    assert flat == pytest.approx([score for row in expected for score in row], abs=1e-6)
    assert body["model"] == "tiny-sentiment"
    assert (too_many[0], too_many[1]["error"]["code"]) == (413, "batch_too_large")
    assert (empty[0], empty[1]["error"]["code"]) == (400, "invalid_input")
    assert "keel_time_to_first_token_seconds" not in metrics
    assert 'endpoint="/v1/classify",code="200"} 1' in metrics


def test_which_contract_a_schema_describes() -> None:
    assert contracts.contract_kind_of_schema(contracts.GENERATION_INPUT_SCHEMA) == "generation"
    classification = contracts.CLASSIFICATION_INPUT_SCHEMA
    assert contracts.contract_kind_of_schema(classification) == "classification"
    plain = {k: v for k, v in classification.items() if k != "task"}
    assert contracts.contract_kind_of_schema(plain) == "embedding"
    assert contracts.contract_kind_of_schema(plain, "classification") == "classification"
    assert contracts.contract_kind_of_schema({"type": "object"}) is None
    for schema in (
        contracts.GENERATION_INPUT_SCHEMA,
        contracts.GENERATION_OUTPUT_SCHEMA,
        contracts.CLASSIFICATION_INPUT_SCHEMA,
        contracts.CLASSIFICATION_OUTPUT_SCHEMA,
    ):
        Draft202012Validator.check_schema(schema)


# --- keel serve --------------------------------------------------------------------------------


def test_a_missing_artifact_is_one_line_naming_keel_pull(repo: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    (copy / "artifacts" / "models" / "tiny-llama" / "model.safetensors").unlink()
    with (
        pytest.raises(
            UsageError, match=r"^Model/tiny-llama: .*model\.safetensors is missing"
        ) as info,
        serve_deployment(copy, "Deployment/tiny-chat", port=0),
    ):
        pass
    assert "keel pull Model/tiny-llama" in str(info.value)
    with (
        pytest.raises(UsageError, match="no such Deployment"),
        serve_deployment(copy, "Deployment/nope", port=0),
    ):
        pass


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_keel_serve_runs_until_interrupted(repo: Path, signum: int) -> None:
    keel = Path(sys.executable).parent / "keel"
    command = [str(keel), "serve", "Deployment/tiny-chat", "--port", "0", "--root", str(repo)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = re.search(r"at (http://127\.0\.0\.1:\d+);", line)
            assert found, line
            url = found.group(1)
            status, _, text = call(url, "GET", "/healthz")
            assert (status, json.loads(text)["deployment"]) == (200, "Deployment/tiny-chat")
            assert complete(url, {"prompt": PROMPT, "max_tokens": 2})[0] == 200
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert line.startswith("serving Deployment/tiny-chat (generation) at http://127.0.0.1:")
    assert process.returncode == 130
    assert stderr.strip().endswith("keel: interrupted")
    assert "Traceback" not in stderr
    with pytest.raises(ConnectionRefusedError):
        call(url, "GET", "/healthz")


# --- reproduce stage 7 -------------------------------------------------------------------------

CANARY_ROWS = [
    {"id": "g1", "prompt": "the model is deployed", "reference": "to the search service"},
    {"id": "g2", "prompt": "roll back a deployment", "reference": "to the previous revision"},
    {
        "id": "g3",
        "messages": [{"role": "user", "content": "quantize the merged model"}],
        "reference": "to int8",
    },
]


def _stage7(repo: Path, change_outputs: Any = None) -> Any:
    """Stage 7 on the served tiny Llama, after stage 6's in-process run of the canary rows."""
    from factories import _evaluation

    from toolkit.bridges.heads import Generator
    from toolkit.manifests import Evaluation
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation import tasks
    from toolkit.workflows.evaluation.pipeline import resolve
    from toolkit.workflows.reproduce.results import (
        CanaryOutcome,
        CheckedOut,
        Loaded,
        Match,
        Quantized,
        Request,
    )
    from toolkit.workflows.reproduce.serve import serve_canary

    graph = load_graph(repo)
    deployment = graph.get("Deployment/tiny-chat")
    protocol = {"task": "generation", "batchSize": 2, "maxLength": 32, "maxNewTokens": 6}
    metrics = {"exact_match": 0.0}
    data = _evaluation("tiny-chat-canary", "Deployment/tiny-chat", metrics, protocol=protocol)
    evaluation = Evaluation.model_validate(data)
    directory = str(repo / "artifacts" / "models" / "tiny-llama")
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()
    assert evaluation.spec.protocol is not None
    run = tasks.run(Generator(tokenizer, model), CANARY_ROWS, evaluation.spec.protocol)
    outputs = run.outputs if change_outputs is None else change_outputs(run.outputs.clone())
    checked = CheckedOut("0" * 40, repo, graph, deployment, evaluation)  # type: ignore[arg-type]
    canary = CanaryOutcome(evaluation.ref, Match.exact, tuple(CANARY_ROWS), outputs, None, {})
    subject = resolve(graph, "Deployment/tiny-chat")
    loaded = Loaded(subject, tokenizer, model, {})
    request = Request(repo, "Deployment/tiny-chat", "HEAD", repo, serve=True)
    return serve_canary(request, checked, canary, loaded, Quantized(model))


def test_stage_7_serves_the_canary_prompts_whole_and_streamed(repo: Path) -> None:
    served = _stage7(repo)
    assert served.status == "passed"
    assert (served.requests, served.texts) == (6, 3)
    assert (served.healthz, served.invalid_input_status) == (200, 400)
    assert set(served.latency_ms) == {"p50", "p95", "p99"}


def test_stage_7_names_the_canary_whose_served_tokens_differ(repo: Path) -> None:
    from toolkit.workflows.reproduce.results import StageFailed

    def change(outputs: Any) -> Any:
        outputs[1, 2] = (outputs[1, 2] + 1) % 90
        return outputs

    with pytest.raises(StageFailed, match=r"^canary g2: served token ids \[") as info:
        _stage7(repo, change)
    assert "differ from the canary run's" in info.value.summary
    assert len(info.value.details["problems"]) == 1


def test_stage_7_still_serves_an_embedding_canary(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The embedding path of stage 7 on a tiny BERT: the served vectors are stage 6's."""
    from factories import _evaluation

    from toolkit.bridges.ml import Encoder
    from toolkit.manifests import Deployment, Evaluation
    from toolkit.workflows.reproduce.results import CanaryOutcome, CheckedOut, Match, Request
    from toolkit.workflows.reproduce.serve import serve_canary

    deployment = Deployment.model_validate(deployment_set()["deployment"])
    protocol = {"task": "retrieval", "batchSize": 2, "maxLength": 32}
    evaluation = Evaluation.model_validate(
        _evaluation("search-canary", "Deployment/search", {"mrr": 1.0}, protocol=protocol)
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_model_dir))
    encoder = Encoder(tokenizer, transformers.AutoModel.from_pretrained(str(tiny_model_dir)).eval())
    rows = tuple(
        {"id": f"q{i}", "query": text, "passage": text} for i, text in enumerate(TINY_SENTENCES[:3])
    )
    queries = encoder.embed([r["query"] for r in rows], batch_size=2, max_length=32)
    from toolkit.core.repository import build_graph

    checked = CheckedOut("0" * 40, tmp_path, build_graph(tmp_path, []), deployment, evaluation)
    request = Request(tmp_path, "Deployment/search", "HEAD", tmp_path, serve=True)
    canary = CanaryOutcome(evaluation.ref, Match.exact, rows, queries, encoder, {})
    served = serve_canary(request, checked, canary)
    assert (served.requests, served.texts, served.healthz) == (2, 3, 200)
    changed = queries.clone()
    changed[2, 0] += 1e-3
    from toolkit.workflows.reproduce.results import StageFailed

    with pytest.raises(
        StageFailed, match="served embeddings differ from the canary run; first: row 2"
    ):
        serve_canary(
            request, checked, CanaryOutcome(evaluation.ref, Match.exact, rows, changed, encoder, {})
        )


def test_stage_7_serves_a_classification_canary(tmp_path: Path) -> None:
    """Labels and scores served for the canary texts are stage 6's predictions and softmax."""
    from factories import _evaluation

    from toolkit.bridges.heads import Classifier
    from toolkit.core.repository import build_graph
    from toolkit.manifests import Deployment, Evaluation
    from toolkit.workflows.reproduce.results import (
        CanaryOutcome,
        CheckedOut,
        Loaded,
        Match,
        Quantized,
        Request,
        StageFailed,
    )
    from toolkit.workflows.reproduce.serve import serve_canary

    source = tiny_bert(tmp_path / "bert")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.BertForSequenceClassification.from_pretrained(
            str(source), num_labels=2, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1}
        ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
    data = deployment_set()["deployment"]
    data["spec"]["api"]["inputSchema"] = contracts.CLASSIFICATION_INPUT_SCHEMA
    data["spec"]["api"]["outputSchema"] = contracts.CLASSIFICATION_OUTPUT_SCHEMA
    deployment = Deployment.model_validate(data)
    protocol = {"task": "classification", "batchSize": 2, "maxLength": 32}
    evaluation = Evaluation.model_validate(
        _evaluation("search-canary", "Deployment/search", {"accuracy": 1.0}, protocol=protocol)
    )
    rows = tuple(
        {"id": f"t{i}", "text": text, "label": "pos"} for i, text in enumerate(TINY_SENTENCES[:5])
    )
    logits = Classifier(tokenizer, model).logits(
        [r["text"] for r in rows], batch_size=2, max_length=32
    )
    checked = CheckedOut("0" * 40, tmp_path, build_graph(tmp_path, []), deployment, evaluation)
    request = Request(tmp_path, "Deployment/search", "HEAD", tmp_path, serve=True)
    loaded = Loaded(None, tokenizer, model, {})  # type: ignore[arg-type]

    def stage7(outputs: Any) -> Any:
        canary = CanaryOutcome(evaluation.ref, Match.exact, rows, outputs, None, {})
        return serve_canary(request, checked, canary, loaded, Quantized(model))

    served = stage7(logits)
    assert (served.requests, served.texts, served.invalid_input_status) == (3, 5, 400)
    flipped = logits.clone()
    flipped[3] = -flipped[3] if flipped[3, 0] != flipped[3, 1] else flipped[3]
    with pytest.raises(StageFailed, match=r"^canary t3: served label '(neg|pos)', the canary"):
        stage7(flipped)
    nudged = logits.clone()
    nudged[4, 0] += 1e-4
    with pytest.raises(StageFailed, match="served scores differ from the softmax"):
        stage7(nudged)
