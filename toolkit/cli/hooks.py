"""`keel hooks install|run`: plain git hooks for repositories without the pre-commit framework."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option, verdict
from toolkit.core.errors import EXIT_CHECK_FAILED


@click.group()
def hooks() -> None:
    """Plain git hooks running keel's checks, for teams without the pre-commit framework.

    Examples:

    \b
      keel hooks install
      keel hooks run
    """


@hooks.command()
@click.option("--force", is_flag=True, help="Replace a pre-commit hook keel did not write.")
@root_option
def install(force: bool, root: Path | None) -> None:
    """Install keel's pre-commit hook into .git/hooks (a foreign hook is kept unless --force).

    Examples:

    \b
      keel hooks install
      keel hooks install --force
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.validation.hooks import install as run_install

    result = run_install(root or find_root(Path.cwd()), force=force)
    if result.backup:
        click.echo(f"kept the previous hook as {result.backup}")
    click.echo(f"{'installed' if result.changed else 'already installed'}: {result.path}")


@hooks.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@root_option
def run(files: tuple[Path, ...], root: Path | None) -> None:
    """Run the hooks on FILES (default: what the index stages). Exit 1 when one fails.

    Examples:

    \b
      keel hooks run
      keel hooks run manifests/deployments/semantic-search.yaml
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.validation.hooks import commit_check_runs, run_checks

    repository = root or find_root(Path.cwd())
    runs = run_checks(repository, list(files)) if files else commit_check_runs(repository)
    if not runs:
        click.echo("keel: nothing staged that keel checks")
    for check in runs:
        click.echo(verdict(f"{check.hook}: {'passed' if check.ok else 'failed'}", check.ok))
        for line in check.lines if not check.ok else ():
            click.echo(f"  {line}")
    if not all(check.ok for check in runs):
        blocked = "commit blocked by keel; fix the lines above (or skip once: --no-verify)"
        click.echo(verdict(blocked, ok=False))
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
