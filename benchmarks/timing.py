"""Timing helpers shared by the benchmarks: each pair of tools is timed in rounds whose first
tool alternates, so neither always pays for the other's cache writes being flushed during its
run, and drifting machine load hits both alike."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def pair(keel: Callable[[], object], peer: Callable[[], object], run: int) -> tuple[float, float]:
    """(keel seconds, peer seconds) of round `run`: keel first in even rounds, the peer in odd."""
    if run % 2:
        peer_s = timed(peer)
        return timed(keel), peer_s
    keel_s = timed(keel)
    return keel_s, timed(peer)


def medians(keel: Callable[[], object], peer: Callable[[], object], n: int) -> tuple[float, float]:
    """Median seconds of each over n rounds, the first tool alternating (see `pair`)."""
    times = [pair(keel, peer, run) for run in range(n)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(action) for _ in range(repeat))
