"""What the contract server counts, rendered in the Prometheus text format for /metrics.

The names are those of `toolkit.core.contracts.METRIC_NAMES`: requests and errors (counters by
deployment, endpoint, and HTTP status or error code), the request duration (a histogram by
deployment and endpoint), and for generation the time to first token (a histogram), the output
tokens and the decode seconds (counters: tokens per second is the ratio of their rates).
Durations are in seconds. Standard library only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["BUCKETS_SECONDS", "PROMETHEUS_CONTENT_TYPE", "Metrics"]

BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in pairs.items())


class _Histogram:
    def __init__(self) -> None:
        self.buckets = [0] * len(BUCKETS_SECONDS)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        for index, bound in enumerate(BUCKETS_SECONDS):
            if seconds <= bound:
                self.buckets[index] += 1
        self.sum += seconds
        self.count += 1

    def lines(self, name: str, labels: str) -> Iterator[str]:
        for bound, count in zip(BUCKETS_SECONDS, self.buckets, strict=True):
            yield f'{name}_bucket{{{labels},le="{bound}"}} {count}\n'
        yield f'{name}_bucket{{{labels},le="+Inf"}} {self.count}\n'
        yield f"{name}_sum{{{labels}}} {self.sum!r}\n"
        yield f"{name}_count{{{labels}}} {self.count}\n"


class Metrics:
    """The counters and histograms of one served deployment (``Deployment/NAME``)."""

    def __init__(self, deployment: str, generation: bool = False) -> None:
        self.deployment = deployment
        self._generation = generation
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._durations: dict[str, _Histogram] = {}
        self._ttft = _Histogram()
        self._output_tokens = 0
        self._decode_seconds = 0.0

    def record(self, endpoint: str, status: int, code: str | None, seconds: float) -> None:
        """One answered request: its HTTP status, its error code if any, how long it took."""
        with self._lock:
            key = (endpoint, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            if code is not None:
                self._errors[(endpoint, code)] = self._errors.get((endpoint, code), 0) + 1
            self._durations.setdefault(endpoint, _Histogram()).observe(seconds)

    def record_generation(
        self, first_token_seconds: float | None, tokens: int, decode_seconds: float
    ) -> None:
        """One generation: the time to its first token (None if none came), tokens, seconds."""
        with self._lock:
            if first_token_seconds is not None:
                self._ttft.observe(first_token_seconds)
            self._output_tokens += tokens
            self._decode_seconds += decode_seconds

    def render(self) -> str:
        with self._lock:
            return "".join(self._lines())

    def _lines(self) -> Iterator[str]:
        deployment = {"deployment": self.deployment}
        yield "# HELP keel_requests_total Requests answered, by endpoint and HTTP status code.\n"
        yield "# TYPE keel_requests_total counter\n"
        for (endpoint, status), count in sorted(self._requests.items()):
            labels = _labels({**deployment, "endpoint": endpoint, "code": status})
            yield f"keel_requests_total{{{labels}}} {count}\n"
        yield "# HELP keel_request_errors_total Requests refused, by endpoint and error code.\n"
        yield "# TYPE keel_request_errors_total counter\n"
        for (endpoint, code), count in sorted(self._errors.items()):
            labels = _labels({**deployment, "endpoint": endpoint, "code": code})
            yield f"keel_request_errors_total{{{labels}}} {count}\n"
        yield "# HELP keel_request_duration_seconds Time to answer a request.\n"
        yield "# TYPE keel_request_duration_seconds histogram\n"
        for endpoint, histogram in sorted(self._durations.items()):
            labels = _labels({**deployment, "endpoint": endpoint})
            yield from histogram.lines("keel_request_duration_seconds", labels)
        if self._generation:
            yield from self._generation_lines(_labels(deployment))

    def _generation_lines(self, labels: str) -> Iterator[str]:
        yield "# HELP keel_time_to_first_token_seconds Time from request to first new token.\n"
        yield "# TYPE keel_time_to_first_token_seconds histogram\n"
        yield from self._ttft.lines("keel_time_to_first_token_seconds", labels)
        yield "# HELP keel_output_tokens_total Tokens generated.\n"
        yield "# TYPE keel_output_tokens_total counter\n"
        yield f"keel_output_tokens_total{{{labels}}} {self._output_tokens}\n"
        yield "# HELP keel_decode_seconds_total Seconds spent generating tokens.\n"
        yield "# TYPE keel_decode_seconds_total counter\n"
        yield f"keel_decode_seconds_total{{{labels}}} {self._decode_seconds!r}\n"
