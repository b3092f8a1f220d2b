"""`keel show Kind/name`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option


@click.command()
@click.argument("ref", metavar="KIND/NAME")
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["text", "yaml", "json"]),
    default="text",
    show_default=True,
    help="text for people; yaml or json for programs.",
)
@root_option
def show(ref: str, output_format: str, root: Path | None) -> None:
    """Print one manifest: its file, owner and status, what it needs and what needs it.

    "needs" lists each reference the manifest makes (the field, the manifest named, its
    status, or missing, and its file); "needed by" lists the manifests that reference it.
    The manifest follows as written, and its problems when keel validate has any. The kind
    may be given in any case. Exit 0 when it was shown, whatever its status; 2 when no
    manifest has that name (the closest one is suggested).

    Examples:

    \b
      keel show Deployment/semantic-search
      keel show model/all-minilm-l6-v2 --format yaml
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.validation.inventory import show as show_manifest
    from toolkit.workflows.validation.inventory_render import SHOW_RENDERERS

    click.echo(SHOW_RENDERERS[output_format](show_manifest(root or find_root(Path.cwd()), ref)))
