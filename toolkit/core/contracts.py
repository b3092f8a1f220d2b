"""The API contracts keel serves, as canonical JSON Schemas, and which one a Deployment promises.

Three contracts:

- ``embedding`` (and retrieval): POST ``/v1/embed`` ``{"texts": [str]}`` → ``{"embeddings": ...}``.
  Its schemas live in each Deployment (the MiniLM example); any input schema with exactly one
  array-of-strings property is served this way.
- ``generation``: POST ``/v1/completions`` with ``{"prompt": str}`` or ``{"messages": [...]}``
  (rendered with the tokenizer's chat template), optional ``max_tokens``, ``stop``, ``stream``;
  greedy decoding always. Answer ``{"text", "token_ids", "finish_reason", "usage", "model"}``.
  With ``"stream": true`` the answer is server-sent events: one ``data: {"text", "token_ids"}``
  per generated token, then ``data: {"finish_reason", "usage"}``, then ``data: [DONE]``.
- ``classification``: POST ``/v1/classify`` ``{"texts": [str]}`` →
  ``{"labels", "scores", "model"}``. Its input schema says so with a top-level
  ``"task": "classification"`` hint (JSON Schema ignores unknown keywords), or the
  Deployment's canary Evaluation has task classification.

Errors are JSON ``{"error": {"code": str, "message": str}}`` with the status the Deployment's
``api.errors`` lists. Standard library only: the validation path imports this module.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from toolkit.manifests.deployment import Deployment

__all__ = [
    "CLASSIFICATION_ERRORS",
    "CLASSIFICATION_INPUT_SCHEMA",
    "CLASSIFICATION_OUTPUT_SCHEMA",
    "CLASSIFY_PATH",
    "COMPLETIONS_PATH",
    "DEFAULT_MAX_TOKENS",
    "EMBED_PATH",
    "GENERATION_ERRORS",
    "GENERATION_INPUT_SCHEMA",
    "GENERATION_OUTPUT_SCHEMA",
    "HEALTH_PATH",
    "MAX_STOP_SEQUENCES",
    "METRICS_PATH",
    "METRIC_NAMES",
    "ContractKind",
    "canonical",
    "contract_kind",
    "contract_kind_of_schema",
    "generation_input_schema",
    "max_tokens_bounds",
]

ContractKind = Literal["embedding", "generation", "classification"]

EMBED_PATH = "/v1/embed"
COMPLETIONS_PATH = "/v1/completions"
CLASSIFY_PATH = "/v1/classify"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

DEFAULT_MAX_TOKENS = 64
"""``max_tokens`` when neither the request nor the contract's schema (``default``) gives one."""
MAX_STOP_SEQUENCES = 4

METRIC_NAMES = {
    "requests": "keel_requests_total",
    "duration": "keel_request_duration_seconds",
    "ttft": "keel_time_to_first_token_seconds",
    "output_tokens": "keel_output_tokens_total",
    "decode_seconds": "keel_decode_seconds_total",
    "errors": "keel_request_errors_total",
}
"""Prometheus names on GET /metrics: requests and errors are counters labelled deployment,
endpoint, code; request duration a histogram labelled deployment, endpoint; time to first token a
histogram labelled deployment (generation); output tokens and decode seconds counters labelled
deployment (tokens per second = the ratio of their rates). Histogram buckets are in seconds."""

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def generation_input_schema(
    max_tokens: int = 256, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """The generation input schema, with ``max_tokens`` allowed up to `max_tokens`."""
    return {
        "$schema": _SCHEMA_DIALECT,
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["prompt"]}, {"required": ["messages"]}],
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 16000},
            "messages": {
                "type": "array",
                "minItems": 1,
                "maxItems": 64,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["role", "content"],
                    "properties": {
                        "role": {"enum": ["system", "user", "assistant"]},
                        "content": {"type": "string", "maxLength": 16000},
                    },
                },
            },
            "max_tokens": {
                "type": "integer",
                "minimum": 1,
                "maximum": max_tokens,
                "default": default_max_tokens,
            },
            "stop": {
                "type": "array",
                "maxItems": MAX_STOP_SEQUENCES,
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
            },
            "stream": {"type": "boolean", "default": False},
        },
    }


GENERATION_INPUT_SCHEMA = generation_input_schema()

GENERATION_OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": _SCHEMA_DIALECT,
    "type": "object",
    "additionalProperties": False,
    "required": ["text", "token_ids", "finish_reason", "usage", "model"],
    "properties": {
        "text": {"type": "string"},
        "token_ids": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "finish_reason": {"enum": ["stop", "length"]},
        "usage": {
            "type": "object",
            "additionalProperties": False,
            "required": ["prompt_tokens", "completion_tokens"],
            "properties": {
                "prompt_tokens": {"type": "integer", "minimum": 0},
                "completion_tokens": {"type": "integer", "minimum": 0},
            },
        },
        "model": {"type": "string"},
    },
}

CLASSIFICATION_INPUT_SCHEMA: dict[str, Any] = {
    "$schema": _SCHEMA_DIALECT,
    "task": "classification",
    "type": "object",
    "additionalProperties": False,
    "required": ["texts"],
    "properties": {
        "texts": {
            "type": "array",
            "minItems": 1,
            "maxItems": 16,
            "items": {"type": "string", "minLength": 1, "maxLength": 4000},
        }
    },
}

CLASSIFICATION_OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": _SCHEMA_DIALECT,
    "type": "object",
    "additionalProperties": False,
    "required": ["labels", "scores", "model"],
    "properties": {
        "labels": {"type": "array", "items": {"type": "string"}},
        "scores": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "model": {"type": "string"},
    },
}

GENERATION_ERRORS: list[dict[str, Any]] = [
    {"code": "invalid_input", "status": 400, "meaning": "The body does not match inputSchema."},
    {
        "code": "input_too_long",
        "status": 413,
        "meaning": "Prompt tokens plus max_tokens exceed serving.maxInputTokens.",
    },
    {"code": "rate_limited", "status": 429, "meaning": "Over api.rateLimit requests a minute."},
    {
        "code": "model_unavailable",
        "status": 503,
        "meaning": "The model is not loaded; use the fallback.",
    },
]
"""The errors a generation Deployment lists in ``api.errors`` (copy them, adjust the meanings).
The server also answers not_found 404, method_not_allowed 405 and payload_too_large 413."""

CLASSIFICATION_ERRORS: list[dict[str, Any]] = [
    {"code": "invalid_input", "status": 400, "meaning": "The body does not match inputSchema."},
    {"code": "batch_too_large", "status": 413, "meaning": "More texts than serving.maxBatchSize."},
    {"code": "rate_limited", "status": 429, "meaning": "Over api.rateLimit requests a minute."},
    {
        "code": "model_unavailable",
        "status": 503,
        "meaning": "The model is not loaded; use the fallback.",
    },
]


def _is_array_of_strings(prop: object) -> bool:
    return (
        isinstance(prop, dict)
        and prop.get("type") == "array"
        and isinstance(prop.get("items"), dict)
        and prop["items"].get("type") == "string"
    )


def contract_kind_of_schema(
    input_schema: Mapping[str, Any], evaluation_task: str | None = None
) -> ContractKind | None:
    """Which contract an ``api.inputSchema`` describes, or None when it fits none.

    ``prompt`` or ``messages`` properties → generation; a top-level ``"task":
    "classification"`` hint, or `evaluation_task` (the canary Evaluation's task) classification
    with a texts array → classification; one array of strings → embedding (retrieval too).
    """
    properties = input_schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    if "prompt" in properties or "messages" in properties:
        return "generation"
    hint = input_schema.get("task", input_schema.get("x-keel-task"))
    if hint == "generation":
        return "generation"
    arrays = [name for name, prop in properties.items() if _is_array_of_strings(prop)]
    if len(arrays) != 1:
        return None
    if hint == "classification" or (hint is None and evaluation_task == "classification"):
        return "classification"
    return "embedding"


def contract_kind(
    deployment: Deployment, evaluation_task: str | None = None
) -> ContractKind | None:
    """Which contract `deployment` serves (see `contract_kind_of_schema`)."""
    return contract_kind_of_schema(deployment.spec.api.input_schema, evaluation_task)


def max_tokens_bounds(input_schema: Mapping[str, Any]) -> tuple[int, int]:
    """(default, maximum) of ``max_tokens`` in a generation input schema."""
    properties = input_schema.get("properties")
    prop = properties.get("max_tokens") if isinstance(properties, dict) else None
    prop = prop if isinstance(prop, dict) else {}
    maximum = prop.get("maximum")
    maximum = maximum if isinstance(maximum, int) and maximum > 0 else 1 << 20
    default = prop.get("default")
    default = default if isinstance(default, int) and default > 0 else DEFAULT_MAX_TOKENS
    return min(default, maximum), maximum


def canonical(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of one of the schemas above, safe to edit or write into a manifest."""
    return copy.deepcopy(dict(schema))
