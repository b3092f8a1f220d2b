"""The `.dvc` file beside each pinned file, and any `dvc.lock` output, agree with the manifest.

Both are read as DVC reads them (`toolkit.core.dvcfiles`); each finding names the command that
clears it."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from toolkit.core.artifacts import pinned_files
from toolkit.core.dvcfiles import CONFLICT, LockOut, judge, read_dvc, read_lock
from toolkit.core.findings import Finding, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from toolkit.core.pinned import PinnedFile
    from toolkit.core.repository import Graph


def track_command(file: PinnedFile) -> str:
    return f"keel track {file.relative} --into {file.ref}"


def dvc_files_agree(graph: Graph) -> Iterator[Finding]:
    for file in pinned_files(graph, ()):
        dvc_path = file.dvc_file(graph.root)
        record = read_dvc(dvc_path)
        if record is None:
            continue
        name = PurePosixPath(file.relative).name
        verdict = judge(record, name, file.md5, file.size, track_command(file))
        if verdict is None:
            continue
        manifest = graph.get(file.ref)
        assert manifest is not None
        finding = graph.finding(
            manifest,
            ("spec", "files", file.index, "md5" if file.md5 else "path"),
            f"{dvc_path.relative_to(graph.root)} {verdict.message}",
            "dvc",
        )
        yield finding if verdict.error else _warning(finding)


def dvc_lock_agrees(graph: Graph) -> Iterator[Finding]:
    """A pinned file that a pipeline stage writes: dvc.lock's md5 is the manifest's."""
    files = [f for f in pinned_files(graph, ()) if f.md5]
    outs: dict[str, tuple[Path, LockOut]] = {}
    for lock_path in _lock_files(graph.root, files):
        lock = read_lock(lock_path)
        if lock is None:
            continue
        where = lock_path.relative_to(graph.root)
        if lock.error_kind is not None:
            cause = (
                "has git merge conflict markers"
                if lock.error_kind == CONFLICT
                else f"cannot be read by DVC ({lock.error})"
            )
            yield Finding(
                lock_path,
                0,
                f"{cause}: resolve it by hand, or delete it and run `dvc commit --force` to "
                "write it again from the workspace",
                check="dvc",
            )
            continue
        base = PurePosixPath(where.parent.as_posix())
        for out in lock.outs:
            outs[(base / out.path).as_posix().removeprefix("./")] = (where, out)
    for file in files:
        found = outs.get(file.relative)
        if found is None or found[1].out.md5 is None or found[1].out.isdir:
            continue
        where, out = found
        if out.out.md5 == file.md5 and out.out.size in (None, file.size):
            continue
        manifest = graph.get(file.ref)
        assert manifest is not None
        yield graph.finding(
            manifest,
            ("spec", "files", file.index, "md5"),
            f"{where} (stage {out.stage}) records md5 {out.out.md5} and size {out.out.size}, "
            f"the manifest md5 {file.md5} and size {file.size}; run `{track_command(file)}` "
            f"(when dvc.lock is the stale one, `dvc commit {out.stage}` first)",
            "dvc",
        )


def _lock_files(root: Path, files: list[PinnedFile]) -> list[Path]:
    """dvc.lock in the repository root and in every directory above a pinned file."""
    found = {root / "dvc.lock"}
    for file in files:
        for parent in PurePosixPath(file.relative).parents:
            found.add(root / parent / "dvc.lock")
    return sorted(p for p in found if p.is_file())


def _warning(finding: Finding) -> Finding:
    from dataclasses import replace

    return replace(finding, severity=Severity.warning)


DVC_CHECKS = (dvc_files_agree, dvc_lock_agrees)
