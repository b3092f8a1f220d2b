"""`keel inspect`: what safetensors weights hold, from their headers only (no tensor is loaded).

Parameters are what `weight_counts` counts: the elements of floating-point tensors (F64, F32,
F16, BF16, F8_*, F6_*, F4) and 4-bit tensors, and the weights packed in a GPTQ/AWQ checkpoint's
int32 `qweight` tensors (32 / bits each, the bits from the config.json beside the weights);
the other tensors (BERT's `embeddings.position_ids`, I64; quantization scales and zeros) are
buffers, listed apart. The memory budget is parameters × bytes per parameter, bare and with
20, 30 and 40% overhead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.core.checkpoint_files import duplicate_exports
from toolkit.core.errors import UsageError
from toolkit.core.fsutil import display
from toolkit.core.safetensors_header import read_header
from toolkit.core.weight_counts import Packing, packing_beside
from toolkit.core.weight_counts import parameters as counted_parameters

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.core.safetensors_header import TensorEntry

PRECISIONS = (("fp32", 32), ("fp16", 16), ("bf16", 16), ("int8", 8), ("int4", 4))
OVERHEADS = (0, 20, 30, 40)  # percent


@dataclass(frozen=True)
class FileSummary:
    path: Path
    name: str  # relative to the inspected directory, or the file's own name
    tensors: int
    parameters: int
    tensor_bytes: int


@dataclass(frozen=True)
class Buffer:
    file: str
    name: str
    dtype: str
    shape: tuple[int, ...]
    elements: int


@dataclass(frozen=True)
class BudgetRow:
    precision: str
    bits_per_parameter: int
    overhead_percent: int
    bytes: int


@dataclass(frozen=True)
class Inspection:
    path: Path
    files: tuple[FileSummary, ...]
    dtypes: dict[str, int]  # dtype -> elements, sorted by dtype
    buffers: tuple[Buffer, ...]

    @property
    def tensors(self) -> int:
        return sum(f.tensors for f in self.files)

    packing: Packing | None = None
    left_out: tuple[tuple[str, str], ...] = ()
    """(file, reason) of duplicate exports under the directory, not summed (checkpoint_files)."""

    @property
    def parameters(self) -> int:
        return sum(f.parameters for f in self.files)

    @property
    def tensor_bytes(self) -> int:
        return sum(f.tensor_bytes for f in self.files)

    def budget(self, bits_per_parameter: int, overhead_percent: int = 0) -> int:
        """Bytes for the parameters at this precision plus overhead, rounded up (exact)."""
        scaled = self.parameters * bits_per_parameter * (100 + overhead_percent)
        return -(-scaled // 800)

    def budgets(self) -> tuple[BudgetRow, ...]:
        return tuple(
            BudgetRow(name, bits, overhead, self.budget(bits, overhead))
            for name, bits in PRECISIONS
            for overhead in OVERHEADS
        )


def inspect_weights(path: Path, packing: Packing | None = None) -> Inspection:
    """Summarise a safetensors file, or every `*.safetensors` under a directory (summed), but
    the duplicate exports there (Mistral's consolidated.safetensors beside model.safetensors…).
    `packing` defaults to what the config.json beside the weights declares."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.safetensors") if p.is_file())
        if not found:
            raise UsageError(f"{path}: no .safetensors files under this directory")
        named = [(p, p.relative_to(path).as_posix()) for p in found]
        everything = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
        left_out = duplicate_exports(everything)
        named = [(p, name) for p, name in named if name not in left_out]
    elif path.is_file():
        named, left_out = [(path, path.name)], {}
    else:
        raise UsageError(f"{path}: not a regular file or directory")
    packing = packing or packing_beside(path)
    files: list[FileSummary] = []
    dtypes: dict[str, int] = {}
    buffers: list[Buffer] = []
    for file, name in named:
        entries = _checked_entries(file)
        counted = counted_parameters(entries, packing, file)
        for entry in entries:
            dtypes[entry.dtype] = dtypes.get(entry.dtype, 0) + entry.elements
            if entry.name not in counted:
                buffers.append(Buffer(name, entry.name, entry.dtype, entry.shape, entry.elements))
        parameters = sum(n for n, _ in counted.values())
        tensor_bytes = sum(e.end - e.begin for e in entries)
        files.append(FileSummary(file, name, len(entries), parameters, tensor_bytes))
    dtypes = dict(sorted(dtypes.items()))
    duplicates = tuple((n, r) for n, r in left_out.items() if n.endswith(".safetensors"))
    return Inspection(path, tuple(files), dtypes, tuple(buffers), packing, duplicates)


def _checked_entries(path: Path) -> list[TensorEntry]:
    """The header's tensors; `read_header` has checked that each fits the file (dtype, shape,
    offsets, bytes), so a truncated or malformed file fails there, in one line."""
    try:
        header = read_header(path)
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror or error}") from None
    return list(header.tensors.values())


def human(size: int) -> str:
    """Bytes in binary units: B, KiB, MiB, GiB, TiB."""
    for unit, power in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << power:
            return f"{size / (1 << power):.2f} {unit}"
    return f"{size} B"


def render_text(result: Inspection) -> str:
    lines = [f"{display(result.path)}: safetensors headers only, no tensor data read", ""]
    width = max(len("file"), *(len(f.name) for f in result.files))
    lines.append(f"{'file':<{width}}  {'tensors':>7}  {'parameters':>15}  tensor bytes")
    for f in result.files:
        lines.append(
            f"{f.name:<{width}}  {f.tensors:>7,}  {f.parameters:>15,}  "
            f"{f.tensor_bytes:,} ({human(f.tensor_bytes)})"
        )
    if len(result.files) > 1:
        lines.append(
            f"{'total':<{width}}  {result.tensors:>7,}  {result.parameters:>15,}  "
            f"{result.tensor_bytes:,} ({human(result.tensor_bytes)})"
        )
    lines += ["", f"{'dtype':<8}  {'elements':>15}"]
    lines += [f"{dtype:<8}  {count:>15,}" for dtype, count in result.dtypes.items()]
    lines += ["", f"parameters: {result.parameters:,} ({_counted(result)})"]
    lines += _buffer_lines(result)
    lines += [f"left out {name}: {reason}" for name, reason in result.left_out]
    lines += ["", "memory budget = parameters × bytes per parameter × (1 + overhead)"]
    lines.append(" " * 18 + "".join(f"{_overhead(o):>16}" for o in OVERHEADS))
    budgets = result.budgets()
    for index, (name, bits) in enumerate(PRECISIONS):
        row = budgets[index * len(OVERHEADS) : (index + 1) * len(OVERHEADS)]
        label = f"{name:<6}{bits / 8:>4g} B/param"  # 18 characters
        lines.append(label + "".join(f"{human(b.bytes):>16}" for b in row))
        lines.append(" " * 18 + "".join(f"{b.bytes:>16,}" for b in row))
    return "\n".join(lines)


def _counted(result: Inspection) -> str:
    if result.packing is None:
        return "elements of floating-point tensors"
    packing = result.packing
    return f"{packing.method}: {packing.bits}-bit weights unpacked from qweight, float tensors"


def _overhead(percent: int) -> str:
    return f"+{percent}%" if percent else "weights"


def _buffer_lines(result: Inspection, shown: int = 10) -> list[str]:
    elements = sum(b.elements for b in result.buffers)
    count = len(result.buffers)
    kinds = "buffers and quantization metadata" if result.packing else "non-floating-point tensors"
    lines = [
        f"buffers:    {count:,} tensor{'' if count == 1 else 's'}, {elements:,} elements "
        f"({kinds}, not counted as parameters)"
    ]
    many = len(result.files) > 1
    for b in result.buffers[:shown]:
        where = f"{b.file}: " if many else ""
        lines.append(f"  {where}{b.name}  {b.dtype}  {list(b.shape)}")
    if count > shown:
        lines.append(f"  … and {count - shown:,} more (see --format json)")
    if elements > result.parameters and result.packing is None:
        lines.append(
            "note: most elements are in integer tensors; if this is a quantized checkpoint, "
            "its packed weights are not counted as parameters and the budget is too low"
        )
    return lines


def render_json(result: Inspection) -> str:
    return json.dumps(
        {
            "path": display(result.path),
            "files": [
                {
                    "path": f.name,
                    "tensors": f.tensors,
                    "parameters": f.parameters,
                    "tensorBytes": f.tensor_bytes,
                }
                for f in result.files
            ],
            "tensors": result.tensors,
            "tensorBytes": result.tensor_bytes,
            "dtypes": result.dtypes,
            "parameters": result.parameters,
            "packing": None
            if result.packing is None
            else {
                "method": result.packing.method,
                "bits": result.packing.bits,
                "groupSize": result.packing.group_size,
            },
            "leftOut": [{"path": name, "reason": reason} for name, reason in result.left_out],
            "buffers": [
                {
                    "file": b.file,
                    "name": b.name,
                    "dtype": b.dtype,
                    "shape": list(b.shape),
                    "elements": b.elements,
                }
                for b in result.buffers
            ],
            "budget": [
                {
                    "precision": b.precision,
                    "bytesPerParameter": b.bits_per_parameter / 8,
                    "overheadPercent": b.overhead_percent,
                    "bytes": b.bytes,
                    "human": human(b.bytes),
                }
                for b in result.budgets()
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


RENDERERS = {"text": render_text, "json": render_json}
