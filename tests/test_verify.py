"""`keel verify`: real files, real hashes, the stat cache, and every way a file can be wrong."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from factories import with_real_files

from toolkit.cli import main
from toolkit.workflows.artifacts.verify import verify
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def repo(manifests: dict[str, Any], make_repo: Callable[..., Path], tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    return make_repo(with_real_files(root, manifests))


def test_untouched_files_verify(repo: Path) -> None:
    result = verify(repo)
    assert result.ok, [p.render() for p in result.problems]
    assert result.checked == 5
    assert result.cache_hits == 0
    again = verify(repo)
    assert (again.ok, again.cache_hits, again.bytes_hashed) == (True, 5, 0)


def test_a_flipped_byte_names_the_file_and_both_digests(repo: Path) -> None:
    path = repo / "artifacts/datasets/canary/canary.jsonl"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    verify(repo)  # warm the cache first: a changed file must still be noticed
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    found = hashlib.sha256(bytes(data)).hexdigest()
    result = verify(repo)
    assert [p.render() for p in result.problems] == [
        f"artifacts/datasets/canary/canary.jsonl: expected sha256 {expected}, found {found}"
    ]


def test_same_size_and_mtime_is_still_caught_through_ctime(repo: Path) -> None:
    path = repo / "artifacts/models/base/config.json"
    verify(repo)
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"bert", b"BERT"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    result = verify(repo)
    assert [p.field for p in result.problems] == ["sha256"]
    assert result.cache_hits == 4


def test_replaced_file_with_same_stat_fields_is_caught_through_the_inode(repo: Path) -> None:
    path = repo / "artifacts/datasets/canary/canary.jsonl"
    verify(repo)
    replacement = path.with_name("new.jsonl")
    replacement.write_bytes(path.read_bytes().upper())
    os.replace(replacement, path)
    assert not verify(repo).ok


def test_tensor_digest_is_the_second_layer(repo: Path, manifests: dict[str, Any]) -> None:
    import yaml

    manifest_path = repo / "manifests" / "adapter.yaml"
    data = yaml.safe_load(manifest_path.read_text())
    data["spec"]["files"][0]["tensorDigest"] = "sha256:" + "0" * 64
    manifest_path.write_text(yaml.safe_dump(data))
    result = verify(repo)
    assert [p.field for p in result.problems] == ["tensorDigest"]
    assert "expected tensor digest sha256:000" in result.problems[0].render()


def test_missing_file_and_symlink_outside(repo: Path, tmp_path: Path) -> None:
    (repo / "artifacts/models/base/vocab.txt").unlink()
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"x")
    config = repo / "artifacts/models/base/config.json"
    config.unlink()
    config.symlink_to(outside)
    messages = sorted(p.render() for p in verify(repo).problems)
    assert messages == [
        "artifacts/models/base/config.json: leads outside the repository (a symlink?); "
        "artifacts must live inside it",
        "artifacts/models/base/vocab.txt: missing; run `keel pull` or `dvc pull` to fetch it",
    ]


def test_extra_files_are_reported_but_not_fatal(repo: Path) -> None:
    (repo / "artifacts/models/base/notes.txt").write_text("scratch")
    result = verify(repo)
    assert result.ok
    assert result.extra == ("artifacts/models/base/notes.txt",)


def test_refs_select_what_a_deployment_needs(repo: Path) -> None:
    (repo / "artifacts/adapters/lora/adapter_model.safetensors").write_bytes(b"broken")
    assert not verify(repo, ["Deployment/search"]).ok
    assert verify(repo, ["Dataset/canary"]).ok
    assert verify(repo, ["Tokenizer/base"]).checked == 1  # its own file, not its Model's


def test_no_cache_hashes_everything_again(repo: Path) -> None:
    verify(repo)
    assert verify(repo, use_cache=False).cache_hits == 0


def test_a_corrupt_cache_is_thrown_away(repo: Path) -> None:
    verify(repo)
    (repo / ".keel" / "statcache.sqlite").write_bytes(b"not a database at all" * 100)
    result = verify(repo)
    assert result.ok
    assert result.cache_hits == 0


def test_validate_with_checksums_reports_on_the_manifest_line(repo: Path) -> None:
    (repo / "artifacts/datasets/canary/canary.jsonl").write_text("changed\n")
    findings = validate(repo, checksums=True).findings
    assert len(findings) == 1
    assert findings[0].path.name == "canary.yaml"
    assert findings[0].field == "spec.files[0].sha256"
    assert findings[0].check == "checksums"
    assert validate(repo).ok, "without --checksums no file is read"


def test_cli_exit_codes(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert main(["verify"]) == 0
    assert "5 files checked (0 unchanged since last time" in capsys.readouterr().out
    (repo / "artifacts/models/base/vocab.txt").write_text("other")
    assert main(["verify"]) == 1
    assert "artifacts/models/base/vocab.txt: expected sha256" in capsys.readouterr().out
    assert main(["verify", "Model/nope"]) == 2
    assert "Model/nope: no such manifest" in capsys.readouterr().err


def test_warm_verify_loads_no_model_of_the_manifests(repo: Path) -> None:
    """While no manifest changed, the verify plan comes from the cache: no pydantic import."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from toolkit.cli import main\n"
        "code = main(['verify'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'dvc', 'torch'})\n"
        "print(code, ','.join(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=repo,
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    assert run() == "0 pydantic", "the first run validates the manifests to build its plan"
    assert run() == "0", "the second run reuses the plan"


def test_an_edited_manifest_invalidates_the_plan(repo: Path) -> None:
    assert verify(repo).ok
    manifest = repo / "manifests" / "canary.yaml"
    text = manifest.read_text()
    sha = hashlib.sha256((repo / "artifacts/datasets/canary/canary.jsonl").read_bytes()).hexdigest()
    manifest.write_text(text.replace(sha, "f" * 64))
    assert [p.field for p in verify(repo).problems] == ["sha256"]


def test_a_file_changed_while_hashing_is_reported_not_recorded(tmp_path: Path) -> None:
    from toolkit.core.hashing import FileChangedError, hash_file

    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"\0" * (3 << 20))
    calls = []

    def append_once(n: int) -> None:  # the writer of the file strikes mid-read
        if not calls:
            with path.open("ab") as handle:
                handle.write(b"more")
        calls.append(n)

    with pytest.raises(FileChangedError, match="changed while it was being hashed"):
        hash_file(path, on_bytes=append_once)


def test_validate_compares_parameters_with_the_headers(
    repo: Path, manifests: dict[str, Any]
) -> None:
    import yaml

    path = repo / "manifests" / "model.yaml"
    data = yaml.safe_load(path.read_text())
    data["spec"]["parameters"] = 17
    path.write_text(yaml.safe_dump(data))
    found = [f.render() for f in validate(repo).findings]
    assert any(
        "spec.parameters: 17 recorded, but the safetensors headers hold 16 floating-point" in f
        for f in found
    ), found
    assert any(
        "spec.memoryBudget.parameters: 16 parameters budgeted, but Model/base has 17" in f
        for f in found
    )


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (17 << 20) + 3])
def test_one_pass_digests_equal_hashlib(tmp_path: Path, size: int) -> None:
    """The aligned, double-buffered, two-thread read loop gives hashlib's answers."""
    from toolkit.core.hashing import hash_file

    path = tmp_path / "blob"
    data = os.urandom(size)
    path.write_bytes(data)
    hashes = hash_file(path, md5=True)
    assert (hashes.sha256, hashes.md5, hashes.size) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        size,
    )
    assert hash_file(path).sha256 == hashlib.sha256(data).hexdigest()


def test_paths_narrow_the_check_to_what_they_name(repo: Path) -> None:
    (repo / "artifacts/adapters/lora/adapter_model.safetensors").write_bytes(b"broken weights")
    assert verify(repo, paths=[repo / "manifests/canary.yaml"]).ok
    by_manifest = verify(repo, paths=[repo / "manifests/adapter.yaml"])
    assert [p.field for p in by_manifest.problems] == ["sha256", "tensorDigest"]
    by_dvc_file = verify(
        repo, paths=[repo / "artifacts/adapters/lora/adapter_model.safetensors.dvc"]
    )
    assert [p.field for p in by_dvc_file.problems] == ["sha256", "tensorDigest"]
    assert verify(repo, paths=[repo / "README.md"]).checked == 0


def test_a_verification_reports_its_problems_as_findings(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Problems and files no manifest names are findings: about the file (relative to the
    repository, no line) without the graph, on the manifest's line with it; an extra file is
    a warning, an error under --strict."""
    import json

    from toolkit.core.findings import Severity
    from toolkit.core.reporters import as_json
    from toolkit.workflows.artifacts.verify import load_graph

    (repo / "artifacts/models/base/vocab.txt").write_text("other")
    (repo / "artifacts/models/base/notes.txt").write_text("not pinned")
    result = verify(repo)

    [problem] = result.findings()
    assert (str(problem.path), problem.line, problem.ref, problem.field, problem.check) == (
        "artifacts/models/base/vocab.txt",
        0,
        "Tokenizer/base",
        "spec.files[0].sha256",
        "checksums",
    )
    [located] = result.findings(load_graph(repo))
    assert (located.path, located.line) == (repo / "manifests/tokenizer.yaml", 12)
    [extra] = result.extra_findings()
    assert (str(extra.path), extra.severity) == (
        "artifacts/models/base/notes.txt",
        Severity.warning,
    )
    assert result.extra_findings(strict=True)[0].severity == Severity.error
    report = json.loads(as_json(result.report()))
    assert report["ok"] is False
    assert [f["severity"] for f in report["findings"]] == ["error", "warning"]

    monkeypatch.chdir(repo / "artifacts")  # paths stay relative to the repository
    assert main(["verify", "--root", str(repo), "--strict"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("artifacts/models/base/vocab.txt: expected sha256 ")
    assert lines[1:] == [
        "artifacts/models/base/notes.txt: not named by any manifest",
        "5 files checked (5 unchanged since last time, 0.0 MB hashed): 1 problem",
    ]


def test_a_manifest_that_does_not_validate_is_reported_not_skipped(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its files cannot be known, so they are unchecked: a problem with the reason, exit 1,
    never a silent "all match" (cold and warm plan alike)."""
    manifest = repo / "manifests" / "canary.yaml"
    manifest.write_text(manifest.read_text().replace("spec:", "spec:\n  surprise: 1", 1))
    for _ in range(2):
        result = verify(repo)
        assert not result.ok
        assert [(u.path.name, u.ref) for u in result.unchecked] == [
            ("canary.yaml", "Dataset/canary")
        ]
        assert "spec.surprise: unknown field" in result.unchecked[0].reason
    monkeypatch.chdir(repo)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "manifests/canary.yaml:8: its files were not checked: the manifest does not" in out
    assert "1 manifest not readable): 1 problem" in out
    assert "all match" not in out
    assert main(["verify", "--skip-missing", "manifests/canary.yaml"]) == 1, "the hook mode too"
    assert main(["verify", "--skip-missing", "manifests/model.yaml"]) == 0, "other files pass"


def test_a_manifest_that_does_not_load_is_reported_not_skipped(repo: Path) -> None:
    manifest = repo / "manifests" / "canary.yaml"
    manifest.write_text(manifest.read_text() + "\n  : [unclosed\n")
    result = verify(repo)
    assert not result.ok
    assert [u.path.name for u in result.unchecked] == ["canary.yaml"]
