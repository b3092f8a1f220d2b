"""`keel ls` and `keel show` through the CLI, on the factories' deployment written to disk."""

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

Run = tuple[int, str, str]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> Run:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def columns(line: str) -> list[str]:
    return line.split()


def test_ls_lists_every_manifest_in_an_aligned_table(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    code, out, err = run(["ls"], capsys)
    assert (code, err) == (0, "")
    header, *rows, summary = out.splitlines()
    assert columns(header) == ["KIND", "NAME", "OWNER", "STATUS", "FILE"]
    assert summary == "16 manifests: 16 valid"
    listed = [tuple(columns(row)) for row in rows]
    expected = sorted(
        (data["kind"], data["metadata"]["name"], "search-platform@example.com", "valid",
         f"manifests/{stem}.yaml")
        for stem, data in manifests.items()
    )  # fmt: skip
    assert listed == expected
    # aligned: every column starts at the same offset on every line
    for column in ("NAME", "OWNER", "STATUS", "FILE"):
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows)


def test_ls_json_is_a_list_of_objects(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    code, out, _ = run(["ls", "-f", "json"], capsys)
    assert code == 0
    listed = json.loads(out)
    assert len(listed) == 16
    model = next(item for item in listed if item["ref"] == "Model/base")
    assert model == {
        "kind": "Model",
        "name": "base",
        "ref": "Model/base",
        "file": "manifests/model.yaml",
        "line": 1,
        "owner": "search-platform@example.com",
        "status": "valid",
        "problems": [],
    }
    assert [(i["kind"], i["name"]) for i in listed] == sorted(
        (i["kind"], i["name"]) for i in listed
    )


def test_ls_kind_in_any_case_keeps_that_kind(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_repo(manifests)
    evaluations = sorted(
        d["metadata"]["name"] for d in manifests.values() if d["kind"] == "Evaluation"
    )
    for spelling in ("Evaluation", "evaluation", "EVALUATION", "evaluations"):
        code, out, _ = run(["ls", spelling, "--root", str(root)], capsys)
        assert code == 0
        _, *rows, summary = out.splitlines()
        assert [columns(r)[:2] for r in rows] == [["Evaluation", n] for n in evaluations]
        assert summary == f"{len(evaluations)} Evaluation manifests: {len(evaluations)} valid"
    code, out, _ = run(["ls", "Audit", "--root", str(root)], capsys)
    assert (code, out) == (0, "0 Audit manifests: 0 valid\n")


def test_ls_unknown_kind_is_a_one_line_usage_error(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    code, out, err = run(["ls", "Modle"], capsys)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(
        "keel: error: unknown kind 'Modle'; did you mean 'Model'? (kinds: Adapter,"
    )


def test_ls_reports_invalid_manifests_and_still_exits_0(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests["model"]["spec"]["source"]["hub"]["revision"] = "v1.0"  # a schema problem
    manifests["deployment"]["spec"]["tokenizer"] = "Tokenizer/bsae"  # a dangling reference
    root = make_repo(manifests)
    (root / "manifests" / "broken.yaml").write_text(
        "kind: Dataset\nmetadata:\n  name: rows\n  x: [\n"
    )
    (root / "manifests" / "model-copy.yaml").write_text(yaml.safe_dump(manifests["tokenizer"]))
    nameless = "apiVersion: keel/v1\nkind: Dataset\nmetadata:\n  owner: data@example.com\n"
    (root / "manifests" / "nameless.yaml").write_text(nameless)
    monkeypatch.chdir(root)
    code, out, _ = run(["ls"], capsys)
    assert code == 0
    rows = {(c[0], c[1], c[-1]): " ".join(c[3:-1]) for c in map(columns, out.splitlines()[1:-1])}
    assert rows[("Model", "base", "manifests/model.yaml")] == "invalid (1 problem)"
    assert rows[("Deployment", "search", "manifests/deployment.yaml")] == "invalid (1 problem)"
    assert rows[("Dataset", "rows", "manifests/broken.yaml")] == "invalid (1 problem)"
    # the name defined twice: the first file keeps it, the second is the problem
    assert rows[("Tokenizer", "base", "manifests/model-copy.yaml")] == "valid"
    assert rows[("Tokenizer", "base", "manifests/tokenizer.yaml")] == "invalid (1 problem)"
    assert rows[("Adapter", "lora", "manifests/adapter.yaml")] == "valid"
    assert rows[("Dataset", "?", "manifests/nameless.yaml")].startswith("invalid (")
    assert out.splitlines()[-1] == (
        "19 manifests: 14 valid, 5 invalid "
        "(keel show Kind/name or keel validate lists the problems)"
    )
    listed = {(i["ref"], i["file"]): i for i in json.loads(run(["ls", "-f", "json"], capsys)[1])}
    problem = listed[("Model/base", "manifests/model.yaml")]["problems"][0]
    assert problem["field"] == "spec.source.hub.revision"
    assert problem["path"] == "manifests/model.yaml"
    broken = listed[("Dataset/rows", "manifests/broken.yaml")]
    assert broken["owner"] is None
    assert broken["problems"][0]["message"].startswith("not valid YAML")
    assert listed[("Dataset/?", "manifests/nameless.yaml")]["owner"] == "data@example.com"
    duplicate = listed[("Tokenizer/base", "manifests/tokenizer.yaml")]["problems"][0]
    assert duplicate["message"].startswith("duplicate name: Tokenizer/base is already defined at")


def test_ls_shows_a_keel_new_template_as_placeholders_left(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    assert run(["new", "Requirements", "latency-first"], capsys)[0] == 0
    _, validated, _ = run(["validate"], capsys)
    left = validated.count("placeholder not filled in")
    assert left > 1
    code, out, _ = run(["ls", "requirements"], capsys)
    assert code == 0
    assert out.splitlines()[1:] == [
        f"Requirements  latency-first  -                            placeholders ({left} left)  "
        "manifests/requirements/latency-first.yaml",
        "Requirements  search         search-platform@example.com  valid                  "
        "manifests/requirements.yaml",
        "2 Requirements manifests: 1 valid, 1 with placeholders left "
        "(keel show Kind/name or keel validate lists the problems)",
    ]
    listed = json.loads(run(["ls", "Requirements", "-f", "json"], capsys)[1])
    assert [i["status"] for i in listed] == ["placeholders", "valid"]
    assert {p["check"] for p in listed[0]["problems"]} == {"placeholders"}


def test_show_prints_what_a_manifest_needs_and_what_needs_it(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    code, out, err = run(["show", "Deployment/search"], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == [
        "Deployment/search  valid",
        "file:   manifests/deployment.yaml:1",
        "owner:  search-platform@example.com",
    ]
    needs = lines[lines.index("needs (10):") + 1 : lines.index("needed by (1):")]
    assert columns(needs[2]) == ["spec.model", "Model/base", "valid", "manifests/model.yaml"]
    assert columns(lines[lines.index("needed by (1):") + 1]) == [
        "Evaluation/search-canary", "spec.subject", "valid", "manifests/eval-search-canary.yaml",
    ]  # fmt: skip
    written = "\n".join(lines[lines.index("manifest:") + 1 :])
    assert yaml.safe_load(written) == manifests["deployment"]

    code, out, _ = run(["show", "model/base", "-f", "json"], capsys)
    shown = json.loads(out)
    assert code == 0
    assert shown["ref"] == "Model/base"
    assert shown["needs"] == []
    needed_by = {(link["ref"], link["field"]) for link in shown["neededBy"]}
    assert ("Deployment/search", "spec.model") in needed_by
    assert ("Tokenizer/base", "spec.model") in needed_by
    assert shown["manifest"] == manifests["model"]
    assert yaml.safe_load(run(["show", "Model/base", "-f", "yaml"], capsys)[1]) == shown


def test_show_marks_missing_and_invalid_references(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests["deployment"]["spec"]["tokenizer"] = "Tokenizer/bsae"
    manifests["model"]["spec"]["license"] = ""
    monkeypatch.chdir(make_repo(manifests))
    code, out, _ = run(["show", "Deployment/search", "-f", "json"], capsys)
    assert code == 0
    shown = json.loads(out)
    assert shown["status"] == "invalid"
    links = {link["field"]: link for link in shown["needs"]}
    assert links["spec.tokenizer"] == {
        "field": "spec.tokenizer", "ref": "Tokenizer/bsae", "file": None, "status": "missing",
    }  # fmt: skip
    assert links["spec.model"]["status"] == "invalid"
    assert [p["message"] for p in shown["problems"]] == [
        "Tokenizer/bsae does not exist in the manifests; did you mean Tokenizer/base?"
    ]
    # a manifest that does not validate is still shown, its references read as written
    code, out, _ = run(["show", "Model/base"], capsys)
    assert code == 0
    assert out.startswith("Model/base  invalid (1 problem)\n")
    problem = out.split("\nproblems (1):\n")[1].splitlines()[0]
    assert problem.startswith("  manifests/model.yaml:")
    assert ": spec.license: " in problem
    assert "Model/base" not in problem  # named once, at the top
    needed_by = out.split("needed by (")[1].split("\n\n")[0].splitlines()[1:]
    assert ["Deployment/search", "spec.model", "invalid", "manifests/deployment.yaml"] in [
        columns(line) for line in needed_by
    ]
    # nor does the Deployment once it has an unknown field: its references as written
    manifests["deployment"]["spec"]["replicas"] = 3
    (Path("manifests") / "deployment.yaml").write_text(yaml.safe_dump(manifests["deployment"]))
    shown = json.loads(run(["show", "Deployment/search", "-f", "json"], capsys)[1])
    assert shown["problems"][0]["message"].startswith("unknown field")
    assert len(shown["needs"]) == 10
    assert {link["field"]: link["status"] for link in shown["needs"]}["spec.model"] == "invalid"


def test_show_unknown_manifest_is_a_one_line_usage_error(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(make_repo(manifests))
    cases = {
        "Model/bsae": "keel: error: Model/bsae: no manifest of that name in manifests/; "
        "did you mean Model/base?",
        "Modl/base": "keel: error: unknown kind 'Modl'; did you mean 'Model'?",
        "Model": "keel: error: expected Kind/name (e.g. Model/base), got 'Model'",
    }
    for ref, message in cases.items():
        code, out, err = run(["show", ref], capsys)
        assert (code, out) == (2, "")
        assert len(err.splitlines()) == 1
        assert err.startswith(message)


def test_ls_reads_through_the_document_cache(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_repo(manifests)
    (root / ".keel").mkdir()
    first = run(["ls", "--root", str(root)], capsys)
    assert (root / ".keel" / "documents.sqlite").is_file()
    assert run(["ls", "--root", str(root)], capsys) == first


def test_ls_and_show_import_nothing_heavy(
    manifests: dict[str, Any], make_repo: Callable[..., Path]
) -> None:
    root = make_repo(manifests)
    probe = (
        "import sys\n"
        "from toolkit.cli import main\n"
        "codes = [main(['ls']), main(['show', 'Deployment/search', '-f', 'yaml'])]\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = sorted(loaded & {'torch', 'transformers', 'peft', 'dvc', 'git'})\n"
        "print(f'CODES={codes} HEAVY=' + ','.join(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, env=env, check=True
    )
    assert "16 manifests: 16 valid" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "CODES=[0, 0] HEAVY="


def test_ls_lists_files_it_refuses_to_read_without_reading_them(
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A FIFO would block a read forever and a symlink out of the repository must not be
    followed: both are listed as invalid files, and the rest of the listing is intact."""
    root = make_repo(manifests)
    outside = tmp_path / "outside.yaml"
    outside.write_text(yaml.safe_dump(manifests["model"]))
    (root / "manifests" / "link.yaml").symlink_to(outside)
    os.mkfifo(root / "manifests" / "pipe.yaml")
    code, out, _ = run(["ls", "--root", str(root), "-f", "json"], capsys)
    assert code == 0
    listed = json.loads(out)
    refused = {i["file"]: i["problems"][0]["message"] for i in listed if i["ref"] == "?/?"}
    assert refused == {
        "manifests/link.yaml": "symlink leads outside the repository; manifests must live "
        "inside it",
        "manifests/pipe.yaml": "not a regular file (a FIFO, socket or device?): a manifest is "
        "a file",
    }
    assert sum(1 for i in listed if i["status"] == "valid") == 16
