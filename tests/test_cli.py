"""The click wiring: exit codes, formats, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from toolkit.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_repository_exits_0(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    code, out, _ = run(["validate"], capsys)
    assert code == 0
    assert out.strip() == "16 manifests in 16 files: valid"


def test_problems_exit_1_with_one_line_each(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests["model"]["spec"]["source"]["hub"]["revision"] = "v1.0"
    monkeypatch.chdir(make_repo(manifests))
    code, out, err = run(["validate"], capsys)
    assert code == 1
    assert out.splitlines() == [
        "manifests/model.yaml:11: Model/base: spec.source.hub.revision: expected a full 40-hex "
        "commit sha, got 'v1.0' (a branch, tag or short sha can move; pin the commit)",
        "15 manifests in 16 files: 1 problem",
    ]
    assert "Traceback" not in out + err


def test_json_format_is_machine_readable(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests["canary"]["spec"]["rows"] = "many"
    monkeypatch.chdir(make_repo(manifests))
    code, out, _ = run(["validate", "--format", "json"], capsys)
    report = json.loads(out)
    assert code == 1
    assert report["valid"] is False
    assert report["findings"] == [
        {
            "path": "manifests/canary.yaml",
            "line": 14,
            "ref": "Dataset/canary",
            "field": "spec.rows",
            "check": "schema",
            "severity": "error",
            "message": "expected an integer, got the string 'many'",
        }
    ]


def test_github_format_emits_annotations(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests["tokenizer"]["spec"]["model"] = "Model/gone"
    monkeypatch.chdir(make_repo(manifests))
    code, out, _ = run(["validate", "--format", "github"], capsys)
    assert code == 1
    assert out.splitlines()[1] == (
        "::error file=manifests/tokenizer.yaml,line=8,title=keel references%3A Tokenizer/base"
        "::spec.model: Model/gone does not exist in the manifests; did you mean Model/base?"
    )


def test_missing_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["validate", "nope.yaml"], capsys)
    assert code == 2
    assert err.strip() == "keel: error: nope.yaml: no such file or directory"


def test_no_manifests_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["validate"], capsys)
    assert code == 2
    assert "no manifests/ directory here; run `keel init` or name the files" in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", "--frmat", "json"], capsys)
    assert code == 2
    assert "No such option '--frmat'" in err


def test_validate_a_single_file_resolves_against_the_whole_tree(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests["runbook"]["spec"]["reviewIntervalDays"] = 0
    monkeypatch.chdir(make_repo(manifests))
    code, out, _ = run(["validate", "manifests/adapter.yaml"], capsys)
    assert (code, out.strip()) == (0, "1 manifest in 1 file: valid")
    code, out, _ = run(["validate", "manifests/runbook.yaml"], capsys)
    assert code == 1
    assert "spec.reviewIntervalDays: Input should be greater than 0, got 0" in out


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in ("demo", "init", "new", "schema", "validate"):
        assert f"  {command} " in out


def test_light_start_imports_nothing_heavy(
    manifests: dict[str, Any], make_repo: Callable[..., Path]
) -> None:
    """`keel --help` and `keel validate` must not import torch, transformers, peft or dvc."""
    root = make_repo(manifests)
    probe = (
        "import sys\n"
        "from toolkit.cli import main\n"
        "for args in (['--help'], ['validate'], ['validate', '--format', 'json']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = sorted(loaded & {'torch', 'transformers', 'peft', 'dvc', 'git'})\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, env=env, check=True
    )
    assert "16 manifests in 16 files: valid" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY="


def test_new_writes_a_template_that_validates_once_filled(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_repo(manifests)
    monkeypatch.chdir(root)
    code, out, _ = run(["new", "Requirements", "latency-first"], capsys)
    path = root / "manifests" / "requirements" / "latency-first.yaml"
    assert code == 0
    assert path.exists()
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=../../schemas/requirements.schema.json\n"
    )
    code, out, _ = run(["validate"], capsys)
    assert code == 1
    assert "manifests/requirements/latency-first.yaml:" in out
    assert "placeholder not filled in: <fill: one of classification | extraction" in out
    code, _, err = run(["new", "Requirements", "latency-first"], capsys)
    assert code == 2
    assert "exists already" in err


def test_init_twice_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "fresh"
    assert run(["init", str(target)], capsys)[0] == 0
    snapshot = {
        p: p.read_bytes() for p in target.rglob("*") if p.is_file() and ".git/" not in str(p)
    }
    code, out, _ = run(["init", str(target)], capsys)
    assert code == 0
    assert "created" not in out
    after = {p: p.read_bytes() for p in target.rglob("*") if p.is_file() and ".git/" not in str(p)}
    assert after == snapshot
    config = (target / ".dvc" / "config").read_text()
    assert 'remote "keel"' in config
    remote = Path(config.split("url = ")[1].strip())
    assert remote.is_dir()
    assert not remote.is_relative_to(target)
    hooks = yaml.safe_load((target / ".pre-commit-config.yaml").read_text())
    assert hooks["repos"][0]["hooks"][0]["id"] == "keel-validate"
    assert (target / "schemas" / "deployment.schema.json").is_file()
    assert sorted(p.name for p in (target / "manifests").iterdir())[:3] == [
        "adapters",
        "audits",
        "datasets",
    ]


def test_cli_reference_is_current() -> None:
    from toolkit.cli.reference import render_reference

    committed = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert committed == render_reference(), "run: python -m toolkit.cli.reference > docs/cli.md"


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    from toolkit.core.fsutil import write_atomic

    path = tmp_path / "a.yaml"
    write_atomic(path, "a: 1\n")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    path.chmod(0o640)
    write_atomic(path, "a: 2\n")
    assert (path.stat().st_mode & 0o777, path.read_text()) == (0o640, "a: 2\n")
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"], "no temp file left behind"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_neighbours_mode_reports_the_manifest_a_change_breaks(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the Evaluation is staged, but the Deployment citing it now fails its gate."""
    manifests["eval-search-canary"]["spec"]["metrics"][0]["value"] = 0.5
    monkeypatch.chdir(make_repo(manifests))
    code, out, _ = run(["validate", "manifests/eval-search-canary.yaml"], capsys)
    assert code == 0, "alone, the Evaluation itself is valid"
    code, out, _ = run(["validate", "--neighbours", "manifests/eval-search-canary.yaml"], capsys)
    assert code == 1
    assert "manifests/deployment.yaml:" in out
    assert "Evaluation/search-canary recall_at_1 = 0.5 is below the minimum 0.8" in out
