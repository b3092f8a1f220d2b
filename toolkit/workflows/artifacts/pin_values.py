"""The values `keel pin` takes and gives: the request the CLI fills, each file hashed, the result.

They sit below the pin flow (`pin`), where it reads a snapshot from (`pin_sources`), the
manifests it writes (`pin_manifests`) and the copies it makes (`pin_files`), so that each of
those imports them and none imports another for its types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.bridges.hf import SnapshotFile as SourceFile


@dataclass(frozen=True)
class PinRequest:
    """What to pin and how; the CLI fills it from its options."""

    source: str
    name: str
    revision: str | None = None
    cache_dir: Path | None = None
    directory: str | None = None
    owner: str | None = None
    license: str | None = None
    description: str | None = None
    upstream: str | None = None
    allow_pickle: str | None = None
    exclude: tuple[str, ...] = ()
    remote: bool = False
    use_cache: bool = True


@dataclass(frozen=True)
class PinResult:
    name: str
    source: str
    """'hub', 'package' or 'local'."""
    subject: str
    repo_id: str | None
    revision: str | None
    directory: Path
    files: int
    etag_checked: int
    """Files whose bytes matched the name of their HF cache blob (the hub's etag)."""
    remote_checked: int
    copied: tuple[str, ...]
    created: tuple[Path, ...]
    updated: tuple[Path, ...]
    dropped: tuple[str, ...]
    """Paths the manifests pinned before but the source no longer has (the files stay)."""
    excluded: tuple[tuple[str, str], ...] = ()
    """(path, reason) of the duplicate weight exports left out (`core.checkpoint_files`)."""

    @property
    def changed(self) -> bool:
        return bool(self.copied or self.created or self.updated)


@dataclass(frozen=True)
class PinnedFile:
    """A source file and the sha256 and size keel measured for it."""

    file: SourceFile
    sha256: str
    size: int

    @property
    def entry(self) -> dict[str, Any]:
        return {"path": self.file.relative, "sha256": self.sha256, "size": self.size}
