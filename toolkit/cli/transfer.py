"""`keel push [REF...]` and `keel pull [REF...]`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option, verdict
from toolkit.core.errors import EXIT_CHECK_FAILED

_REMOTE = click.option("--remote", "-r", default=None, help="DVC remote (default: DVC's default).")


@click.command()
@click.argument("refs", nargs=-1)
@_REMOTE
@root_option
def push(refs: tuple[str, ...], remote: str | None, root: Path | None) -> None:
    """Push through DVC the artifacts REFS need (default: every artifact).

    A Deployment stands for its Model, Tokenizer, Adapter and Datasets. Exit 1 when any file
    is not in the remote afterwards (each is named, with the reason).

    Examples:

    \b
      keel push
      keel push Deployment/semantic-search -r keel
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.artifacts.transfer import push as run_push

    result = run_push(root or find_root(Path.cwd()), refs, remote)
    for failure in result.failures:
        click.echo(failure.render())
    failed = len(result.failures)
    summary = f"{len(result.targets)} DVC-tracked files; {result.transferred} pushed"
    click.echo(verdict(summary + (f"; {failed} not pushed" if failed else ""), not failed))
    if failed:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)


@click.command()
@click.argument("refs", nargs=-1)
@_REMOTE
@click.option("--no-cache", is_flag=True, help="Verify by hashing every file again.")
@click.option(
    "--force",
    is_flag=True,
    help="Replace workspace files that differ from their manifest (with verified bytes).",
)
@root_option
def pull(
    refs: tuple[str, ...], remote: str | None, no_cache: bool, force: bool, root: Path | None
) -> None:
    """Pull through DVC the artifacts REFS need (default: every artifact), then verify them.

    Exit 1 when a file is not pulled or does not match its manifest. A workspace file that
    differs from its manifest is kept unless --force.

    Examples:

    \b
      keel pull Deployment/semantic-search
      keel pull Model/all-minilm-l6-v2 --force
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.artifacts.transfer import pull as run_pull

    result = run_pull(
        root or find_root(Path.cwd()), refs, remote, use_cache=not no_cache, force=force
    )
    click.echo(f"{len(result.targets)} DVC-tracked files; {result.transferred} fetched or updated")
    for note in result.notes:
        click.echo(note)
    for failure in result.failures:
        click.echo(failure.render())
    verification = result.verification
    assert verification is not None
    for problem in verification.problems:
        click.echo(problem.render())
    matched = "all match" if verification.ok else f"{len(verification.problems)} do not match"
    click.echo(verdict(f"verified {verification.checked} files: {matched}", verification.ok))
    if not result.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
