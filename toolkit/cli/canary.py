"""`keel canary Deployment/NAME --endpoint URL`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option, verdict
from toolkit.core.errors import EXIT_CHECK_FAILED


@click.command()
@click.argument("ref")
@click.option(
    "--endpoint",
    required=True,
    help="The live service's base URL, or an environment named in spec.monitoring.endpoints.",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "prometheus"]),
    default="text",
    show_default=True,
    help="text for people; json or prometheus for a scheduler to keep.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds per request [default: canaryBudget, else 10].",
)
@click.option(
    "--retries",
    type=int,
    default=None,
    help="Retries of a request [default: canaryBudget, else 2].",
)
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Requests in flight at most [default: canaryBudget, else 2].",
)
@click.option(
    "--max-requests",
    type=int,
    default=None,
    help="Requests in all, retries included [default: canaryBudget; at most the canary's rows].",
)
@click.option(
    "--record",
    is_flag=True,
    help="Write the run as a new Evaluation (subject the Deployment, source the endpoint).",
)
@root_option
def canary(
    ref: str,
    endpoint: str,
    output_format: str,
    timeout: float | None,
    retries: int | None,
    concurrency: int | None,
    max_requests: int | None,
    record: bool,
    root: Path | None,
) -> None:
    """Send a Deployment's canary Dataset through its live endpoint and compare.

    One request per canary row, as the Deployment's API contract says (embedding, retrieval,
    classification or generation); each answer is checked against the output schema, then
    the canary Evaluation's metrics, the outputs and latency percentiles are held against the
    recorded canary Evaluation, the Requirements and the SLOs. It never sends more requests
    than the canary has rows, retries included; limits not given come from the Deployment's
    monitoring.canaryBudget. An endpoint that does not answer is a failed canary. Exit 0
    when it passes, 1 with findings, 2 on bad input.

    Examples:

    \b
      keel canary Deployment/semantic-search --endpoint http://127.0.0.1:8080
      keel canary Deployment/semantic-search --endpoint production -f prometheus
      keel canary Deployment/semantic-search --endpoint production --record
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.monitoring.canary import Options, run_canary
    from toolkit.workflows.monitoring.canary_record import RENDERERS
    from toolkit.workflows.monitoring.canary_record import record as write_record

    base = root or find_root(Path.cwd())
    options = Options(timeout, concurrency, retries, max_requests)
    run = run_canary(base, ref, endpoint, options)
    written = write_record(base, run) if record else None
    shown = written.relative_to(base) if written is not None else None
    text = RENDERERS[output_format](run, shown)
    if output_format == "text":
        first, _, rest = text.partition("\n")
        text = verdict(first, run.ok) + ("\n" + rest if rest else "")
    click.echo(text)
    if not run.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
