"""Text as keel prints it: one finding, one error, one line."""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """`text` with every control character (newline, tab, NUL, ...) written as its escape, so a
    value that holds one cannot break a one-line message in two or hide part of it."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def redact(text: str) -> str:
    """`text` with every secret the detectors of `keel secrets` recognise shortened to its
    preview (`hf_Ab…yZ`: the fixed prefix and two characters from each end of the random
    part), and control characters escaped as `one_line` does. Every line keel writes that can
    hold a value from a manifest goes through it: findings, reports, the audit."""
    from toolkit.core.secret_detectors import DETECTORS

    lowered = text.lower()
    for detector in DETECTORS:
        if any(hint in lowered for hint in detector.hints):
            text = detector.pattern.sub(partial(_redacted, accept=detector.accept), text)
    return one_line(text)


def preview(match: re.Match[str]) -> str:
    """`hf_Ab…yZ`: what a finding shows of a matched secret (a match without a `body` group,
    a private key's header, is shown as it is)."""
    if "body" not in match.re.groupindex:
        return match[0].strip("-")
    body = match["body"]
    prefix = match[0][: match.start("body") - match.start()]
    return f"{prefix}{body[:2]}…{body[-2:]}"


def _redacted(match: re.Match[str], *, accept: Callable[[str, str], bool] | None = None) -> str:
    if "body" in match.re.groupindex:
        whole = match.string
        start = whole.rfind("\n", 0, match.start()) + 1
        end = whole.find("\n", match.start())
        line = whole[start : end if end != -1 else len(whole)]
        if accept is not None and not accept(match["body"], line):
            return match[0]
    return preview(match)
