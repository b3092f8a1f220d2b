"""`keel push` / `keel pull`: move through DVC only what some manifests need, then verify."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from toolkit.core.artifacts import pinned_files
from toolkit.manifests import Deployment, Evaluation
from toolkit.workflows.artifacts.verify import Problem, Verification, load_graph, verify

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from toolkit.core.pinned import PinnedFile
    from toolkit.core.repository import Graph


@dataclass(frozen=True)
class Transfer:
    targets: tuple[Path, ...]
    not_in_dvc: tuple[str, ...]
    transferred: int
    verification: Verification | None = None


def _targets(root: Path, refs: Sequence[str]) -> tuple[list[Path], list[str], list[str]]:
    graph = load_graph(root)
    files = pinned_files(graph, refs)
    targets, untracked = [], []
    for file in files:
        if file.dvc_file(root).is_file():
            targets.append(file.dvc_file(root))
        else:
            untracked.append(file.relative)
    targets += [root / f"{path}.dvc" for path in outputs_files(graph, refs)]
    return sorted(set(targets)), sorted(set(untracked)), sorted({f.ref for f in files})


def outputs_files(graph: Graph, refs: Sequence[str]) -> list[str]:
    """Evaluation outputs files (kept by DVC) that `refs` need: those of the named
    Evaluations and of a named Deployment's evaluations; all of them when `refs` is empty."""
    if refs:
        wanted: list[str] = []
        for ref in refs:
            manifest = graph.get(ref)
            if isinstance(manifest, Deployment):
                wanted += manifest.spec.evaluations
            elif isinstance(manifest, Evaluation):
                wanted.append(ref)
        evaluations = [e for e in (graph.get_as(r, Evaluation) for r in wanted) if e]
    else:
        evaluations = graph.of_kind(Evaluation)
    paths = {e.spec.outputs.path for e in evaluations if e.spec.outputs.path}
    return sorted(p for p in paths if (graph.root / f"{p}.dvc").is_file())


def push(root: Path, refs: Sequence[str] = (), remote: str | None = None) -> Transfer:
    from toolkit.bridges import dvc

    targets, untracked, _ = _targets(root, refs)
    pushed = dvc.push(root, targets, remote) if targets else 0
    return Transfer(tuple(targets), tuple(untracked), pushed)


def pull(
    root: Path, refs: Sequence[str] = (), remote: str | None = None, *, use_cache: bool = True
) -> Transfer:
    from toolkit.bridges import dvc

    targets, untracked, manifests = _targets(root, refs)
    refused = _corrupt_in_remote(root, manifests, remote)
    wanted = [t for t in targets if t.with_suffix("") not in refused]
    pulled, failed = dvc.pull(root, wanted, remote) if wanted else (0, [])
    checked = verify(root, manifests, use_cache=use_cache)
    problems = []
    for problem in checked.problems:
        path = problem.file.absolute(root)
        if path in refused:
            problems.append(Problem(problem.file, "sha256", refused[path]))
        elif path.resolve() in failed:
            problems.append(Problem(problem.file, "md5", _refused_by_dvc(problem.file)))
        else:
            problems.append(problem)
    return Transfer(
        tuple(targets), tuple(untracked), pulled, replace(checked, problems=tuple(problems))
    )


def _corrupt_in_remote(root: Path, refs: list[str], remote: str | None) -> dict[Path, str]:
    """Files whose copy in a local remote does not match the manifest, with the reason."""
    from toolkit.bridges import dvc

    wanted = [
        file
        for file in pinned_files(load_graph(root), refs)
        if file.md5 and file.dvc_file(root).is_file() and not dvc.cached(root, file.md5)
    ]
    if not wanted:
        return {}
    remote_digests = dvc.remote_sha256s(root, [f.md5 or "" for f in wanted], remote)
    refused = {}
    for file in wanted:
        if file.md5 not in remote_digests:
            continue
        found = remote_digests[file.md5]
        if found is None:
            refused[file.absolute(root)] = (
                f"the DVC remote holds no copy (md5 {file.md5}); "
                "run `keel push` where the file exists"
            )
        elif found != file.sha256:
            refused[file.absolute(root)] = (
                f"expected sha256 {file.sha256}, found {found} in the DVC remote "
                "(not pulled; the remote copy is left for inspection)"
            )
    return refused


def _refused_by_dvc(file: PinnedFile) -> str:
    return (
        f"DVC could not check it out: the remote's copy is missing or does not match md5 {file.md5}"
    )
