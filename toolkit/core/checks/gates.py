"""Workflow gates: the conditions that make a set of manifests mean something.

The requirements gate lives in `toolkit.core.checks.requirements`, which the audit calls too;
the generation SLO gate (time to first token, tokens per second, cost per 1k tokens) in
`toolkit.core.checks.slos`.

A gate only speaks when the manifests it compares exist and parsed; a missing reference is the
reference check's finding, not a gate's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.checks.requirements import requirements_are_met
from toolkit.core.checks.slos import generation_slos_met
from toolkit.manifests import (
    Adapter,
    Deployment,
    Evaluation,
    Model,
    Quantization,
    Tokenizer,
    TrainingRun,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph
    from toolkit.manifests.adapter import ScoreCheck


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def adapter_matches_base(graph: Graph) -> Iterator[Finding]:
    """An Adapter's recorded base digest is its base Model's weights digest."""
    for adapter in graph.of_kind(Adapter):
        base = graph.get_as(adapter.spec.base.model, Model)
        if base is None:
            continue
        actual = base.weights_digest()
        if actual != adapter.spec.base.digest:
            yield graph.finding(
                adapter,
                ("spec", "base", "digest"),
                f"recorded base digest {adapter.spec.base.digest} is not the weights digest of "
                f"{base.ref} ({actual or 'it lists no weight files'}); the adapter was trained on "
                "other weights",
                "gates",
            )


def training_run_matches_base(graph: Graph) -> Iterator[Finding]:
    """A TrainingRun's recorded base digest, when given, is its base Model's weights digest."""
    for run in graph.of_kind(TrainingRun):
        base = graph.get_as(run.spec.base, Model)
        if base is None or run.spec.base_digest is None:
            continue
        actual = base.weights_digest()
        if actual != run.spec.base_digest:
            yield graph.finding(
                run,
                ("spec", "baseDigest"),
                f"recorded base digest {run.spec.base_digest} is not the weights digest of "
                f"{base.ref} ({actual or 'it lists no weight files'})",
                "gates",
            )


def adapter_scores(graph: Graph) -> Iterator[Finding]:
    """The adapter beats its base on the task and holds the base's general capability."""
    for adapter in graph.of_kind(Adapter):
        checks = adapter.spec.evaluations
        yield from _compare_to_baseline(graph, adapter, ("task",), checks.task, None)
        yield from _compare_to_baseline(
            graph, adapter, ("general",), checks.general, checks.general.tolerance
        )


def _compare_to_baseline(
    graph: Graph, adapter: Adapter, which: tuple[str], check: ScoreCheck, tolerance: float | None
) -> Iterator[Finding]:
    location = ("spec", "evaluations", *which)
    pair = yield from _paired_with_base(graph, adapter, location, check)
    if pair is not None:
        yield from _score(graph, adapter, location, check, tolerance, *pair)


def _paired_with_base(
    graph: Graph, adapter: Adapter, location: tuple[str, ...], check: ScoreCheck
) -> Generator[Finding, None, tuple[Evaluation, Evaluation] | None]:
    """The adapter's Evaluation and its baseline, when the one evaluates the adapter and the
    other its base model on the same Dataset; else the findings that say why not."""
    evaluation = graph.get_as(check.evaluation, Evaluation)
    if evaluation is None:
        return None
    if evaluation.spec.subject != adapter.ref:
        yield graph.finding(
            adapter,
            (*location, "evaluation"),
            f"{evaluation.ref} evaluates {evaluation.spec.subject}, not {adapter.ref}",
            "gates",
        )
        return None
    if evaluation.spec.baseline is None:
        yield graph.finding(
            adapter,
            (*location, "evaluation"),
            f"{evaluation.ref} has no spec.baseline; set it to the base model's Evaluation",
            "gates",
        )
        return None
    baseline = graph.get_as(evaluation.spec.baseline, Evaluation)
    if baseline is None:
        return None
    base_model = adapter.spec.base.model
    if baseline.spec.subject != base_model or baseline.spec.dataset != evaluation.spec.dataset:
        yield graph.finding(
            adapter,
            (*location, "evaluation"),
            f"the baseline of {evaluation.ref} must evaluate {base_model} on "
            f"{evaluation.spec.dataset}; {baseline.ref} evaluates {baseline.spec.subject} on "
            f"{baseline.spec.dataset}",
            "gates",
        )
        return None
    return evaluation, baseline


def _score(
    graph: Graph,
    adapter: Adapter,
    location: tuple[str, ...],
    check: ScoreCheck,
    tolerance: float | None,
    evaluation: Evaluation,
    baseline: Evaluation,
) -> Iterator[Finding]:
    """The task score beats the base's; the general score drops by at most `tolerance`."""
    value = evaluation.spec.metric(check.metric)
    base_value = baseline.spec.metric(check.metric)
    for source, found in ((evaluation, value), (baseline, base_value)):
        if found is None:
            yield graph.finding(
                adapter,
                (*location, "metric"),
                f"{source.ref} does not record metric {check.metric}",
                "gates",
            )
    if value is None or base_value is None:
        return
    gain = value - base_value if check.goal == "maximize" else base_value - value
    if tolerance is None and gain <= 0:
        yield graph.finding(
            adapter,
            (*location, "evaluation"),
            f"task score {check.metric} = {_fmt(value)} does not beat the base's "
            f"{_fmt(base_value)} ({baseline.ref})",
            "gates",
        )
    elif tolerance is not None and -gain > tolerance + 1e-12:  # float noise at the bound
        yield graph.finding(
            adapter,
            (*location, "tolerance"),
            f"general score {check.metric} drops by {_fmt(-gain)} from the base's "
            f"{_fmt(base_value)} ({baseline.ref}) to {_fmt(value)}; tolerance is {_fmt(tolerance)}",
            "gates",
        )


def quantization_within_budget(graph: Graph) -> Iterator[Finding]:
    """A Quantization's evaluation stays within its maximum degradation of the baseline."""
    for quantization in graph.of_kind(Quantization):
        spec = quantization.spec
        evaluation = graph.get_as(spec.evaluation, Evaluation)
        baseline = graph.get_as(spec.baseline, Evaluation)
        if evaluation is None or baseline is None:
            continue
        if evaluation.spec.dataset != baseline.spec.dataset:
            yield graph.finding(
                quantization,
                ("spec", "evaluation"),
                f"{evaluation.ref} is on {evaluation.spec.dataset} but the baseline "
                f"{baseline.ref} is on {baseline.spec.dataset}; compare on the same Dataset",
                "gates",
            )
            continue
        limit = spec.max_degradation
        value, base_value = evaluation.spec.metric(limit.metric), baseline.spec.metric(limit.metric)
        if value is None or base_value is None:
            for source, found in ((evaluation, value), (baseline, base_value)):
                if found is None:
                    yield graph.finding(
                        quantization,
                        ("spec", "maxDegradation", "metric"),
                        f"{source.ref} does not record metric {limit.metric}",
                        "gates",
                    )
            continue
        drop = base_value - value if limit.goal == "maximize" else value - base_value
        if drop > limit.by + 1e-12:
            yield graph.finding(
                quantization,
                ("spec", "maxDegradation", "by"),
                f"{limit.metric} degrades by {_fmt(drop)} from {_fmt(base_value)} ({baseline.ref}) "
                f"to {_fmt(value)} ({evaluation.ref}); at most {_fmt(limit.by)} is allowed",
                "gates",
            )


def tokenizer_paired_with_model(graph: Graph) -> Iterator[Finding]:
    """A Deployment's Tokenizer belongs to the Deployment's Model."""
    for deployment in graph.of_kind(Deployment):
        tokenizer = graph.get_as(deployment.spec.tokenizer, Tokenizer)
        if tokenizer is not None and tokenizer.spec.model != deployment.spec.model:
            yield graph.finding(
                deployment,
                ("spec", "tokenizer"),
                f"{tokenizer.ref} is paired with {tokenizer.spec.model}, not with the "
                f"Deployment's {deployment.spec.model}",
                "gates",
            )


GATES = (
    requirements_are_met,
    generation_slos_met,
    adapter_matches_base,
    training_run_matches_base,
    adapter_scores,
    quantization_within_budget,
    tokenizer_paired_with_model,
)
