"""`keel pin SOURCE --name NAME`: a Model (and its Tokenizer) manifest from a model snapshot.

SOURCE is a snapshot in the Hugging Face cache (its directory, or a repo id looked up in the
cache), or any local directory (files inside an installed Python package are recorded as that
package's). Every file is hashed, and from the HF cache checked against its blob's name (the
hub's etag), before anything is written; then the files are copied into the repository, the
manifests created or updated in place, and the files put under DVC by `track`.

Nothing is downloaded; `remote=True` fetches the hub's file metadata only. Pickle files are
hashed, never unpickled. The manifests are built in `pin_manifests`, the copies made and
tracked in `pin_files`.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from toolkit.bridges import hf
from toolkit.core import tokenizer_files
from toolkit.core.checkpoint_files import duplicate_exports
from toolkit.core.errors import UsageError
from toolkit.core.hashing import hash_file, parallel_map
from toolkit.core.manifest_writer import create_manifest
from toolkit.manifests.base import PICKLE_SUFFIXES, is_name
from toolkit.workflows.artifacts.pin_files import Undo, copy_all, track_copies
from toolkit.workflows.artifacts.pin_manifests import (
    current_manifests,
    manifest_document,
    model_spec,
    target_directory,
    tokenizer_spec,
    update_manifest,
)
from toolkit.workflows.artifacts.pin_sources import resolve
from toolkit.workflows.artifacts.pin_values import PinnedFile, PinRequest, PinResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.bridges.hf import SnapshotFile as SourceFile
    from toolkit.manifests.base import Manifest
    from toolkit.workflows.artifacts.pin_sources import Source

SKIPPED_NAMES = (".gitattributes", "README.md")


def pin(root: Path, request: PinRequest) -> PinResult:
    root = root.resolve()
    if not is_name(request.name):
        raise UsageError(f"--name {request.name}: use lower-case letters, digits and '-' (≤ 63)")
    if not (root / ".dvc").is_dir() or not (root / "manifests").is_dir():
        raise UsageError(f"{root}: not a keel repository; run `keel init` first")
    current = current_manifests(root, request.name)
    directory = target_directory(request, current)
    source = resolve(request)
    chosen, excluded = _select(source.files, request, current["Model"])
    pinned = parallel_map(_hash, chosen)
    etag_checked = sum(hf.check_blob(p.file, p.sha256) for p in pinned)
    remote_checked = _check_remote(source, pinned) if request.remote else 0
    groups = {"Model": [p for p in pinned if not _is_tokenizer(p)]}
    if any(_is_tokenizer(p) for p in pinned):
        groups["Tokenizer"] = [p for p in pinned if _is_tokenizer(p)]
    specs = {
        "Model": model_spec(request, source, pinned, groups["Model"], directory, current),
        **(
            {"Tokenizer": tokenizer_spec(request, pinned, groups["Tokenizer"], directory)}
            if "Tokenizer" in groups
            else {}
        ),
    }
    documents = {
        kind: manifest_document(root, request, source, kind, spec, creating=current[kind] is None)
        for kind, spec in specs.items()
    }

    undo = Undo.before_writing(root, directory, pinned, documents, current, request.name)
    try:
        copied = copy_all(root, root / directory, pinned, request.use_cache)
        created: list[Path] = []
        updated: list[Path] = []
        dropped: list[str] = []
        for kind, document in documents.items():
            existing = current[kind]
            path = (
                create_manifest(root, kind, request.name, document)
                if existing is None
                else existing[0]
            )
            changed = existing is not None and update_manifest(existing, document, dropped)
            tracked = track_copies(root, kind, request.name, root / directory, groups[kind])
            if existing is None:
                created.append(path)
            elif changed or tracked:
                updated.append(path)
    except BaseException:
        undo.restore()
        raise
    undo.discard()
    pinned_paths = {p.file.relative for p in pinned} | set(excluded)
    return PinResult(
        request.name, source.kind, source.subject, source.repo_id, source.revision,
        root / directory, len(pinned), etag_checked, remote_checked, tuple(copied),
        tuple(created), tuple(updated), tuple(d for d in dropped if d not in pinned_paths),
        tuple(excluded.items()),
    )  # fmt: skip


def _is_tokenizer(pinned: PinnedFile) -> bool:
    return tokenizer_files.is_tokenizer_file(PurePosixPath(pinned.file.relative).name)


def _select(
    files: Sequence[SourceFile], request: PinRequest, model: tuple[Path, Manifest] | None
) -> tuple[list[SourceFile], dict[str, str]]:
    """The files to pin, and the duplicate weight exports left out with the reason for each
    (`checkpoint_files`); --exclude patterns and SKIPPED_NAMES go first."""
    chosen = [
        f
        for f in files
        if PurePosixPath(f.relative).name not in SKIPPED_NAMES
        and not any(fnmatch.fnmatch(f.relative, pattern) for pattern in request.exclude)
    ]
    excluded = duplicate_exports(f.relative for f in chosen)
    chosen = [f for f in chosen if f.relative not in excluded]
    recorded = model is not None and model[1].spec.allow_pickle is not None
    pickles = [f.relative for f in chosen if f.relative.lower().endswith(PICKLE_SUFFIXES)]
    if pickles and not (request.allow_pickle or recorded):
        raise UsageError(
            f"{', '.join(pickles)}: pickle-based files can run code when loaded; leave them out "
            "with --exclude, or accept them with --allow-pickle REASON (keel never unpickles)"
        )
    if not chosen:
        raise UsageError(f"{request.source}: no files to pin")
    return chosen, excluded


def _hash(file: SourceFile) -> PinnedFile:
    hashes = hash_file(file.path)
    return PinnedFile(file, hashes.sha256, hashes.size)


def _check_remote(source: Source, pinned: Sequence[PinnedFile]) -> int:
    if source.repo_id is None or source.revision is None:
        raise UsageError("--remote checks a hub source; SOURCE is not from the HF cache")
    files = {p.file.relative: (p.file.path, p.sha256) for p in pinned}
    return hf.check_remote(source.repo_id, source.revision, files)
