"""Where things live in a keel repository. Light: imported on every command's start."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

MANIFEST_DIR = "manifests"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding `.git` or `manifests/`; else `start`."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists() or (directory / MANIFEST_DIR).is_dir():
            return directory
    return start
