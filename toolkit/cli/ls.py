"""`keel ls [KIND]`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option


@click.command()
@click.argument("kind", required=False)
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: an aligned table and a summary line; json: a list of objects.",
)
@root_option
def ls(kind: str | None, output_format: str, root: Path | None) -> None:
    """List every manifest: kind, name, owner, status and file, sorted by kind then name.

    KIND keeps one kind, in any case (Model, model, models). A status is what keel validate
    says of the manifest (without --checksums): valid, invalid, or placeholders (a keel new
    template with <fill: ...> values left). Files that cannot be read are listed as invalid.
    An inventory, not a check: exit 0 whenever the listing worked, whatever the statuses;
    run keel validate to gate on them. An unknown KIND is a usage error (exit 2).

    Examples:

    \b
      keel ls
      keel ls Model
      keel ls --format json
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.validation.inventory import inventory
    from toolkit.workflows.validation.inventory_render import INVENTORY_RENDERERS

    result = inventory(root or find_root(Path.cwd()), kind)
    click.echo(INVENTORY_RENDERERS[output_format](result))
