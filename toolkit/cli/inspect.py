"""`keel inspect FILE_OR_DIR`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for programs.",
)
def inspect(path: Path, output_format: str) -> None:
    """Read safetensors headers (never the tensors): tensors, dtypes, parameters, memory budget.

    PATH is a .safetensors file or a directory; every *.safetensors under a directory is read
    and summed (sharded checkpoints). Parameters are the elements of floating-point tensors;
    integer tensors are buffers. The budget is parameters x bytes per parameter for fp32, fp16,
    bf16, int8 and int4, bare and with 20, 30 and 40% overhead.

    Examples:

    \b
      keel inspect artifacts/models/all-minilm-l6-v2
      keel inspect artifacts/models/all-minilm-l6-v2/model.safetensors -f json
    """
    from toolkit.core.inspection import RENDERERS, inspect_weights

    click.echo(RENDERERS[output_format](inspect_weights(path)))
