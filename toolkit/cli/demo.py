"""`keel demo DIR`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.errors import EXIT_CHECK_FAILED


@click.command()
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("keel-demo")
)
@click.option(
    "--remote", default=None, help="DVC remote for the demo (default: a local directory)."
)
def demo(directory: Path, remote: str | None) -> None:
    """Create DIRECTORY as a keel repository holding the example deployment, and validate it.

    The example is a semantic-search service on all-MiniLM-L6-v2 whose manifests record
    measured values. Run it again on the same directory: nothing changes.
    """
    from toolkit.reporters import text
    from toolkit.workflows.demo import demo as run_demo

    result = run_demo(directory, remote)
    click.echo(f"1. keel init {result.root}")
    for line in result.initialised.done:
        click.echo(f"     created  {line}")
    for line in result.initialised.kept:
        click.echo(f"     kept     {line}")
    click.echo(f"2. wrote the example deployment: {len(result.copied)} files")
    manifests = [c for c in result.copied if c.startswith("manifests/")]
    for copied in manifests:
        click.echo(f"     {copied}")
    others = len(result.copied) - len(manifests)
    if others:
        click.echo(f"     and {others} dataset files under artifacts/datasets/")
    click.echo("3. keel validate")
    assert result.validation is not None
    for line in text(result.validation).splitlines():
        click.echo(f"     {line}")
    if result.commit:
        click.echo(f"4. committed {result.commit[:12]}: the example semantic-search deployment")
    else:
        click.echo("4. nothing new to commit")
    click.echo(f"Next: cd {directory} && keel validate   (keel is in .venv/bin after bootstrap)")
    if not result.validation.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
