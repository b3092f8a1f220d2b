"""The stat cache: unchanged files cost a `stat`, not a read.

A layer, not a truth: an entry is used only when device, inode, size, mtime and ctime all
match; any difference, or any doubt (a corrupt database), means hashing again. Since it can
always be rebuilt, it is written without fsync (synchronous off): a crash can cost a re-hash,
never a wrong answer, as a torn database is detected and thrown away. Lives in
`.keel/statcache.sqlite`, which `keel init` git-ignores.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from toolkit.core.hashing import FileStat

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

CACHE_DIR = ".keel"
CACHE_FILE = "statcache.sqlite"
_SCHEMA = """
PRAGMA synchronous = OFF;
PRAGMA journal_mode = MEMORY;
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    device INTEGER NOT NULL, inode INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, md5 TEXT, tensor_digest TEXT
);
CREATE TABLE IF NOT EXISTS plans (refs TEXT PRIMARY KEY, stamp TEXT NOT NULL, plan TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Cached:
    sha256: str
    md5: str | None
    tensor_digest: str | None


class StatCache(Protocol):
    def get(self, path: Path, stat: FileStat) -> Cached | None: ...

    def put(self, path: Path, stat: FileStat, cached: Cached) -> None: ...

    def close(self) -> None: ...

    def get_plan(self, refs: str, stamp: str) -> str | None: ...

    def put_plan(self, refs: str, stamp: str, plan: str) -> None: ...


class CacheDb:
    """A cache database that heals itself. Any SQLite error, on open or on any query (a file
    damaged after its first page only fails when that page is read), throws the file away,
    says so in one line on stderr, and starts afresh; where the file cannot be replaced (a
    read-only directory) the cache lives in memory for this run. A cache may always be
    rebuilt, so this never costs more than hashing or parsing again."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect(str(self.path))
        except sqlite3.Error as error:
            return self._heal(error)

    def _connect(self, where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, check_same_thread=False)
        db.executescript(self._schema)
        return db

    def _heal(self, error: sqlite3.Error) -> sqlite3.Connection:
        sys.stderr.write(f"keel: warning: {self.path}: damaged cache ({error}); rebuilding it\n")
        try:
            self.path.unlink(missing_ok=True)
            return self._connect(str(self.path))
        except (OSError, sqlite3.Error):
            return self._connect(":memory:")

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            self._replace(error)
            return []

    def write(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        try:
            with self._db:
                self._db.executemany(sql, rows)
        except sqlite3.Error as error:
            self._replace(error)  # these rows are lost; the next run computes them again

    def _replace(self, error: sqlite3.Error) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._db = self._heal(error)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


class NoCache:
    """`--no-cache`: every file is hashed again."""

    def get(self, path: Path, stat: FileStat) -> Cached | None:
        return None

    def put(self, path: Path, stat: FileStat, cached: Cached) -> None:
        return None

    def close(self) -> None:
        return None

    def get_plan(self, refs: str, stamp: str) -> str | None:
        return None

    def put_plan(self, refs: str, stamp: str, plan: str) -> None:
        return None


class SqliteStatCache:
    def __init__(self, root: Path) -> None:
        directory = root / CACHE_DIR
        directory.mkdir(exist_ok=True)
        self._root = root
        self._db = CacheDb(directory / CACHE_FILE, _SCHEMA)
        self._pending: list[tuple[object, ...]] = []

    def _key(self, path: Path) -> str:
        return str(path.resolve())

    def get(self, path: Path, stat: FileStat) -> Cached | None:
        rows = self._db.rows(
            "SELECT device, inode, size, mtime_ns, ctime_ns, sha256, md5, tensor_digest "
            "FROM files WHERE path = ?",
            (self._key(path),),
        )
        if not rows or FileStat(*rows[0][:5]) != stat:
            return None
        return Cached(rows[0][5], rows[0][6], rows[0][7])

    def put(self, path: Path, stat: FileStat, cached: Cached) -> None:
        self._pending.append(
            (
                self._key(path),
                stat.device,
                stat.inode,
                stat.size,
                stat.mtime_ns,
                stat.ctime_ns,
                cached.sha256,
                cached.md5,
                cached.tensor_digest,
            )
        )

    def get_plan(self, refs: str, stamp: str) -> str | None:
        rows = self._db.rows("SELECT plan FROM plans WHERE refs = ? AND stamp = ?", (refs, stamp))
        return str(rows[0][0]) if rows else None

    def put_plan(self, refs: str, stamp: str, plan: str) -> None:
        self._db.write("INSERT OR REPLACE INTO plans VALUES (?, ?, ?)", [(refs, stamp, plan)])

    def close(self) -> None:
        if self._pending:
            self._db.write(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._pending
            )
            self._pending.clear()
        self._db.close()


def open_cache(root: Path, enabled: bool = True) -> StatCache:
    return SqliteStatCache(root) if enabled else NoCache()
