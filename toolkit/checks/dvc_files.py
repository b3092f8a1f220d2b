"""The md5 a manifest records agrees with the `.dvc` file beside the artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.artifacts import files_of, needed_by
from toolkit.dvcfiles import read_dvc_file

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toolkit.findings import Finding
    from toolkit.repository import Graph


def dvc_files_agree(graph: Graph) -> Iterator[Finding]:
    for manifest in needed_by(graph, ()):
        for file in files_of(graph.root, manifest):
            if file.entry.md5 is None:
                continue
            dvc_path = file.path.with_name(file.path.name + ".dvc")
            recorded = read_dvc_file(dvc_path)
            if recorded is None:
                continue
            if (recorded.md5, recorded.size) != (file.entry.md5, file.entry.size):
                yield graph.finding(
                    manifest,
                    ("spec", "files", file.index, "md5"),
                    f"{dvc_path.relative_to(graph.root)} records md5 {recorded.md5} and size "
                    f"{recorded.size}, the manifest md5 {file.entry.md5} and size "
                    f"{file.entry.size}; run `keel track` on {file.relative} again",
                    "dvc",
                )


DVC_CHECKS = (dvc_files_agree,)
