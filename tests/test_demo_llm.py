"""`keel demo DIR --example llm`: the generative example, shipped valid, and lived end to end.

The fast tests check the shipped manifests (valid, laid out and committed by the demo, equal to
what scripts/write_llm_example.py writes); the slow one runs the whole demo through the CLI in
a clean directory (train a tiny Llama from scratch, LoRA, int8, evaluate, push, reproduce and
serve with streaming), then runs it again to resume.
"""

from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import git
import pytest

from toolkit.cli import main
from toolkit.workflows.demo.demo import example_tree
from toolkit.workflows.demo.state import LLM_EXAMPLE_MESSAGE, REPORT

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).parents[1]
KEEL = Path(sys.executable).with_name("keel")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "write_llm_example", ROOT / "scripts" / "write_llm_example.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_llm_example_is_what_the_script_writes(tmp_path: Path) -> None:
    script = _script()
    rows = script.ex.dataset_rows()
    documents = script.build({name: len(found) for name, found in rows.items()})
    script.write(script.measured(documents), tmp_path)
    shipped = example_tree("llm") / "manifests"
    written = sorted(
        p.relative_to(tmp_path / "manifests") for p in (tmp_path / "manifests").rglob("*.yaml")
    )
    assert written == sorted(p.relative_to(shipped) for p in shipped.rglob("*.yaml"))
    for relative in written:
        assert filecmp.cmp(tmp_path / "manifests" / relative, shipped / relative, shallow=False), (
            f"{relative} differs from the packaged copy; run scripts/write_llm_example.py"
        )


def test_the_llm_example_is_not_the_project_example() -> None:
    """The MiniLM example stays the default and what manifests/ holds."""
    project = {p.name for p in (ROOT / "manifests").rglob("*.yaml")}
    assert "pydoc-assistant.yaml" not in project
    assert "semantic-search.yaml" in {p.name for p in example_tree().rglob("*.yaml")}


def test_demo_llm_lays_out_a_valid_committed_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "llm"
    assert main(["demo", str(root), "--example", "llm", "--manifests-only"]) == 0
    out = capsys.readouterr().out
    assert "manifests/deployments/pydoc-assistant.yaml" in out
    assert "17 manifests in 17 files: valid" in out
    assert "the example LLM deployment (pydoc-assistant)" in out
    repo = git.Repo(root)
    assert not repo.is_dirty(untracked_files=True)
    assert [c.summary for c in repo.iter_commits()] == [LLM_EXAMPLE_MESSAGE]
    deployment = (root / "manifests" / "deployments" / "pydoc-assistant.yaml").read_text()
    assert "/v1/completions" not in deployment  # the contract is the schema, not the path
    assert "messages:" in deployment
    assert "stream:" in deployment
    assert "timeToFirstTokenP95Ms" in deployment


def test_the_llm_example_serves_the_generation_contract(tmp_path: Path) -> None:
    from toolkit.core.contracts import contract_kind
    from toolkit.manifests import Deployment
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.demo.demo import demo

    result = demo(tmp_path / "llm", example="llm")
    graph = load_graph(result.root)
    deployment = graph.get_as("Deployment/pydoc-assistant", Deployment)
    assert deployment is not None
    assert contract_kind(deployment) == "generation"


def test_demo_resumes_only_the_example_it_was_made_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "llm"
    assert main(["demo", str(root), "--example", "llm", "--manifests-only"]) == 0
    capsys.readouterr()
    assert main(["demo", str(root), "--manifests-only"]) == 2
    err = capsys.readouterr().err
    assert "holds the llm example, not minilm" in err
    assert "--example llm" in err
    assert main(["demo", str(root), "--example", "llm", "--manifests-only"]) == 0
    assert f"resuming {root}: an earlier run committed example" in capsys.readouterr().out


def _served_llm_passes_its_live_canary(root: Path) -> None:
    """The demo's deployment behind `keel serve` on a loopback port answers `keel canary` with
    the recorded tokens (issue 16: every example deployment served and canaried)."""
    from toolkit.workflows.serve import serve_deployment

    with serve_deployment(root, "Deployment/pydoc-assistant", port=0) as server:
        result = subprocess.run(
            [str(KEEL), "canary", "Deployment/pydoc-assistant", "--endpoint", server.url,
             "--root", str(root), "-f", "json"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is True, outcome


def _run_demo(root: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DVC_NO_ANALYTICS": "1",
    }
    return subprocess.run(
        [str(KEEL), "demo", str(root), "--example", "llm"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _stage(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(stage for stage in report["stages"] if stage["name"] == name)


@pytest.mark.slow
def test_demo_llm_end_to_end_and_resumed(tmp_path: Path) -> None:
    root = tmp_path / "keel-llm"
    first = _run_demo(root, timeout=900)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert "keel pin: pydoc-llama" in first.stdout
    report = json.loads((root / REPORT).with_suffix(".json").read_text())
    assert report["ok"] is True
    assert report["deployment"] == "Deployment/pydoc-assistant"
    canary = _stage(report, "canary")
    assert canary["status"] == "passed"
    assert "exact" in canary["summary"], canary
    serve = _stage(report, "serve")
    assert serve["status"] == "passed"
    # every canary prompt answered whole and streamed (server-sent events), the same tokens
    assert serve["details"].get("streamed") == canary["details"]["examples"], serve
    assert "streamed" in serve["summary"]
    subjects = [c.summary for c in git.Repo(root).iter_commits()]
    for prefix in (
        "keel demo: ",
        "keel track: ",
        "keel pin: ",
        "keel train: ",
        "keel quantize: ",
        "keel evaluate: ",
    ):
        assert any(s.startswith(prefix) for s in subjects), (prefix, subjects)

    _served_llm_passes_its_live_canary(root)

    again = _run_demo(root, timeout=600)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert f"resuming {root}: an earlier run committed example, data, pin, train" in again.stdout
    assert "done by an earlier run" in again.stdout
    assert [c.summary for c in git.Repo(root).iter_commits()] == subjects  # nothing redone
