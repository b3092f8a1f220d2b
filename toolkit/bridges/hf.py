"""Bridge to Hugging Face: the local hub cache and the hub's file metadata.

huggingface_hub is imported inside the functions that need it, so only `keel pin` pays for
it, and only `check_remote` (behind `keel pin --remote`) ever reaches the network.

The cache stores each file once, as `blobs/<etag>`, and each revision as a tree of symlinks
under `snapshots/<commit>/`. A blob's name is the hub's etag: the sha256 of the bytes for LFS
files, git's blob sha1 for the rest; both are checked against the bytes before they are pinned.
What a snapshot's files say (config.json, tokenizer files, model card) is read by
`toolkit.core.model_files`, which needs no huggingface_hub.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.errors import ChecksumError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from huggingface_hub import CachedRepoInfo, CachedRevisionInfo, ModelInfo

COMMIT = re.compile(r"^[0-9a-f]{40}$")
LFS_ETAG = re.compile(r"^[0-9a-f]{64}$")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SnapshotFile:
    """One file to pin: where it is read from, its path in the repository, its cache blob."""

    relative: str
    path: Path
    blob: str | None = None
    """Name of the cache blob the snapshot links to (the hub's etag), if it links to one."""


@dataclass(frozen=True)
class Snapshot:
    repo_id: str
    revision: str
    path: Path
    files: tuple[SnapshotFile, ...]


def snapshot_location(path: Path) -> tuple[Path, str, str] | None:
    """(cache dir, repo id, commit) when `path` is `<cache>/models--ORG--NAME/snapshots/<sha>`."""
    snapshots, repo = path.parent, path.parent.parent
    if not (COMMIT.match(path.name) and snapshots.name == "snapshots"):
        return None
    if not repo.name.startswith("models--"):
        return None
    return repo.parent, repo.name.removeprefix("models--").replace("--", "/"), path.name


def default_cache_dir() -> Path:
    """huggingface_hub's own default, which honours HF_HUB_CACHE and HF_HOME."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def find_snapshot(cache_dir: Path, repo_id: str, revision: str) -> Snapshot:
    """The cached snapshot of model `repo_id` at `revision` (a commit or a ref); never downloads."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except (CacheNotFound, ValueError) as error:
        raise UsageError(
            f"{cache_dir}: no Hugging Face cache there ({error}); pass --cache-dir or set "
            "HF_HUB_CACHE"
        ) from None
    repo = next((r for r in info.repos if r.repo_type == "model" and r.repo_id == repo_id), None)
    if repo is None:
        folder = "models--" + repo_id.replace("/", "--")
        damaged = [str(w) for w in info.warnings if folder in str(w)]
        if damaged:
            raise ChecksumError(
                f"{repo_id}: its HF cache entry is damaged ({damaged[0]}); "
                f"download it again (`hf download {repo_id}`)"
            )
        raise UsageError(
            f"{repo_id} is not in the HF cache at {cache_dir}; keel pin never downloads: "
            f"run `hf download {repo_id}` first, or pass --cache-dir"
        )
    chosen = _revision(repo, revision)
    files = [
        SnapshotFile(
            f.file_path.relative_to(chosen.snapshot_path).as_posix(),
            f.file_path,
            f.blob_path.name if f.blob_path.parent.name == "blobs" else None,
        )
        for f in chosen.files
    ]
    return Snapshot(
        repo_id,
        chosen.commit_hash,
        chosen.snapshot_path,
        tuple(sorted(files, key=lambda f: f.relative)),
    )


def _revision(repo: CachedRepoInfo, revision: str) -> CachedRevisionInfo:
    by_commit = {r.commit_hash: r for r in repo.revisions}
    refs = repo.refs
    found = by_commit.get(revision) or refs.get(revision)
    if found is not None:
        return found
    known = [*sorted(refs), *sorted(c[:12] for c in by_commit)]
    raise UsageError(
        f"--revision {revision}: {repo.repo_id} has no such ref or commit in the HF cache "
        f"(it has: {', '.join(known) or 'nothing'}); download that revision first"
    )


def git_blob_sha1(path: Path) -> str:
    """git's object id of the file's bytes: sha1 of `blob <size>\\0` and the bytes."""
    with path.open("rb") as handle:
        data = handle.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def check_blob(file: SnapshotFile, sha256: str) -> bool:
    """Check the bytes against the blob's name (the hub's etag). False when there is nothing
    to check against (the snapshot holds a copy, not a link to a named blob)."""
    if file.blob is None:
        return False
    if LFS_ETAG.match(file.blob):
        if sha256 != file.blob:
            raise ChecksumError(
                f"{file.relative}: the HF cache blob is named {file.blob} (the hub's sha256) but "
                f"its bytes hash to {sha256}; the cache is corrupt: delete this revision "
                "(`hf cache delete`) and download it again"
            )
        return True
    if COMMIT.match(file.blob):
        oid = git_blob_sha1(file.path)
        if oid != file.blob:
            raise ChecksumError(
                f"{file.relative}: the HF cache blob is named {file.blob} (git's blob sha1) but "
                f"its bytes give {oid}; the cache is corrupt: delete this revision "
                "(`hf cache delete`) and download it again"
            )
        return True
    return False


def hub_offline() -> str | None:
    """The variable that switches the hub off now, as huggingface_hub reads it (HF_HUB_OFFLINE,
    or TRANSFORMERS_OFFLINE). huggingface_hub reads them once, at import, so a value set later
    (by a test, or a wrapper script) would otherwise be ignored."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return name
    return None


def check_remote(repo_id: str, revision: str, files: Mapping[str, tuple[Path, str]]) -> int:
    """Compare {relative path: (local path, sha256)} with the hub's record of `revision`,
    without downloading: LFS files by sha256, the rest by git blob sha1. Returns how many."""
    switch = hub_offline()
    if switch:
        raise UsageError(f"--remote needs the hub, but {switch} is set; unset it or drop --remote")
    info = _model_info(repo_id, revision)
    siblings = {s.rfilename: s for s in info.siblings or []}
    for relative, (path, sha256) in files.items():
        sibling = siblings.get(relative)
        if sibling is None:
            raise ChecksumError(
                f"{relative}: not in {repo_id} at {revision[:12]} on the hub, but in the local "
                "snapshot; the cache is not what the hub published"
            )
        if sibling.lfs is not None:
            expected, found = sibling.lfs.sha256, sha256
        elif sibling.blob_id:
            expected, found = sibling.blob_id, git_blob_sha1(path)
        else:
            raise UsageError(f"--remote: the hub sent no checksum for {relative}; retry later")
        if expected != found:
            raise ChecksumError(
                f"{relative}: the hub records {expected} for {repo_id} at {revision[:12]}, the "
                f"local copy has {found}; delete it from the cache and download it again"
            )
    return len(files)


def _model_info(repo_id: str, revision: str) -> ModelInfo:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now, not at huggingface_hub import
    try:
        return HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True)
    except OfflineModeIsEnabled:
        raise UsageError(
            "--remote needs the hub, but huggingface_hub was imported with HF_HUB_OFFLINE or "
            "TRANSFORMERS_OFFLINE set; unset them or drop --remote"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise UsageError(f"--remote: the hub has no {repo_id} at {revision}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any HTTP client or transport failure of the hub
        reason = " ".join(str(error).split()) or type(error).__name__
        raise UsageError(
            f"--remote: cannot reach the hub over the network ({reason}); check the network "
            "or HF_ENDPOINT and retry, or drop --remote"
        ) from None
