"""Bridge to torch and safetensors for what the workflows do with output tensors: join them,
rank them, compare them row by row, store them. Every function takes and returns torch
tensors as opaque values (`Any`) or plain Python numbers, so no workflow imports torch.

torch and safetensors are imported inside each function: the module itself is light.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.bridges.ml import require, torch_module

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

OUTPUTS_KEY = "outputs"


@dataclass(frozen=True)
class RowDifference:
    """How one output row differs from its recorded counterpart."""

    row: int
    max_abs_diff: float
    cosine: float


def concat_rows(parts: Sequence[Any]) -> Any:
    """Stack row blocks (queries, then passages) into one contiguous tensor."""
    return torch_module().cat(list(parts)).contiguous()


def from_rows(rows: Sequence[Sequence[float]]) -> Any:
    """A float32 tensor from plain lists (vectors a server answered with)."""
    torch = torch_module()
    return torch.tensor(rows, dtype=torch.float32)


def shape(tensor: Any) -> list[int]:
    return [int(size) for size in tensor.shape]


def positive_ranks(queries: Any, passages: Any) -> tuple[list[int], list[float]]:
    """For query i whose relevant passage is passage i: its rank (1 + passages scoring strictly
    higher, so a tie counts in its favour) and the positive pair's cosine (inputs are unit
    vectors), both computed in float64."""
    scores = queries.double() @ passages.double().T
    positives = scores.diagonal()
    ranks = 1 + (scores > positives.unsqueeze(1)).sum(dim=1)
    return [int(r) for r in ranks.tolist()], [float(p) for p in positives.tolist()]


def row_cosines(candidate: Any, reference: Any) -> list[float]:
    """Cosine similarity of each row with the same row of `reference` (float64); the shapes
    must be equal."""
    torch = torch_module()
    cosines = torch.nn.functional.cosine_similarity(candidate.double(), reference.double(), dim=1)
    return [float(c) for c in cosines.tolist()]


def equal(a: Any, b: Any) -> bool:
    """Bit for bit: same shape, same dtype, same values."""
    return bool(torch_module().equal(a, b))


def first_differing_row(outputs: Any, recorded: Any) -> RowDifference | None:
    """The first row that is not bit-identical to the record (shapes must be equal)."""
    torch = torch_module()
    for index in range(outputs.shape[0]):
        if not torch.equal(outputs[index], recorded[index]):
            cosine = torch.nn.functional.cosine_similarity(
                outputs[index].double(), recorded[index].double(), dim=0
            )
            difference = float((outputs[index] - recorded[index]).abs().max())
            return RowDifference(index, difference, float(cosine))
    return None


def worst_rows(outputs: Any, recorded: Any) -> tuple[float, float]:
    """(largest absolute difference of any value, lowest row cosine) against the record."""
    difference = float((outputs - recorded).abs().max())
    return difference, min(row_cosines(outputs, recorded))


def save_outputs(path: Path, outputs: Any, metadata: dict[str, str]) -> None:
    """Write `outputs` as a safetensors file, atomically (a temp file renamed into place)."""
    save_file = require("safetensors.torch").save_file
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({OUTPUTS_KEY: outputs.contiguous()}, str(scratch), metadata=metadata)
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)


def load_outputs(path: Path) -> Any:
    """The outputs tensor of a safetensors file `save_outputs` wrote (never unpickles)."""
    load_file = require("safetensors.torch").load_file
    return load_file(str(path))[OUTPUTS_KEY]


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """torch's deterministic algorithms on for the block, the previous setting restored."""
    torch = torch_module()
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def thread_count() -> int:
    return int(torch_module().get_num_threads())
