"""`keel drift Deployment/NAME --inputs FILE.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from toolkit.cli.options import root_option, verdict
from toolkit.core.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    from toolkit.workflows.monitoring.drift import DriftResult


def _text(result: DriftResult) -> str:
    state = "DRIFT" if result.drifted else "no drift"
    compare = ">" if result.drifted else "<="
    sources = ", ".join(f"{ref} {count}" for ref, count in result.reference.items())
    lines = [
        verdict(
            f"{result.deployment}: {state} ({result.method} {result.score:.4f} {compare} "
            f"threshold {result.threshold:g})",
            not result.drifted,
        ),
        f"  reference: {sum(result.reference.values())} texts ({sources})",
        f"  inputs:    {result.sample_size} texts from {result.inputs}",
    ]
    return "\n".join(lines)


def _json(result: DriftResult) -> str:
    data = {
        "deployment": result.deployment,
        "method": result.method,
        "score": result.score,
        "threshold": result.threshold,
        "drift": result.drifted,
        "inputs": result.inputs,
        "sampleSize": result.sample_size,
        "reference": result.reference,
        "timestamp": result.timestamp,
    }
    return json.dumps(data, indent=2)


def _prometheus(result: DriftResult) -> str:
    labels = f'deployment="{result.deployment}",method="{result.method}"'
    gauges = (
        ("keel_drift_score", "Input drift score of the last keel drift run.", result.score),
        ("keel_drift_threshold", "The Deployment's monitoring.drift.threshold.", result.threshold),
        ("keel_drift_timestamp_seconds", "When keel drift last ran (Unix time).", result.timestamp),
    )
    lines = []
    for name, help_text, value in gauges:
        lines += [
            f"# HELP {name} {help_text}",
            f"# TYPE {name} gauge",
            f"{name}{{{labels}}} {value!r}",
        ]
    return "\n".join(lines)


RENDERERS = {"text": _text, "json": _json, "prometheus": _prometheus}


@click.command()
@click.argument("ref")
@click.option(
    "--inputs",
    "inputs",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL sample of production inputs: strings, or rows/request bodies with query, "
    "text, prompt, texts or messages.",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(sorted(RENDERERS)),
    default="text",
    show_default=True,
    help="text for people, json for programs, prometheus for a textfile collector.",
)
@root_option
def drift(ref: str, inputs: Path, output_format: str, root: Path | None) -> None:
    """Compare a sample of production inputs with the canary's (and training) inputs.

    The Deployment's monitoring.drift.method says how: embedding-centroid-cosine (1 - cosine of
    the mean embeddings through the Deployment's model) or token-length-psi (population
    stability index of token counts). Drift is a score above monitoring.drift.threshold.
    Exit 0 no drift, 1 drift, 2 usage or input error.

    Examples:

    \b
      keel drift Deployment/semantic-search --inputs queries.jsonl
      keel drift Deployment/semantic-search --inputs queries.jsonl -f prometheus
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.monitoring.drift import drift as run_drift

    result = run_drift(root or find_root(Path.cwd()), ref, inputs)
    click.echo(RENDERERS[output_format](result))
    if result.drifted:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
