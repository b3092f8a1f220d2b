"""`keel pin SOURCE --name NAME`: a Model (and its Tokenizer) manifest from a model snapshot.

SOURCE is a snapshot in the Hugging Face cache (its directory, or a repo id looked up in the
cache), or any local directory (files inside an installed Python package are recorded as that
package's). Every file is hashed, and from the HF cache checked against its blob's name (the
hub's etag), before anything is written; then the files are copied into the repository, the
manifests created or updated in place, and the files put under DVC by `track`.

Nothing is downloaded; `remote=True` fetches the hub's file metadata only. Pickle files are
hashed, never unpickled.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from toolkit.bridges import hf
from toolkit.core import model_files
from toolkit.core.errors import ChecksumError, ManifestError, UsageError
from toolkit.core.hashing import CHUNK, hash_file, parallel_map
from toolkit.core.manifest_writer import create_manifest, sync_spec
from toolkit.core.safetensors_header import read_header
from toolkit.manifests import Model, Tokenizer
from toolkit.manifests.base import NAME_PATTERN, PICKLE_SUFFIXES
from toolkit.workflows.artifacts.pin_sources import Source, resolve

if TYPE_CHECKING:
    from collections.abc import Sequence

    from toolkit.bridges.hf import SnapshotFile as SourceFile
    from toolkit.manifests.base import Manifest

SKIPPED_NAMES = (".gitattributes", "README.md")
DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
MANAGED = {
    "Model": ("source", "license", "format", "architecture", "parameters", "dtype", "allowPickle"),
    "Tokenizer": ("model", "algorithm", "vocabSize", "maxLength", "paddingSide", "specialTokens"),
}
"""Spec fields pin rewrites in an existing manifest; the rest (metadata, overflow, fertility,
comments) stays as people wrote it."""


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

    @property
    def changed(self) -> bool:
        return bool(self.copied or self.created or self.updated)


@dataclass(frozen=True)
class _Pinned:
    file: SourceFile
    sha256: str
    size: int

    @property
    def entry(self) -> dict[str, Any]:
        return {"path": self.file.relative, "sha256": self.sha256, "size": self.size}


def pin(root: Path, request: PinRequest) -> PinResult:
    root = root.resolve()
    if not re.match(NAME_PATTERN, request.name) or len(request.name) > 63:
        raise UsageError(f"--name {request.name}: use lower-case letters, digits and '-' (≤ 63)")
    if not (root / ".dvc").is_dir() or not (root / "manifests").is_dir():
        raise UsageError(f"{root}: not a keel repository; run `keel init` first")
    current = _current(root, request.name)
    directory = _directory(request, current)
    source = resolve(request)
    pinned = parallel_map(_hash, _select(source.files, request, current["Model"]))
    etag_checked = sum(hf.check_blob(p.file, p.sha256) for p in pinned)
    remote_checked = _check_remote(source, pinned) if request.remote else 0
    groups = {"Model": [p for p in pinned if not _is_tokenizer(p)]}
    if any(_is_tokenizer(p) for p in pinned):
        groups["Tokenizer"] = [p for p in pinned if _is_tokenizer(p)]
    specs = {
        "Model": _model_spec(request, source, pinned, groups["Model"], directory, current),
        **(
            {"Tokenizer": _tokenizer_spec(request, pinned, groups["Tokenizer"], directory)}
            if "Tokenizer" in groups
            else {}
        ),
    }
    documents = {
        kind: _document(root, request, source, kind, spec, creating=current[kind] is None)
        for kind, spec in specs.items()
    }

    copied = _copy_all(root, root / directory, pinned, request.use_cache)
    created: list[Path] = []
    updated: list[Path] = []
    dropped: list[str] = []
    for kind, document in documents.items():
        existing = current[kind]
        path = (
            create_manifest(root, kind, request.name, document) if existing is None else existing[0]
        )
        changed = existing is not None and _update(existing, document, dropped)
        tracked = _track(root, kind, request.name, root / directory, groups[kind])
        if existing is None:
            created.append(path)
        elif changed or tracked:
            updated.append(path)
    pinned_paths = {p.file.relative for p in pinned}
    return PinResult(
        request.name, source.kind, source.subject, source.repo_id, source.revision,
        root / directory, len(pinned), etag_checked, remote_checked, tuple(copied),
        tuple(created), tuple(updated), tuple(d for d in dropped if d not in pinned_paths),
    )  # fmt: skip


def _is_tokenizer(pinned: _Pinned) -> bool:
    return PurePosixPath(pinned.file.relative).name in model_files.TOKENIZER_FILES


def _select(
    files: Sequence[SourceFile], request: PinRequest, model: tuple[Path, Manifest] | None
) -> list[SourceFile]:
    chosen = [
        f
        for f in files
        if PurePosixPath(f.relative).name not in SKIPPED_NAMES
        and not any(fnmatch.fnmatch(f.relative, pattern) for pattern in request.exclude)
    ]
    recorded = model is not None and model[1].spec.allow_pickle is not None
    pickles = [f.relative for f in chosen if f.relative.lower().endswith(PICKLE_SUFFIXES)]
    if pickles and not (request.allow_pickle or recorded):
        raise UsageError(
            f"{', '.join(pickles)}: pickle-based files can run code when loaded; leave them out "
            "with --exclude, or accept them with --allow-pickle REASON (keel never unpickles)"
        )
    if not chosen:
        raise UsageError(f"{request.source}: no files to pin")
    return chosen


def _hash(file: SourceFile) -> _Pinned:
    hashes = hash_file(file.path)
    return _Pinned(file, hashes.sha256, hashes.size)


def _check_remote(source: Source, pinned: Sequence[_Pinned]) -> int:
    if source.repo_id is None or source.revision is None:
        raise UsageError("--remote checks a hub source; SOURCE is not from the HF cache")
    files = {p.file.relative: (p.file.path, p.sha256) for p in pinned}
    return hf.check_remote(source.repo_id, source.revision, files)


# --- what the manifests say ----------------------------------------------------------------


def _current(root: Path, name: str) -> dict[str, tuple[Path, Manifest] | None]:
    """The valid Model/NAME and Tokenizer/NAME manifests there are, with their files."""
    from toolkit.workflows.artifacts.verify import load_graph

    graph = load_graph(root)
    found: dict[str, tuple[Path, Manifest] | None] = {}
    for kind in ("Model", "Tokenizer"):
        ref = f"{kind}/{name}"
        entry = graph.entries.get(ref)
        if entry is None and ref in graph.unparsed:
            raise ManifestError(f"{ref} exists but does not validate; fix it (`keel validate`)")
        found[kind] = (entry.document.path, entry.manifest) if entry else None
    return found


def _directory(request: PinRequest, current: dict[str, tuple[Path, Manifest] | None]) -> str:
    recorded = {str(m.spec.directory) for _, m in filter(None, current.values())}
    directory = request.directory or (min(recorded) if recorded else None)
    directory = (directory or f"artifacts/models/{request.name}").rstrip("/")
    if PurePosixPath(directory).is_absolute() or ".." in PurePosixPath(directory).parts:
        raise UsageError(f"--dir {directory}: give a path inside the repository, without '..'")
    if recorded - {directory}:
        raise UsageError(
            f"{request.name}: its manifests keep their files in {', '.join(sorted(recorded))}; "
            "pin into that directory, or choose another --name"
        )
    return directory


def _model_spec(
    request: PinRequest,
    source: Source,
    pinned: Sequence[_Pinned],
    files: Sequence[_Pinned],
    directory: str,
    current: dict[str, tuple[Path, Manifest] | None],
) -> dict[str, Any]:
    config_path = next((p.file.path for p in pinned if p.file.relative == "config.json"), None)
    if config_path is None:
        raise UsageError(f"{request.source}: no config.json; keel pin reads the architecture there")
    parameters, dtype = _weights([p for p in files if p.file.relative.endswith(".safetensors")])
    spec: dict[str, Any] = {
        "source": source.record,
        "license": _license(request, source, current["Model"]),
        "format": "safetensors",
        "directory": directory,
        "files": [p.entry for p in files],
        "architecture": model_files.architecture(model_files.read_json(config_path), config_path),
        "parameters": parameters,
        "dtype": dtype,
    }
    if request.allow_pickle:
        spec["allowPickle"] = {"reason": request.allow_pickle}
    return spec


def _tokenizer_spec(
    request: PinRequest, pinned: Sequence[_Pinned], files: Sequence[_Pinned], directory: str
) -> dict[str, Any]:
    top = {p.file.relative: p.file.path for p in pinned if "/" not in p.file.relative}
    summary = model_files.tokenizer_summary(top, model_files.read_json(top["config.json"]))
    return {
        "model": f"Model/{request.name}",
        "directory": directory,
        "files": [p.entry for p in files],
        "algorithm": summary["algorithm"],
        "vocabSize": summary["vocabSize"],
        "maxLength": summary["maxLength"],
        "overflow": "truncate",
        "paddingSide": summary["paddingSide"],
        "specialTokens": summary["specialTokens"],
    }


def _weights(files: Sequence[_Pinned]) -> tuple[int, str]:
    """Elements of the floating-point tensors in all weight files, and their commonest dtype."""
    if not files:
        raise UsageError(
            "no *.safetensors weights: keel pin reads parameters and dtype from safetensors "
            "headers (it never unpickles); convert the weights to safetensors first"
        )
    elements: Counter[str] = Counter()
    for pinned in files:
        for tensor in read_header(pinned.file.path).tensors.values():
            if tensor.dtype.startswith(("F", "BF")):
                elements[tensor.dtype] += tensor.elements
    if not elements:
        raise ManifestError("the safetensors files hold no floating-point tensors")
    dominant = elements.most_common(1)[0][0]
    if dominant not in DTYPES:
        raise ManifestError(f"the weights are mostly {dominant}; keel records {', '.join(DTYPES)}")
    return sum(elements.values()), DTYPES[dominant]


def _license(request: PinRequest, source: Source, model: tuple[Path, Manifest] | None) -> str:
    """--license, else what the manifest records already, else the model card's, else ask."""
    if request.license:
        return request.license
    if model is not None:
        return str(model[1].spec.license)
    readme = next((f.path for f in source.files if f.relative == "README.md"), None)
    found = model_files.readme_license(readme) if readme else None
    if found is None:
        raise UsageError("the model card names no license; give it with --license (an SPDX id)")
    return found


def _document(
    root: Path,
    request: PinRequest,
    source: Source,
    kind: str,
    spec: dict[str, Any],
    *,
    creating: bool,
) -> dict[str, Any]:
    """The whole manifest; it must validate before anything is written. The metadata of a
    manifest that exists already is kept, so it needs no owner here."""
    from pydantic import ValidationError

    from toolkit.core.templates import new_manifest_path

    path = new_manifest_path(root, kind, request.name)
    if creating and path.exists():
        raise ManifestError(f"{path} exists and holds no {kind}/{request.name}; move it first")
    subject = f"Model/{request.name}" if source.kind == "local" else source.subject
    if kind == "Model":
        description = request.description or f"{subject}, pinned by keel."
    else:
        description = f"The tokenizer of {subject}."
    metadata = {
        "name": request.name,
        "owner": request.owner or (_git_email(root) if creating else "kept"),
        "description": description,
        "created": dt.date.today().isoformat(),
    }
    document = {"apiVersion": "keel/v1", "kind": kind, "metadata": metadata, "spec": spec}
    try:
        (Model if kind == "Model" else Tokenizer).model_validate(document)
    except ValidationError as error:
        detail = error.errors()[0]
        where = ".".join(str(part) for part in detail["loc"])
        raise ManifestError(f"{kind}/{request.name}: {where}: {detail['msg']}") from None
    return document


def _git_email(root: Path) -> str:
    from toolkit.bridges.git import user_email

    email = user_email(root)
    if not email:
        raise UsageError("who owns these manifests? Give --owner, or set git's user.email")
    return email


# --- writing -------------------------------------------------------------------------------


def _update(existing: tuple[Path, Manifest], document: dict[str, Any], dropped: list[str]) -> bool:
    """Rewrite the fields pin owns, in place; metadata, other fields and comments stay."""
    path, manifest = existing
    fields = MANAGED[manifest.kind]
    changed, gone = sync_spec(path, manifest.kind, manifest.metadata.name, document["spec"], fields)
    dropped.extend(gone)
    return changed


def _track(root: Path, kind: str, name: str, directory: Path, files: Sequence[_Pinned]) -> bool:
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


def _copy_all(root: Path, directory: Path, pinned: Sequence[_Pinned], use_cache: bool) -> list[str]:
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
