"""`keel push` / `keel pull`: move through DVC only what some manifests need, then verify.

Every file not pushed or not pulled is named with the reason, and the command fails. Pinned
files are checked out by keel: copied into a temp file beside the workspace file while sha256
and md5 are computed, renamed into place only when both match."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from toolkit.core.artifacts import pinned_files
from toolkit.core.dvcfiles import read_dvc_file
from toolkit.core.errors import DvcError
from toolkit.core.fsutil import display
from toolkit.core.hashing import FileStat, hash_file
from toolkit.core.statcache import Cached, open_cache
from toolkit.manifests import Deployment, Evaluation
from toolkit.workflows.artifacts.verify import Problem, Verification, load_graph, verify

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from toolkit.core.pinned import PinnedFile
    from toolkit.core.repository import Graph
    from toolkit.core.statcache import StatCache


@dataclass(frozen=True)
class Failure:
    path: str  # a file that was not pushed or not pulled
    reason: str  # and why

    def render(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Transfer:
    targets: tuple[Path, ...]
    not_in_dvc: tuple[str, ...]
    transferred: int
    verification: Verification | None = None
    failures: tuple[Failure, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures and (self.verification is None or self.verification.ok)


@dataclass(frozen=True)
class _Plan:
    files: list[tuple[PinnedFile, str]]  # tracked one by one (a .dvc file or dvc.lock), md5
    outputs: list[Path]  # other `.dvc` files (Evaluation outputs), moved by DVC itself
    refused: list[tuple[PinnedFile, str]]
    untracked: list[str]
    manifests: list[str]


def _plan(root: Path, refs: Sequence[str]) -> tuple[_Plan, list[Path]]:
    from toolkit.bridges.dvcfiles import tracking

    graph = load_graph(root)
    files = pinned_files(graph, refs)
    tracked, refused, untracked, targets = [], [], [], []
    for file in files:
        how = tracking(root, file)
        if how is None:
            untracked.append(file.relative)
        elif how.md5 is not None:
            tracked.append((file, how.md5))
            targets.append(how.target)
        else:
            refused.append((file, how.refused))
    outputs = [root / f"{path}.dvc" for path in outputs_files(graph, refs)]
    plan = _Plan(tracked, outputs, refused, sorted(set(untracked)), sorted({f.ref for f in files}))
    return plan, sorted(set(targets + outputs))


def _handed(root: Path, file: PinnedFile) -> Path:
    """What DVC is given to move `file`: its `.dvc` file, or the file a pipeline stage writes."""
    dvc_path = file.dvc_file(root)
    return dvc_path if dvc_path.is_file() else file.absolute(root)


def outputs_files(graph: Graph, refs: Sequence[str]) -> list[str]:
    """Evaluation outputs files (kept by DVC) that `refs` need (all when `refs` is empty)."""
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
    """Push what `refs` need. Before DVC uploads anything, every object the remote lacks is
    checked in the cache (present, md5 and sha256 as recorded): a missing or corrupted object
    is named and not pushed. After the upload, the remote is asked for every object again."""
    from toolkit.bridges import dvc

    plan, targets = _plan(root, refs)
    failures = [Failure(f.relative, reason) for f, reason in plan.refused]
    candidates: list[tuple[str, Path, str]] = []  # (label, .dvc file, md5)
    for file, md5 in plan.files:
        obj = dvc.cache_object(root, md5)
        if obj.is_file():
            candidates.append((file.relative, _handed(root, file), md5))
        else:
            failures.append(Failure(file.relative, _no_cache_object(root, file, md5)))
    for dvc_path in plan.outputs:
        recorded = read_dvc_file(dvc_path)
        label = display(dvc_path.with_suffix(""), root)
        if recorded is None or not recorded.md5:
            failures.append(Failure(label, f"{display(dvc_path, root)} records no md5"))
        elif not dvc.cache_object(root, recorded.md5).is_file():
            failures.append(
                Failure(label, f"not in .dvc/cache (md5 {recorded.md5}); run `dvc add` again")
            )
        else:
            candidates.append((label, dvc_path, recorded.md5))
    present = dvc.remote_objects(root, [md5 for _, _, md5 in candidates], remote)
    sha256s = {file.relative: file.sha256 for file, _ in plan.files}
    ready = []
    for label, dvc_path, md5 in candidates:
        if not present[md5] and not md5.endswith(".dir"):
            bad = _corrupted(root, md5, sha256s.get(label))
            if bad:
                failures.append(Failure(label, bad + "; not pushed"))
                continue
        ready.append((label, dvc_path, md5))
    pushed, error = 0, None
    if ready:
        try:
            pushed = dvc.push(root, [t for _, t, _ in ready], remote)
        except DvcError as failure:
            error = str(failure)
        there = dvc.remote_objects(root, [md5 for _, _, md5 in ready], remote)
        for label, _, md5 in ready:
            if not there[md5]:
                why = error or "DVC did not upload it"
                failures.append(Failure(label, f"not in the DVC remote after push: {why}"))
    return Transfer(
        tuple(targets),
        tuple(plan.untracked),
        pushed,
        failures=tuple(sorted(failures, key=lambda f: f.path)),
    )


def _no_cache_object(root: Path, file: PinnedFile, md5: str) -> str:
    where = f".dvc/cache/files/md5/{md5[:2]}/{md5[2:]}"
    if file.absolute(root).is_file():
        return (
            f"not pushed: {where} is missing (the cache was cleared?); "
            f"run `keel track {file.relative} --into {file.ref}` to store it again"
        )
    return f"not pushed: {where} is missing and so is the file; nothing here holds its bytes"


def _corrupted(root: Path, md5: str, sha256: str | None) -> str | None:
    """Why the cache object is not what its name says, or None when it is."""
    from toolkit.bridges import dvc

    obj = dvc.cache_object(root, md5)
    found = hash_file(obj, md5=True)
    where = display(obj, root)
    if found.md5 != md5:
        return f"the cache object {where} is corrupted (its md5 is {found.md5})"
    if sha256 is not None and found.sha256 != sha256:
        return f"the cache object {where} holds sha256 {found.sha256}, the manifest {sha256}"
    return None


def pull(
    root: Path,
    refs: Sequence[str] = (),
    remote: str | None = None,
    *,
    use_cache: bool = True,
    force: bool = False,
) -> Transfer:
    """Pull what `refs` need, then verify every pinned file. A differing workspace file is
    replaced only with `force`, and only by bytes that match."""
    from toolkit.bridges import dvc

    plan, targets = _plan(root, refs)
    reasons: dict[Path, tuple[str, str]] = {
        file.absolute(root): ("path", reason) for file, reason in plan.refused
    }
    notes: list[str] = []
    cache = open_cache(root, use_cache)
    try:
        wanted = _to_check_out(root, plan.files, cache, reasons, force=force)
        fetch: list[tuple[PinnedFile, str]] = []
        corrupt: dict[Path, str] = {}
        pulled = 0
        for file, md5 in wanted:
            found = _check_out(root, file, md5, dvc.cache_object(root, md5), cache)
            if found is None:
                pulled += 1
            else:
                fetch.append((file, md5))
                if found:
                    corrupt[file.absolute(root)] = _corrupt_note(root, md5, found)
        pulled += _fetch(root, fetch, remote, cache, reasons)
        for path, note in corrupt.items():
            if path in reasons:
                field, reason = reasons[path]
                reasons[path] = (field, f"{reason}; and {note}")
            else:
                notes.append(f"{display(path, root)}: {note}; replaced by the remote's copy")
    finally:
        cache.close()
    count, failures = _pull_outputs(root, plan.outputs, remote)
    pulled += count
    checked = verify(root, plan.manifests, use_cache=use_cache)
    problems = []
    for problem in checked.problems:  # one line per file keel did not pull, with the reason
        path = problem.file.absolute(root)
        if path not in reasons:
            problems.append(problem)
        elif reasons[path][1] not in (p.message for p in problems):
            problems.append(Problem(problem.file, *reasons[path]))
    return Transfer(
        tuple(targets),
        tuple(plan.untracked),
        pulled,
        replace(checked, problems=tuple(problems)),
        tuple(failures),
        tuple(notes),
    )


def _pull_outputs(root: Path, outputs: list[Path], remote: str | None) -> tuple[int, list[Failure]]:
    from toolkit.bridges import dvc

    if not outputs:
        return 0, []
    count, failed = dvc.pull(root, outputs, remote)
    return count, [Failure(display(p, root), "DVC could not check it out") for p in failed]


def _to_check_out(
    root: Path,
    files: list[tuple[PinnedFile, str]],
    cache: StatCache,
    reasons: dict[Path, tuple[str, str]],
    *,
    force: bool,
) -> list[tuple[PinnedFile, str]]:
    """Files whose workspace copy is missing, or differs and `force` says to replace it."""
    from toolkit.bridges import dvc
    from toolkit.core.checksums import Request, fingerprints

    present = [(f, m) for f, m in files if f.absolute(root).is_file()]
    measured = fingerprints([Request(f.absolute(root)) for f, _ in present], cache)
    differs = {}
    for (file, _), fingerprint in zip(present, measured, strict=True):
        if fingerprint.sha256 != file.sha256:
            differs[file.relative] = fingerprint.sha256
    wanted = []
    for file, md5 in files:
        dvc.remove_stale_temps(file.absolute(root))
        if file.relative in differs and not force:
            reasons[file.absolute(root)] = (
                "sha256",
                f"expected sha256 {file.sha256}, found {differs[file.relative]} in the "
                "workspace (not replaced; `keel pull --force` replaces it with the pinned bytes)",
            )
        elif file in (f for f, _ in present) and file.relative not in differs:
            continue
        else:
            wanted.append((file, md5))
    return wanted


def _check_out(
    root: Path, file: PinnedFile, md5: str, source: Path, cache: StatCache, *also: Path
) -> str | None:
    """Copy `source` over the workspace file (and to `also`) if its bytes match the manifest.
    None when done; else the sha256 found ("" when `source` is absent)."""
    from toolkit.bridges import dvc

    if not source.is_file():
        return ""
    workspace = file.absolute(root)
    with ThreadPoolExecutor(1) as tensor_thread:  # the same bytes, read while they are copied
        tensor = tensor_thread.submit(_tensor_digest, source) if file.tensor_digest else None
        # sha256 proves the bytes; their md5 (DVC's name) is computed unless the manifest has it
        named = file.md5 == md5
        with dvc.staged_copies(source, [workspace, *also], md5=not named) as (copied, temps):
            if copied.sha256 != file.sha256 or not (named or copied.md5 == md5):
                return copied.sha256
            for temp, target in zip(temps[1:], also, strict=True):
                dvc.publish(temp, target, 0o444)
            dvc.publish(temps[0], workspace, _default_mode())
        digest = tensor.result() if tensor is not None else None
    cache.put(workspace, FileStat.of(workspace), Cached(copied.sha256, copied.md5 or None, digest))
    return None


def _tensor_digest(path: Path) -> str | None:
    from toolkit.core.digests import canonical_tensor_digest
    from toolkit.core.errors import ManifestError

    try:
        return canonical_tensor_digest(path)
    except (ManifestError, ValueError):
        return None  # verify computes it again and reports why


def _fetch(
    root: Path,
    files: list[tuple[PinnedFile, str]],
    remote: str | None,
    cache: StatCache,
    reasons: dict[Path, tuple[str, str]],
) -> int:
    """Bring objects the cache lacks (or holds corrupted) from the remote; returns how many
    files were checked out. A local remote is read once, into the cache and the workspace."""
    from toolkit.bridges import dvc

    if not files:
        return 0
    remote_dir = dvc.local_remote(root, remote)
    done = 0
    if remote_dir is not None:
        for file, md5 in files:
            source = dvc.remote_object(remote_dir, md5)
            found = _check_out(root, file, md5, source, cache, dvc.cache_object(root, md5))
            if found is None:
                done += 1
            elif found == "":
                reasons[file.absolute(root)] = (
                    "md5",
                    f"the DVC remote holds no copy (md5 {md5}); run `keel push` where the "
                    "file exists",
                )
            else:
                reasons[file.absolute(root)] = (
                    "sha256",
                    f"expected sha256 {file.sha256}, found {found} in the DVC remote "
                    "(not pulled; the remote copy is left for inspection)",
                )
        return done
    for _, md5 in files:  # a corrupted object would stop DVC from fetching a good one
        dvc.cache_object(root, md5).unlink(missing_ok=True)
    error = dvc.fetch(root, [_handed(root, f) for f, _ in files], remote)
    for file, md5 in files:
        found = _check_out(root, file, md5, dvc.cache_object(root, md5), cache)
        if found is None:
            done += 1
        else:
            why = f": {error}" if error else ""
            reasons[file.absolute(root)] = (
                "md5",
                "DVC could not fetch it: the remote's copy is missing or does not match "
                f"md5 {md5}{why}",
            )
    return done


def _corrupt_note(root: Path, md5: str, found: str) -> str:
    from toolkit.bridges import dvc

    where = display(dvc.cache_object(root, md5), root)
    return f"the cache object {where} is corrupted (sha256 {found})"


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
