"""`keel reproduce Deployment/NAME [--rev REV] [--workdir DIR] [--serve] [--report PATH]`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from toolkit.cli.options import root_option
from toolkit.core.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    from toolkit.workflows.reproduce.reproduce import StageResult


@click.command()
@click.argument("deployment")
@click.option("--rev", default="HEAD", show_default=True, help="Git revision to reproduce.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Empty directory for the clean checkout (kept). Default: a temporary one, removed.",
)
@click.option("--serve", is_flag=True, help="Also serve the API contract and send the canary.")
@click.option(
    "--remote",
    "-r",
    default=None,
    help="DVC remote to pull from (default: the clone's default; .dvc/config.local is carried "
    "into the clone, so credentials kept there work).",
)
@click.option(
    "--report",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the Markdown report here and the JSON report beside it (.json).",
)
@root_option
def reproduce(
    deployment: str,
    rev: str,
    workdir: Path | None,
    serve: bool,
    remote: str | None,
    report: Path | None,
    root: Path | None,
) -> None:
    """Stand DEPLOYMENT back up from a clean checkout of REV and prove it is the same.

    Stages: 1 validate, 2 pull + verify, 3 load tokenizer and model, 4 adapter,
    5 quantization, 6 canary against the recorded Evaluation, 7 serve (with --serve).
    Exit 0 only when every stage passed; 1 names the stage and the manifest field.

    Examples:

    \b
      keel reproduce Deployment/semantic-search
      keel reproduce Deployment/semantic-search --rev HEAD~1 -o reproduce.md
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.reproduce.report import report_paths, to_markdown, write_report
    from toolkit.workflows.reproduce.reproduce import reproduce as run_reproduce

    def show(stage: StageResult) -> None:
        timing = f"{stage.seconds:6.2f} s"
        line = f"  {stage.number}. {stage.name:<9} {stage.status:<7} {timing}  {stage.summary}"
        click.echo(line, err=True)

    if report is not None:
        report_paths(report)  # a bad --report is refused before minutes of work
    result = run_reproduce(
        root or find_root(Path.cwd()),
        deployment,
        rev=rev,
        workdir=workdir,
        serve=serve,
        remote=remote,
        on_stage=show,
    )
    if report is not None:
        markdown, json_path = write_report(result, report)
        click.echo(f"report: {markdown} and {json_path}", err=True)
    click.echo(to_markdown(result))
    if not result.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
