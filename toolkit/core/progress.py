"""Progress bars for long hashing, only where a person watches: a TTY, not CI."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

# Below this many bytes hashing takes well under a second here: no bar.
THRESHOLD_BYTES = 512 * 1024 * 1024

Advance = Callable[[int], None]


def wanted(total_bytes: int) -> bool:
    return total_bytes >= THRESHOLD_BYTES and sys.stderr.isatty() and not os.environ.get("CI")


@contextlib.contextmanager
def byte_progress(total_bytes: int, description: str) -> Iterator[Advance | None]:
    """Yield a thread-safe `advance(n_bytes)` that drives a bar, or None when no bar is wanted."""
    if not wanted(total_bytes):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total_bytes)
        yield lambda n: bar.advance(task, n)
