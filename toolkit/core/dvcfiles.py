"""Read `.dvc` files without importing DVC (they are small YAML documents)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.core.loading import load_file

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class DvcOut:
    md5: str | None
    size: int | None
    path: str


def read_dvc_file(path: Path) -> DvcOut | None:
    """The single output a per-file `.dvc` file records, or None when there is none to read."""
    if not path.is_file():
        return None
    loaded = load_file(path)
    if loaded.problems or not loaded.documents:
        return None
    data = loaded.documents[0].data
    outs = data.get("outs") if isinstance(data, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        return None
    out = outs[0]
    md5, size = out.get("md5"), out.get("size")
    return DvcOut(
        md5 if isinstance(md5, str) else None,
        size if isinstance(size, int) else None,
        str(out.get("path", "")),
    )
