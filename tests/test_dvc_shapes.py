"""`.dvc` and `dvc.lock` files in every shape DVC writes or reads, read as DVC reads them.

The shapes follow DVC's schema (`dvc/schema.py`, `dvc/output.py`) and the files DVC's own
versions write: DVC 3 (`hash: md5`), DVC 2 (no `hash`: md5-dos2unix), DVC before 1.10 (no
`size`), DVC 1 (`metric:` on an output, which DVC 3's schema refuses), `import-url` (an etag),
directory outputs, several outputs, and git conflict markers. Every shape goes to both readers
(the light one `keel validate` uses and the bridge over DVC's loader) and they must agree; then
each finding keel raises is cleared by the command it names, in a real repository.
"""

from __future__ import annotations

import hashlib
import shutil
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from factories import with_real_files, write_set

from toolkit.bridges.dvcfiles import load_dvc, load_lock
from toolkit.core.dvcfiles import CONFLICT, NOT_DVC, NOT_YAML, read_dvc, read_lock
from toolkit.core.errors import UsageError
from toolkit.core.findings import Severity
from toolkit.workflows.artifacts.track import track
from toolkit.workflows.authoring.init import init
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

MD5 = "9b1b0a05fdc9aef2b6d5d9f1cd3d2d63"
DOS = "1a79a4d60de6718e8e5b326e338ae533"

# name -> .dvc text; every output names `data.txt` unless the shape is about the path
DVC_SHAPES: dict[str, str] = {
    "dvc3": f"outs:\n- md5: {MD5}\n  size: 4\n  hash: md5\n  path: data.txt\n",
    "dvc3-annotated": (
        f"outs:\n- md5: {MD5}\n  size: 4\n  hash: md5\n  path: data.txt\n  desc: rows\n"
        "  type: dataset\n  labels: [a]\n  remote: backup\n  push: false\n  cache: true\n"
    ),
    "dvc2-dos2unix": f"outs:\n- md5: {DOS}\n  size: 4\n  path: data.txt\n",
    "explicit-dos2unix": (
        f"outs:\n- md5: {DOS}\n  size: 4\n  hash: md5-dos2unix\n  path: data.txt\n"
    ),
    "dvc1-no-size": f"outs:\n- md5: {MD5}\n  path: data.txt\n",
    "dvc1-metric": (
        f"md5: {DOS}\nwdir: .\nouts:\n- md5: {MD5}\n  path: data.txt\n  cache: true\n"
        "  metric: false\n  persist: false\n"
    ),
    "import-url-etag": (
        f"md5: {DOS}\nfrozen: true\ndeps:\n- etag: '\"0x8DB0C4D5\"'\n  size: 4\n"
        "  path: s3://bucket/data.txt\nouts:\n- etag: '\"0x8DB0C4D5\"'\n  size: 4\n"
        "  path: data.txt\n"
    ),
    "import-url-dvc3": (
        f"md5: {DOS}\nfrozen: true\ndeps:\n- etag: '\"0x8DB0C4D5\"'\n  size: 4\n"
        f"  path: s3://bucket/data.txt\nouts:\n- md5: {MD5}\n  size: 4\n  hash: md5\n"
        "  path: data.txt\n"
    ),
    "external-s3-out": "outs:\n- etag: '\"0x8DB0C4D5\"'\n  size: 4\n  path: s3://bucket/data.txt\n",
    "directory": f"outs:\n- md5: {MD5}.dir\n  size: 8\n  nfiles: 2\n  hash: md5\n  path: data\n",
    "two-outs": (
        f"outs:\n- md5: {MD5}\n  size: 4\n  hash: md5\n  path: data.txt\n"
        f"- md5: {DOS}\n  size: 5\n  hash: md5\n  path: other.txt\n"
    ),
    "other-path": f"outs:\n- md5: {MD5}\n  size: 4\n  hash: md5\n  path: other.txt\n",
    "no-outs": "deps:\n- path: data.txt\n",
    "empty": "",
    "comments-only": "# written by hand\n",
    "over-1-MiB": (
        f"outs:\n- md5: {MD5}\n  size: 4\n  hash: md5\n  path: data.txt\n#{'x' * 2**20}\n"
    ),
    "conflict": (
        "outs:\n<<<<<<< HEAD\n- md5: " + MD5 + "\n  size: 4\n=======\n- md5: " + DOS + "\n"
        "  size: 5\n>>>>>>> feature\n  hash: md5\n  path: data.txt\n"
    ),
    "conflict-valid-yaml": (
        f"outs:\n- md5: {MD5}\n  size: 4\n  hash: md5\n  path: data.txt\n"
        "<<<<<<< HEAD\n=======\n>>>>>>> feature\n"
    ),
    "not-yaml": "outs: [md5: {\n",
    "unknown-key": f"outs:\n- md5: {MD5}\n  sha256: {MD5}\n  path: data.txt\n",
}

EXPECTED: dict[str, tuple[str | None, tuple[tuple[str, str | None, bool], ...]]] = {
    # shape: (problem kind, ((hash name, value, is a directory), ...))
    "dvc3": (None, (("md5", MD5, False),)),
    "dvc3-annotated": (None, (("md5", MD5, False),)),
    "dvc2-dos2unix": (None, (("md5-dos2unix", DOS, False),)),
    "explicit-dos2unix": (None, (("md5-dos2unix", None, False),)),  # DVC reads no value
    "dvc1-no-size": (None, (("md5-dos2unix", MD5, False),)),
    "dvc1-metric": (NOT_DVC, ()),
    "import-url-etag": (None, (("md5-dos2unix", None, False),)),
    "import-url-dvc3": (None, (("md5", MD5, False),)),
    "external-s3-out": (None, (("etag", '"0x8DB0C4D5"', False),)),
    "directory": (None, (("md5", MD5 + ".dir", True),)),
    "two-outs": (None, (("md5", MD5, False), ("md5", DOS, False))),
    "other-path": (None, (("md5", MD5, False),)),
    "no-outs": (None, ()),
    "empty": (None, ()),
    "comments-only": (None, ()),
    "over-1-MiB": (None, (("md5", MD5, False),)),  # no manifest-sized cap on DVC's files
    "conflict": (CONFLICT, ()),
    "conflict-valid-yaml": (CONFLICT, ()),
    "not-yaml": (NOT_YAML, ()),
    "unknown-key": (NOT_DVC, ()),
}

LOCK_SHAPES: dict[str, str] = {
    "lock-dvc3": (
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: python prepare.py\n    deps:\n"
        f"    - path: prepare.py\n      hash: md5\n      md5: {DOS}\n      size: 9\n"
        f"    outs:\n    - path: data.txt\n      hash: md5\n      md5: {MD5}\n      size: 4\n"
    ),
    "lock-dvc2": (
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: python prepare.py\n    outs:\n"
        f"    - path: data.txt\n      md5: {DOS}\n      size: 4\n"
    ),
    "lock-foreach-dir": (
        "schema: '2.0'\nstages:\n  split@train:\n    cmd: python split.py train\n"
        f"    params:\n      params.yaml:\n        seed: 1\n    outs:\n    - path: out/train\n"
        f"      hash: md5\n      md5: {MD5}.dir\n      size: 8\n      nfiles: 2\n"
    ),
    "lock-v1": f"prepare:\n  cmd: python prepare.py\n  outs:\n  - path: data.txt\n    md5: {MD5}\n",
    "lock-conflict": "schema: '2.0'\n<<<<<<< HEAD\nstages: {}\n=======\n>>>>>>> x\n",
}

LOCK_EXPECTED: dict[str, tuple[str | None, tuple[tuple[str, str, str, str | None], ...]]] = {
    "lock-dvc3": (None, (("prepare", "data.txt", "md5", MD5),)),
    "lock-dvc2": (None, (("prepare", "data.txt", "md5-dos2unix", DOS),)),
    "lock-foreach-dir": (None, (("split@train", "work/out/train", "md5", MD5 + ".dir"),)),
    "lock-v1": (NOT_DVC, ()),
    "lock-conflict": (CONFLICT, ()),
}
DVC_YAML = (
    "stages:\n  split:\n    foreach: [train]\n    do:\n      cmd: python split.py\n"
    "      wdir: work\n"
)


@pytest.mark.parametrize("shape", sorted(DVC_SHAPES))
def test_both_readers_read_each_dvc_shape_as_dvc_does(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "data.txt.dvc"
    path.write_text(DVC_SHAPES[shape])
    light, dvc = read_dvc(path), load_dvc(path)
    assert light is not None
    assert dvc is not None
    assert (light.outs, light.error_kind) == (dvc.outs, dvc.error_kind)
    kind, outs = EXPECTED[shape]
    assert light.error_kind == kind, light.error
    assert tuple((o.hash_name, o.value, o.isdir) for o in light.outs) == outs


@pytest.mark.parametrize("shape", sorted(LOCK_SHAPES))
def test_both_readers_read_each_dvc_lock_shape_as_dvc_does(tmp_path: Path, shape: str) -> None:
    (tmp_path / "dvc.lock").write_text(LOCK_SHAPES[shape])
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    light, dvc = read_lock(tmp_path / "dvc.lock"), load_lock(tmp_path / "dvc.lock")
    assert light is not None
    assert dvc is not None
    assert (light.outs, light.error_kind) == (dvc.outs, dvc.error_kind)
    kind, outs = LOCK_EXPECTED[shape]
    assert light.error_kind == kind, light.error
    found = tuple((o.stage, o.path, o.out.hash_name, o.out.value) for o in light.outs)
    assert found == outs


# ---- in a real repository: each finding is cleared by the command it names -------------------

MODEL_DIR = "artifacts/models/base"
CONFIG = f"{MODEL_DIR}/config.json"
FIX = f"keel track {CONFIG} --into Model/base"
CRLF = b'{\r\n  "model_type": "bert"\r\n}\r\n'
S3_DEP = "frozen: true\ndeps:\n- etag: '\"0x8DB0C4D5\"'\n  path: s3://bucket/config.json\n"


@pytest.fixture
def repo(tmp_path: Path, manifests: dict[str, Any]) -> Path:
    root = tmp_path / "repo"
    init(root)
    write_set(root, with_real_files(root, manifests))
    (root / CONFIG).write_bytes(CRLF)  # a text file with CRLF line ends, as on Windows
    track(root, [root / CONFIG], "Model/base")
    return root


def _digests(root: Path) -> dict[str, Any]:
    from dvc_data.hashfile.hash import file_md5
    from dvc_objects.fs import LocalFileSystem

    data = (root / CONFIG).read_bytes()
    dos = file_md5(str(root / CONFIG), LocalFileSystem(), name="md5-dos2unix")  # what DVC 2 wrote
    assert dos != hashlib.md5(data).hexdigest()
    return {"md5": hashlib.md5(data).hexdigest(), "dos": dos, "size": len(data)}


# shape name -> (.dvc text from the file's digests, part of the finding, its severity)
Shape = tuple["Callable[[dict[str, Any]], str]", str, Severity]
SCENARIOS: dict[str, Shape] = {
    "dvc2-crlf": (
        lambda d: f"outs:\n- md5: {d['dos']}\n  size: {d['size']}\n  path: config.json\n",
        f"records DVC 2's md5-dos2unix {{dos}} (text hashed with CRLF turned into LF), the "
        f"manifest md5 {{md5}}; run `{FIX}` to rewrite it in DVC 3's form",
        Severity.error,
    ),
    "explicit-dos2unix": (
        lambda d: f"outs:\n- md5: {d['dos']}\n  hash: md5-dos2unix\n  path: config.json\n",
        f"records no md5 DVC can use (nothing under hash md5-dos2unix), so keel push and pull "
        f"skip the file; run `{FIX}` to record it",
        Severity.warning,
    ),
    "dvc1-no-size": (
        lambda d: f"outs:\n- md5: {d['md5']}\n  path: config.json\n",
        f"was written by DVC 2 (md5-dos2unix, no `hash: md5`), which keel push and pull do not "
        f"move; run `{FIX}` to rewrite it in DVC 3's form",
        Severity.warning,
    ),
    "import-url-etag": (
        lambda d: (
            S3_DEP + f"outs:\n- etag: '\"0x8DB0C4D5\"'\n  size: {d['size']}\n  path: config.json\n"
        ),
        "records no md5 DVC can use (only an etag, as `dvc import-url` writes it)",
        Severity.warning,
    ),
    "conflict": (
        lambda d: (
            f"outs:\n<<<<<<< HEAD\n- md5: {d['md5']}\n=======\n- md5: {'0' * 32}\n"
            ">>>>>>> theirs\n  hash: md5\n  path: config.json\n"
        ),
        f"has git merge conflict markers: resolve the merge, or run `{FIX}`",
        Severity.error,
    ),
    "two-outs": (
        lambda d: (
            f"outs:\n- md5: {d['md5']}\n  size: {d['size']}\n  hash: md5\n"
            f"  path: config.json\n- md5: {'1' * 32}\n  size: 3\n  hash: md5\n  path: notes.txt\n"
        ),
        f"records 2 outputs (config.json, notes.txt); keel keeps one file per .dvc file: run "
        f"`{FIX}` (the others move to .dvc files of their own)",
        Severity.error,
    ),
    "other-path": (
        lambda d: f"outs:\n- md5: {'1' * 32}\n  size: 3\n  hash: md5\n  path: notes.txt\n",
        f"tracks notes.txt, not config.json; run `{FIX}`",
        Severity.error,
    ),
    "dvc1-metric": (
        lambda d: (
            f"md5: {'2' * 32}\nouts:\n- md5: {d['md5']}\n  path: config.json\n"
            "  cache: true\n  metric: false\n  persist: false\n"
        ),
        f"cannot be read by DVC (outs[0]: extra keys not allowed: metric); run `{FIX}` to "
        "write it again",
        Severity.error,
    ),
    "directory": (
        lambda d: f"outs:\n- md5: {d['md5']}.dir\n  nfiles: 2\n  hash: md5\n  path: config.json\n",
        f"records the directory config.json, not a file; run `{FIX}`",
        Severity.error,
    ),
    "dvc3-wrong-md5": (
        lambda d: (
            f"outs:\n- md5: {'3' * 32}\n  size: {d['size']}\n  hash: md5\n  path: config.json\n"
        ),
        f"records md5 {'3' * 32} and size {{size}}, the manifest md5 {{md5}} and size {{size}}",
        Severity.error,
    ),
}


def _dvc_findings(root: Path) -> list[Any]:
    return [f for f in validate(root).findings if f.check == "dvc"]


@pytest.mark.parametrize("shape", sorted(SCENARIOS))
def test_each_dvc_finding_is_cleared_by_the_command_it_names(repo: Path, shape: str) -> None:
    text, expected, severity = SCENARIOS[shape]
    digests = _digests(repo)
    dvc_path = repo / f"{CONFIG}.dvc"
    dvc_path.write_text(text(digests))

    findings = _dvc_findings(repo)
    assert [(f.message.split(" ", 1)[0], f.severity) for f in findings] == [
        (f"{CONFIG}.dvc", severity)
    ]
    assert expected.format(**digests) in findings[0].message
    assert findings[0].field == "spec.files[1].md5"

    result = track(repo, [repo / CONFIG], "Model/base")  # the command the finding names

    assert result.added_to_dvc == ((repo / CONFIG).resolve(),)
    assert _dvc_findings(repo) == []
    assert validate(repo).ok
    record = load_dvc(dvc_path)
    assert record is not None
    assert [(o.path, o.hash_name, o.value, o.size) for o in record.outs] == [
        ("config.json", "md5", digests["md5"], digests["size"])
    ]
    if "notes.txt" in text(digests):  # the other output moved to a .dvc file of its own
        moved = load_dvc(repo / MODEL_DIR / "notes.txt.dvc")
        assert moved is not None
        assert [(o.path, o.md5, o.size) for o in moved.outs] == [("notes.txt", "1" * 32, 3)]
    if "s3://" not in text(digests):  # DVC's own stage loader reads what keel wrote
        assert _dvc_reads(repo, dvc_path) == ("md5", digests["md5"])


def _dvc_reads(root: Path, dvc_path: Path) -> tuple[str, str]:
    from dvc.dvcfile import load_file
    from dvc.repo import Repo

    with Repo(str(root)) as dvc_repo:
        (out,) = load_file(dvc_repo, str(dvc_path)).stage.outs
        return out.hash_name, out.hash_info.value


def test_an_import_url_dvc_file_from_s3_tracks_and_pushes_without_dvc_s3(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolkit.cli import main

    digests = _digests(repo)
    dvc_path = repo / f"{CONFIG}.dvc"
    dvc_path.write_text(SCENARIOS["import-url-etag"][0](digests))

    assert main(["track", str(repo / CONFIG), "--into", "Model/base", "--root", str(repo)]) == 0
    assert main(["validate", "--root", str(repo)]) == 0
    kept = load_dvc(dvc_path)
    assert kept is not None
    assert [(o.path, o.md5) for o in kept.outs] == [("config.json", digests["md5"])]
    assert "s3://bucket/config.json" in dvc_path.read_text()  # the import's source is kept

    capsys.readouterr()
    code = main(["push", "Model/base", "--root", str(repo)])
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert code in (1, 2), err  # a keel error naming the missing plugin, never exit 3
    assert "dvc-s3" in err or "dvc[s3]" in err


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ("dvc2-crlf", "records DVC 2's md5-dos2unix"),
        ("conflict", "has git merge conflict markers"),
        ("two-outs", "records 2 outputs"),
    ],
)
def test_push_names_the_dvc_file_keel_cannot_move_and_the_fix(
    repo: Path, shape: str, reason: str
) -> None:
    from toolkit.workflows.artifacts.transfer import push

    (repo / f"{CONFIG}.dvc").write_text(SCENARIOS[shape][0](_digests(repo)))
    failures = {f.path: f.reason for f in push(repo, ["Model/base"]).failures}
    assert reason in failures[CONFIG]
    assert f"run `{FIX}`" in failures[CONFIG]
    track(repo, [repo / CONFIG], "Model/base")
    assert push(repo, ["Model/base"]).failures == ()


# ---- a pinned file that a pipeline stage writes: dvc.lock records it, no .dvc file ----------

CANARY = "artifacts/datasets/canary/canary.jsonl"
STAGE = "stages:\n  prepare:\n    cmd: python prepare.py\n    outs:\n    - " + CANARY + "\n"


def _dvc_commit(root: Path) -> None:
    from dvc.repo import Repo

    with Repo(str(root)) as dvc_repo:
        dvc_repo.commit(f"{root / 'dvc.yaml'}:prepare", force=True)


@pytest.fixture
def pipeline(repo: Path) -> Path:
    (repo / "dvc.yaml").write_text(STAGE)
    _dvc_commit(repo)  # DVC writes dvc.lock with the output's md5
    track(repo, [repo / CANARY], "Dataset/canary")
    return repo


def test_a_pipeline_output_is_pinned_by_dvc_lock_and_pushed(pipeline: Path) -> None:
    from toolkit.workflows.artifacts.transfer import pull, push

    assert not (pipeline / f"{CANARY}.dvc").exists()  # DVC refuses a second record of it
    lock = load_lock(pipeline / "dvc.lock")
    assert lock is not None
    md5 = hashlib.md5((pipeline / CANARY).read_bytes()).hexdigest()
    assert [(o.path, o.out.md5) for o in lock.outs] == [(CANARY, md5)]
    assert validate(pipeline).ok
    pushed = push(pipeline, ["Dataset/canary"])
    assert (pushed.failures, pushed.not_in_dvc, pushed.transferred) == ((), (), 1)
    data = (pipeline / CANARY).read_bytes()
    (pipeline / CANARY).unlink()
    shutil.rmtree(pipeline / ".dvc" / "cache")
    pulled = pull(pipeline, ["Dataset/canary"])
    assert pulled.ok
    assert (pipeline / CANARY).read_bytes() == data


def test_a_regenerated_pipeline_output_is_a_finding_keel_track_clears(pipeline: Path) -> None:
    (pipeline / CANARY).write_text('{"query": "q2", "passage": "p2"}\n')
    _dvc_commit(pipeline)
    findings = _dvc_findings(pipeline)
    assert [f.field for f in findings] == ["spec.files[0].md5"]
    fix = f"run `keel track {CANARY} --into Dataset/canary`"
    assert findings[0].message.startswith("dvc.lock (stage prepare) records md5 ")
    assert fix in findings[0].message
    track(pipeline, [pipeline / CANARY], "Dataset/canary")
    assert _dvc_findings(pipeline) == []


def test_a_stale_dvc_lock_is_named_by_track_and_cleared_by_dvc_commit(pipeline: Path) -> None:
    lock = pipeline / "dvc.lock"
    data = yaml.safe_load(lock.read_text())
    data["stages"]["prepare"]["outs"][0]["md5"] = "4" * 32
    lock.write_text(yaml.safe_dump(data))
    assert "(when dvc.lock is the stale one, `dvc commit prepare` first)" in (
        _dvc_findings(pipeline)[0].message
    )
    with pytest.raises(UsageError, match=r"run `dvc commit prepare` \(or `dvc repro prepare`\)"):
        track(pipeline, [pipeline / CANARY], "Dataset/canary")
    _dvc_commit(pipeline)
    assert _dvc_findings(pipeline) == []


def test_a_dvc_lock_with_conflict_markers_is_a_finding_its_command_clears(pipeline: Path) -> None:
    lock = pipeline / "dvc.lock"
    lock.write_text(LOCK_SHAPES["lock-conflict"])
    findings = _dvc_findings(pipeline)
    assert [(f.path, f.severity) for f in findings] == [(lock, Severity.error)]
    assert "has git merge conflict markers" in findings[0].message
    assert "delete it and run `dvc commit --force`" in findings[0].message
    lock.unlink()
    _dvc_commit(pipeline)
    assert _dvc_findings(pipeline) == []


def test_validate_reads_dvc_files_and_dvc_lock_without_importing_dvc(pipeline: Path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    (pipeline / f"{CONFIG}.dvc").write_text(DVC_SHAPES["conflict"].replace("data.txt", "x"))
    probe = (
        "import sys\n"
        "from toolkit.cli import main\n"
        "print('EXIT=' + str(main(['validate'])))\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print('HEAVY=' + ','.join(sorted(loaded & {'dvc', 'dvc_data', 'dvc_objects'})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=pipeline, capture_output=True, text=True, env=env
    )
    assert "has git merge conflict markers" in done.stdout + done.stderr  # it did read them
    assert done.stdout.strip().splitlines()[-2:] == ["EXIT=1", "HEAVY="]


def test_a_dvc_file_tracking_cloud_storage_is_renamed_then_tracked(repo: Path) -> None:
    dvc_path = repo / f"{CONFIG}.dvc"
    dvc_path.write_text(DVC_SHAPES["external-s3-out"])
    (finding,) = _dvc_findings(repo)
    assert finding.message == (
        f"{CONFIG}.dvc tracks s3://bucket/data.txt (outside the repository), not config.json: "
        f"give it another name (`git mv config.json.dvc OTHER.dvc`), then run `{FIX}`"
    )
    with pytest.raises(UsageError, match="outside this directory; move it to a .dvc file"):
        track(repo, [repo / CONFIG], "Model/base")  # without the rename, nothing is lost
    assert dvc_path.read_text() == DVC_SHAPES["external-s3-out"]
    dvc_path.rename(repo / MODEL_DIR / "remote-data.dvc")
    track(repo, [repo / CONFIG], "Model/base")
    assert _dvc_findings(repo) == []
