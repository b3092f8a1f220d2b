"""Serve a Deployment's API contract over HTTP, and send traffic through it.

`keel serve` and `keel reproduce --serve` prove more than "the model embeds": they prove that
the contract a caller relies on holds, status codes included. The contracts are embedding
(POST /v1/embed), classification (POST /v1/classify) and generation (POST /v1/completions,
`serving_generation`); see `toolkit.core.contracts`. The model is a plain callable (or a
`TextGenerator`), so this module imports nothing heavy and its tests need no model. Standard
library only, plus jsonschema.

Every answer is either a body that passed the output schema or an error the contract names,
``{"error": {"code": ..., "message": ...}}``. A body that breaks the output schema is our bug
and goes out as a 500 ``invalid_output``, never as a 200.

The contract itself and its schema checks are in `serving_contract`, the /metrics counters in
`serving_metrics`, the reply types in `serving_replies`, the client that sends the traffic in
`serving_client`, and the models as the server calls them in `serving_models`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from toolkit.bridges.serving_contract import Contract, first_problem
from toolkit.bridges.serving_generation import GenerationEndpoint, TextGenerator
from toolkit.bridges.serving_metrics import PROMETHEUS_CONTENT_TYPE, Metrics
from toolkit.bridges.serving_replies import (
    Reply,
    StreamReply,
    TokenBucket,
    error_reply,
    event,
    json_reply,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "Classify",
    "ContractServer",
    "Embed",
    "Model",
]

Embed = Callable[[list[str]], list[list[float]]]
"""The model as the server sees it: texts in, one vector per text out, in the same order."""
Classify = Callable[[list[str]], tuple[list[str], list[list[float]]]]
"""A classifier: texts in, (one label per text, one row of scores per text) out."""
Model = Embed | Classify | TextGenerator

MAX_BODY_BYTES = 1024 * 1024


class _App:
    """What the server answers, apart from the HTTP plumbing; one per server."""

    def __init__(
        self, contract: Contract, model: Model | None, clock: Callable[[], float], max_body: int
    ) -> None:
        self.contract = contract
        self.model = model
        self.max_body = max_body
        self.metrics = Metrics(contract.deployment, generation=contract.kind == "generation")
        self._input = Draft202012Validator(contract.input_schema)
        self._output = Draft202012Validator(contract.output_schema)
        self._bucket = TokenBucket(contract.requests_per_minute, clock)
        self._generation = (
            GenerationEndpoint(contract, model, self.metrics)  # type: ignore[arg-type]
            if contract.kind == "generation"
            else None
        )

    def error(self, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        return error_reply(self.contract, code, message, headers)

    def get(self, path: str) -> Reply:
        if path == "/healthz":
            ready = self.model is not None
            status = {"status": "ok" if ready else "unavailable"}
            return json_reply(
                200 if ready else 503, {**status, "deployment": self.contract.deployment}
            )
        if path == "/metrics":
            return Reply(200, self.metrics.render().encode(), PROMETHEUS_CONTENT_TYPE)
        if path in self.contract.paths:
            allow = (("Allow", "POST"),)
            return self.error("method_not_allowed", f"{path} takes POST", allow)
        return self.error("not_found", f"no such path: {path}")

    def post(self, path: str, raw: bytes | None, start: float) -> Reply | StreamReply:
        """Answer a POST whose body was read; `raw` is None when the body was over the cap."""
        paths = self.contract.paths
        if path not in paths:
            return self.error("not_found", f"no such path: {path}; POST to {paths[-1]}")
        wait = self._bucket.take()
        if wait:
            limit = self.contract.requests_per_minute
            retry = (("Retry-After", str(math.ceil(wait))),)
            return self.error("rate_limited", f"over {limit} requests a minute", retry)
        if raw is None:
            return self.error("payload_too_large", f"the body is over {self.max_body} bytes")
        if self._generation is not None:
            return self._generation.answer(raw, start)
        return self._texts_request(raw)

    def _texts_request(self, raw: bytes) -> Reply:
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
            verb = "classify" if self.contract.kind == "classification" else "embed"
            return self.error("invalid_input", f"$: expected '{field_name}', the texts to {verb}")
        if self.model is None:
            return self.error("model_unavailable", "no model is loaded")
        try:
            answer = self.model(texts)  # type: ignore[operator]
        except Exception as error:  # whatever the model raises, the model is what is unavailable
            return self.error("model_unavailable", f"the model failed: {error!r}")
        if self.contract.kind == "classification":
            labels, scores = answer
            payload = {"labels": labels, "scores": scores, "model": self.contract.name}
            return self._success(payload, ("labels", "scores"), len(texts))
        payload = {"embeddings": answer, "model": self.contract.name}
        return self._success(payload, ("embeddings",), len(texts))

    def _success(self, payload: dict[str, Any], rows: tuple[str, ...], expected: int) -> Reply:
        problem = first_problem(self._output, payload)
        if problem is not None:
            return self.error("invalid_output", f"the response breaks outputSchema: {problem}")
        for name in rows:
            if len(payload[name]) != expected:
                message = f"the model gave {len(payload[name])} {name} for {expected} texts"
                return self.error("invalid_output", message)
        try:
            body = json.dumps(payload, allow_nan=False).encode()
        except (TypeError, ValueError) as error:
            return self.error("invalid_output", f"the response is not JSON: {error}")
        return Reply(200, body)


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
        reply = self.app.post(path, self._read_body(), start)
        if isinstance(reply, StreamReply):
            self._stream(reply)
            self._record(path, reply, start)
            return
        # Recorded before sending, so a client that has its answer also sees it counted.
        self._record(path, reply, start)
        self._send(reply)

    def _record(self, path: str, reply: Reply | StreamReply, start: float) -> None:
        if path in self.app.contract.paths:
            endpoint = self.app.contract.paths[-1]
            self.app.metrics.record(endpoint, reply.status, reply.code, time.perf_counter() - start)

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

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _stream(self, reply: StreamReply) -> None:
        """Write the events as they come; the body ends when the connection closes."""
        self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Connection", "close")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        events = reply.events
        try:
            for chunk in events:
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the client went away: closing the events ends the generation
        except Exception as error:  # the model failed mid-stream: say so in the stream
            failure = {"error": {"code": "model_unavailable", "message": repr(error)}}
            self.wfile.write(event(failure))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

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

    `model` is an `Embed`, a `Classify` or a `TextGenerator`, as the contract's kind wants.
    ``model=None`` serves the contract with no model: /healthz says unavailable, and every
    well-formed request gets ``model_unavailable``. `clock` drives the rate limit.
    """

    def __init__(
        self,
        contract: Contract,
        model: Model | None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = _App(contract, model, clock, max_body_bytes)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def contract(self) -> Contract:
        return self._app.contract

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
