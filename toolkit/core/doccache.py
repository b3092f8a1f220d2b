"""Loaded manifest documents, cached against the file's stat: unchanged files are not re-read.

In a repository of 1,000 manifests a commit touches a few; validation still needs every
manifest to resolve references, but only the changed ones need parsing again. The cache lives
beside the stat cache in `.keel/` and is used only where `.keel/` exists or is git-ignored
(as `keel init` sets up), so validating a foreign tree never writes into it. Like the stat
cache it is a layer, not a truth: any stat difference, another keel version, or a damaged
row means reading the file again.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from toolkit import __version__
from toolkit.core.fsutil import write_atomic
from toolkit.core.loading import DIALECT, Document, LoadResult, Problem, load_file
from toolkit.core.statcache import CacheDb

if TYPE_CHECKING:
    from pathlib import Path

CACHE_DIR = ".keel"
_FILE = "documents.sqlite"
_SCHEMA = """
PRAGMA synchronous = OFF;
PRAGMA journal_mode = MEMORY;
CREATE TABLE IF NOT EXISTS documents (
    path TEXT PRIMARY KEY, stat TEXT NOT NULL, payload TEXT NOT NULL
);
"""


def _stat_key(path: Path) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    stat = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    return f"{__version__}:{DIALECT}:{stat}"


def enabled(root: Path) -> bool:
    if (root / CACHE_DIR).is_dir():
        return True
    try:
        ignored = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return f"{CACHE_DIR}/" in ignored


class DocumentCache:
    def __init__(self, root: Path) -> None:
        directory = root / CACHE_DIR
        directory.mkdir(exist_ok=True)
        self._db = CacheDb(directory / _FILE, _SCHEMA)
        self._rows = dict(self._db.rows("SELECT path, stat || '\n' || payload FROM documents"))
        self._pending: list[tuple[str, str, str]] = []

    def load(self, path: Path) -> LoadResult:
        key = os.path.abspath(path)
        stat = _stat_key(path)
        row = self._rows.get(key)
        if stat is not None and row is not None:
            cached_stat, _, payload = row.partition("\n")
            if cached_stat == stat:
                decoded = _decode(path, payload)
                if decoded is not None:
                    return decoded
        result = load_file(path)
        after = _stat_key(path)
        if stat is not None and after == stat:
            payload = _encode(result)
            if payload is not None:
                self._pending.append((key, stat, payload))
        return result

    def close(self) -> None:
        if self._pending:
            self._db.write("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)", self._pending)
        self._db.close()


def _encode(result: LoadResult) -> str | None:
    documents = []
    for document in result.documents:
        if not _json_safe(document.data):
            return None  # e.g. integer mapping keys would come back as strings
        positions = [[list(location), line] for location, line in document.positions.items()]
        documents.append({"index": document.index, "data": document.data, "positions": positions})
    problems = [[p.line, p.message] for p in result.problems]
    return json.dumps({"documents": documents, "problems": problems})


def _decode(path: Path, payload: str) -> LoadResult | None:
    try:
        data = json.loads(payload)
        documents = tuple(
            Document(
                path,
                d["index"],
                d["data"],
                {tuple(location): line for location, line in d["positions"]},
            )
            for d in data["documents"]
        )
        problems = tuple(Problem(path, line, message) for line, message in data["problems"])
    except (ValueError, KeyError, TypeError):
        return None
    return LoadResult(documents, problems)


def _json_safe(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


_SCHEMAS_FILE = "valid-api-schemas.txt"


def valid_schemas(root: Path) -> set[str]:
    """sha256 of API-contract JSON Schemas already found valid (by this keel version)."""
    if not enabled(root):
        return set()
    try:
        lines = (root / CACHE_DIR / _SCHEMAS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    if not lines or lines[0] != __version__:
        return set()
    return set(lines[1:])


def remember_valid_schemas(root: Path, digests: set[str]) -> None:
    if not digests or not enabled(root):
        return
    known = valid_schemas(root) | digests
    (root / CACHE_DIR).mkdir(exist_ok=True)
    write_atomic(root / CACHE_DIR / _SCHEMAS_FILE, "\n".join([__version__, *sorted(known)]) + "\n")
