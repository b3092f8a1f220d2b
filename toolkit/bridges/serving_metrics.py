"""What the contract server counts: answers by status and error code, and a latency histogram,
rendered in the Prometheus text format for /metrics. Standard library only."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["LATENCY_BUCKETS_MS", "PROMETHEUS_CONTENT_TYPE", "Metrics"]

LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Counters and a latency histogram of the embedding endpoint, in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[int, int] = {}
        self._errors: dict[str, int] = {}
        self._buckets = [0] * len(LATENCY_BUCKETS_MS)
        self._sum_ms = 0.0
        self._count = 0

    def record(self, status: int, code: str | None, latency_ms: float) -> None:
        with self._lock:
            self._statuses[status] = self._statuses.get(status, 0) + 1
            if code is not None:
                self._errors[code] = self._errors.get(code, 0) + 1
            for index, bound in enumerate(LATENCY_BUCKETS_MS):
                if latency_ms <= bound:
                    self._buckets[index] += 1
            self._sum_ms += latency_ms
            self._count += 1

    def render(self) -> str:
        with self._lock:
            return "".join(self._lines())

    def _lines(self) -> Iterator[str]:
        yield "# HELP keel_requests_total Embedding requests answered, by HTTP status.\n"
        yield "# TYPE keel_requests_total counter\n"
        for status, count in sorted(self._statuses.items()):
            yield f'keel_requests_total{{status="{status}"}} {count}\n'
        yield "# HELP keel_errors_total Embedding requests refused, by error code.\n"
        yield "# TYPE keel_errors_total counter\n"
        for code, count in sorted(self._errors.items()):
            yield f'keel_errors_total{{code="{code}"}} {count}\n'
        yield "# HELP keel_request_latency_ms Time to answer an embedding request.\n"
        yield "# TYPE keel_request_latency_ms histogram\n"
        for bound, count in zip(LATENCY_BUCKETS_MS, self._buckets, strict=True):
            yield f'keel_request_latency_ms_bucket{{le="{bound}"}} {count}\n'
        yield f'keel_request_latency_ms_bucket{{le="+Inf"}} {self._count}\n'
        yield f"keel_request_latency_ms_sum {self._sum_ms!r}\n"
        yield f"keel_request_latency_ms_count {self._count}\n"
