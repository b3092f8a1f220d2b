"""`keel checklist Deployment/NAME`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option
from toolkit.core.errors import EXIT_CHECK_FAILED


@click.command()
@click.argument("ref")
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "md"]),
    default="text",
    show_default=True,
    help="text for people, md for a report, json for programs.",
)
@click.option(
    "--no-measure",
    is_flag=True,
    help="Take the Tokenizer's recorded fertility; do not run the tokenizer on the data.",
)
@root_option
def checklist(ref: str, output_format: str, no_measure: bool, root: Path | None) -> None:
    """The architecture checklist of a Deployment (or a Model), item by item.

    Each item is verified from config.json's summary (the Model's architecture), the
    safetensors headers (when the weights are pulled) and the manifests, or recorded as a
    decision in the ArchitectureDecision's `checklist:` list; an item that is neither is a
    finding. Memory: weights + KV cache + overhead must fit serving.memoryGiB. Exit 1 when
    an item fails or needs a decision.

    Examples:

    \b
      keel checklist Deployment/semantic-search
      keel checklist Model/all-minilm-l6-v2 --format md
      keel checklist Deployment/semantic-search -f json
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.checklist import RENDERERS
    from toolkit.workflows.checklist import checklist as run_checklist

    result = run_checklist(root or find_root(Path.cwd()), ref, measure=not no_measure)
    click.echo(RENDERERS[output_format](result))
    if not result.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
