"""The client side of every contract keel serves, for `keel canary` against a live endpoint.

Standard library HTTP (`http.client`) with a timeout on every request; retries with
exponential back-off only where another try can help (no connection, a 5xx, a 429; waiting
at least the server's Retry-After, up to 30 s), and never beyond the request budget; at most
`concurrency` requests in flight. Each answer is parsed and checked against the contract's
output schema here, so the workflow gets one `Reply` per request: its status and JSON body,
or the one-line reason there is none.
A run stops early when `stop_after` tries in a row got no answer, a 5xx or a 429 (a closed
port, a server that hangs or fails): a dead endpoint costs a few tries, not one per row.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from toolkit.bridges.serving_contract import JSON_CONTENT_TYPE, first_problem
from toolkit.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["Budget", "Reply", "is_loopback", "post_all", "split_url"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_RETRY_AFTER = 30.0
"""The longest Retry-After (seconds) a canary waits for before its retry."""


@dataclass(frozen=True)
class Budget:
    """How hard the canary may push: every default is safe for a production service."""

    max_requests: int
    """HTTP requests in all, retries included; never more than the canary's rows."""
    timeout_seconds: float = 10.0
    concurrency: int = 2
    retries: int = 2
    backoff_seconds: float = 0.5
    """The first back-off; each retry doubles it."""
    stop_after: int = 3
    """Stop sending after this many tries in a row got no answer, a 5xx or a 429."""


@dataclass(frozen=True)
class Reply:
    """One canary request: the answer that counts (the last try), or why there is none."""

    index: int
    status: int | None = None
    body: dict[str, Any] | None = None
    latency_ms: float | None = None
    problem: str | None = None
    """One line: `connection refused`, `HTTP 503 model_unavailable: ...`, `not JSON`, ..."""
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _State:
    """What the request threads share: the budget spent and the run of failed tries."""

    budget: Budget
    sent: int = 0
    failed_in_a_row: int = 0
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self.lock:
            if self.stopped or self.sent >= self.budget.max_requests:
                return False
            self.sent += 1
            return True

    def answered(self, failed: bool) -> None:
        with self.lock:
            self.failed_in_a_row = self.failed_in_a_row + 1 if failed else 0
            if self.failed_in_a_row >= self.budget.stop_after:
                self.stopped = True


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, base path) of an http(s) URL; UsageError naming what is wrong."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"--endpoint {url!r}: expected an http:// or https:// URL with a host")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise UsageError(f"--endpoint {url!r}: the port is not a number from 0 to 65535") from None
    return parsed.scheme, parsed.hostname, port, parsed.path.rstrip("/")


def is_loopback(url: str) -> bool:
    """Whether the endpoint is on this machine (its hardware is then the one measured)."""
    host = split_url(url)[1]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post_all(
    url: str,
    path: str,
    bodies: Sequence[Mapping[str, Any]],
    budget: Budget,
    output_schema: Mapping[str, Any],
) -> list[Reply]:
    """POST each body to `url` + `path`, at most `budget.concurrency` at a time; one Reply per
    body, in order. A body the budget or an early stop left unsent gets a Reply saying so."""
    validator = Draft202012Validator(output_schema)
    state = _State(budget)
    target = split_url(url)

    def one(index: int) -> Reply:
        return _with_retries(target, path, index, bodies[index], state, validator)

    workers = max(1, min(budget.concurrency, len(bodies)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keel-canary") as pool:
        return list(pool.map(one, range(len(bodies))))


def _with_retries(
    target: tuple[str, str, int, str],
    path: str,
    index: int,
    body: Mapping[str, Any],
    state: _State,
    validator: Any,
) -> Reply:
    reply = Reply(index, problem="not sent: the request budget was spent")
    attempts = 0
    wait: float | None = 0.0
    for attempt in range(state.budget.retries + 1):
        if attempt:
            time.sleep(max(wait or 0.0, state.budget.backoff_seconds * 2 ** (attempt - 1)))
        if not state.take():
            if attempts == 0:
                why = "an early stop" if state.stopped else "the request budget was spent"
                return Reply(index, problem=f"not sent: {why}")
            break
        attempts += 1
        reply, wait = _attempt(target, path, index, body, state.budget.timeout_seconds)
        state.answered(failed=reply.status is None or reply.status in RETRY_STATUSES)
        if wait is None:
            break
    reply = Reply(reply.index, reply.status, reply.body, reply.latency_ms, reply.problem, attempts)
    return _checked(reply, validator)


def _attempt(
    target: tuple[str, str, int, str],
    path: str,
    index: int,
    body: Mapping[str, Any],
    timeout: float,
) -> tuple[Reply, float | None]:
    """One try: its reply, and None when another try cannot help, else the seconds the server
    asks to wait first (its Retry-After; 0 without one)."""
    scheme, host, port, base = target
    kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    connection = kind(host, port, timeout=timeout)
    data = json.dumps(body).encode()
    headers = {"Content-Type": JSON_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE}
    start = time.perf_counter()
    try:
        connection.request("POST", base + path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read(MAX_BODY_BYTES)
    except ConnectionRefusedError:
        return Reply(index, problem="connection refused"), 0.0
    except TimeoutError:
        return Reply(index, problem=f"no answer within the {timeout:g} s timeout"), None
    except (OSError, http.client.HTTPException) as error:
        return Reply(index, problem=f"connection failed: {_reason(error)}"), 0.0
    finally:
        connection.close()
    latency_ms = (time.perf_counter() - start) * 1000
    status = int(response.status)
    answer = _json_object(raw)
    if answer is not None and status == 200:
        return Reply(index, status, answer, latency_ms), None
    if answer is None:
        problem = f"HTTP {status}, and the body is not a JSON object"
    else:
        problem = f"HTTP {status} {_error_detail(answer)}"
    wait = _retry_after(response.getheader("Retry-After")) if status in RETRY_STATUSES else None
    if status in RETRY_STATUSES and wait is None:
        problem += f" (Retry-After over {MAX_RETRY_AFTER:g} s: not retried)"
    return Reply(index, status, answer, latency_ms, problem), wait


def _retry_after(header: str | None) -> float | None:
    """Seconds a Retry-After header asks for (0 when absent or a date); None when it asks for
    more than MAX_RETRY_AFTER: the canary does not wait that long."""
    try:
        seconds = float(header) if header else 0.0
    except ValueError:
        return 0.0
    return max(0.0, seconds) if seconds <= MAX_RETRY_AFTER else None


def _checked(reply: Reply, validator: Any) -> Reply:
    """A 200 whose body breaks the output schema is a problem too."""
    if reply.problem is not None or reply.body is None:
        return reply
    problem = first_problem(validator, reply.body)
    if problem is None:
        return reply
    return Reply(
        reply.index,
        reply.status,
        reply.body,
        reply.latency_ms,
        f"the answer breaks outputSchema: {problem}",
        reply.attempts,
    )


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _error_detail(answer: dict[str, Any]) -> str:
    error = answer.get("error")
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}"
    return str(error) if error is not None else "(no error object)"


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
