"""Which files the manifests name, and which of them a given manifest needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.errors import UsageError
from toolkit.core.pinned import PinnedFile
from toolkit.manifests import (
    Adapter,
    Dataset,
    Deployment,
    Evaluation,
    Manifest,
    Model,
    Quantization,
    Requirements,
    Tokenizer,
    TrainingRun,
)
from toolkit.manifests.base import ArtifactFiles

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from toolkit.core.repository import Graph

ArtifactManifest = Model | Tokenizer | Dataset | Adapter
ARTIFACT_KINDS = (Model, Tokenizer, Dataset, Adapter)


def files_of(manifest: Manifest) -> list[PinnedFile]:
    """The files `manifest` pins (none unless it is a Model, Tokenizer, Dataset or Adapter)."""
    spec = manifest.spec
    if not isinstance(spec, ArtifactFiles):
        return []
    return [
        PinnedFile(
            manifest.ref, i, f"{spec.directory}/{e.path}", e.sha256, e.size, e.md5, e.tensor_digest
        )
        for i, e in enumerate(spec.files)
    ]


def pinned_files(graph: Graph, refs: Iterable[str], *, own_files: bool = False) -> list[PinnedFile]:
    """The files of `needed_by(graph, refs, own_files=own_files)`."""
    return [f for m in needed_by(graph, refs, own_files=own_files) for f in files_of(m)]


def needed_by(
    graph: Graph, refs: Iterable[str], *, own_files: bool = False
) -> list[ArtifactManifest]:
    """The artifact manifests that `refs` need; every artifact manifest when `refs` is empty.

    With `own_files` (keel verify), a ref to a Model, Tokenizer, Dataset or Adapter stands for
    that manifest alone, not for the artifacts it names (a Tokenizer's Model, an Adapter's
    base); a Deployment, Quantization, TrainingRun or Evaluation still stands for all it needs.
    """
    wanted = list(refs)
    if not wanted:
        return [
            m for m in (e.manifest for e in graph.entries.values()) if isinstance(m, ARTIFACT_KINDS)
        ]
    found: dict[str, ArtifactManifest] = {}
    for ref in wanted:
        manifest = graph.get(ref)
        if manifest is None:
            raise UsageError(f"{ref}: no such manifest (or it does not validate)")
        if own_files and isinstance(manifest, ARTIFACT_KINDS):
            found.setdefault(manifest.ref, manifest)
            continue
        for needed in _expand(graph, manifest):
            found.setdefault(needed.ref, needed)
    return list(found.values())


def _expand(graph: Graph, manifest: Manifest) -> Iterator[ArtifactManifest]:
    if isinstance(manifest, ARTIFACT_KINDS):
        yield manifest
    refs: list[str | None] = []
    if isinstance(manifest, Deployment):
        spec = manifest.spec
        refs = [spec.model, spec.tokenizer, spec.adapter, spec.canary.dataset]
        requirements = graph.get_as(spec.requirements, Requirements)
        if requirements is not None:
            refs += [t.dataset for t in requirements.spec.quality]
        for ref in spec.evaluations:
            evaluation = graph.get_as(ref, Evaluation)
            if evaluation is not None:
                refs.append(evaluation.spec.dataset)
    elif isinstance(manifest, Quantization):
        refs = [manifest.spec.model, manifest.spec.adapter]
    elif isinstance(manifest, Adapter):
        refs = [manifest.spec.base.model]
    elif isinstance(manifest, Tokenizer):
        refs = [manifest.spec.model]
    elif isinstance(manifest, TrainingRun):
        refs = [manifest.spec.base, *manifest.spec.datasets]
    elif isinstance(manifest, Evaluation):
        refs = [manifest.spec.dataset]
    for ref in refs:
        target = graph.get(ref)
        if isinstance(target, ARTIFACT_KINDS) and target is not manifest:
            yield target
