"""`keel doctor`: what this machine and repository lack, with the command that fixes each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from toolkit.cli.options import root_option
from toolkit.core.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    from pathlib import Path


@click.command()
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for programs.",
)
@root_option
def doctor(output_format: str, root: Path | None) -> None:
    """Check the environment and the repository; say how to fix each problem.

    git and a git identity, DVC and its default remote (a local directory must exist and be
    writable; a cloud remote's plugin must be installed: the remote is not contacted), the
    pre-commit hook installed and able to start, schemas/ current, the ML extra, chromium.
    Outside a keel repository only the environment is checked. Exit 1 when a check fails,
    0 otherwise (warnings do not fail).

    Examples:

    \b
      keel doctor
      keel doctor --format json
      keel doctor --root path/to/repo
    """
    from toolkit.workflows.doctor import as_json, diagnose, text

    diagnosis = diagnose(root)
    click.echo(as_json(diagnosis) if output_format == "json" else text(diagnosis))
    if not diagnosis.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
