"""What `keel pin` recorded for each tiny family checkpoint is what the loaded model reports:
reproduce's stage 3 (`pipeline.check_model`) finds no difference for an encoder-decoder
(T5, BART: the decoder's stack), a nested text config (Gemma 3), MQA (Falcon) or MoE (Mixtral),
and names the field when the record is wrong."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import yaml
from families import FAMILIES, tiny_checkpoint

from toolkit.cli import main
from toolkit.manifests import Model
from toolkit.workflows.authoring.init import init
from toolkit.workflows.evaluation import pipeline

if TYPE_CHECKING:
    from pathlib import Path

transformers = pytest.importorskip("transformers")


def _pinned(tmp_path: Path, family: str) -> tuple[Model, object]:
    checkpoint = tiny_checkpoint(tmp_path / "source", family)
    root = tmp_path / "repo"
    init(root)
    assert main(["pin", str(checkpoint.directory), "--name", "tiny", "--root", str(root),
                 "--owner", "ml@example.com", "--description", "tiny"]) == 0  # fmt: skip
    manifest = Model.model_validate(
        yaml.safe_load((root / "manifests" / "models" / "tiny.yaml").read_text())
    )
    config = json.loads((checkpoint.directory / "config.json").read_text())
    model_class = getattr(transformers, config["architectures"][0])
    return manifest, model_class.from_pretrained(checkpoint.directory)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_loaded_model_matches_what_pin_recorded(family: str, tmp_path: Path) -> None:
    manifest, model = _pinned(tmp_path, family)

    assert pipeline.check_model(model, manifest) == []


def test_a_wrong_layer_count_of_an_encoder_decoder_is_named(tmp_path: Path) -> None:
    manifest, model = _pinned(tmp_path, "bart")
    recorded = manifest.spec.architecture.num_layers
    architecture = manifest.spec.architecture.model_copy(update={"num_layers": recorded + 1})
    wrong = manifest.model_copy(
        update={"spec": manifest.spec.model_copy(update={"architecture": architecture})}
    )

    problems = pipeline.check_model(model, wrong)

    assert [p.field for p in problems] == ["spec.architecture.numLayers"]
    assert f"manifest says {recorded + 1}, config.json gives num_hidden_layers={recorded}" in (
        problems[0].render()
    )
