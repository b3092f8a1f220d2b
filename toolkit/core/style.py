"""Colour for people at a terminal, through rich, and only there.

Colour is on when stdout is a terminal, forced on by `KEEL_FORCE_COLOR` or `FORCE_COLOR`, and
off whenever `NO_COLOR` is set (https://no-color.org) or `keel --no-color` is given (the CLI
decides that one). rich is imported only to paint: plain output never loads it.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

ERROR = "bold red"
WARNING = "yellow"
OK = "green"


def wanted(stream: TextIO | None = None) -> bool:
    """Whether output to `stream` (default: stdout) should be coloured, from the environment."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("KEEL_FORCE_COLOR") or os.environ.get("FORCE_COLOR"):
        return True
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def paint(text: str, style: str) -> str:
    """`text` wrapped in the ANSI codes of a rich style (`bold red`, `green`...)."""
    from rich.color import ColorSystem
    from rich.style import Style

    return Style.parse(style).render(text, color_system=ColorSystem.STANDARD)
