"""A live canary as an Evaluation (`keel canary --record`): subject the Deployment, source
the endpoint, its outcome and findings; so the history of the live service lives in git.

Also the renderers a scheduler keeps: a one-line summary with the findings (text), JSON,
and Prometheus text exposition format.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from typing import TYPE_CHECKING, Any

from toolkit import __version__
from toolkit.core.errors import UsageError
from toolkit.manifests import Evaluation

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.workflows.monitoring.canary import CanaryRun, Plan

ANSWERED = "answered"
"""The metric every live canary records: the share of canary rows answered as the contract
says (so a run that got no answer at all is still an Evaluation with a metric)."""


def _plan(run: CanaryRun) -> Plan:
    if run.plan is None:
        raise ValueError("a CanaryRun made by run_canary carries its plan")
    return run.plan


def evaluation_document(run: CanaryRun, name: str | None = None) -> dict[str, Any]:
    """The Evaluation manifest `--record` writes for `run`, as plain data."""
    from toolkit.workflows.evaluation.evaluate import protocol_record

    plan = _plan(run)
    when = dt.datetime.fromtimestamp(run.started, dt.timezone.utc)
    metrics = {ANSWERED: round(run.answered / run.rows, 4), **run.metrics}
    environment = dict(run.environment)
    load = environment.pop("loadAverage", None)
    batch = 2 if run.contract == "retrieval" else 1  # texts per request
    spec: dict[str, Any] = {
        "subject": run.deployment,
        "dataset": plan.evaluation.spec.dataset,
        "metrics": [{"name": k, "value": v} for k, v in metrics.items()],
    }
    if run.latency_ms:
        spec["latency"] = {
            "p50Ms": run.latency_ms["p50"],
            "p95Ms": run.latency_ms["p95"],
            "p99Ms": run.latency_ms["p99"],
            "batchSize": batch,
            "requests": run.answered,
            **({"loadAverage": float(load)} if load is not None else {}),
        }
    spec.update(
        {
            "baseline": run.evaluation,
            "hardware": run.hardware,
            "date": when.date().isoformat(),
            "tools": {"python": platform.python_version(), "keel": __version__},
            "environment": environment,
            "outputs": {"digest": run.outputs_digest},
            "protocol": {**protocol_record(plan.protocol), "batchSize": batch},
            "source": {
                "endpoint": run.endpoint,
                "outcome": "pass" if run.ok else "fail",
                "findings": [f"{p.check}: {p.message}" for p in run.findings],
                "started": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
    )
    document = {
        "apiVersion": "keel/v1",
        "kind": "Evaluation",
        "metadata": {
            "name": name or live_name(run),
            "owner": plan.deployment.metadata.owner,
            "description": f"Live canary of {run.deployment} at {run.endpoint}, by keel canary.",
            "created": when.date().isoformat(),
        },
        "spec": spec,
    }
    return json.loads(json.dumps(document))  # plain str, not the ref types


def evaluation_of(run: CanaryRun) -> Evaluation:
    """The record as the Evaluation model validates it (a bug here is keel's, not the user's)."""
    return Evaluation.model_validate(evaluation_document(run))


def live_name(run: CanaryRun) -> str:
    """`<deployment>-live-<YYYYMMDD>-<HHMMSS>` (UTC), within the 63 characters a name has."""
    stamp = dt.datetime.fromtimestamp(run.started, dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    deployment = run.deployment.split("/", 1)[1][: 63 - len(stamp) - 6].rstrip("-")
    return f"{deployment}-live-{stamp}"


def record(root: Path, run: CanaryRun) -> Path:
    """Write the run as a new Evaluation manifest (atomically), where `keel new` puts one."""
    from toolkit.core.manifest_writer import create_manifest
    from toolkit.core.templates import new_manifest_path

    name = live_name(run)
    base, suffix = name, 2
    while new_manifest_path(root, "Evaluation", name).exists():
        name, suffix = f"{base}-{suffix}", suffix + 1
    document = evaluation_document(run, name)
    Evaluation.model_validate(document)
    if _plan(run).graph.get(f"Evaluation/{name}") is not None:
        raise UsageError(f"Evaluation/{name} already exists; run the canary again")
    return create_manifest(root, "Evaluation", name, document)


# ------------------------------------------------------------------------------- renderers


def summary(run: CanaryRun) -> str:
    """One line: the verdict, what was measured, how many findings."""
    verdict = "PASS" if run.ok else "FAIL"
    parts = [f"{run.answered}/{run.rows} rows answered"]
    parts += [f"{k} {v}" for k, v in run.metrics.items()]
    if run.latency_ms:
        parts.append(f"p95 {run.latency_ms['p95']} ms")
    findings = len(run.findings)
    tail = f"; {findings} finding{'s' if findings != 1 else ''}" if findings else ""
    return f"{verdict} {run.deployment} canary at {run.endpoint}: {', '.join(parts)}{tail}"


def render_text(run: CanaryRun, recorded: Path | None = None) -> str:
    lines = [summary(run)]
    lines += [f"  {p.check}: {p.message}" for p in run.findings]
    lines += [f"  note: {p.message}" for p in run.notes]
    if recorded is not None:
        lines.append(f"  recorded {recorded}")
    return "\n".join(lines)


def as_dict(run: CanaryRun, recorded: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "deployment": run.deployment,
        "endpoint": run.endpoint,
        "ok": run.ok,
        "contract": run.contract,
        "task": run.task,
        "evaluation": run.evaluation,
        "rows": run.rows,
        "requests": run.requests,
        "answered": run.answered,
        "metrics": run.metrics,
        "recordedMetrics": run.recorded,
        "latencyMs": run.latency_ms,
        "findings": [{"check": p.check, "message": p.message} for p in run.findings],
        "notes": [{"check": p.check, "message": p.message} for p in run.notes],
        "outputsDigest": run.outputs_digest,
        "timestamp": round(run.started, 3),
        "seconds": run.seconds,
    }
    if recorded is not None:
        data["recorded"] = str(recorded)
    return data


def render_json(run: CanaryRun, recorded: Path | None = None) -> str:
    return json.dumps(as_dict(run, recorded), indent=2)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(run: CanaryRun, recorded: Path | None = None) -> str:
    """Prometheus text exposition format (what node_exporter's textfile collector reads), the
    gauges `keel export prometheus`'s KeelCanaryFailed and KeelCanaryStale alerts select."""
    base = f'deployment="{_label(run.deployment)}"'  # the label the alert rules select on
    lines = [
        "# HELP keel_canary_ok 1 when the last live canary passed, else 0.",
        "# TYPE keel_canary_ok gauge",
        f"keel_canary_ok{{{base}}} {int(run.ok)}",
        "# HELP keel_canary_metric The live canary's metrics.",
        "# TYPE keel_canary_metric gauge",
    ]
    metrics = {ANSWERED: round(run.answered / run.rows, 4), **run.metrics}
    lines += [f'keel_canary_metric{{{base},metric="{_label(k)}"}} {v}' for k, v in metrics.items()]
    if run.latency_ms:
        lines += [
            "# HELP keel_canary_latency_p95_seconds p95 of the live canary's request latency.",
            "# TYPE keel_canary_latency_p95_seconds gauge",
            f"keel_canary_latency_p95_seconds{{{base}}} {run.latency_ms['p95'] / 1000:.6g}",
        ]
    lines += [
        "# HELP keel_canary_findings Findings of the last live canary.",
        "# TYPE keel_canary_findings gauge",
        f"keel_canary_findings{{{base}}} {len(run.findings)}",
        "# HELP keel_canary_timestamp_seconds When the last live canary started (Unix time).",
        "# TYPE keel_canary_timestamp_seconds gauge",
        f"keel_canary_timestamp_seconds{{{base}}} {run.started:.3f}",
    ]
    return "\n".join(lines)


RENDERERS = {"text": render_text, "json": render_json, "prometheus": render_prometheus}
