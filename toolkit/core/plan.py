"""What `verify` must check, cached against the stat of every manifest file.

Building the plan means validating the manifests with pydantic, which costs more than the
whole warm verify otherwise would. While no manifest file changed (same device, inode, size,
mtime and ctime) and keel is the same version, the plan from last time is used instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit import __version__
from toolkit.core.layout import MANIFEST_DIR, MANIFEST_SUFFIXES
from toolkit.core.pinned import PinnedFile

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from toolkit.core.statcache import StatCache


@dataclass(frozen=True)
class Plan:
    files: tuple[PinnedFile, ...]
    named: frozenset[str]
    """Every file any manifest pins (relative paths): the rest of a directory is extra."""


def stamp(root: Path) -> str:
    """Changes whenever any manifest file (or keel) may have changed."""
    digest = hashlib.sha256(__version__.encode())
    for current, dirs, names in os.walk(root / MANIFEST_DIR):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(MANIFEST_SUFFIXES):
                path = os.path.join(current, name)
                st = os.stat(path)
                fields = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                digest.update(repr(fields).encode())
    return digest.hexdigest()


def build(root: Path, refs: Sequence[str]) -> Plan:
    from toolkit.core.artifacts import pinned_files
    from toolkit.core.repository import build_graph, manifest_files

    files, _ = manifest_files(root, [root / MANIFEST_DIR])
    graph = build_graph(root, files)
    return Plan(
        tuple(pinned_files(graph, refs)), frozenset(f.relative for f in pinned_files(graph, ()))
    )


def encode(plan: Plan) -> str:
    return json.dumps({"files": [f.as_dict() for f in plan.files], "named": sorted(plan.named)})


def decode(text: str) -> Plan:
    data = json.loads(text)
    return Plan(tuple(PinnedFile(**f) for f in data["files"]), frozenset(data["named"]))


def cached_plan(root: Path, refs: Sequence[str], cache: StatCache) -> Plan:
    """The plan for `refs`, from the cache while no manifest file changed."""
    key = "\n".join(refs)
    current = stamp(root)
    stored = cache.get_plan(key, current)
    if stored is not None:
        return decode(stored)
    plan = build(root, refs)
    cache.put_plan(key, current, encode(plan))
    return plan
