"""The contract server, over real HTTP on localhost, with a fake model.

The model side is tested elsewhere; here a deterministic embed function stands in for it, so
every answer can be checked exactly.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator

from toolkit.bridges.serving import ContractServer
from toolkit.bridges.serving_client import Exchange, TrafficResult, fetch, send_requests
from toolkit.bridges.serving_contract import Contract
from toolkit.core.loading import load_file
from toolkit.core.parsing import Parsed, parse_document
from toolkit.manifests.deployment import Deployment

if TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLE = Path(__file__).parents[1] / "manifests" / "deployments" / "semantic-search.yaml"
WIDTH = 384


def fake_embed(texts: list[str]) -> list[list[float]]:
    return [[float(len(text))] * WIDTH for text in texts]


class Clock:
    """A clock that moves only when told, so the rate limit does not depend on timing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(url: str, method: str, path: str, data: bytes | None = None) -> tuple[int, Any, str]:
    """One request over its own connection: the status, the headers and the body as text."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def post(url: str, data: bytes, path: str = "/v1/embed") -> tuple[int, Any, dict[str, Any]]:
    """POST raw bytes; the status, the headers and the JSON body."""
    status, headers, text = call(url, "POST", path, data)
    return status, headers, json.loads(text)


def post_json(url: str, body: object, path: str = "/v1/embed") -> tuple[int, Any, dict[str, Any]]:
    return post(url, json.dumps(body).encode(), path)


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    (document,) = load_file(EXAMPLE).documents
    parsed = parse_document(document)
    assert isinstance(parsed, Parsed)
    assert isinstance(parsed.manifest, Deployment)
    return parsed.manifest


@pytest.fixture
def contract(deployment: Deployment) -> Contract:
    return Contract.of(deployment)


@pytest.fixture
def server(contract: Contract) -> Iterator[ContractServer]:
    with ContractServer(contract, fake_embed) as running:
        yield running


# --- the contract ------------------------------------------------------------------------------


def test_the_contract_of_the_example_deployment(contract: Contract) -> None:
    assert contract.name == "semantic-search"
    assert contract.texts_field == "texts"
    assert contract.max_batch_size == 16
    assert contract.requests_per_minute == 600
    assert contract.errors == {
        "invalid_input": 400,
        "batch_too_large": 413,
        "rate_limited": 429,
        "model_unavailable": 503,
    }


def _with_input_schema(deployment: Deployment, schema: dict[str, Any]) -> Deployment:
    api = deployment.spec.api.model_copy(update={"input_schema": schema})
    spec = deployment.spec.model_copy(update={"api": api})
    return deployment.model_copy(update={"spec": spec})


@pytest.mark.parametrize(
    ("properties", "found"),
    [
        ({"text": {"type": "string"}}, "found none"),
        (
            {
                "a": {"type": "array", "items": {"type": "string"}},
                "b": {"type": "array", "items": {"type": "string"}},
            },
            "found 'a', 'b'",
        ),
    ],
)
def test_the_input_schema_needs_one_array_of_strings(
    deployment: Deployment, properties: dict[str, Any], found: str
) -> None:
    broken = _with_input_schema(deployment, {"type": "object", "properties": properties})
    with pytest.raises(ValueError, match=r"^semantic-search: spec\.api\.inputSchema needs") as info:
        Contract.of(broken)
    assert str(info.value).endswith(found)


def test_an_invalid_schema_is_refused(contract: Contract) -> None:
    with pytest.raises(ValueError, match=r"spec\.api\.outputSchema is not a valid JSON Schema"):
        dataclasses.replace(contract, output_schema={"type": 5})


# --- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/v1/embed"])
def test_a_valid_request_gets_embeddings_that_pass_the_output_schema(
    server: ContractServer, contract: Contract, path: str
) -> None:
    result = send_requests(server.url, [{"texts": ["a", "bcd"]}], contract=contract, path=path)
    assert result.errors == []
    (exchange,) = result.exchanges
    assert exchange.status == 200
    assert exchange.body == {"embeddings": fake_embed(["a", "bcd"]), "model": "semantic-search"}
    assert Draft202012Validator(contract.output_schema).is_valid(exchange.body)


def test_a_body_that_is_not_json_is_invalid_input(server: ContractServer) -> None:
    status, _, body = post(server.url, b'{"texts": [')
    assert status == 400
    assert body["error"]["code"] == "invalid_input"
    assert body["error"]["message"].startswith("the body is not JSON: ")


@pytest.mark.parametrize(
    ("request_body", "path"),
    [
        ({"texts": [""]}, "$.texts[0]"),
        ({"texts": []}, "$.texts"),
        ({"texts": ["ok", 3]}, "$.texts[1]"),
        ({"queries": ["a"]}, "$"),
        (["a"], "$"),
    ],
)
def test_a_schema_violation_names_its_path(
    server: ContractServer, request_body: object, path: str
) -> None:
    status, _, body = post_json(server.url, request_body)
    assert status == 400
    assert body["error"]["code"] == "invalid_input"
    assert body["error"]["message"].startswith(f"{path}: ")


def test_a_batch_over_the_limit_is_too_large_even_though_the_schema_also_refuses_it(
    server: ContractServer,
) -> None:
    status, _, body = post_json(server.url, {"texts": ["t"] * 17})
    assert status == 413
    assert body["error"] == {
        "code": "batch_too_large",
        "message": "17 texts in one request; the limit is 16",
    }


def test_the_contracts_status_wins_over_the_default(contract: Contract) -> None:
    custom = dataclasses.replace(contract, errors={**contract.errors, "invalid_input": 422})
    with ContractServer(custom, fake_embed) as server:
        status, _, body = post(server.url, b"nope")
    assert (status, body["error"]["code"]) == (422, "invalid_input")


def test_over_the_rate_limit_is_429_with_retry_after(contract: Contract) -> None:
    clock = Clock()
    limited = dataclasses.replace(contract, requests_per_minute=2)
    request = {"texts": ["a"]}
    with ContractServer(limited, fake_embed, clock=clock) as server:
        assert [post_json(server.url, request)[0] for _ in range(2)] == [200, 200]
        status, headers, body = post_json(server.url, request)
        assert status == 429
        assert body["error"]["code"] == "rate_limited"
        assert headers["Retry-After"] == "30"
        clock.now += 30
        assert post_json(server.url, request)[0] == 200


def test_a_failing_model_is_unavailable(contract: Contract) -> None:
    def broken(texts: list[str]) -> list[list[float]]:
        raise RuntimeError("out of memory")

    with ContractServer(contract, broken) as server:
        status, _, body = post_json(server.url, {"texts": ["a"]})
    assert status == 503
    assert body["error"]["code"] == "model_unavailable"
    assert "out of memory" in body["error"]["message"]


def test_without_a_model_requests_and_health_say_unavailable(contract: Contract) -> None:
    with ContractServer(contract, None) as server:
        status, _, body = post_json(server.url, {"texts": ["a"]})
        health = fetch(server.url, "/healthz")
    assert (status, body["error"]["code"]) == (503, "model_unavailable")
    assert (health[0], json.loads(health[1])) == (
        503,
        {"status": "unavailable", "deployment": "Deployment/semantic-search"},
    )


def test_health_is_ok_with_a_model(server: ContractServer) -> None:
    status, text = fetch(server.url, "/healthz")
    assert (status, json.loads(text)) == (
        200,
        {"status": "ok", "deployment": "Deployment/semantic-search"},
    )


@pytest.mark.parametrize(
    ("embed", "expected"),
    [
        (lambda texts: [[0.5] * 3 for _ in texts], "$.embeddings[0]: "),
        (lambda texts: fake_embed(texts)[1:], "the model gave 1 embeddings for 2 texts"),
        (lambda texts: [[float("nan")] * WIDTH for _ in texts], "the response is not JSON: "),
    ],
    ids=["wrong-width", "wrong-count", "nan"],
)
def test_a_response_that_breaks_the_contract_is_never_a_200(
    contract: Contract, embed: Any, expected: str
) -> None:
    with ContractServer(contract, embed) as server:
        status, _, body = post_json(server.url, {"texts": ["a", "b"]})
    assert status == 500
    assert body["error"]["code"] == "invalid_output"
    assert expected in body["error"]["message"]


def test_unknown_paths_are_404(server: ContractServer) -> None:
    status, text = fetch(server.url, "/v2/nothing")
    post_status, _, post_body = post_json(server.url, {"texts": ["a"]}, path="/embed")
    assert (status, json.loads(text)["error"]["code"]) == (404, "not_found")
    assert (post_status, post_body["error"]["code"]) == (404, "not_found")


def test_get_on_the_embedding_path_says_to_post(server: ContractServer) -> None:
    status, headers, text = call(server.url, "GET", "/v1/embed")
    assert (status, headers["Allow"]) == (405, "POST")
    assert json.loads(text)["error"]["code"] == "method_not_allowed"


def test_a_body_over_the_cap_is_refused(contract: Contract) -> None:
    with ContractServer(contract, fake_embed, max_body_bytes=64) as server:
        status, _, body = post_json(server.url, {"texts": ["x" * 200]})
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_metrics_count_requests_by_status_and_time_each(server: ContractServer) -> None:
    statuses = [post_json(server.url, {"texts": texts})[0] for texts in (["a"], ["b", "c"], [])]
    assert statuses == [200, 200, 400]
    fetch(server.url, "/healthz")
    status, headers, text = call(server.url, "GET", "/metrics")
    lines = text.splitlines()
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    labels = 'deployment="Deployment/semantic-search",endpoint="/v1/embed"'
    assert f'keel_requests_total{{{labels},code="200"}} 2' in lines
    assert f'keel_requests_total{{{labels},code="400"}} 1' in lines
    assert f'keel_request_errors_total{{{labels},code="invalid_input"}} 1' in lines
    assert "# TYPE keel_request_duration_seconds histogram" in lines
    assert f'keel_request_duration_seconds_bucket{{{labels},le="+Inf"}} 3' in lines
    assert f"keel_request_duration_seconds_count{{{labels}}} 3" in lines
    buckets = [
        int(line.split()[-1])
        for line in lines
        if line.startswith("keel_request_duration_seconds_bucket")
    ]
    assert buckets == sorted(buckets)


def test_concurrent_requests_are_each_counted_once(contract: Contract) -> None:
    limited = dataclasses.replace(contract, requests_per_minute=30)
    with ContractServer(limited, fake_embed, clock=Clock()) as server:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(lambda _: post_json(server.url, {"texts": ["a"]})[0], range(40))
            )
        metrics = fetch(server.url, "/metrics")[1].splitlines()
    assert sorted(statuses) == [200] * 30 + [429] * 10
    labels = 'deployment="Deployment/semantic-search",endpoint="/v1/embed"'
    assert f'keel_requests_total{{{labels},code="200"}} 30' in metrics
    assert f'keel_requests_total{{{labels},code="429"}} 10' in metrics
    assert f"keel_request_duration_seconds_count{{{labels}}} 40" in metrics


def test_the_server_prints_nothing(
    server: ContractServer, capfd: pytest.CaptureFixture[str]
) -> None:
    post(server.url, b"not json")
    post_json(server.url, {"texts": ["a"]})
    fetch(server.url, "/nowhere")
    assert capfd.readouterr() == ("", "")


def test_the_server_stops_on_exit(contract: Contract) -> None:
    before = threading.active_count()
    with ContractServer(contract, fake_embed) as server:
        url = server.url
        assert post_json(url, {"texts": ["a"]})[0] == 200
    assert not [t for t in threading.enumerate() if t.name.startswith("keel-serve-")]
    assert threading.active_count() == before
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    result = send_requests(url, [{"texts": ["a"]}])
    assert result.exchanges == []
    assert result.errors[0].startswith("request 0: no answer: ")


# --- the client -------------------------------------------------------------------------------


def test_the_client_reports_each_refused_request(server: ContractServer) -> None:
    result = send_requests(server.url, [{"texts": ["a"]}, {"texts": []}, {"texts": ["b"] * 17}])
    assert [exchange.status for exchange in result.exchanges] == [200, 400, 413]
    assert not result.ok
    assert result.errors[0].startswith("request 1: HTTP 400 invalid_input: $.texts: ")
    assert result.errors[1] == (
        "request 2: HTTP 413 batch_too_large: 17 texts in one request; the limit is 16"
    )


class _Liar(BaseHTTPRequestHandler):
    """A server that answers 200 with one 2-wide embedding, whatever it was asked."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"embeddings": [[1.0, 2.0]], "model": "other"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_client_checks_what_the_server_claims(contract: Contract) -> None:
    liar = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    thread = threading.Thread(target=liar.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{liar.server_port}"
        result = send_requests(url, [{"texts": ["a", "b"]}], contract=contract)
    finally:
        liar.shutdown()
        liar.server_close()
        thread.join()
    assert [exchange.status for exchange in result.exchanges] == [200]
    assert result.errors == [
        "request 0: the response breaks outputSchema: $.embeddings[0]: [1.0, 2.0] is too short",
        "request 0: the response names model 'other', expected 'semantic-search'",
        "request 0: 1 embeddings for 2 texts",
    ]


def test_latency_percentiles_interpolate_like_numpy() -> None:
    latencies = [5.0, 1.0, 4.0, 2.0, 3.0]
    result = TrafficResult([Exchange(i, 200, {}, ms) for i, ms in enumerate(latencies)])
    assert result.latency_percentiles() == pytest.approx({"p50": 3.0, "p95": 4.8, "p99": 4.96})


def test_latency_percentiles_need_an_answer() -> None:
    with pytest.raises(ValueError, match="at least one answered request"):
        TrafficResult().latency_percentiles()
