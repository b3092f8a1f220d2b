"""Bridge to DVC through its Python API. Imported only by commands that touch artifacts."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.core.errors import DvcError

if TYPE_CHECKING:
    from collections.abc import Iterator

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


def _open(root: Path):  # type: ignore[no-untyped-def]
    repo_class, dvc_exception = _api()
    try:
        return repo_class(str(root)), dvc_exception
    except dvc_exception as error:
        raise DvcError(f"{root}: not a DVC repository ({error}); run `keel init`") from error


def add(root: Path, paths: list[Path], md5s: dict[Path, str]) -> None:
    """`dvc add` each path. md5s already computed by keel are handed to DVC's state first,
    so DVC does not read the files a second time to hash them."""
    if not paths:
        return
    from dvc_data.hashfile.hash_info import HashInfo

    repo, dvc_exception = _open(root)
    dvc_logger = logging.getLogger("dvc")
    previous = dvc_logger.level
    dvc_logger.setLevel(logging.WARNING)
    try:
        for path, md5 in md5s.items():
            repo.state.save(str(path), repo.fs, HashInfo("md5", md5))
        repo.add([str(p) for p in paths])
    except dvc_exception as error:
        raise DvcError(f"dvc add failed: {error}") from error
    finally:
        dvc_logger.setLevel(previous)
        repo.close()


def push(root: Path, targets: list[Path], remote: str | None = None) -> int:
    """Push the data of these .dvc targets to the remote; returns how many files went up."""
    repo, dvc_exception = _open(root)
    try:
        with _quiet():
            return int(repo.push(targets=[str(t) for t in targets], remote=remote) or 0)
    except dvc_exception as error:
        raise DvcError(f"dvc push failed: {error}") from error
    finally:
        repo.close()


def pull(root: Path, targets: list[Path], remote: str | None = None) -> tuple[int, list[Path]]:
    """Fetch and check out these .dvc targets. Returns (files changed, files DVC could not
    check out): DVC refuses an object whose bytes do not match their md5, so a corrupted or
    missing remote copy shows up as a failed checkout, not as an exception."""
    from dvc.exceptions import CheckoutError

    repo, dvc_exception = _open(root)
    try:
        with _quiet():
            result = repo.pull(targets=[str(t) for t in targets], remote=remote)
        return len(result.get("added", [])) + len(result.get("modified", [])), []
    except CheckoutError as error:
        # DVC names the targets relative to the working directory
        failed = [Path(os.path.abspath(str(t))).resolve() for t in error.target_infos]
        stats = error.result
        return len(stats.get("added", [])) + len(stats.get("modified", [])), failed
    except dvc_exception as error:
        raise DvcError(f"dvc pull failed: {error}") from error
    finally:
        repo.close()


def remote_sha256s(root: Path, md5s: list[str], remote: str | None = None) -> dict[str, str | None]:
    """sha256 of the objects a *local-directory* remote holds for these md5s (None: absent).

    DVC deletes a remote object whose bytes do not match its md5 when it fetches it, so keel
    reads local remotes first: a corruption is then reported with both digests, and the
    evidence stays in place. Cloud remotes are not read twice; an empty dict means "not checked".
    """
    import hashlib

    repo, dvc_exception = _open(root)
    try:
        odb = repo.cloud.get_remote_odb(remote, "pull")
        if odb.fs.protocol not in ("local", "file"):
            return {}
        if not odb.fs.exists(odb.path):
            raise DvcError(
                f"the DVC remote directory {odb.path} does not exist on this machine; a local "
                "remote serves one machine: add a shared one (docs/artifacts.md, Remotes)"
            )
        found: dict[str, str | None] = {}
        for md5 in md5s:
            path = odb.oid_to_path(md5)
            if not odb.fs.exists(path):
                found[md5] = None
                continue
            digest = hashlib.sha256()
            with odb.fs.open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            found[md5] = digest.hexdigest()
        return found
    except dvc_exception as error:
        raise DvcError(f"cannot read the DVC remote: {error}") from error
    finally:
        repo.close()


def cached(root: Path, md5: str) -> bool:
    """Whether the local DVC cache already holds the object (then pull reads no remote)."""
    return (root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).is_file()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    dvc_logger = logging.getLogger("dvc")
    previous = dvc_logger.level
    dvc_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        dvc_logger.setLevel(previous)
