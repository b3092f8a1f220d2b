"""Serve a Deployment's API contract over HTTP on localhost, and send traffic through it.

`keel reproduce --serve` proves more than "the model embeds": it proves that the contract a
caller relies on holds, status codes included. The model is a plain callable, so this module
imports nothing heavy and its tests need no model. Standard library only, plus jsonschema.

Every answer is either a body that passed the output schema or an error the contract names,
``{"error": {"code": ..., "message": ...}}``. A body that breaks the output schema is our bug
and goes out as a 500 ``invalid_output``, never as a 200.

The contract itself and its schema checks are in `serving_contract`, the /metrics counters in
`serving_metrics`, the client that sends the traffic in `serving_client`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from toolkit.bridges.serving_contract import EMBED_PATHS, JSON_CONTENT_TYPE, Contract, first_problem
from toolkit.bridges.serving_metrics import PROMETHEUS_CONTENT_TYPE, Metrics

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ContractServer",
    "Embed",
]

Embed = Callable[[list[str]], list[list[float]]]
"""The model as the server sees it: texts in, one vector per text out, in the same order."""

MAX_BODY_BYTES = 1024 * 1024


class _TokenBucket:
    """`per_minute` requests a minute, in bursts of up to a minute's worth.

    A full minute of burst lets a canary run at full speed as long as it stays within what a
    client keeping to the limit could send in a minute.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token and return 0.0, or return the seconds until one is free."""
        with self._lock:
            now = self._clock()
            refill = (now - self._last) * self._per_second
            self._tokens = min(self._capacity, self._tokens + refill)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._per_second


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    code: str | None = None
    """The error code, if this is an error."""


def _json_reply(status: int, payload: object) -> _Reply:
    return _Reply(status, json.dumps(payload).encode())


class _App:
    """What the server answers, apart from the HTTP plumbing; one per server."""

    def __init__(
        self, contract: Contract, embed: Embed | None, clock: Callable[[], float], max_body: int
    ) -> None:
        self.contract = contract
        self.embed = embed
        self.max_body = max_body
        self.metrics = Metrics()
        self._input = Draft202012Validator(contract.input_schema)
        self._output = Draft202012Validator(contract.output_schema)
        self._bucket = _TokenBucket(contract.requests_per_minute, clock)

    def error(self, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        return _Reply(self.contract.status(code), body, headers=headers, code=code)

    def get(self, path: str) -> _Reply:
        if path == "/healthz":
            ready = self.embed is not None
            return _json_reply(200 if ready else 503, {"status": "ok" if ready else "unavailable"})
        if path == "/metrics":
            return _Reply(200, self.metrics.render().encode(), PROMETHEUS_CONTENT_TYPE)
        if path in EMBED_PATHS:
            allow = (("Allow", "POST"),)
            return self.error("method_not_allowed", f"{path} takes POST", allow)
        return self.error("not_found", f"no such path: {path}")

    def post(self, path: str, raw: bytes | None) -> _Reply:
        """Answer a POST whose body was read; `raw` is None when the body was over the cap."""
        if path not in EMBED_PATHS:
            return self.error("not_found", f"no such path: {path}; POST to {EMBED_PATHS[-1]}")
        wait = self._bucket.take()
        if wait:
            limit = self.contract.requests_per_minute
            retry = (("Retry-After", str(math.ceil(wait))),)
            return self.error("rate_limited", f"over {limit} requests a minute", retry)
        if raw is None:
            return self.error("payload_too_large", f"the body is over {self.max_body} bytes")
        return self._embed_request(raw)

    def _embed_request(self, raw: bytes) -> _Reply:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as error:
            return self.error("invalid_input", f"the body is not JSON: {error}")
        field_name = self.contract.texts_field
        texts = body.get(field_name) if isinstance(body, dict) else None
        limit = self.contract.max_batch_size
        if isinstance(texts, list) and len(texts) > limit:
            message = f"{len(texts)} texts in one request; the limit is {limit}"
            return self.error("batch_too_large", message)
        problem = first_problem(self._input, body)
        if problem is not None:
            return self.error("invalid_input", problem)
        if not isinstance(texts, list):
            return self.error("invalid_input", f"$: expected '{field_name}', the texts to embed")
        if self.embed is None:
            return self.error("model_unavailable", "no model is loaded")
        try:
            vectors = self.embed(texts)
        except Exception as error:  # whatever the model raises, the model is what is unavailable
            return self.error("model_unavailable", f"the model failed: {error!r}")
        return self._success(vectors, len(texts))

    def _success(self, vectors: list[list[float]], expected: int) -> _Reply:
        payload = {"embeddings": vectors, "model": self.contract.name}
        problem = first_problem(self._output, payload)
        if problem is not None:
            return self.error("invalid_output", f"the response breaks outputSchema: {problem}")
        if len(vectors) != expected:
            message = f"the model gave {len(vectors)} embeddings for {expected} texts"
            return self.error("invalid_output", message)
        try:
            body = json.dumps(payload, allow_nan=False).encode()
        except (TypeError, ValueError) as error:
            return self.error("invalid_output", f"the response is not JSON: {error}")
        return _Reply(200, body)


class _Handler(BaseHTTPRequestHandler):
    server_version = "keel"
    sys_version = ""
    timeout = 10.0  # a stalled client cannot hold up shutdown for longer than this

    def __init__(self, *args: Any, app: _App, **kwargs: Any) -> None:
        self.app = app  # set first: the base class answers the request inside __init__
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._send(self.app.get(urlsplit(self.path).path))

    def do_POST(self) -> None:
        start = time.perf_counter()
        path = urlsplit(self.path).path
        reply = self.app.post(path, self._read_body())
        if path in EMBED_PATHS:
            # Recorded before sending, so a client that has its answer also sees it counted.
            latency_ms = (time.perf_counter() - start) * 1000
            self.app.metrics.record(reply.status, reply.code, latency_ms)
        self._send(reply)

    def _read_body(self) -> bytes | None:
        """The body, or None when it is over the cap; then it is read and dropped.

        Closing a socket with unread bytes resets the connection, and the client would lose
        the 413 it is owed; dropping in chunks keeps memory bounded all the same.
        """
        try:
            length = max(int(self.headers.get("Content-Length", 0)), 0)
        except ValueError:
            length = 0
        if length <= self.app.max_body:
            return self.rfile.read(length)
        while length > 0:
            chunk = self.rfile.read(min(length, 64 * 1024))
            if not chunk:
                break
            length -= len(chunk)
        return None

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing: the caller reports traffic from what the client saw and /metrics."""


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every request thread

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay silent (the client sees a dropped connection); KEEL_DEBUG=1 prints the trace."""
        if os.environ.get("KEEL_DEBUG"):
            super().handle_error(request, client_address)


class ContractServer:
    """Serves `contract` on a free local port for the length of a ``with`` block.

    ``embed=None`` serves the contract with no model: /healthz says unavailable, and every
    well-formed request gets ``model_unavailable``. `clock` drives the rate limit.
    """

    def __init__(
        self,
        contract: Contract,
        embed: Embed | None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = _App(contract, embed, clock, max_body_bytes)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running: use it in a `with` block")
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ContractServer:
        if self._server is not None:
            raise RuntimeError("the server is already running")
        self._server = _Server(self._address, partial(_Handler, app=self._app))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long shutdown() may wait for the loop
            name=f"keel-serve-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None
