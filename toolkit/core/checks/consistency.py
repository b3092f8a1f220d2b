"""Consistency between the parts a Deployment combines: the mistakes made when one part changes."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from toolkit.core import doccache
from toolkit.manifests import Adapter, Deployment, Quantization, Requirements, Tokenizer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph


def parts_share_one_base(graph: Graph) -> Iterator[Finding]:
    """The Adapter and Quantization a Deployment names are built on the Deployment's Model."""
    for deployment in graph.of_kind(Deployment):
        spec = deployment.spec
        adapter = graph.get_as(spec.adapter, Adapter)
        if adapter is not None and adapter.spec.base.model != spec.model:
            yield graph.finding(
                deployment,
                ("spec", "adapter"),
                f"{adapter.ref} was trained on {adapter.spec.base.model}, not on {spec.model}",
                "consistency",
            )
        quantization = graph.get_as(spec.quantization, Quantization)
        if quantization is None:
            continue
        if quantization.spec.model != spec.model:
            yield graph.finding(
                deployment,
                ("spec", "quantization"),
                f"{quantization.ref} quantizes {quantization.spec.model}, not {spec.model}",
                "consistency",
            )
        if quantization.spec.adapter != spec.adapter:
            merged = quantization.spec.adapter or "no adapter"
            yield graph.finding(
                deployment,
                ("spec", "quantization"),
                f"{quantization.ref} was derived with {merged} merged, but the Deployment "
                f"serves {spec.adapter or 'no adapter'}",
                "consistency",
            )


def context_fits(graph: Graph) -> Iterator[Finding]:
    """Inputs as long as the Requirements demand are not silently truncated."""
    for deployment in graph.of_kind(Deployment):
        requirements = graph.get_as(deployment.spec.requirements, Requirements)
        tokenizer = graph.get_as(deployment.spec.tokenizer, Tokenizer)
        if requirements is None or tokenizer is None:
            continue
        needed = requirements.spec.context_length
        if needed > tokenizer.spec.max_length and tokenizer.spec.overflow == "truncate":
            yield graph.finding(
                deployment,
                ("spec", "tokenizer"),
                f"{requirements.ref} needs {needed}-token inputs but {tokenizer.ref} truncates at "
                f"{tokenizer.spec.max_length}; "
                "choose overflow chunk or hierarchical, or another model",
                "consistency",
            )
        if deployment.spec.serving.max_input_tokens > tokenizer.spec.max_length and (
            tokenizer.spec.overflow == "truncate"
        ):
            yield graph.finding(
                deployment,
                ("spec", "serving", "maxInputTokens"),
                f"{deployment.spec.serving.max_input_tokens} exceeds {tokenizer.ref}'s maxLength "
                f"{tokenizer.spec.max_length}",
                "consistency",
            )


def memory_fits(graph: Graph) -> Iterator[Finding]:
    """The quantized model's memory budget stays under the Requirements' memory ceiling."""
    for deployment in graph.of_kind(Deployment):
        requirements = graph.get_as(deployment.spec.requirements, Requirements)
        quantization = graph.get_as(deployment.spec.quantization, Quantization)
        if requirements is None or quantization is None:
            continue
        ceiling = requirements.spec.memory_ceiling_bytes
        budget = quantization.spec.memory_budget.total_bytes
        if ceiling is not None and budget > ceiling:
            yield graph.finding(
                deployment,
                ("spec", "quantization"),
                f"{quantization.ref} needs {budget} bytes, over the {ceiling}-byte ceiling of "
                f"{requirements.ref}",
                "consistency",
            )


def api_schemas_are_valid(graph: Graph) -> Iterator[Finding]:
    """The API contract's input and output schemas are themselves valid JSON Schemas."""
    deployments = graph.of_kind(Deployment)
    if not deployments:
        return
    # Many deployments share one contract, and contracts rarely change: check each distinct
    # schema once, and remember the valid ones (importing jsonschema alone costs ~50 ms).
    known_valid = doccache.valid_schemas(graph.root)
    checked: dict[str, str | None] = {}
    for deployment in deployments:
        api = deployment.spec.api
        for key, schema in (("inputSchema", api.input_schema), ("outputSchema", api.output_schema)):
            text = json.dumps(schema, sort_keys=True)
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest not in checked:
                checked[digest] = None if digest in known_valid else _schema_problem(schema)
            problem = checked[digest]
            if problem:
                yield graph.finding(deployment, ("spec", "api", key), problem, "consistency")
    doccache.remember_valid_schemas(
        graph.root, {d for d, problem in checked.items() if problem is None} - known_valid
    )


def _schema_problem(schema: dict[str, Any]) -> str | None:
    from jsonschema import Draft202012Validator, SchemaError  # the only user; kept off start-up

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"not a valid JSON Schema at {where}: {error.message}"
    return None


CONSISTENCY = (parts_share_one_base, context_fits, memory_fits, api_schemas_are_valid)
