"""Progress on stderr, only where a person watches: a terminal, not CI, not a captured stream.

Two helpers over rich: `byte_progress` for long hashing, `activity` for a step of a longer job
(a spinner when its length is unknown, a counting bar when it is known). Both are transient
(nothing is left on the screen) and write nothing at all when stderr is not a terminal, so what
a command prints on stdout is the same with or without them. An activity opened inside another
joins its display as one more row (rich allows one live display at a time).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Below this many bytes hashing takes well under a second here: no bar.
THRESHOLD_BYTES = 512 * 1024 * 1024

Advance = Callable[[int], None]

_live: list[Any] = []  # the rich Progress on screen, if any (at most one)


def watched() -> bool:
    """True when stderr is a terminal a person reads (not CI, not captured)."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def wanted(total_bytes: int) -> bool:
    return total_bytes >= THRESHOLD_BYTES and watched()


@dataclass
class Activity:
    """What a step tells its row on screen; every method does nothing when no one watches."""

    _progress: Any = None
    _task: Any = None

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, steps)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def update(self, completed: int, total: int) -> None:
        """Turn a spinner into a bar, or move a bar: `completed` of `total` done."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=total)


@contextlib.contextmanager
def activity(description: str, total: int | None = None) -> Iterator[Activity]:
    """A spinner (`total` None) or a bar counting to `total` while the block runs."""
    if not watched():
        yield Activity()
        return
    with _row(description, total, counting=True) as row:
        yield row


@contextlib.contextmanager
def byte_progress(total_bytes: int, description: str) -> Iterator[Advance | None]:
    """Yield a thread-safe `advance(n_bytes)` that drives a bar, or None when no bar is wanted."""
    if not wanted(total_bytes):
        yield None
        return
    with _row(description, total_bytes, counting=False) as row:
        yield row.advance


@contextlib.contextmanager
def _row(description: str, total: int | None, *, counting: bool) -> Iterator[Activity]:
    if _live:  # inside another activity: one more row on the same display
        progress = _live[-1]
        task = progress.add_task(description, total=total)
        try:
            yield Activity(progress, task)
        finally:
            progress.remove_task(task)
        return
    with _display(counting) as progress:
        _live.append(progress)
        try:
            yield Activity(progress, progress.add_task(description, total=total))
        finally:
            _live.pop()


def _display(counting: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class Count(ProgressColumn):  # "3/7"; nothing for a spinner, whose length is unknown
        def render(self, task: Any) -> Text:
            return Text("" if task.total is None else f"{task.completed:.0f}/{task.total:.0f}")

    if counting:
        columns: tuple[Any, ...] = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            Count(),
            TimeElapsedColumn(),
        )
    else:
        columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    # lines printed on stdout meanwhile appear above the display when stdout is the same
    # terminal; when stdout goes to a file or a pipe it is left alone
    return Progress(
        *columns,
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=True,
    )
