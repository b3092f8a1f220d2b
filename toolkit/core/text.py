"""Text as keel prints it: one finding, one error, one line."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """`text` with every control character (newline, tab, NUL, ...) written as its escape, so a
    value that holds one cannot break a one-line message in two or hide part of it."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
