"""Bridge to DVC through its Python API. Imported only by commands that touch artifacts."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from toolkit.errors import DvcError

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_REMOTE = "keel"


def _api():  # type: ignore[no-untyped-def]
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    return Repo, DvcException


def ensure_initialised(root: Path) -> bool:
    """`dvc init` unless `.dvc/` exists. Returns True when it initialised."""
    if (root / ".dvc").is_dir():
        return False
    repo_class, dvc_exception = _api()
    dvc_logger = logging.getLogger("dvc")
    previous = dvc_logger.level
    dvc_logger.setLevel(logging.WARNING)  # DVC greets with an info message on init
    try:
        repo_class.init(root_dir=str(root)).close()
    except dvc_exception as error:
        raise DvcError(f"{root}: dvc init failed: {error}") from error
    finally:
        dvc_logger.setLevel(previous)
    return True


def default_remote(root: Path) -> tuple[str, str] | None:
    """(name, url) of the default remote, or None."""
    repo_class, dvc_exception = _api()
    try:
        repo = repo_class(str(root))
    except dvc_exception as error:
        raise DvcError(f"{root}: {error}") from error
    try:
        config = repo.config
        name = config["core"].get("remote")
        if not name:
            return None
        return name, config["remote"][name]["url"]
    finally:
        repo.close()


def set_default_remote(root: Path, url: str, name: str = DEFAULT_REMOTE) -> None:
    """Add (or replace) remote `name` at `url` and make it the default, in .dvc/config."""
    repo_class, dvc_exception = _api()
    try:
        repo = repo_class(str(root))
        with repo.config.edit() as conf:
            conf["remote"][name] = {"url": url}
            conf["core"]["remote"] = name
        repo.close()
    except dvc_exception as error:
        raise DvcError(f"{root}: cannot set the DVC remote: {error}") from error
