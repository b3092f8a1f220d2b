"""`keel export prometheus`: recording and alerting rules for a Deployment's SLOs and triggers.

The rules read the series the contract server exports on GET /metrics (names in
`toolkit.core.contracts.METRIC_NAMES`, every series labelled ``deployment="Deployment/NAME"``)
and the gauges `keel canary` and `keel drift` write (``keel_canary_ok``,
``keel_canary_timestamp_seconds``, ``keel_drift_score``):

- recording rules: request latency p95/p99 from the duration histogram, the error ratio
  (refused requests / requests) and the unavailable ratio (5xx / requests) over each window
  of the burn-rate alerts, and for generation TTFT p95 and output tokens per second;
- alerts: multi-window multi-burn-rate alerts (Google SRE workbook: 1h and 5m at 14.4x the
  budget pages, 6h and 30m at 6x opens a ticket) for availability and error rate, latency
  p95/p99 above the SLO, TTFT p95 above and tokens per second below the generation SLOs, a
  failed or stale canary, and input drift above the recorded threshold.

Every alert's annotations name the Runbook steps to follow (``runbook``) and the Runbook's file
(``runbook_url``, prefixed with `runbook_base_url` when given, e.g. the repository's web URL).
Annotations are plain text, no templates, so `promtool test rules` can expect them exactly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.contracts import METRIC_NAMES
from toolkit.core.errors import UsageError
from toolkit.manifests import Deployment, Runbook
from toolkit.workflows.monitoring.alerts import (
    WINDOWS,
    Alert,
    RunbookLinks,
    alerts_for,
    dump_yaml,
    record_name,
    selector,
    slo,
)

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.core.repository import Graph


@dataclass(frozen=True)
class RuleSet:
    deployment: Deployment
    records: list[dict[str, str]]
    alerts: list[Alert]

    @property
    def group_name(self) -> str:
        return f"keel-{self.deployment.metadata.name}"

    def document(self) -> dict[str, Any]:
        """The rules file: one group of recording rules, one of alerts."""
        return {
            "groups": [
                {"name": f"{self.group_name}-records", "rules": self.records},
                {"name": f"{self.group_name}-alerts", "rules": [a.rule() for a in self.alerts]},
            ]
        }

    def render(self) -> str:
        header = (
            f"# Prometheus rules for {self.deployment.ref}, written by `keel export prometheus`"
            " from its manifests.\n# Check: promtool check rules FILE\n"
        )
        return header + dump_yaml(self.document())


def recording_rules(deployment: Deployment) -> list[dict[str, str]]:
    """Latency quantiles and, per burn-rate window, the error and unavailable ratios."""
    sel = selector(deployment)
    bad = selector(deployment, 'code=~"5.."')
    requests, errors = METRIC_NAMES["requests"], METRIC_NAMES["errors"]
    duration = METRIC_NAMES["duration"]
    records = [
        {
            "record": f"keel:request_duration_seconds:p{q}_5m",
            "expr": f"histogram_quantile(0.{q}, sum by (deployment, le) "
            f"(rate({duration}_bucket{sel}[5m])))",
        }
        for q in (95, 99)
    ]
    for window in WINDOWS:
        total = f"sum by (deployment) (rate({requests}{sel}[{window}]))"
        records.append(
            {
                "record": record_name("request_errors", window),
                "expr": f"sum by (deployment) (rate({errors}{sel}[{window}])) / {total}",
            }
        )
        records.append(
            {
                "record": record_name("request_unavailable", window),
                "expr": f"sum by (deployment) (rate({requests}{bad}[{window}])) / {total}",
            }
        )
    if slo(deployment, "time_to_first_token_p95_ms") is not None:
        records.append(
            {
                "record": "keel:time_to_first_token_seconds:p95_5m",
                "expr": "histogram_quantile(0.95, sum by (deployment, le) "
                f"(rate({METRIC_NAMES['ttft']}_bucket{sel}[5m])))",
            }
        )
    if slo(deployment, "output_tokens_per_second_min") is not None:
        records.append(
            {
                "record": "keel:output_tokens_per_second:rate5m",
                "expr": f"sum by (deployment) (rate({METRIC_NAMES['output_tokens']}{sel}[5m])) "
                f"/ sum by (deployment) (rate({METRIC_NAMES['decode_seconds']}{sel}[5m]))",
            }
        )
    return records


def runbook_links(graph: Graph, deployment: Deployment, base_url: str | None) -> RunbookLinks:
    """The Deployment's Runbook, with the file's path as the repository names it."""
    ref = deployment.spec.runbook
    runbook = graph.get_as(ref, Runbook)
    path = f"manifests/runbooks/{ref.split('/', 1)[-1]}.yaml"
    if runbook is not None:
        located = graph.entries[ref].document.path
        with contextlib.suppress(ValueError):  # outside the root: keep the conventional path
            path = located.resolve().relative_to(graph.root.resolve()).as_posix()
    url = f"{base_url.rstrip('/')}/{path}" if base_url else path
    return RunbookLinks(runbook, ref, url)


def build_rules(graph: Graph, ref: str, runbook_base_url: str | None = None) -> RuleSet:
    """The recording and alerting rules of the Deployment `ref`."""
    deployment = graph.get(ref)
    if not isinstance(deployment, Deployment):
        raise UsageError(
            f"{ref}: no such Deployment (or it does not validate); "
            "keel export prometheus takes Deployment/NAME"
        )
    links = runbook_links(graph, deployment, runbook_base_url)
    return RuleSet(deployment, recording_rules(deployment), alerts_for(deployment, links))


@dataclass(frozen=True)
class ExportResult:
    rules: RuleSet
    text: str
    out: Path | None
    tests: Path | None


def export_prometheus(
    root: Path,
    ref: str,
    out: Path | None = None,
    *,
    tests: Path | None = None,
    runbook_base_url: str | None = None,
) -> ExportResult:
    """Build the rules; write them (atomically) to `out`, and a `promtool test rules` file
    beside them to `tests` when asked."""
    from toolkit.core.fsutil import write_atomic
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.monitoring.alert_tests import render_tests

    if tests is not None and out is None:
        raise UsageError("--tests needs -o/--out: the test file names the rules file it loads")
    rules = build_rules(load_graph(root), ref, runbook_base_url)
    text = rules.render()
    if out is not None:
        write_atomic(out, text)
    if tests is not None and out is not None:
        write_atomic(tests, render_tests(rules, out, tests))
    return ExportResult(rules, text, out, tests)
