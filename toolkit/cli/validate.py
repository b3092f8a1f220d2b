"""`keel validate [PATH...]`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import coloured, root_option
from toolkit.core.errors import EXIT_CHECK_FAILED


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for programs, github for Actions annotations.",
)
@click.option(
    "--neighbours",
    is_flag=True,
    help="Also report on manifests that PATHS reference or that reference them (hook mode).",
)
@click.option(
    "--checksums", is_flag=True, help="Also recompute each pinned file's sha256 (as keel verify)."
)
@root_option
def validate(
    paths: tuple[Path, ...],
    output_format: str,
    neighbours: bool,
    checksums: bool,
    root: Path | None,
) -> None:
    """Check manifests: parse, schema, unique names, references and workflow gates.

    PATHS default to the repository's manifests/ tree. References always resolve against
    the whole tree. Exit 0 when valid, 1 when problems were found, 2 on usage or I/O errors.

    Examples:

    \b
      keel validate
      keel validate manifests/models -f json
    """
    from toolkit.core.layout import find_root
    from toolkit.core.reporters import render
    from toolkit.workflows.validation.validate import validate as run_validation

    result = run_validation(
        root or find_root(Path.cwd()), list(paths), checksums=checksums, neighbours=neighbours
    )
    click.echo(render(output_format, result, colour=coloured()))
    if not result.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
