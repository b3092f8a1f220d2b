"""Timing of generation: time to first token and output tokens per second, per single request.

As `tasks.measure_latency` does for every task, each prompt is sent alone (batch size 1) and
timed LATENCY_REPEATS times, keeping the fastest run: the model's own speed, not that of
whatever else shares the CPU. Per prompt:

- the time to first token is a run with `max_new_tokens=1` (tokenize, prefill, one decoding
  step); the p95 of these over the prompts is recorded;
- a full run (the protocol's `maxNewTokens`, greedy, stopping at the end-of-sequence token)
  gives the request latency and the number of new tokens.

Output tokens per second = the new tokens of all prompts / the seconds of their full runs
(end to end, prefill included): what one request at a time gets out of the hardware, and so
what a price per hour buys (`costPer1kTokensMax`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.metrics import percentile
from toolkit.workflows.evaluation.tasks import LATENCY_REPEATS, LATENCY_WARMUP

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.bridges.heads import Generator
    from toolkit.manifests.evaluation import Protocol


@dataclass(frozen=True)
class GenerationTiming:
    latency_ms: list[float]
    """Per prompt, the fastest full request in milliseconds."""
    first_token_ms: list[float]
    """Per prompt, the fastest request for one new token, in milliseconds."""
    tokens: int
    """New tokens of the fastest full run of every prompt."""
    seconds: float
    """Seconds of those runs together."""

    def summary(self) -> dict[str, float]:
        """The latency block's generation fields (camelCase), those that could be measured."""
        fields = {"timeToFirstTokenP95Ms": round(percentile(self.first_token_ms, 95), 2)}
        if self.tokens and self.seconds > 0:
            fields["outputTokensPerSecond"] = round(self.tokens / self.seconds, 2)
        return fields


def measure_generation(
    runner: Generator, prompts: Sequence[Any], protocol: Protocol
) -> GenerationTiming:
    """Time each prompt alone: time to first token, full request and its new tokens."""

    def timed(prompt: Any, new_tokens: int) -> tuple[float, int]:
        start = time.perf_counter_ns()
        ids, _ = runner.generate(
            [prompt], batch_size=1, max_length=protocol.max_length, max_new_tokens=new_tokens
        )
        elapsed = (time.perf_counter_ns() - start) / 1e6
        return elapsed, int((ids >= 0).sum())

    for prompt in prompts[:LATENCY_WARMUP]:
        timed(prompt, protocol.max_new_tokens)
    latency, first, tokens, seconds = [], [], 0, 0.0
    for prompt in prompts:
        first.append(min(timed(prompt, 1)[0] for _ in range(LATENCY_REPEATS)))
        best = min(timed(prompt, protocol.max_new_tokens) for _ in range(LATENCY_REPEATS))
        latency.append(best[0])
        tokens += best[1]
        seconds += best[0] / 1000
    return GenerationTiming(latency, first, tokens, seconds)
