"""`keel new KIND NAME`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from toolkit.cli.options import root_option

if TYPE_CHECKING:
    from pathlib import Path

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
@click.argument("kind", type=click.Choice(KIND_NAMES, case_sensitive=False), metavar="KIND")
@click.argument("name")
@root_option
def new(kind: str, name: str, root: Path | None) -> None:
    """Write a commented template for a KIND manifest called NAME under manifests/.

    KIND is one of Requirements, ArchitectureDecision, Model, Tokenizer, Dataset, Evaluation,
    Quantization, TrainingRun, Adapter, Runbook, Deployment (any case). Fill in every
    <fill: ...> placeholder; `keel validate` lists those left.

    Examples:

    \b
      keel new Requirements latency-first
      keel new dataset search-holdout
    """
    from toolkit.workflows.authoring.new import new_manifest

    made = new_manifest(root, kind, name)
    if made.existing is not None:
        click.echo(
            f"keel: warning: {made.ref} is already defined in {made.existing}; rename one of "
            "them, or keel validate reports a duplicate name",
            err=True,
        )
    if made.owner:
        click.echo(f"metadata.owner: {made.owner} (git's user.email)")
    click.echo(f"wrote {made.path}: fill in its <fill: ...> placeholders, then run `keel validate`")
