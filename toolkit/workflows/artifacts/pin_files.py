"""Putting the pinned files in the repository: copy each one safely, then track the copies.

A copy goes through a temp file that is hashed on the way, synced and renamed, so a kill
leaves the old file or the new one; DVC then tracks the copies, which must still hold the
bytes pin checked. `Undo` keeps what those writes replace, so that a failure part-way
puts the repository back as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ChecksumError, UsageError
from toolkit.core.hashing import CHUNK

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from toolkit.manifests.base import Manifest
    from toolkit.workflows.artifacts.pin_values import PinnedFile


def copy_all(
    root: Path, directory: Path, pinned: Sequence[PinnedFile], use_cache: bool
) -> list[str]:
    """Copy each file into `directory` unless an identical copy is there; the copied paths."""
    from toolkit.core.checksums import Request, fingerprints
    from toolkit.core.statcache import open_cache
    from toolkit.workflows.artifacts.verify import outside_repository

    reason = outside_repository(root, directory)
    if reason:
        raise UsageError(f"{directory}: {reason}")
    targets = [(p, directory / p.file.relative) for p in pinned]
    present = [(p, t) for p, t in targets if t.is_file()]
    cache = open_cache(root, use_cache)
    try:
        measured = fingerprints([Request(t) for _, t in present], cache)
    finally:
        cache.close()
    same = {t for (p, t), f in zip(present, measured, strict=True) if f.sha256 == p.sha256}
    copied = []
    for pinned_file, target in targets:
        if target not in same:
            _copy(pinned_file.file.path, target, pinned_file.sha256)
            copied.append(pinned_file.file.relative)
    return copied


def _copy(source: Path, target: Path, sha256: str) -> None:
    """Copy through a temp file, hashing on the way; the bytes must be those checked."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise ChecksumError(f"{source}: changed while keel pin copied it; run keel pin again")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def track_copies(
    root: Path, kind: str, name: str, directory: Path, files: Sequence[PinnedFile]
) -> bool:
    """DVC-add the copies and record their md5; they must still be the bytes pin checked."""
    from toolkit.workflows.artifacts.track import track

    result = track(root, [directory / p.file.relative for p in files], f"{kind}/{name}")
    expected = {(directory / p.file.relative).resolve(): p.sha256 for p in files}
    for fingerprint in result.files:
        if expected.get(fingerprint.path) != fingerprint.sha256:
            raise ChecksumError(
                f"{fingerprint.path}: changed after keel pin copied it (sha256 "
                f"{expected.get(fingerprint.path)}, now {fingerprint.sha256}); run keel pin again"
            )
    return result.manifest_changed


@dataclass
class Undo:
    """What pin's writes will replace, kept so that `restore` puts it back: the bytes of the
    small files (manifests, `.dvc` files, `.gitignore`s), a hard link to each weight or other
    copy it may replace (no bytes are copied), and the files and folders that did not exist."""

    small: dict[Path, bytes | None] = field(default_factory=dict)
    replaced: dict[Path, Path | None] = field(default_factory=dict)
    folders: list[Path] = field(default_factory=list)

    @classmethod
    def before_writing(
        cls,
        root: Path,
        directory: str,
        pinned: Sequence[PinnedFile],
        documents: Mapping[str, Any],
        current: Mapping[str, tuple[Path, Manifest] | None],
        name: str,
    ) -> Undo:
        from toolkit.core.templates import new_manifest_path

        undo = cls()
        for kind in documents:
            existing = current[kind]
            undo._keep(existing[0] if existing else new_manifest_path(root, kind, name))
        for pinned_file in pinned:
            target = root / directory / pinned_file.file.relative
            undo._keep(target.with_name(target.name + ".dvc"))
            undo._keep(target.parent / ".gitignore")
            undo._link(target)
        return undo

    def _keep(self, path: Path) -> None:
        if path not in self.small:
            self.small[path] = path.read_bytes() if path.is_file() else None
            self._folders(path.parent)

    def _link(self, path: Path) -> None:
        if path in self.replaced:
            return
        self._folders(path.parent)
        if not path.is_file():
            self.replaced[path] = None
            return
        backup = path.with_name(f".{path.name}.keel-undo")
        backup.unlink(missing_ok=True)
        os.link(path, backup)
        self.replaced[path] = backup

    def _folders(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        self.folders += [f for f in missing if f not in self.folders]

    def restore(self) -> None:
        """Put back every kept file, remove every new one and the folders made for them."""
        from toolkit.core.fsutil import write_atomic

        for path, backup in self.replaced.items():
            if backup is None:
                path.unlink(missing_ok=True)
            elif path.exists() and path.samefile(backup):
                backup.unlink()  # never replaced (rename() between two links does nothing)
            else:
                os.replace(backup, path)
        for path, data in self.small.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, data)
        for folder in sorted(self.folders, key=lambda f: len(f.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: made by this pin, and nothing else came

    def discard(self) -> None:
        """The writes succeeded: drop the hard links."""
        for backup in self.replaced.values():
            if backup is not None:
                backup.unlink(missing_ok=True)
