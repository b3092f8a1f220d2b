"""`keel export prometheus Deployment/NAME`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option


@click.group()
def export() -> None:
    """Export a Deployment's monitoring configuration for another tool.

    Examples:

    \b
      keel export prometheus Deployment/semantic-search
      keel export prometheus Deployment/semantic-search -o rules.yaml --tests rules.test.yaml
    """


@export.command()
@click.argument("ref")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the rules to this file (atomically) instead of printing them.",
)
@click.option(
    "--tests",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a `promtool test rules` file that fires each alert and keeps it quiet.",
)
@click.option(
    "--runbook-base-url",
    default=None,
    help="Prefix of the runbook_url annotations, e.g. the repository's web URL at a branch "
    "(default: the Runbook's path in the repository).",
)
@root_option
def prometheus(
    ref: str,
    out: Path | None,
    tests: Path | None,
    runbook_base_url: str | None,
    root: Path | None,
) -> None:
    """Prometheus recording and alerting rules for every SLO and trigger of a Deployment.

    Latency p95/p99 from keel_request_duration_seconds, error rate and availability as
    multi-window burn-rate alerts (1h and 5m at 14.4x the budget page, 6h and 30m at 6x open a
    ticket), time to first token and tokens per second for generation SLOs, a failed or stale
    canary and input drift above monitoring.drift.threshold. Each alert's runbook annotation
    lists the Runbook's steps. Check the file with `promtool check rules`, and the --tests
    file with `promtool test rules`.

    Examples:

    \b
      keel export prometheus Deployment/semantic-search
      keel export prometheus Deployment/semantic-search -o rules.yaml --tests rules.test.yaml
      promtool check rules rules.yaml && promtool test rules rules.test.yaml
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.monitoring.export import export_prometheus

    result = export_prometheus(
        root or find_root(Path.cwd()),
        ref,
        out,
        tests=tests,
        runbook_base_url=runbook_base_url,
    )
    if out is None:
        click.echo(result.text, nl=False)
        return
    alerts = len(result.rules.alerts)
    click.echo(f"wrote {out}: {len(result.rules.records)} recording rules, {alerts} alerts")
    if tests is not None:
        click.echo(f"wrote {tests}: promtool test rules {tests}")
