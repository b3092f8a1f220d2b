"""`keel log Kind/name` and `keel diff [REV_A] [REV_B] [Kind/name...]`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toolkit.cli.options import root_option

_FORMAT = click.option(
    "--format", "-f", "output", type=click.Choice(["text", "json"]), default="text",
    show_default=True, help="Output format.",
)  # fmt: skip


@click.command()
@click.argument("ref")
@_FORMAT
@root_option
def log(ref: str, output: str, root: Path | None) -> None:
    """The commits that changed manifest REF (Kind/name), newest first, with the fields each
    changed; renamed files are followed.

    Examples:

    \b
      keel log Deployment/semantic-search
      keel log Model/all-minilm-l6-v2 -f json
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.audit.history import log as history_log

    entries = history_log(root or find_root(Path.cwd()), ref)
    if output == "json":
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    for entry in entries:
        click.echo(f"{entry.commit[:12]}  {entry.date[:10]}  {entry.author}  {entry.message}")
        for changed in entry.fields:
            click.echo(f"    {changed}")
    if not entries:
        click.echo(f"{ref}: no commit changed it")


@click.command()
@click.argument("args", nargs=-1)
@_FORMAT
@root_option
def diff(args: tuple[str, ...], output: str, root: Path | None) -> None:
    """Compare manifests between two revisions, field by field.

    ARGS are up to two revisions, then Kind/name references to limit the comparison. One
    revision: it against the work tree. None: the last audit tag (or HEAD~1) against the work
    tree. Manifests are matched by Kind/name, so moved files are followed.

    Examples:

    \b
      keel diff
      keel diff HEAD~1 HEAD Deployment/semantic-search -f json
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.audit.history import default_base
    from toolkit.workflows.audit.history import diff as history_diff

    repository = root or find_root(Path.cwd())
    revisions = [a for a in args if "/" not in a or a.startswith(("audit/", "refs/"))]
    refs = [a for a in args if a not in revisions]
    if len(revisions) > 2:
        raise click.UsageError(f"at most two revisions, got {', '.join(revisions)}")
    before = revisions[0] if revisions else default_base(repository)
    after = revisions[1] if len(revisions) == 2 else None
    result = history_diff(repository, before, after, refs)
    if output == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
        return
    click.echo(f"{result.before} → {result.after}")
    for line in result.lines():
        click.echo(f"  {line}")
    if result.empty:
        click.echo("  no manifest changed")
