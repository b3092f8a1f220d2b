"""Small filesystem helpers: nothing is ever half-written."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from toolkit.core.errors import UsageError


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, then rename it over `path`. A
    directory that cannot be written (read-only, full, a file in the way) is a keel error
    naming the path; the old file, if any, is left as it was."""
    try:
        _write_atomic(path, data)
    except OSError as error:
        raise UsageError(f"{path}: cannot write: {error.strerror or error}") from None


def _write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode it had, or what the umask allows.
        os.chmod(temp, _mode_for(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def display(path: Path, base: Path | None = None) -> str:
    """`path` relative to `base` (default: the working directory) when it lies below it.

    Symlinks are not followed: a finding names the file the user has, not its target.
    """
    absolute = Path(os.path.abspath(path))
    base = Path(os.path.abspath(base or Path.cwd()))
    try:
        return str(absolute.relative_to(base))
    except ValueError:
        return str(path)
