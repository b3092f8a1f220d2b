"""`keel audit [Deployment/NAME...] [--as-of DATE] [--reproduce] [--remote] [--format] [--out]`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from toolkit.cli.options import root_option
from toolkit.core.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    import datetime as dt


@click.command()
@click.argument("deployments", nargs=-1)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Audit as of this date (YYYY-MM-DD; default today): reports become deterministic.",
)
@click.option("--reproduce", "run_reproduce", is_flag=True, help="Also run `keel reproduce`.")
@click.option(
    "--remote",
    "-r",
    is_flag=True,
    help="Check every artifact is in the DVC remote (no download).",
)
@click.option(
    "--format",
    "-f",
    "report_format",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the report here (default: stdout).",
)
@click.option(
    "--no-record",
    is_flag=True,
    help="Report only: write no Audit manifest, make no commit, set no tag.",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Audit a work tree that differs from HEAD, and record that it did (default: refuse).",
)
@root_option
def audit(
    deployments: tuple[str, ...],
    as_of: dt.datetime | None,
    run_reproduce: bool,
    remote: bool,
    report_format: str,
    out: Path | None,
    no_record: bool,
    allow_dirty: bool,
    root: Path | None,
) -> None:
    """The quarterly runbook audit of DEPLOYMENTS (default: all), with evidence.

    Checks the runbook (owner, review date, steps, that every keel command in it parses),
    that manifests validate and artifacts match (locally; with --remote in the DVC remote),
    that the latest Evaluation is recent and clears the Requirements, that retraining, SLOs,
    drift monitoring and a canary set are defined, and lists what changed since the last
    audit. Unless --no-record, writes an Audit manifest per deployment, commits it (never
    what you staged) after the pre-commit hook passes, and tags the commit
    audit/<deployment>/<date>. A work tree that differs from HEAD is refused (exit 2) unless
    --allow-dirty. Exit 1 when a check fails.

    Examples:

    \b
      keel audit Deployment/semantic-search --no-record
      keel audit --as-of 2026-11-24 -f html -o audit.html
    """
    from toolkit.cli.commands import command_problem
    from toolkit.core.layout import find_root
    from toolkit.workflows.audit.audit import audit as run_audit
    from toolkit.workflows.audit.audit import record
    from toolkit.workflows.audit.report import RENDERERS

    repository = root or find_root(Path.cwd())
    result = run_audit(
        repository,
        deployments,
        as_of=as_of.date() if as_of else None,
        remote=remote,
        reproduce=run_reproduce,
        parse_command=command_problem,
        allow_dirty=allow_dirty,
    )
    report = RENDERERS[report_format](result)
    _emit(report, out)
    summary = ", ".join(f"{d.deployment} {d.status}" for d in result.deployments)
    click.echo(f"audit as of {result.as_of}: {summary}", err=True)
    if out is not None:
        click.echo(f"report: {out}", err=True)
    if not no_record:
        stored = _relative(out, repository) if out else None
        for tag in record(result, report, report_format, stored):
            click.echo(f"tagged {tag}", err=True)
    if not result.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)


def _emit(report: str, out: Path | None) -> None:
    """The report into `out`, written atomically, or onto stdout."""
    from toolkit.core.fsutil import write_atomic

    if out is None:
        click.echo(report, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, report)


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
