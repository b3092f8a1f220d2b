"""Tiny real checkpoints of nine transformer families (tests/families.py) go through `keel pin`
from a local directory, then `keel validate` and `keel verify`: the recorded parameter count is
transformers' own (`model.parameters()`, tied weights once), each shard of a sharded checkpoint
is counted once, Mistral's consolidated.safetensors is left out (not counted twice), and the
tokenizer's files (chat_template.jinja …) land in the Tokenizer manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml
from families import FAMILIES, tiny_checkpoint

from toolkit.cli import main
from toolkit.workflows.authoring.init import init

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("transformers")


def _spec(root: Path, kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((root / "manifests" / kind / f"{name}.yaml").read_text())[
        "spec"
    ]
    return spec


def _pin(root: Path, directory: Path, name: str) -> int:
    return main(
        [
            "pin", str(directory), "--name", name, "--root", str(root),
            "--owner", "ml@example.com", "--description", f"tiny random {name} for tests",
        ]
    )  # fmt: skip


@pytest.mark.parametrize("family", FAMILIES)
def test_a_tiny_checkpoint_pins_validates_and_verifies(
    family: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "source" / family, family)
    root = tmp_path / "repo"
    init(root)
    capsys.readouterr()

    assert _pin(root, checkpoint.directory, family) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    model = _spec(root, "models", family)
    tokenizer = _spec(root, "tokenizers", family)
    assert model["parameters"] == checkpoint.parameters
    assert model["dtype"] == "float32"
    assert model["architecture"]["modelType"] == checkpoint.model_type
    assert tokenizer["algorithm"] == checkpoint.algorithm
    model_files = {f["path"] for f in model["files"]}
    tokenizer_files = {f["path"] for f in tokenizer["files"]}
    assert {"tokenizer.json", "tokenizer_config.json"} <= tokenizer_files
    assert not model_files & tokenizer_files
    if (checkpoint.directory / "chat_template.jinja").exists():
        assert "chat_template.jinja" in tokenizer_files

    assert main(["validate", "--root", str(root)]) == 0, capsys.readouterr().out
    assert main(["verify", "--root", str(root)]) == 0, capsys.readouterr().out
    assert "left out" not in out or family == "mistral-consolidated"


def test_mistral_consolidated_export_is_left_out_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "mistral", "mistral-consolidated")
    root = tmp_path / "repo"
    init(root)
    assert _pin(root, checkpoint.directory, "mistral") == 0
    out = capsys.readouterr().out
    assert (
        "left out consolidated.safetensors: Mistral's native export of the weights in "
        "model.safetensors (not pinned, not counted)"
    ) in out
    assert "left out params.json: the config of Mistral's native export" in out
    model = _spec(root, "models", "mistral")
    paths = [f["path"] for f in model["files"]]
    assert "consolidated.safetensors" not in paths
    assert "params.json" not in paths
    assert [p for p in paths if p.endswith(".safetensors")] == ["model.safetensors"]
    assert model["parameters"] == checkpoint.parameters  # once, not twice
    assert not (root / "artifacts/models/mistral/consolidated.safetensors").exists()


def test_a_sharded_checkpoint_counts_each_shard_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "llama", "llama-sharded")
    shards = sorted(p.name for p in checkpoint.directory.glob("model-*.safetensors"))
    assert len(shards) >= 2
    root = tmp_path / "repo"
    init(root)
    assert _pin(root, checkpoint.directory, "llama") == 0
    model = _spec(root, "models", "llama")
    paths = [f["path"] for f in model["files"]]
    assert [p for p in paths if p.startswith("model")] == [
        *shards,
        "model.safetensors.index.json",
    ]
    assert model["parameters"] == checkpoint.parameters


def test_a_single_file_beside_its_shards_is_pinned_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import transformers

    checkpoint = tiny_checkpoint(tmp_path / "llama", "llama-sharded")
    model = transformers.LlamaForCausalLM.from_pretrained(checkpoint.directory)
    model.save_pretrained(tmp_path / "single")
    (checkpoint.directory / "model.safetensors").write_bytes(
        (tmp_path / "single" / "model.safetensors").read_bytes()
    )
    root = tmp_path / "repo"
    init(root)
    assert _pin(root, checkpoint.directory, "llama") == 0
    out = capsys.readouterr().out
    assert (
        "left out model.safetensors.index.json: a sharded copy of the weights in "
        "model.safetensors, which transformers loads"
    ) in out
    spec = _spec(root, "models", "llama")
    assert [f["path"] for f in spec["files"] if "safetensors" in f["path"]] == ["model.safetensors"]
    assert spec["parameters"] == checkpoint.parameters
    assert main(["validate", "--root", str(root)]) == 0


def test_an_index_naming_a_missing_shard_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "llama", "llama-sharded")
    last = sorted(checkpoint.directory.glob("model-*.safetensors"))[-1]
    last.unlink()
    root = tmp_path / "repo"
    init(root)
    assert _pin(root, checkpoint.directory, "llama") == 2
    err = capsys.readouterr().err
    assert f"model.safetensors.index.json: weight_map names {last.name}, not in the snapshot" in err
    assert not (root / "manifests" / "models" / "llama.yaml").exists()
