"""`keel secrets [PATH...]`: the keel-no-secrets check."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import coloured
from toolkit.core.errors import EXIT_CHECK_FAILED


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for programs.",
)
def secrets(paths: tuple[Path, ...], output_format: str) -> None:
    """Refuse access tokens, private keys and PII examples in manifests.

    Scans the raw text of each file, and its parsed values (escapes undone, continued lines
    joined, `NAME: value` read as an assignment), for Hugging Face, GitHub, GitLab, Slack,
    OpenAI, Anthropic, AWS, GCP and Azure credentials, JWTs, bearer tokens, private keys and
    random-looking values of `*_SECRET*`, `*_TOKEN`, `*PASSWORD*` and `*API_KEY*` names; and a
    Deployment's API schemas for example data in fields marked `x-pii: true`. Secrets are
    shown redacted. A line holding
    `keel: allow-secret` is exempt. PATHS (files or directories) default to the repository's
    manifests/ tree. Exit 0 when clean, 1 when something was found, 2 on usage errors.

    Examples:

    \b
      keel secrets
      keel secrets manifests/deployments -f json
    """
    # toolkit.workflows, not toolkit.core.checks: importing that package loads pydantic.
    from toolkit.core.errors import UsageError
    from toolkit.core.layout import MANIFEST_DIR, find_root
    from toolkit.core.reporters import render
    from toolkit.workflows.validation.secrets import scan

    if not paths:
        manifests = find_root(Path.cwd()) / MANIFEST_DIR
        if not manifests.is_dir():
            raise UsageError(f"{manifests}: no such directory; pass the files to scan")
        paths = (manifests,)
    result = scan(paths)
    click.echo(render(output_format, result, colour=coloured()))
    if not result.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
