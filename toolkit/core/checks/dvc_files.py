"""The md5 a manifest records agrees with the `.dvc` file beside the artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.core.artifacts import pinned_files
from toolkit.core.dvcfiles import read_dvc_file

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.core.findings import Finding
    from toolkit.core.repository import Graph


def dvc_files_agree(graph: Graph) -> Iterator[Finding]:
    for file in pinned_files(graph, ()):
        if file.md5 is None:
            continue
        dvc_path = file.dvc_file(graph.root)
        recorded = read_dvc_file(dvc_path)
        if recorded is None:
            continue
        if (recorded.md5, recorded.size) != (file.md5, file.size):
            manifest = graph.get(file.ref)
            assert manifest is not None
            yield graph.finding(
                manifest,
                ("spec", "files", file.index, "md5"),
                f"{dvc_path.relative_to(graph.root)} records md5 {recorded.md5} and size "
                f"{recorded.size}, the manifest md5 {file.md5} and size "
                f"{file.size}; run `keel track` on {file.relative} again",
                "dvc",
            )


DVC_CHECKS = (dvc_files_agree,)
