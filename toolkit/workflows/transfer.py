"""`keel push` / `keel pull`: move through DVC only what some manifests need, then verify."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from toolkit.artifacts import ArtifactFile, files_of, needed_by
from toolkit.workflows.verify import Problem, Verification, load_graph, verify

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


@dataclass(frozen=True)
class Transfer:
    targets: tuple[Path, ...]
    not_in_dvc: tuple[str, ...]
    transferred: int
    verification: Verification | None = None


def _targets(root: Path, refs: Sequence[str]) -> tuple[list[Path], list[str], list[str]]:
    graph = load_graph(root)
    manifests = needed_by(graph, refs)
    targets, untracked = [], []
    for manifest in manifests:
        for file in files_of(root, manifest):
            dvc_file = file.path.with_name(file.path.name + ".dvc")
            if dvc_file.is_file():
                targets.append(dvc_file)
            else:
                untracked.append(file.relative)
    return sorted(set(targets)), sorted(set(untracked)), [m.ref for m in manifests]


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
        path = problem.file.path
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

    graph = load_graph(root)
    wanted = [
        file
        for manifest in needed_by(graph, refs)
        for file in files_of(root, manifest)
        if file.entry.md5
        and file.path.with_name(file.path.name + ".dvc").is_file()
        and not dvc.cached(root, file.entry.md5)
    ]
    if not wanted:
        return {}
    remote_digests = dvc.remote_sha256s(root, [f.entry.md5 or "" for f in wanted], remote)
    refused = {}
    for file in wanted:
        if file.entry.md5 not in remote_digests:
            continue
        found = remote_digests[file.entry.md5]
        if found is None:
            refused[file.path] = (
                f"the DVC remote holds no copy (md5 {file.entry.md5}); "
                "run `keel push` where the file exists"
            )
        elif found != file.entry.sha256:
            refused[file.path] = (
                f"expected sha256 {file.entry.sha256}, found {found} in the DVC remote "
                "(not pulled; the remote copy is left for inspection)"
            )
    return refused


def _refused_by_dvc(file: ArtifactFile) -> str:
    return (
        f"DVC could not check it out: the remote's copy is missing or does not match md5 "
        f"{file.entry.md5}"
    )
