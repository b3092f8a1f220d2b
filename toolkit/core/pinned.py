"""A file a manifest pins, as a plain value: light enough for the fast verify path."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class PinnedFile:
    """One entry of a manifest's `spec.files`, located in the repository."""

    ref: str
    index: int
    relative: str
    sha256: str
    size: int
    md5: str | None = None
    tensor_digest: str | None = None

    def absolute(self, root: Path) -> Path:
        return root / self.relative

    def dvc_file(self, root: Path) -> Path:
        path = self.absolute(root)
        return path.with_name(path.name + ".dvc")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
