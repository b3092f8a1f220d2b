"""What this machine needs to use a repository's DVC remote, read from DVC's configuration
without contacting the remote (`keel doctor`).

A sibling of bridges/dvc.py, which is at the module size limit; it imports DVC the same way,
lazily, and leaves DVC's failures as keel errors.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from toolkit.core.errors import DvcError


@dataclass(frozen=True)
class RemoteSetup:
    """The default remote and what reaching it needs here.

    `directory` is set for a local-directory remote; a cloud remote names the pip package of
    the DVC plugin it needs (`plugin`, '' when DVC knows no such scheme) and whether that
    plugin is importable.
    """

    name: str
    url: str
    directory: Path | None
    plugin: str
    plugin_installed: bool


def default_remote_setup(root: Path) -> RemoteSetup | None:
    """The default remote of the DVC repository at `root` (.dvc/config and config.local), or
    None when none is set. A DvcError when DVC cannot read its configuration."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo(str(root))
    except DvcException as error:
        raise DvcError(f"{root}: DVC cannot read its configuration: {error}") from None
    try:
        name = repo.config["core"].get("remote")
        if not name:
            return None
        remote = repo.config["remote"].get(name)
        if remote is None:
            raise DvcError(f"{root}/.dvc/config: the default remote {name!r} is not defined")
        url = str(remote["url"])
    finally:
        repo.close()
    scheme = urlparse(url).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # a path (or a Windows drive letter)
        return RemoteSetup(name, url, Path(urlparse(url).path if scheme else url), "", True)
    plugin, installed = plugin_for(scheme)
    return RemoteSetup(name, url, None, plugin, installed)


def plugin_for(scheme: str) -> tuple[str, bool]:
    """(pip package of the DVC plugin for `scheme`, whether it is importable), found with
    importlib without importing it; ('', False) for a scheme DVC does not know."""
    from dvc_objects.fs import known_implementations

    known = known_implementations.get(scheme)
    if known is None:
        return "", False
    module = str(known["class"]).split(".")[0]
    message = str(known.get("err", ""))
    package = message.split("'")[1] if message.count("'") >= 2 else module.replace("_", "-")
    return package, importlib.util.find_spec(module) is not None
