"""Putting the pinned files in the repository: copy each one safely, then track the copies.

A copy goes through a temp file that is hashed on the way, synced and renamed, so a kill
leaves the old file or the new one; DVC then tracks the copies, which must still hold the
bytes pin checked.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.errors import ChecksumError, UsageError
from toolkit.core.hashing import CHUNK

if TYPE_CHECKING:
    from collections.abc import Sequence

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
