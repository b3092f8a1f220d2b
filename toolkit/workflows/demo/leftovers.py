"""What a demo leaves on disk, and the one command that deletes it all."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from toolkit.bridges import dvc
from toolkit.core.errors import DvcError


@dataclass(frozen=True)
class Leftovers:
    repository: Path
    remote: str | None  # the default DVC remote's URL or directory, from .dvc/config
    report: Path | None = None
    clone: Path | None = None  # the fresh clone reproduce ran in, when it was kept

    @property
    def local_remote(self) -> Path | None:
        if self.remote is None or "://" in self.remote:
            return None
        path = Path(self.remote)
        # DVC reads a relative remote path from .dvc/config relative to .dvc/
        return path if path.is_absolute() else (self.repository / ".dvc" / path).resolve()

    def delete_command(self) -> str:
        """`rm -rf` of the repository (the report is inside it), a local remote and a kept
        clone."""
        paths = [self.repository, self.local_remote, self.clone]
        return "rm -rf " + " ".join(shlex.quote(str(p)) for p in paths if p is not None)


def leftovers(root: Path, report: Path | None = None, clone: Path | None = None) -> Leftovers:
    remote = None
    if (root / ".dvc").is_dir():
        try:
            found = dvc.default_remote(root)
        except DvcError:
            found = None
        remote = found[1] if found else None
    return Leftovers(root, remote, report, clone)
