"""The client side of `keel reproduce --serve`: send requests to a contract server and check
every answer against the contract (status, output schema, one vector per text)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from toolkit.bridges.serving_contract import (
    EMBED_PATHS,
    JSON_CONTENT_TYPE,
    Contract,
    first_problem,
)
from toolkit.core.metrics import percentile

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from jsonschema.protocols import Validator

_PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Exchange:
    """One request sent and the answer it got; `body` is {} when the answer was not an object."""

    index: int
    status: int
    body: dict[str, Any]
    latency_ms: float


@dataclass
class TrafficResult:
    """Every answered request, and one line for each problem met; empty `errors` means ok."""

    exchanges: list[Exchange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def latency_percentiles(self) -> dict[str, float]:
        """p50, p95 and p99 of every answered request, in ms, interpolated like numpy's default."""
        latencies = sorted(exchange.latency_ms for exchange in self.exchanges)
        if not latencies:
            raise ValueError(
                "latency_percentiles: expected at least one answered request, got none"
            )
        return {f"p{q}": percentile(latencies, q) for q in _PERCENTILES}


def _opener() -> urllib.request.OpenerDirector:
    """An opener that ignores *_proxy variables: the server is on this machine."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _open(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, timeout: float
) -> tuple[int, str]:
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        try:
            return error.code, error.read().decode("utf-8", "replace")
        finally:
            error.close()


def fetch(url: str, path: str, timeout: float = 10.0) -> tuple[int, str]:
    """GET `path` from the server at `url`: the status and the body as text, whatever the status."""
    return _open(_opener(), urllib.request.Request(url.rstrip("/") + path), timeout)


def send_requests(
    url: str,
    bodies: Sequence[Mapping[str, Any]],
    timeout: float = 30.0,
    *,
    contract: Contract | None = None,
    path: str = EMBED_PATHS[-1],
) -> TrafficResult:
    """POST each body in turn, one at a time, and check each answer.

    Any status but 200 is a problem. With `contract`, a 200 must also pass the output schema,
    name the deployment as its model, and hold one embedding per text sent: the client checks
    what the server claims to have checked. A request that gets no answer is a problem, not
    an exchange.
    """
    opener = _opener()
    validator = Draft202012Validator(contract.output_schema) if contract else None
    result = TrafficResult()
    for index, body in enumerate(bodies):
        request = urllib.request.Request(
            url.rstrip("/") + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": JSON_CONTENT_TYPE},
            method="POST",
        )
        start = time.perf_counter()
        try:
            status, text = _open(opener, request, timeout)
        except (OSError, http.client.HTTPException) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            result.errors.append(f"request {index}: no answer: {reason}")
            continue
        latency_ms = (time.perf_counter() - start) * 1000
        answer = _json_object(text)
        result.exchanges.append(Exchange(index, status, answer or {}, latency_ms))
        problems = _problems(status, answer, body, contract, validator)
        result.errors.extend(f"request {index}: {problem}" for problem in problems)
    return result


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _problems(
    status: int,
    answer: dict[str, Any] | None,
    sent: Mapping[str, Any],
    contract: Contract | None,
    validator: Validator | None,
) -> Iterator[str]:
    if answer is None:
        yield f"HTTP {status}, and the body is not a JSON object"
        return
    if status != 200:
        error = answer.get("error")
        detail = (
            error if not isinstance(error, dict) else f"{error.get('code')}: {error.get('message')}"
        )
        yield f"HTTP {status} {detail}"
        return
    if contract is None or validator is None:
        return
    problem = first_problem(validator, answer)
    if problem is not None:
        yield f"the response breaks outputSchema: {problem}"
    if answer.get("model") != contract.name:
        yield f"the response names model {answer.get('model')!r}, expected {contract.name!r}"
    texts, embeddings = sent.get(contract.texts_field), answer.get("embeddings")
    if isinstance(texts, list) and isinstance(embeddings, list) and len(texts) != len(embeddings):
        yield f"{len(embeddings)} embeddings for {len(texts)} texts"


@dataclass(frozen=True)
class Streamed:
    """A streamed completion as the client read it: the events' token ids and text, the finish
    event, and whether the stream ended with ``data: [DONE]``; `error` names what went wrong."""

    status: int
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    finish: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    error: str | None = None


def stream_completion(
    url: str, body: Mapping[str, Any], timeout: float = 60.0, path: str = "/v1/completions"
) -> Streamed:
    """POST `body` with ``"stream": true`` and read the server-sent events to the end."""
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=json.dumps({**body, "stream": True}).encode(),
        headers={"Content-Type": JSON_CONTENT_TYPE, "Accept": "text/event-stream"},
        method="POST",
    )
    try:
        status, text = _open(_opener(), request, timeout)
    except (OSError, http.client.HTTPException) as error:
        return Streamed(0, error=f"no answer: {error}")
    if status != 200:
        return Streamed(status, error=f"HTTP {status}: {text[:200]}")
    return _read_events(text)


def _read_events(text: str) -> Streamed:
    ids: list[int] = []
    pieces: list[str] = []
    finish: dict[str, Any] = {}
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        if not block.startswith("data: "):
            return Streamed(200, ids, "".join(pieces), finish, error=f"not an event: {block!r}")
        data = block[len("data: ") :]
        if data == "[DONE]":
            return Streamed(200, ids, "".join(pieces), finish, done=True)
        payload = _json_object(data)
        if payload is None or "error" in payload:
            return Streamed(200, ids, "".join(pieces), finish, error=f"event {data[:200]}")
        if "finish_reason" in payload:
            finish = payload
            continue
        ids.extend(int(token) for token in payload.get("token_ids", []))
        pieces.append(str(payload.get("text", "")))
    return Streamed(200, ids, "".join(pieces), finish, error="the stream ended before [DONE]")
