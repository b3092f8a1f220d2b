"""`keel evaluate REF [--dataset D] [--name N]`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option


@click.command()
@click.argument("ref")
@click.option(
    "--dataset", "-d", default=None, help="Dataset/<name> to run on (not for Evaluation/)."
)
@click.option("--name", "-n", default=None, help="Evaluation name (default: <subject>-<dataset>).")
@root_option
def evaluate(ref: str, dataset: str | None, name: str | None, root: Path | None) -> None:
    """Run a Model, Adapter, Quantization or Deployment on a Dataset and record an Evaluation.

    `keel evaluate Evaluation/NAME` runs that evaluation again and updates it in place.
    The per-example outputs go to artifacts/evaluations/NAME.safetensors, tracked by DVC.

    Examples:

    \b
      keel evaluate Evaluation/semantic-search-canary
      keel evaluate Model/all-minilm-l6-v2 -d Dataset/general-sts
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation.evaluate import evaluate as run_evaluate
    from toolkit.workflows.evaluation.evaluate import request_for

    repository = root or find_root(Path.cwd())
    graph = load_graph(repository)
    result = run_evaluate(repository, request_for(graph, ref, dataset, name), graph=graph)
    verb = "wrote" if result.created else "updated"
    click.echo(f"{verb} {result.path.relative_to(repository)}")
    for metric, value in result.metrics.items():
        click.echo(f"  {metric}: {value}")
    if result.latency:
        click.echo(
            f"  latency p50/p95/p99: {result.latency['p50Ms']} / {result.latency['p95Ms']} / "
            f"{result.latency['p99Ms']} ms over {result.latency['requests']} requests"
        )
    click.echo(f"  outputs: {result.outputs_path} ({result.outputs_digest})")
