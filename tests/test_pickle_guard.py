"""Pickle never reaches a loader: every weight file a load would read is resolved and checked
first (a sharded index's every target included), and validate reports an index that names a
pickle. A real pickle that would leave a mark if it ever ran is the bait."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from factories import deployment_set, with_real_files, write_set

from toolkit.core.errors import UsageError
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
INDEX = "model.safetensors.index.json"
SHARD = "model-00001-of-00002.safetensors"


class _Bait:
    """Unpickling this creates the file `marker`: proof that code in a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _index(weight_map: dict[str, str]) -> str:
    return json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map})


@pytest.fixture
def baited(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny model's directory as a sharded checkpoint whose index sends the second shard to
    a pickle (no model.safetensors, as in the report); torch.load is
    forbidden and the pickle marks `tmp_path / "ran"` if it is ever unpickled."""
    torch = pytest.importorskip("torch")
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "model.safetensors").rename(model / SHARD)
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(_Bait(tmp_path / "ran")))
    (model / INDEX).write_text(
        _index(
            {"embeddings.word_embeddings.weight": SHARD, "pooler.dense.weight": "pytorch_model.bin"}
        )
    )

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", forbidden)
    return model


def _loaders() -> dict[str, Callable[[Path], Any]]:
    from toolkit.bridges import heads, ml

    return {
        "load_model": ml.load_model,
        "load_encoder": ml.load_encoder,
        "load_model_for": lambda d: heads.load_model_for(d, "classification"),
    }


@pytest.mark.parametrize("loader", ["load_model", "load_encoder", "load_model_for"])
def test_an_index_naming_a_pickle_is_refused_by_every_loader(
    baited: Path, tmp_path: Path, loader: str
) -> None:
    with pytest.raises(
        UsageError, match=r"weight_map names pytorch_model\.bin is not a safetensors"
    ):
        _loaders()[loader](baited)
    assert not (tmp_path / "ran").exists()


def test_an_index_naming_a_pickle_is_refused_even_with_allow_pickle(
    baited: Path, tmp_path: Path
) -> None:
    from toolkit.bridges import ml

    with pytest.raises(UsageError, match=r"keel loads safetensors only"):
        ml.load_model(baited, allow_pickle="the upstream ships a .bin beside the safetensors")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("../elsewhere/model.safetensors", "outside the model's directory"),
        ("/etc/model.safetensors", "outside the model's directory"),
        ("model-00002-of-00002.safetensors", "which is not in"),
        ("model.pt", "is not a safetensors file"),
    ],
)
def test_every_index_target_must_be_a_safetensors_file_in_the_directory(
    baited: Path, target: str, problem: str
) -> None:
    from toolkit.bridges import ml

    (baited / INDEX).write_text(_index({"a": SHARD, "b": target}))
    (baited / "pytorch_model.bin").unlink()
    with pytest.raises(UsageError, match=problem):
        ml.resolve_weights(baited)


def test_a_pickle_beside_the_safetensors_needs_a_recorded_reason_and_is_never_loaded(
    baited: Path, tmp_path: Path
) -> None:
    from toolkit.bridges import ml

    (baited / INDEX).unlink()
    (baited / SHARD).rename(baited / "model.safetensors")
    with pytest.raises(
        UsageError, match=r"pickle files beside the safetensors weights \(pytorch_model\.bin\)"
    ):
        ml.load_model(baited)
    model = ml.load_model(baited, allow_pickle="the upstream ships it; kept byte for byte")
    assert model.config.model_type == "bert"
    assert ml.resolve_weights(baited, allow_pickle="kept") == (baited / "model.safetensors",)
    assert not (tmp_path / "ran").exists()


def test_a_good_index_resolves_to_its_shards_and_loads(baited: Path) -> None:
    from toolkit.bridges import ml

    (baited / "pytorch_model.bin").unlink()
    (baited / INDEX).write_text(_index({"a": SHARD, "b": SHARD}))
    assert ml.resolve_weights(baited) == (baited / SHARD,)
    assert ml.load_model(baited).config.model_type == "bert"


def test_validate_reports_an_index_whose_weight_map_names_a_pickle(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    data = with_real_files(root, deployment_set())
    spec = data["model"]["spec"]
    index = _index({"encoder.weight": "model.safetensors", "head.weight": "pytorch_model.bin"})
    (root / spec["directory"] / INDEX).write_text(index)
    digest = hashlib.sha256(index.encode()).hexdigest()
    spec["files"].append({"path": INDEX, "sha256": digest, "size": len(index.encode())})
    write_set(root, data)

    findings = [f for f in validate(root).findings if f.check == "weights"]

    assert [(f.ref, f.field, f.message) for f in findings] == [
        (
            "Model/base",
            "spec.files[2].path",
            f"{INDEX}: weight_map names pytorch_model.bin is not a safetensors file (keel never "
            "loads pickle weights); convert the shard to safetensors and fix the index",
        )
    ]
    assert findings[0].path is not None
    assert findings[0].line > 0


def test_the_ml_extra_requires_a_torch_that_loads_weights_only() -> None:
    import tomllib

    ml_extra = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["ml"]
    assert "torch>=2.6" in ml_extra
    assert sys.version_info >= (3, 11)
