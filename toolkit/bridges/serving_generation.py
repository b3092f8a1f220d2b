"""The generation contract's endpoint, POST /v1/completions, apart from the HTTP plumbing.

A request is checked against the contract's input schema, its prompt (or chat messages,
rendered with the tokenizer's chat template) tokenized, and refused with ``input_too_long``
when prompt tokens plus ``max_tokens`` exceed ``serving.maxInputTokens``. Decoding is greedy,
token by token (`TextGenerator.tokens`); one loop (`steps`) serves both answers, so the token
ids streamed as server-sent events are those of the whole JSON answer by construction.

Stop sequences are looked for in the decoded text: the text ends before the first one, and the
token that completed it is the last. A streamed piece never shows the start of a stop sequence
that may yet complete, nor half a UTF-8 character: that text goes out with a later token.
The model side is a `TextGenerator` (see `serving_models`); this module imports nothing heavy.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from jsonschema import Draft202012Validator

from toolkit.bridges.serving_contract import first_problem
from toolkit.bridges.serving_replies import Reply, StreamReply, error_reply, event

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from toolkit.bridges.serving_contract import Contract
    from toolkit.bridges.serving_metrics import Metrics

__all__ = ["Finish", "GenerationEndpoint", "Step", "TextGenerator", "steps"]


class TextGenerator(Protocol):
    """A causal LM and its tokenizer, as the generation endpoint uses them."""

    eos_ids: frozenset[int]

    def prompt_ids(self, prompt: str | None, messages: list[dict[str, str]] | None) -> list[int]:
        """Token ids of a prompt, or of chat messages through the chat template; ValueError
        when the messages cannot be rendered."""
        ...

    def tokens(self, prompt_ids: list[int], max_tokens: int) -> Iterator[int]:
        """Greedy new token ids, one at a time, up to `max_tokens`, ending early after EOS."""
        ...

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`, special tokens left out."""
        ...


@dataclass(frozen=True)
class Step:
    token_id: int
    text: str
    """The new text this token makes visible (may be empty, see the module docstring)."""


@dataclass(frozen=True)
class Finish:
    finish_reason: str
    token_ids: list[int]
    text: str


def _stop_at(text: str, stop: Sequence[str]) -> int | None:
    found = [index for index in (text.find(s) for s in stop) if index >= 0]
    return min(found) if found else None


def _held(text: str, stop: Sequence[str]) -> int:
    """How many trailing characters to hold back: the start of a stop sequence, or a partial
    UTF-8 character (decoded as U+FFFD)."""
    held = len(text) - len(text.rstrip("\ufffd"))
    for sequence in stop:
        for size in range(min(len(sequence) - 1, len(text)), held, -1):
            if text.endswith(sequence[:size]):
                held = size
                break
    return held


def steps(
    generator: TextGenerator, prompt_ids: list[int], max_tokens: int, stop: Sequence[str] = ()
) -> Iterator[Step | Finish]:
    """One `Step` per generated token, then the `Finish`."""
    ids: list[int] = []
    shown = ""
    reason = "length"
    tokens = generator.tokens(prompt_ids, max_tokens)
    try:
        for token in tokens:
            ids.append(token)
            full = generator.decode(ids)
            cut = _stop_at(full, stop)
            last = cut is not None or token in generator.eos_ids or len(ids) >= max_tokens
            if cut is not None or token in generator.eos_ids:
                reason = "stop"
            visible = full[:cut] if cut is not None else full
            if not last:
                visible = visible[: len(visible) - _held(visible, stop)]
            piece = visible[len(shown) :] if visible.startswith(shown) else ""
            shown += piece
            yield Step(token, piece)
            if last:
                break
    finally:
        if hasattr(tokens, "close"):
            tokens.close()
    yield Finish(reason, ids, shown)


@dataclass(frozen=True)
class _Job:
    prompt_ids: list[int]
    max_tokens: int
    stop: list[str]
    stream: bool
    start: float


class GenerationEndpoint:
    """Answers POST /v1/completions for one server; `generator` None means no model."""

    def __init__(
        self, contract: Contract, generator: TextGenerator | None, metrics: Metrics
    ) -> None:
        self.contract = contract
        self.generator = generator
        self.metrics = metrics
        self._input = Draft202012Validator(contract.input_schema)
        self._output = Draft202012Validator(contract.output_schema)
        self._lock = threading.Lock()  # one generation at a time on the one model

    def answer(self, raw: bytes, start: float) -> Reply | StreamReply:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as error:
            return self._error("invalid_input", f"the body is not JSON: {error}")
        problem = first_problem(self._input, body)
        if problem is not None:
            return self._error("invalid_input", problem)
        if not isinstance(body, dict) or ("prompt" in body) == ("messages" in body):
            return self._error("invalid_input", "$: expected one of 'prompt' or 'messages'")
        if self.generator is None:
            return self._error("model_unavailable", "no model is loaded")
        job = self._job(body, start)
        if isinstance(job, Reply):
            return job
        if job.stream:
            return StreamReply(self._events(job))
        return self._whole(job)

    def _error(self, code: str, message: str) -> Reply:
        return error_reply(self.contract, code, message)

    def _job(self, body: dict[str, Any], start: float) -> _Job | Reply:
        assert self.generator is not None
        try:
            ids = self.generator.prompt_ids(body.get("prompt"), body.get("messages"))
        except ValueError as error:
            return self._error("invalid_input", f"$.messages: {error}")
        except Exception as error:  # the tokenizer is part of the model
            return self._error("model_unavailable", f"the tokenizer failed: {error!r}")
        if not ids:
            return self._error("invalid_input", "$.prompt: no tokens to continue")
        default, _ = self.contract.max_tokens
        max_tokens = int(body.get("max_tokens", default))
        limit = self.contract.max_input_tokens
        if len(ids) + max_tokens > limit:
            message = (
                f"{len(ids)} prompt tokens + max_tokens {max_tokens} = {len(ids) + max_tokens}; "
                f"the limit is {limit}"
            )
            return self._error("input_too_long", message)
        stop = list(body.get("stop", []))
        return _Job(ids, max_tokens, stop, bool(body.get("stream", False)), start)

    def _run(self, job: _Job) -> Iterator[Step | Finish]:
        """The steps, timed into the metrics, holding the model for their length."""
        assert self.generator is not None
        with self._lock:
            began = time.perf_counter()
            first: float | None = None
            count = 0
            try:
                for item in steps(self.generator, job.prompt_ids, job.max_tokens, job.stop):
                    if isinstance(item, Step):
                        count += 1
                        first = time.perf_counter() - job.start if first is None else first
                    yield item
            finally:
                self.metrics.record_generation(first, count, time.perf_counter() - began)

    def _payload(self, job: _Job, finish: Finish) -> dict[str, Any]:
        return {
            "text": finish.text,
            "token_ids": finish.token_ids,
            "finish_reason": finish.finish_reason,
            "usage": {
                "prompt_tokens": len(job.prompt_ids),
                "completion_tokens": len(finish.token_ids),
            },
            "model": self.contract.name,
        }

    def _whole(self, job: _Job) -> Reply:
        try:
            finish = [item for item in self._run(job) if isinstance(item, Finish)][-1]
        except Exception as error:  # whatever the model raises, the model is what is unavailable
            return self._error("model_unavailable", f"the model failed: {error!r}")
        payload = self._payload(job, finish)
        problem = first_problem(self._output, payload)
        if problem is not None:
            return self._error("invalid_output", f"the response breaks outputSchema: {problem}")
        return Reply(200, json.dumps(payload).encode())

    def _events(self, job: _Job) -> Iterator[bytes]:
        for item in self._run(job):
            if isinstance(item, Step):
                yield event({"text": item.text, "token_ids": [item.token_id]})
            else:
                usage = self._payload(job, item)["usage"]
                yield event({"finish_reason": item.finish_reason, "usage": usage})
        yield event("[DONE]")
