"""Where things live in a keel repository. Light: imported on every command's start."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

MANIFEST_DIR = "manifests"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files_under(directory: Path) -> Iterator[Path]:
    """The manifest files (.yaml, .yml, .json) below `directory`, in sorted order; hidden
    files and folders are skipped and symlinked folders not entered."""
    for current, dirs, names in os.walk(directory, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.endswith(MANIFEST_SUFFIXES) and not name.startswith("."):
                yield Path(current, name)


KIND_DIRECTORIES = {
    "Requirements": "requirements",
    "ArchitectureDecision": "decisions",
    "Model": "models",
    "Tokenizer": "tokenizers",
    "Dataset": "datasets",
    "Evaluation": "evaluations",
    "Quantization": "quantizations",
    "TrainingRun": "training-runs",
    "Adapter": "adapters",
    "Runbook": "runbooks",
    "Deployment": "deployments",
    "Audit": "audits",
}


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding `.git` or `manifests/`; else `start`."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists() or (directory / MANIFEST_DIR).is_dir():
            return directory
    return start


_KIND_LINE = re.compile(r"^kind:\s*[\"']?([A-Za-z]+)", re.MULTILINE)
_NAME_LINE = re.compile(r"^\s+name:\s*[\"']?([a-z0-9][-a-z0-9]*)", re.MULTILINE)


def guess_references(path: Path) -> set[str]:
    """`Kind/name` of a file that could not be loaded, read from its text as best we can.

    Only used to avoid blaming its neighbours for referring to it: its own findings say why
    it could not be read.
    """
    try:
        with path.open("rb") as handle:
            text = handle.read(1024 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return set()
    kinds = _KIND_LINE.findall(text)
    names = _NAME_LINE.findall(text)
    return {f"{kind}/{name}" for kind, name in zip(kinds, names, strict=False)}
