"""`keel export prometheus`: rules for every SLO and trigger, checked by the real promtool.

The rules of the packaged examples (and of a generative Deployment with TTFT and tokens-per-
second SLOs) pass `promtool check rules`, and the generated `promtool test rules` file, whose
synthetic series fire each alert and keep it quiet, passes too. Without promtool (Debian's
prometheus package; scripts/bootstrap.sh installs it where apt can) those tests skip.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
import yaml

from toolkit.cli import main
from toolkit.manifests import Deployment
from toolkit.workflows.artifacts.verify import load_graph
from toolkit.workflows.demo.demo import example_tree
from toolkit.workflows.monitoring.export import build_rules, export_prometheus

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.workflows.monitoring.export import RuleSet

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian: apt-get install prometheus; "
    "scripts/bootstrap.sh does it when run as root)",
)
EXAMPLES = [example_tree()] + [
    path for path in [example_tree().parent / "example_llm"] if (path / "manifests").is_dir()
]


def _copy(source: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(source / "manifests", root / "manifests")
    return root


def _deployments(root: Path) -> list[str]:
    return sorted(str(d.ref) for d in load_graph(root).of_kind(Deployment))


def _generative(tmp_path: Path) -> tuple[Path, str]:
    """The MiniLM example's Deployment with generation SLOs added (as a generative one has)."""
    root = _copy(example_tree(), tmp_path)
    path = root / "manifests" / "deployments" / "semantic-search.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["spec"]["slos"].update({"timeToFirstTokenP95Ms": 400, "outputTokensPerSecondMin": 20})
    data["spec"]["canary"]["maxAgeHours"] = 2
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return root, "Deployment/semantic-search"


def _promtool(*args: str, cwd: Path) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _export_and_check(root: Path, ref: str, out_dir: Path) -> RuleSet:
    name = ref.split("/", 1)[1]
    rules, tests = out_dir / f"{name}.rules.yaml", out_dir / f"{name}.test.yaml"
    result = export_prometheus(root, ref, rules, tests=tests)
    checked = _promtool("check", "rules", rules.name, cwd=out_dir)
    count = len(result.rules.records) + len(result.rules.alerts)
    assert f"SUCCESS: {count} rules found" in checked
    assert "SUCCESS" in _promtool("test", "rules", tests.name, cwd=out_dir)
    return result.rules


@needs_promtool
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_rules_pass_promtool_check_and_test(example: Path, tmp_path: Path) -> None:
    refs = _deployments(example)
    assert refs
    for ref in refs:
        rules = _export_and_check(example, ref, tmp_path)
        tests = yaml.safe_load((tmp_path / f"{ref.split('/')[1]}.test.yaml").read_text())
        # every alert is made to fire once and kept quiet once
        fired = [t["alert_rule_test"][0] for t in tests["tests"]]
        for alert in rules.alerts:
            cases = [c for c in fired if c["alertname"] == alert.name]
            assert sorted(bool(c["exp_alerts"]) for c in cases) == [False, True], alert.name


@needs_promtool
def test_a_generative_deployment_gets_ttft_and_tokens_per_second_alerts(tmp_path: Path) -> None:
    root, ref = _generative(tmp_path)
    rules = _export_and_check(root, ref, tmp_path)
    names = {a.name: a for a in rules.alerts}
    assert "keel:time_to_first_token_seconds:p95_5m" in [r["record"] for r in rules.records]
    assert names["KeelTimeToFirstTokenP95High"].expr.endswith("> 0.4")
    assert names["KeelOutputTokensPerSecondLow"].expr.endswith("< 20")
    # a stale canary after canary.maxAgeHours (2 h = 7200 s), or none at all
    assert "> 7200\nor\nabsent(keel_canary_timestamp_seconds" in names["KeelCanaryStale"].expr


def test_every_slo_and_trigger_has_an_alert_with_runbook_steps() -> None:
    rules = build_rules(load_graph(example_tree()), "Deployment/semantic-search")
    alerts = {a.name: a for a in rules.alerts}
    assert set(alerts) == {
        "KeelAvailabilityBurnRateFast",
        "KeelAvailabilityBurnRateSlow",
        "KeelErrorRateBurnRateFast",
        "KeelErrorRateBurnRateSlow",
        "KeelLatencyP95High",
        "KeelLatencyP99High",
        "KeelCanaryFailed",
        "KeelCanaryStale",
        "KeelInputDrift",
    }  # no generation SLOs on the embedding example
    # availability 0.995 leaves 0.005: 14.4x over 1h and 5m pages, 6x over 6h and 30m is a ticket
    fast = alerts["KeelAvailabilityBurnRateFast"]
    assert "ratio_rate1h" in fast.expr
    assert "ratio_rate5m" in fast.expr
    assert "> 0.072" in fast.expr
    assert fast.labels == {"severity": "page"}
    assert "> 0.03" in alerts["KeelAvailabilityBurnRateSlow"].expr
    assert "> 0.144" in alerts["KeelErrorRateBurnRateFast"].expr  # errorRate 0.01
    assert alerts["KeelLatencyP99High"].expr.endswith("> 0.2")  # latencyP99Ms 200
    assert alerts["KeelInputDrift"].expr.endswith("> 0.3")
    rollback = alerts["KeelCanaryFailed"].annotations
    assert rollback["runbook_url"] == "manifests/runbooks/semantic-search.yaml#steps.rollback"
    assert "`git revert --no-edit HEAD`" in rollback["runbook"]
    assert "search-platform-oncall@example.com" in rollback["runbook"]
    for alert in rules.alerts:
        assert {"summary", "description", "runbook", "runbook_url"} <= alert.annotations.keys()
        assert "{{" not in str(alert.annotations)  # plain text: promtool tests expect it exactly
    records = [r["record"] for r in rules.records]
    assert "keel:request_duration_seconds:p95_5m" in records
    assert "keel:request_unavailable:ratio_rate6h" in records
    assert 'code=~"5.."' in next(
        r["expr"] for r in rules.records if r["record"] == "keel:request_unavailable:ratio_rate5m"
    )


def test_the_command_prints_or_writes_the_rules(tmp_path: Path) -> None:
    root = _copy(example_tree(), tmp_path)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main(["export", "prometheus", "Deployment/semantic-search", "--root", str(root)])
    assert code == 0
    groups = yaml.safe_load(output.getvalue())["groups"]
    assert [g["name"] for g in groups] == [
        "keel-semantic-search-records",
        "keel-semantic-search-alerts",
    ]
    out = tmp_path / "out" / "rules.yaml"
    base = ["export", "prometheus", "Deployment/semantic-search", "--root", str(root)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*base, "-o", str(out), "--runbook-base-url", "https://git.example/r/"]) == 0
    written = yaml.safe_load(out.read_text())["groups"][1]["rules"][0]["annotations"]
    assert written["runbook_url"].startswith("https://git.example/r/manifests/runbooks/")


def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(example_tree(), tmp_path)
    base = ["export", "prometheus", "--root", str(root)]
    assert main([*base, "Model/all-minilm-l6-v2"]) == 2
    assert "no such Deployment" in capsys.readouterr().err
    assert main([*base, "Deployment/semantic-search", "--tests", str(tmp_path / "t.yaml")]) == 2
    err = capsys.readouterr().err
    assert "--tests needs -o/--out" in err
    assert err.count("\n") == 1
