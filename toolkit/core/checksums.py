"""Fingerprints of files through the stat cache: look up, hash the misses in parallel, store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from toolkit.core.digests import canonical_tensor_digest
from toolkit.core.errors import ManifestError
from toolkit.core.hashing import FileChangedError, FileStat, hash_file, parallel_map
from toolkit.core.progress import Advance, byte_progress
from toolkit.core.statcache import Cached, StatCache

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


@dataclass(frozen=True)
class Request:
    path: Path
    md5: bool = False
    tensor_digest: bool = False


@dataclass(frozen=True)
class Fingerprint:
    path: Path
    size: int
    sha256: str
    md5: str | None
    tensor_digest: str | None
    cached: bool
    tensor_error: str | None = None


def fingerprints(requests: Sequence[Request], cache: StatCache) -> list[Fingerprint]:
    """One fingerprint per request, in order. Cache lookups and writes stay on this thread."""
    results: list[Fingerprint | None] = []
    misses: list[tuple[int, Request]] = []
    for index, request in enumerate(requests):
        stat = FileStat.of(request.path)
        hit = cache.get(request.path, stat)
        if (
            hit
            and (hit.md5 or not request.md5)
            and (hit.tensor_digest or not request.tensor_digest)
        ):
            results.append(
                Fingerprint(request.path, stat.size, hit.sha256, hit.md5, hit.tensor_digest, True)
            )
        else:
            results.append(None)
            misses.append((index, request))
    total = sum(FileStat.of(r.path).size for _, r in misses)
    with byte_progress(total, "hashing") as advance:
        measured = parallel_map(partial(_measure, on_bytes=advance), [r for _, r in misses])
    for (index, _), (fingerprint, stat) in zip(misses, measured, strict=True):
        results[index] = fingerprint
        if fingerprint.tensor_error:
            continue
        cache.put(
            fingerprint.path,
            stat,
            Cached(fingerprint.sha256, fingerprint.md5, fingerprint.tensor_digest),
        )
    return [r for r in results if r is not None]


def _measure(request: Request, on_bytes: Advance | None) -> tuple[Fingerprint, FileStat]:
    if not request.tensor_digest:
        hashes = hash_file(request.path, md5=request.md5, on_bytes=on_bytes)
        return Fingerprint(
            request.path, hashes.size, hashes.sha256, hashes.md5, None, False
        ), hashes.stat
    # The tensor digest reads the file a second time (tensor by tensor, in name order), from
    # the page cache, on its own thread while the byte digests are computed.
    with ThreadPoolExecutor(max_workers=1) as tensor_thread:
        tensor_job = tensor_thread.submit(canonical_tensor_digest, request.path)
        hashes = hash_file(request.path, md5=request.md5, on_bytes=on_bytes)
        tensor, error = None, None
        try:
            tensor = tensor_job.result()
        except (ManifestError, ValueError) as failure:
            error = str(failure).removeprefix(f"{request.path}: ")
    if FileStat.of(request.path) != hashes.stat:
        raise FileChangedError(f"{request.path}: changed while it was being hashed")
    fingerprint = Fingerprint(
        request.path, hashes.size, hashes.sha256, hashes.md5, tensor, False, error
    )
    return fingerprint, hashes.stat
