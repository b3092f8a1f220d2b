"""A `promtool test rules` file for exported rules: synthetic series that fire each alert, and
series that keep it quiet, at a time long enough after the start for its windows and `for`.

Every alert gets two test groups (fire, quiet); an alert that cannot fire on the served series
(a burn-rate limit of 1 or more, a latency objective beyond the largest histogram bucket) or
cannot stay quiet (an objective below the smallest bucket) gets a comment instead.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from toolkit.bridges.serving_metrics import BUCKETS_SECONDS
from toolkit.core.contracts import METRIC_NAMES
from toolkit.workflows.monitoring.alerts import dump_yaml

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.workflows.monitoring.alerts import Alert
    from toolkit.workflows.monitoring.export import RuleSet

PER_MINUTE = 1000  # requests a minute in the synthetic traffic
HISTOGRAMS = {
    "latency_p95": METRIC_NAMES["duration"],
    "latency_p99": METRIC_NAMES["duration"],
    "ttft_p95": METRIC_NAMES["ttft"],
}


def _minutes(duration: str) -> int:
    value, unit = int(duration[:-1]), duration[-1]
    return value * {"m": 1, "h": 60}[unit]


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def _eval_minutes(alert: Alert) -> int:
    """Long enough for the alert's longest window, its `for`, and a margin."""
    if alert.kind == "canary_stale":
        return math.ceil(alert.threshold / 60) + _minutes(alert.duration) + 5
    return _minutes(alert.window) + _minutes(alert.duration) + 10


def _traffic(alert: Alert, share: float, minutes: int) -> list[dict[str, str]]:
    """Requests a minute, a `share` of them bad: 5xx, or refused with invalid_input."""
    base = dict(alert.output_labels, endpoint="/v1")
    bad = round(PER_MINUTE * share)
    bad_code = "503" if alert.kind == "unavailable" else "400"
    series = [
        _series(
            METRIC_NAMES["requests"], {**base, "code": "200"}, f"0+{PER_MINUTE - bad}x{minutes}"
        ),
        _series(METRIC_NAMES["requests"], {**base, "code": bad_code}, f"0+{bad}x{minutes}"),
    ]
    if alert.kind == "errors":
        code = {**base, "code": "invalid_input"}
        series.append(_series(METRIC_NAMES["errors"], code, f"0+{bad}x{minutes}"))
    return series


def _histogram(alert: Alert, bucket: int, minutes: int) -> list[dict[str, str]]:
    """Every observation in bucket `bucket` (0 = the first): cumulative bucket counters."""
    name = HISTOGRAMS[alert.kind]
    series = []
    for index, bound in enumerate([*map(str, BUCKETS_SECONDS), "+Inf"]):
        rate = 100 if index >= bucket else 0
        labels = {**alert.output_labels, "le": bound}
        series.append(_series(f"{name}_bucket", labels, f"0+{rate}x{minutes}"))
    return series


def _fire_bucket(threshold: float) -> int | None:
    """The first bucket whose lower bound is at or above `threshold`: every quantile of
    observations in it is above the threshold."""
    for index in range(1, len(BUCKETS_SECONDS)):
        if BUCKETS_SECONDS[index - 1] >= threshold:
            return index
    return None


def _inputs(alert: Alert, fire: bool, minutes: int) -> list[dict[str, str]] | None:
    """The series that fire the alert (or keep it quiet); None when no series can."""
    kind, limit, labels = alert.kind, alert.threshold, alert.output_labels
    if kind in ("unavailable", "errors"):
        if fire and limit >= 1:
            return None
        return _traffic(alert, (1 + limit) / 2 if fire else 0.0, minutes)
    if kind in HISTOGRAMS:
        bucket = _fire_bucket(limit) if fire else 0
        if bucket is None or (not fire and BUCKETS_SECONDS[0] >= limit):
            return None
        return _histogram(alert, bucket, minutes)
    if kind == "tokens_per_second":
        tokens = math.floor(limit * 30) if fire else math.ceil(limit * 120) + 1
        return [
            _series(METRIC_NAMES["output_tokens"], labels, f"0+{tokens}x{minutes}"),
            _series(METRIC_NAMES["decode_seconds"], labels, f"0+60x{minutes}"),
        ]
    if kind == "canary_failed":
        return [_series("keel_canary_ok", labels, f"{0 if fire else 1}x{minutes}")]
    if kind == "canary_stale":
        values = f"0x{minutes}" if fire else f"0+60x{minutes}"
        return [_series("keel_canary_timestamp_seconds", labels, values)]
    step = max(0.1, abs(limit) / 2)
    score = limit + step if fire else limit - step
    return [_series("keel_drift_score", labels, f"{score:g}x{minutes}")]


def groups_for(alert: Alert) -> list[dict[str, Any]]:
    minutes = _eval_minutes(alert)
    expected = {
        "exp_labels": {**alert.labels, **alert.output_labels},
        "exp_annotations": dict(alert.annotations),
    }
    groups = []
    for fire in (True, False):
        series = _inputs(alert, fire, minutes + 5)
        if series is None:
            continue
        check = {
            "eval_time": f"{minutes}m",
            "alertname": alert.name,
            "exp_alerts": [expected] if fire else [],
        }
        groups.append({"interval": "1m", "input_series": series, "alert_rule_test": [check]})
    return groups


def render_tests(rules: RuleSet, rules_path: Path, tests_path: Path) -> str:
    """The `promtool test rules` file for `rules`, written at `tests_path`, loading the rules
    from `rules_path` (relative to the test file, as promtool resolves it)."""
    relative = os.path.relpath(rules_path.resolve(), tests_path.resolve().parent)
    skipped = []
    tests: list[dict[str, Any]] = []
    for alert in rules.alerts:
        groups = groups_for(alert)
        tests += groups
        if len(groups) < 2:
            skipped.append(alert.name)
    header = (
        f"# promtool test rules for {rules.deployment.ref}, written by "
        "`keel export prometheus --tests`.\n# Run: promtool test rules FILE\n"
    )
    if skipped:
        header += f"# Not both fire and quiet (no served series can): {', '.join(skipped)}\n"
    document = {"rule_files": [relative], "evaluation_interval": "1m", "tests": tests}
    return header + dump_yaml(document)
