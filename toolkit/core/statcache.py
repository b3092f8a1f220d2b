"""The stat cache: unchanged files cost a `stat`, not a read.

A layer, not a truth: an entry is used only when device, inode, size, mtime and ctime all
match; any difference, or any doubt (a corrupt database), means hashing again. Since it can
always be rebuilt, it is written without fsync (synchronous off): a crash can cost a re-hash,
never a wrong answer, as a torn database is detected and thrown away. Lives in
`.keel/statcache.sqlite`, which `keel init` git-ignores.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from toolkit.core.hashing import FileStat

if TYPE_CHECKING:
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


def open_db(path: Path, schema: str) -> sqlite3.Connection:
    """Open a cache database with its schema; a damaged file is deleted and started afresh
    (a cache may always be thrown away)."""
    try:
        db = sqlite3.connect(path, check_same_thread=False)
        db.executescript(schema)
        return db
    except sqlite3.DatabaseError:
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path, check_same_thread=False)
        db.executescript(schema)
        return db


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
        self._db = open_db(directory / CACHE_FILE, _SCHEMA)
        self._pending: list[tuple[object, ...]] = []

    def _key(self, path: Path) -> str:
        return str(path.resolve())

    def get(self, path: Path, stat: FileStat) -> Cached | None:
        row = self._db.execute(
            "SELECT device, inode, size, mtime_ns, ctime_ns, sha256, md5, tensor_digest "
            "FROM files WHERE path = ?",
            (self._key(path),),
        ).fetchone()
        if row is None or FileStat(*row[:5]) != stat:
            return None
        return Cached(row[5], row[6], row[7])

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
        row = self._db.execute(
            "SELECT plan FROM plans WHERE refs = ? AND stamp = ?", (refs, stamp)
        ).fetchone()
        return row[0] if row else None

    def put_plan(self, refs: str, stamp: str, plan: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO plans VALUES (?, ?, ?)", (refs, stamp, plan))

    def close(self) -> None:
        if self._pending:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._pending
                )
            self._pending.clear()
        self._db.close()


def open_cache(root: Path, enabled: bool = True) -> StatCache:
    return SqliteStatCache(root) if enabled else NoCache()
