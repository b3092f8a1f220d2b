"""Every error keel raises on purpose.

The CLI maps each type to an exit code and a one-line message.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class KeelError(Exception):
    """Base of the errors a user can act on; the message says what to do next."""

    exit_code = EXIT_USAGE


class UsageError(KeelError):
    """The command was called with arguments or paths that cannot work."""


class ManifestError(KeelError):
    """A manifest cannot be read or does not say what it must."""


class RepositoryError(KeelError):
    """The directory is not a keel repository, or the repository is in a state keel cannot use."""


class ChecksumError(KeelError):
    """Bytes on disk differ from what a manifest records."""

    exit_code = EXIT_CHECK_FAILED


class GitError(KeelError):
    """A git operation failed."""


class DvcError(KeelError):
    """A DVC operation failed."""


class MissingExtraError(KeelError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, module: str, extra: str = "ml") -> None:
        super().__init__(
            f"this command needs the Python package '{module}': "
            f"install it with `pip install torch==2.13.0 'keel[{extra}]'`"
        )
