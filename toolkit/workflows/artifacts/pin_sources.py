"""Where `keel pin` reads a snapshot from: the HF cache, an installed package, or a directory.

`resolve` turns SOURCE (a snapshot directory, a hub repo id looked up in the cache, or any
local directory) into a `Source`: its files and what the Model records as its `source`.
Nothing is downloaded or hashed here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.bridges import hf
from toolkit.bridges.hf import SnapshotFile as SourceFile
from toolkit.core.errors import UsageError

if TYPE_CHECKING:
    from toolkit.workflows.artifacts.pin_values import PinRequest


@dataclass(frozen=True)
class Source:
    """A resolved SOURCE: its files, the Model's `source` record, and its name in messages."""

    kind: str
    """'hub', 'package' or 'local'."""
    record: dict[str, Any]
    files: tuple[SourceFile, ...]
    subject: str
    repo_id: str | None = None
    revision: str | None = None


def resolve(request: PinRequest) -> Source:
    """The snapshot SOURCE names, checked against the options that only some sources take."""
    given = Path(request.source).expanduser()
    if given.is_dir():
        directory = given.resolve()
        location = hf.snapshot_location(directory)
        if location is not None:
            cache_dir, repo_id, commit = location
            if request.revision not in (None, commit):
                raise UsageError(f"--revision {request.revision}: SOURCE is the snapshot {commit}")
            return _hub(request, cache_dir, repo_id, commit)
        inside = next((p for p in directory.parents if hf.snapshot_location(p)), None)
        if inside is not None:
            raise UsageError(f"{given}: pin the whole snapshot {inside}, not a folder in it")
        return _local(request, directory)
    if given.exists():
        raise UsageError(f"{given}: SOURCE must be a directory or a hub repo id, not a file")
    if hf.REPO_ID.match(request.source):
        cache_dir = request.cache_dir or hf.default_cache_dir()
        return _hub(request, cache_dir, request.source, request.revision or "main")
    raise UsageError(f"{request.source}: no such directory, and not a hub repo id like ORG/NAME")


def _hub(request: PinRequest, cache_dir: Path, repo_id: str, revision: str) -> Source:
    if request.upstream:
        raise UsageError("--upstream is for package sources; a hub source names its repo itself")
    snapshot = hf.find_snapshot(cache_dir, repo_id, revision)
    record = {"hub": {"repoId": snapshot.repo_id, "revision": snapshot.revision}}
    subject = f"{snapshot.repo_id} at {snapshot.revision[:12]}"
    return Source("hub", record, snapshot.files, subject, snapshot.repo_id, snapshot.revision)


def _local(request: PinRequest, directory: Path) -> Source:
    if request.revision:
        raise UsageError("--revision is for HF cache sources; SOURCE is a plain directory")
    files = tuple(_local_files(directory))
    package = _package_of(directory)
    if package is not None:
        name, version, path = package
        record: dict[str, Any] = {"name": name, "version": version, "path": path}
        if request.upstream:
            record["upstreamRepoId"] = request.upstream
        shipped = f"the {name} {version} package"
        subject = (
            f"{request.upstream} as shipped in {shipped}"
            if request.upstream
            else f"{path} in {shipped}"
        )
        return Source("package", {"package": record}, files, subject)
    if request.upstream:
        raise UsageError("--upstream is for package sources; SOURCE is in no installed package")
    if not request.description:
        raise UsageError(
            f"{directory} is neither in the HF cache nor in an installed package: say what it "
            "holds and where it came from with --description"
        )
    return Source("local", {"local": {"description": request.description}}, files, str(directory))


def _local_files(directory: Path) -> list[SourceFile]:
    """Every file but hidden ones and DVC's .dvc files (the directory may be under DVC)."""
    found = []
    for current, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .cache/huggingface
        for name in names:
            path = Path(current, name)
            if not name.startswith(".") and not name.endswith(".dvc") and path.is_file():
                found.append(SourceFile(path.relative_to(directory).as_posix(), path))
    return sorted(found, key=lambda f: f.relative)


def _package_of(directory: Path) -> tuple[str, str, str] | None:
    """(distribution, version, path in site-packages) of the installed package holding it."""
    import importlib.metadata
    import site
    import sys

    listed = [*getattr(site, "getsitepackages", list)(), site.getusersitepackages(), *sys.path]
    bases = {
        Path(p).resolve() for p in listed if Path(p).name in ("site-packages", "dist-packages")
    }
    for base in sorted(bases):
        if not directory.is_relative_to(base) or directory == base:
            continue
        relative = directory.relative_to(base).as_posix()
        top = relative.split("/", 1)[0]
        for name in importlib.metadata.packages_distributions().get(top, []):
            distribution = importlib.metadata.distribution(name)
            if any(str(f).startswith(relative + "/") for f in distribution.files or []):
                return distribution.metadata["Name"], distribution.version, relative
    return None
