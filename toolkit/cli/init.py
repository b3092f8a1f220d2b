"""`keel init [DIR]`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option(
    "--remote",
    "-r",
    default=None,
    help="URL or directory of the default DVC remote (default: a local directory "
    "under $XDG_DATA_HOME/keel/remotes, outside the repository).",
)
def init(directory: Path, remote: str | None) -> None:
    """Make DIRECTORY a keel repository: git, DVC with a local remote, manifests/, hooks config.

    Safe to run again: what exists is kept.

    Examples:

    \b
      keel init my-models
      keel init my-models -r /srv/dvc/my-models
    """
    from toolkit.workflows.authoring.init import init as run_init

    result = run_init(directory, remote)
    for line in result.done:
        click.echo(f"created  {line}")
    for line in result.kept:
        click.echo(f"kept     {line}")
    click.echo(f"keel repository ready at {result.root}")
