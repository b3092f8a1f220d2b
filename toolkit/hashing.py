"""Hash files at the disk's or the CPU's limit, whichever comes first.

sha256 alone goes through `hashlib.file_digest` (OpenSSL, the GIL released). When DVC's md5 is
needed too, both digests are fed from one read pass. Several files hash in parallel threads.
A file whose stat changes while it is read is reported, never recorded.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from toolkit.errors import ChecksumError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

CHUNK = 1 << 20
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class FileStat:
    """What says a file is unchanged without reading it (the stat cache key)."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStat:
        st = os.stat(path)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    size: int
    stat: FileStat
    md5: str | None = None


class FileChangedError(ChecksumError):
    """The file changed while keel was reading it."""


def hash_file(
    path: Path, *, md5: bool = False, on_bytes: Callable[[int], None] | None = None
) -> FileHashes:
    """sha256 (and md5 when asked) of a file's bytes, in one read pass.

    `on_bytes` is told how many bytes were read after each chunk (for a progress bar).
    """
    before = FileStat.of(path)
    with path.open("rb", buffering=0) as handle:
        if md5 or on_bytes:
            sha, md5_hex = _read_loop(handle, md5, on_bytes)
        else:
            sha, md5_hex = hashlib.file_digest(handle, "sha256").hexdigest(), None
    after = FileStat.of(path)
    if after != before:
        raise FileChangedError(
            f"{path}: changed while it was being hashed; try again when it is stable"
        )
    return FileHashes(sha, before.size, before, md5_hex)


def _read_loop(
    handle: object, with_md5: bool, on_bytes: Callable[[int], None] | None
) -> tuple[str, str | None]:
    sha = hashlib.sha256()
    md5 = hashlib.md5() if with_md5 else None
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    readinto: Callable[[bytearray], int] = handle.readinto  # type: ignore[attr-defined]
    while n := readinto(buffer):
        chunk = view[:n]
        sha.update(chunk)
        if md5 is not None:
            md5.update(chunk)
        if on_bytes is not None:
            on_bytes(n)
    return sha.hexdigest(), md5.hexdigest() if md5 is not None else None


def parallel_map(
    function: Callable[[T], R], items: Iterable[T], workers: int | None = None
) -> list[R]:
    """`function` over `items` on a thread pool (hashlib releases the GIL), in order."""
    work = list(items)
    if len(work) <= 1:
        return [function(item) for item in work]
    with ThreadPoolExecutor(max_workers=workers or min(len(work), os.cpu_count() or 1)) as pool:
        return list(pool.map(function, work))
