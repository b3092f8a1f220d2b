"""One canonical set of weights per checkpoint folder.

Hub repositories often ship the same weights twice: Mistral's native `consolidated.safetensors`
(with its `params.json`) next to transformers' `model*.safetensors`, a single
`model.safetensors` next to a sharded copy, TensorFlow/Flax/Rust exports. Pinning both would
count every parameter twice and put the same weights in the weights digest twice, so
`duplicate_exports` names each duplicate with the reason it is one, and `check_index` makes
sure a sharded checkpoint's index names exactly the shards that are there.

The canonical set is what transformers loads: `model.safetensors`, else the shards of
`model.safetensors.index.json`. Pickle exports (`pytorch_model.bin`) are not handled here:
pin refuses them unless the Model records why they stay (allowPickle), and never counts them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from toolkit.core.errors import ManifestError
from toolkit.core.safetensors_header import index_targets, unsafe_target

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
SHARD = re.compile(r"model-\d+-of-\d+\.safetensors")
CONSOLIDATED = re.compile(r"consolidated(\.\d+)?\.(safetensors|pth|pt)")
OTHER_FRAMEWORKS = {
    "tf_model.h5": "TensorFlow",
    "flax_model.msgpack": "Flax",
    "rust_model.ot": "Rust (tch)",
}


def duplicate_exports(paths: Iterable[str]) -> dict[str, str]:
    """{path: why it duplicates the canonical weights beside it} for the given relative paths
    (folder by folder); a folder without transformers' safetensors weights has none."""
    folders: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        pure = PurePosixPath(path)
        folders[str(pure.parent)].add(pure.name)
    found: dict[str, str] = {}
    for folder, names in folders.items():
        shards = {n for n in names if SHARD.fullmatch(n)}
        if SINGLE not in names and not shards:
            continue
        canonical = SINGLE if SINGLE in names else INDEX
        reasons = {}
        native = {n for n in names if CONSOLIDATED.fullmatch(n)}
        for name in native:
            reasons[name] = f"Mistral's native export of the weights in {canonical}"
        if native and "params.json" in names:
            reasons["params.json"] = f"the config of Mistral's native export, {min(native)}"
        if SINGLE in names:
            for name in shards | ({INDEX} & names):
                reasons[name] = (
                    f"a sharded copy of the weights in {SINGLE}, which transformers loads"
                )
        for name, framework in OTHER_FRAMEWORKS.items():
            if name in names:
                reasons[name] = f"the {framework} export of the weights in {canonical}"
        prefix = "" if folder == "." else f"{folder}/"
        found.update({prefix + name: reason for name, reason in reasons.items()})
    return dict(sorted(found.items()))


def check_index(index: Path, relative: str, present: Iterable[str]) -> list[str]:
    """The shards a sharded checkpoint's index (`relative` among the `present` paths, read from
    `index`) maps its tensors to; a ManifestError unless its weight_map names exactly the
    shard files of its folder, each a safetensors file that is there."""
    pure = PurePosixPath(relative)
    prefix = "" if str(pure.parent) == "." else f"{pure.parent}/"
    targets = index_targets(index)
    for target in targets:
        problem = unsafe_target(target)
        if problem:
            raise ManifestError(f"{relative}: weight_map names {problem}")
    present = set(present)
    missing = [t for t in targets if prefix + t not in present]
    if missing:
        raise ManifestError(
            f"{relative}: weight_map names {', '.join(missing)}, not in the snapshot (a shard "
            "is missing, or left out with --exclude)"
        )
    shards = {p.removeprefix(prefix) for p in present if p.startswith(prefix)}
    unnamed = sorted(s for s in shards if SHARD.fullmatch(s) and s not in targets)
    if unnamed:
        raise ManifestError(
            f"{relative}: weight_map does not name {', '.join(unnamed)}; a shard the index "
            "leaves out is not part of the checkpoint (remove it, or fix the index)"
        )
    return [prefix + t for t in targets]
