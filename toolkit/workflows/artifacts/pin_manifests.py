"""What `keel pin` writes in the Model and Tokenizer manifests, and what it reads from them.

Each spec is built from the hashed files and the snapshot's own config, tokenizer files and
model card; each whole document validates before anything is written. An existing manifest
keeps its metadata, its directory and whatever fields pin does not own (`MANAGED`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from toolkit.core import model_files, tokenizer_files
from toolkit.core.checkpoint_files import check_index
from toolkit.core.errors import ManifestError, UsageError
from toolkit.core.manifest_writer import sync_spec
from toolkit.core.safetensors_header import INDEX_SUFFIX, read_header
from toolkit.core.weight_counts import packed_but_uncounted, packing_beside, parameters
from toolkit.manifests import Model, Tokenizer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from toolkit.manifests.base import Manifest
    from toolkit.workflows.artifacts.pin_sources import Source
    from toolkit.workflows.artifacts.pin_values import PinnedFile, PinRequest

UNQUANTIZED = ("float64", "float32", "float16", "bfloat16")
MANAGED = {
    "Model": ("source", "license", "format", "architecture", "parameters", "dtype", "allowPickle"),
    "Tokenizer": (
        "model", "algorithm", "vocabSize", "maxLength", "paddingSide", "specialTokens",
        "chatTemplateDigest",
    ),
}  # fmt: skip
"""Spec fields pin rewrites in an existing manifest; the rest (metadata, overflow, fertility,
comments) stays as people wrote it."""


def current_manifests(root: Path, name: str) -> dict[str, tuple[Path, Manifest] | None]:
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


def target_directory(request: PinRequest, current: dict[str, tuple[Path, Manifest] | None]) -> str:
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


def model_spec(
    request: PinRequest,
    source: Source,
    pinned: Sequence[PinnedFile],
    files: Sequence[PinnedFile],
    directory: str,
    current: dict[str, tuple[Path, Manifest] | None],
) -> dict[str, Any]:
    config_path = next((p.file.path for p in pinned if p.file.relative == "config.json"), None)
    if config_path is None:
        raise UsageError(f"{request.source}: no config.json; keel pin reads the architecture there")
    count, dtype = _weights(files)
    spec: dict[str, Any] = {
        "source": source.record,
        "license": _license(request, source, current["Model"]),
        "format": "safetensors",
        "directory": directory,
        "files": [p.entry for p in files],
        "architecture": _architecture(config_path, files),
        "parameters": count,
        "dtype": dtype,
    }
    if request.allow_pickle:
        spec["allowPickle"] = {"reason": request.allow_pickle}
    return spec


def _architecture(config_path: Path, files: Sequence[PinnedFile]) -> dict[str, Any]:
    """config.json read through transformers' config class (keel's own reader without it),
    its tied embeddings checked against the safetensors headers' tensor names."""
    from toolkit.bridges.configs import summarise
    from toolkit.core import architecture
    from toolkit.core.errors import MissingExtraError

    config = model_files.read_json(config_path)
    try:
        summary = summarise(config, str(config_path))
    except MissingExtraError:
        summary = architecture.architecture(config, config_path)
    tensors = {
        name
        for p in files
        if p.file.relative.endswith(".safetensors")
        for name in read_header(p.file.path).tensors
    }
    architecture.check_tied_embeddings(summary["tiedEmbeddings"], tensors, config, str(config_path))
    return summary


def tokenizer_spec(
    request: PinRequest, pinned: Sequence[PinnedFile], files: Sequence[PinnedFile], directory: str
) -> dict[str, Any]:
    from toolkit.core.chat_templates import chat_template, template_digest

    top = {p.file.relative: p.file.path for p in pinned if "/" not in p.file.relative}
    summary = tokenizer_files.tokenizer_summary(top, model_files.read_json(top["config.json"]))
    # the chat template as transformers loads it (core.chat_templates); none: no field
    digest = template_digest(chat_template({p.file.relative: p.file.path for p in pinned}))
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
        **({"chatTemplateDigest": digest} if digest else {}),
    }


def _weights(files: Sequence[PinnedFile]) -> tuple[int, str]:
    """The parameters in the Model's safetensors files (`core.weight_counts`: GPTQ/AWQ weights
    unpacked, buffers and quantization metadata left out), each shard of a sharded checkpoint
    once, and the dtype most of them have; in a quantized checkpoint (FP8, GPTQ…), whose
    embeddings and norms stay in 16 bits, the dtype of most quantized weights. Duplicate
    exports were left out before (`pin`)."""
    weights = [p for p in files if p.file.relative.endswith(".safetensors")]
    if not weights:
        raise UsageError(
            "no *.safetensors weights: keel pin reads parameters and dtype from safetensors "
            "headers (it never unpickles); convert the weights to safetensors first"
        )
    present = [p.file.relative for p in files]
    for index in (p for p in files if p.file.relative.endswith(INDEX_SUFFIX)):
        check_index(index.file.path, index.file.relative, present)
    counts: Counter[str] = Counter()
    for pinned in weights:
        path, tensors = pinned.file.path, read_header(pinned.file.path).tensors.values()
        packed = packing_beside(path)
        uncounted = packed_but_uncounted(tensors, packed)
        if uncounted:
            raise ManifestError(
                f"{path}: {uncounted[0]} holds packed weights keel cannot count; keel unpacks "
                "GPTQ and AWQ (bits from config.json's quantization_config)"
            )
        for count, dtype in parameters(tensors, packed, path).values():
            counts[dtype] += count
    if not counts:
        raise ManifestError("the safetensors files hold no parameters, only buffers")
    quantized = Counter({d: n for d, n in counts.items() if d not in UNQUANTIZED})
    return sum(counts.values()), (quantized or counts).most_common(1)[0][0]


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


def manifest_document(
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


def update_manifest(
    existing: tuple[Path, Manifest], document: dict[str, Any], dropped: list[str]
) -> bool:
    """Rewrite the fields pin owns, in place; metadata, other fields and comments stay."""
    path, manifest = existing
    fields = MANAGED[manifest.kind]
    changed, gone = sync_spec(path, manifest.kind, manifest.metadata.name, document["spec"], fields)
    dropped.extend(gone)
    return changed
