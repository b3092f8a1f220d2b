"""`keel schema export|check`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import verdict
from toolkit.core.errors import EXIT_CHECK_FAILED


@click.group()
def schema() -> None:
    """The JSON Schemas generated from keel's manifest models.

    Examples:

    \b
      keel schema export
      keel schema check
    """


@schema.command()
@click.option(
    "--dir",
    "-o",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Directory to write the schemas into.",
)
def export(directory: Path) -> None:
    """Write schemas/<kind>.schema.json for every kind (unchanged files are left alone).

    Examples:

    \b
      keel schema export
      keel schema export -o /tmp/keel-schemas
    """
    from toolkit.core.schemas import export as export_schemas

    written = export_schemas(directory)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"{len(written)} schema files written, the rest already current")


@schema.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Directory of the committed schemas.",
)
def check(directory: Path) -> None:
    """Exit 1 when the committed schemas differ from what the models generate.

    Examples:

    \b
      keel schema check
      keel schema check --dir schemas
    """
    from toolkit.core.schemas import stale

    outdated = stale(directory)
    for path in outdated:
        click.echo(verdict(f"{path}: out of date; run `keel schema export`", ok=False))
    if outdated:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
    click.echo(verdict("schemas are current", ok=True))
