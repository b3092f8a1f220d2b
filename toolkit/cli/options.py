"""Options several commands share. Light: click and pathlib only."""

from __future__ import annotations

from pathlib import Path

import click

root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Repository root (default: found from the working directory).",
)


def coloured() -> bool:
    """Whether this run paints its output (decided once by the `keel` group: a terminal,
    KEEL_FORCE_COLOR, NO_COLOR, --no-color)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.color)


def verdict(line: str, ok: bool) -> str:
    """A command's summary line: green when `ok`, red when not (in colour runs only)."""
    if not coloured():
        return line
    from toolkit.core.style import ERROR, OK, paint

    return paint(line, OK if ok else ERROR)
