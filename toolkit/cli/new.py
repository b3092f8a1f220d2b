"""`keel new KIND NAME`."""

from __future__ import annotations

from pathlib import Path

import click

KIND_NAMES = (
    "Requirements",
    "ArchitectureDecision",
    "Model",
    "Tokenizer",
    "Dataset",
    "Evaluation",
    "Quantization",
    "TrainingRun",
    "Adapter",
    "Runbook",
    "Deployment",
)


@click.command()
@click.argument("kind", type=click.Choice(KIND_NAMES, case_sensitive=False))
@click.argument("name")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Repository root (default: found from the working directory).",
)
def new(kind: str, name: str, root: Path | None) -> None:
    """Write a commented template for a KIND manifest called NAME under manifests/.

    Fill in every <fill: ...> placeholder; `keel validate` lists those left.
    """
    from toolkit.workflows.new import new_manifest

    path = new_manifest(root, kind, name)
    click.echo(f"wrote {path}: fill in its <fill: ...> placeholders, then run `keel validate`")
