"""`keel track PATH... --into Kind/name`: put files under DVC and pin them in a manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.core.artifacts import ARTIFACT_KINDS
from toolkit.core.checksums import Fingerprint, Request, fingerprints
from toolkit.core.dvcfiles import judge
from toolkit.core.errors import DvcError, UsageError
from toolkit.core.findings import field_path
from toolkit.core.hashing import FileStat
from toolkit.core.loading import load_file
from toolkit.core.manifest_writer import edit_manifest, merge_file_entries
from toolkit.core.parsing import identify, is_placeholder, placeholders
from toolkit.core.statcache import open_cache
from toolkit.manifests.base import PICKLE_SUFFIXES, ArtifactFiles, relative_path
from toolkit.workflows.artifacts.verify import load_graph, outside_repository

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.core.repository import Graph

SKIPPED_NAMES = (".gitignore", ".gitkeep")


@dataclass(frozen=True)
class TrackResult:
    ref: str
    manifest_path: Path
    files: tuple[Fingerprint, ...]
    added_to_dvc: tuple[Path, ...]
    """Files whose bytes were copied into DVC's cache or whose `.dvc` file was written."""
    manifest_changed: bool
    placeholders_left: tuple[str, ...] = ()
    """Fields of a `keel new` template still to fill in (track fills only spec.files)."""


@dataclass(frozen=True)
class _Target:
    """The manifest to track into: where it is, its directory, whether pickle is allowed."""

    path: Path
    directory: str
    allow_pickle: bool


def track(root: Path, paths: Sequence[Path], into: str, *, use_cache: bool = True) -> TrackResult:
    root = root.resolve()
    graph = load_graph(root)
    target = _target(graph, into)
    directory = (root / target.directory).resolve()
    files = _expand(root, directory, paths, allow_pickle=target.allow_pickle)
    before = {p: FileStat.of(p) for p in files}
    cache = open_cache(root, use_cache)
    try:
        measured = fingerprints(
            [Request(p, md5=True, tensor_digest=p.suffix == ".safetensors") for p in files], cache
        )
    finally:
        cache.close()
    unreadable = [f for f in measured if f.tensor_error]
    if unreadable:  # refused before anything is written
        first = unreadable[0]
        raise UsageError(
            f"{first.path}: not a safetensors file keel can read: {first.tensor_error}"
        )
    added = _store(root, measured, before)
    updates = [_entry(directory, f) for f in measured]
    kind, name = into.split("/", 1)
    changed = edit_manifest(
        target.path, kind, name, lambda data: merge_file_entries(_files_list(data), updates)
    )
    return TrackResult(
        into,
        target.path,
        tuple(measured),
        added,
        changed,
        _placeholders_left(target.path, into),
    )


def _store(
    root: Path, measured: Sequence[Fingerprint], before: dict[Path, FileStat]
) -> tuple[Path, ...]:
    """Put each file's bytes in DVC's cache, then write its `.dvc` file; the workspace file is
    never moved or replaced. A kill leaves at worst an unused cache object or a temp file that
    the next run removes; the `.dvc` file and then the manifest are written only after the
    bytes they point at are safe."""
    from toolkit.bridges import dvc  # keel writes DVC's cache layout itself

    added = []
    for fingerprint in measured:
        path, md5 = fingerprint.path, fingerprint.md5
        assert md5 is not None  # track always asks for md5
        in_cache = dvc.cache_object(root, md5)
        cached = in_cache.is_file() and in_cache.stat().st_size == fingerprint.size
        recorded = _recorded(root, path, md5, fingerprint.size)
        if cached and recorded:
            continue
        if not cached:
            dvc.store(root, path, md5)
        if FileStat.of(path) != before[path]:  # hashed and copied bytes must be the same
            dvc.cache_object(root, md5).unlink(missing_ok=True)
            raise DvcError(f"{path}: changed while keel was tracking it; run keel track again")
        if not recorded:
            dvc.write_dvc_file(path, md5, fingerprint.size)
        added.append(path)
    return tuple(added)


def _target(graph: Graph, into: str) -> _Target:
    """The manifest `into` names: a valid one, or a `keel new` template whose directory is
    filled in (its other placeholders may wait; track replaces the placeholder files)."""
    kinds = ", ".join(k.__name__ for k in ARTIFACT_KINDS)
    entry = graph.entries.get(into)
    if entry is not None:
        if not isinstance(entry.manifest, ARTIFACT_KINDS):
            raise UsageError(f"--into {into}: expected an existing, valid {kinds} manifest")
        spec = entry.manifest.spec
        assert isinstance(spec, ArtifactFiles)
        return _Target(entry.document.path, spec.directory, spec.allow_pickle is not None)
    found = [f for f in graph.findings if f.ref == into and f.path is not None]
    if into.split("/", 1)[0] not in {k.__name__ for k in ARTIFACT_KINDS} or not found:
        raise UsageError(f"--into {into}: expected an existing, valid {kinds} manifest")
    # only the directory matters to track: other placeholders and problems can wait
    blocking = [f for f in found if f.field == "spec.directory" and "placeholder" not in f.message]
    if blocking:
        first = blocking[0]
        raise UsageError(
            f"--into {into}: {first.path}:{first.line}: {first.field or ''}: {first.message}; "
            "fix it, then run keel track again"
        )
    path = found[0].path
    assert path is not None
    raw = _raw_spec(path, into)
    directory = raw.get("directory")
    if not isinstance(directory, str) or not directory or is_placeholder(directory):
        raise UsageError(
            f"--into {into}: {path}: spec.directory is not filled in; write the directory the "
            "files live in, then run keel track again"
        )
    try:
        relative_path(directory)
    except ValueError as error:
        raise UsageError(f"--into {into}: {path}: spec.directory: {error}") from None
    return _Target(path, directory, bool(raw.get("allowPickle")))


def _raw_spec(path: Path, ref: str) -> dict[str, Any]:
    for document in load_file(path).documents:
        if identify(document.data) == ref and isinstance(document.data.get("spec"), dict):
            spec: dict[str, Any] = document.data["spec"]
            return spec
    raise UsageError(f"--into {ref}: {path} holds no readable {ref}")


def _placeholders_left(path: Path, ref: str) -> tuple[str, ...]:
    for document in load_file(path).documents:
        if identify(document.data) == ref:
            return tuple(field_path(loc) for loc, _ in placeholders(document.data, ()))
    return ()


def _files_list(data: Any) -> list[Any]:
    """spec.files, created when missing; a template's placeholder entries are dropped (the
    tracked files replace them)."""
    spec = data["spec"]
    if not isinstance(spec.get("files"), list):
        spec["files"] = []
    files: list[Any] = spec["files"]
    for index in reversed(range(len(files))):
        if any(True for _ in placeholders(files[index], ())):
            del files[index]
    return files


def _entry(directory: Path, fingerprint: Fingerprint) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": fingerprint.path.relative_to(directory).as_posix(),
        "sha256": fingerprint.sha256,
        "size": fingerprint.size,
        "md5": fingerprint.md5,
    }
    if fingerprint.tensor_digest:
        entry["tensorDigest"] = fingerprint.tensor_digest
    return entry


def _recorded(root: Path, path: Path, md5: str, size: int) -> bool:
    """Whether DVC already records these bytes for `path` in keel's form: a `.dvc` file that
    DVC reads as one DVC 3 output (`hash: md5`) with this md5 and size, or the dvc.lock of the
    pipeline stage that writes the file (keel writes no `.dvc` file for a stage's output)."""
    from toolkit.bridges.dvcfiles import load_dvc, lock_output

    written = lock_output(root, path)
    if written is not None:
        lock, out = written
        if out.out.md5 != md5:
            raise UsageError(
                f"{path}: an output of stage {out.stage} in {lock}, which records "
                f"{out.out.hash_name} {out.out.value}, not the file's md5 {md5}: run "
                f"`dvc commit {out.stage}` (or `dvc repro {out.stage}`), then keel track again"
            )
        return True
    record = load_dvc(path.with_name(path.name + ".dvc"))
    if record is None or judge(record, path.name, md5, size, "") is not None:
        return False
    return record.outs[0].size == size


def _expand(
    root: Path, directory: Path, paths: Sequence[Path], *, allow_pickle: bool
) -> list[Path]:
    files: list[Path] = []
    for given in paths:
        path = Path(os.path.abspath(given))
        if not path.exists():
            raise UsageError(f"{given}: no such file or directory")
        reason = outside_repository(root, path)
        if reason:
            raise UsageError(f"{given}: {reason}")
        if not path.resolve().is_relative_to(directory):
            relative = directory.relative_to(root)
            raise UsageError(f"{given}: not under the manifest's directory {relative}/")
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.name.endswith(".dvc") or candidate.name in SKIPPED_NAMES:
                continue
            if candidate.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
                raise UsageError(
                    f"{candidate}: pickle-based weights can execute code when loaded; convert them "
                    "to safetensors, or set spec.allowPickle.reason in the manifest first"
                )
            if candidate.is_symlink():
                raise UsageError(
                    f"{candidate}: a symlink; keel pins files by their bytes, inside the "
                    "manifest's directory: put the file itself there, or move the link out"
                )
            files.append(candidate.resolve())
    if not files:
        raise UsageError("nothing to track: the paths hold no files")
    return sorted(set(files))
