"""The answers of the contract server, apart from the HTTP plumbing: a whole JSON reply, a
stream of server-sent events, the rate limit they are subject to. Standard library only."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from toolkit.bridges.serving_contract import JSON_CONTENT_TYPE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from toolkit.bridges.serving_contract import Contract

__all__ = [
    "EVENT_STREAM_CONTENT_TYPE",
    "Reply",
    "StreamReply",
    "TokenBucket",
    "error_reply",
    "event",
    "json_reply",
]

EVENT_STREAM_CONTENT_TYPE = "text/event-stream"
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: Headers = ()
    code: str | None = None
    """The error code, if this is an error."""


@dataclass(frozen=True)
class StreamReply:
    """A 200 whose body is written event by event, as `events` yields them.

    `events` is a generator: the server closes it when the client goes away, which ends the
    generation behind it.
    """

    events: Iterator[bytes]
    status: int = 200
    content_type: str = EVENT_STREAM_CONTENT_TYPE
    headers: Headers = field(default=(("Cache-Control", "no-cache"),))
    code: str | None = None


def json_reply(status: int, payload: object) -> Reply:
    return Reply(status, json.dumps(payload).encode())


def error_reply(contract: Contract, code: str, message: str, headers: Headers = ()) -> Reply:
    """``{"error": {"code", "message"}}`` with the contract's status for `code`."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return Reply(contract.status(code), body, headers=headers, code=code)


def event(payload: object) -> bytes:
    """One server-sent event: ``data: <json>`` (or the literal ``[DONE]``) and a blank line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, allow_nan=False)
    return f"data: {data}\n\n".encode()


class TokenBucket:
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
