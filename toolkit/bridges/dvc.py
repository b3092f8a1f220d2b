"""Bridge to DVC through its Python API. Imported only by commands that touch artifacts."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.bridges.dvcfiles import ignore_in_git as ignore_in_git
from toolkit.bridges.dvcfiles import write_dvc_file as write_dvc_file
from toolkit.core.errors import DvcError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

DEFAULT_REMOTE = "keel"
COPY_CHUNK = 8 << 20


def _api():  # type: ignore[no-untyped-def]
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    # a remote whose plugin is missing (s3 without dvc-s3, ...) fails with an ImportError
    # that DVC phrases for the user: a keel error like any other DVC failure
    return Repo, (DvcException, ImportError)


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
        _loadable(repo, targets)
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
        _loadable(repo, targets)
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
    from toolkit.core.digests import sha256_file

    objects = local_remote(root, remote)
    if objects is None:
        return {}
    paths = {md5: remote_object(objects, md5) for md5 in md5s}
    return {md5: sha256_file(p) if p.is_file() else None for md5, p in paths.items()}


def _loadable(repo: Any, targets: Sequence[Path]) -> None:
    """DVC builds every stage of the .dvc files it moves; one whose import comes from a cloud
    without its plugin installed is skipped with a warning only. Name it instead."""
    from dvc.dvcfile import load_file

    for target in targets:
        if target.suffix != ".dvc":
            continue
        try:
            load_file(repo, str(target)).stage  # noqa: B018 - building the stage is the check
        except ImportError as error:
            raise DvcError(
                f"{target}: {error}: DVC cannot read this .dvc file (an import from that "
                "storage) without it; install it in keel's environment (`pip install "
                "'dvc[s3]'`, `dvc[gs]`, ...) and run the command again"
            ) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    dvc_logger = logging.getLogger("dvc")
    previous = dvc_logger.level
    dvc_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        dvc_logger.setLevel(previous)


# The cache, as DVC 3 lays it out (.dvc/cache/files/md5/ab/cdef...). keel writes objects there
# itself, never moving a user's file: temp file beside the object, fsync, read-only, rename.

CACHE_FILES = Path(".dvc") / "cache" / "files" / "md5"
TEMP_MARK = ".keel-"


def cache_object(root: Path, md5: str) -> Path:
    return root / CACHE_FILES / md5[:2] / md5[2:]


@dataclass(frozen=True)
class Copied:
    """The digests of the bytes written to every target."""

    sha256: str
    md5: str
    size: int


def remove_stale_temps(target: Path) -> None:
    if target.parent.is_dir():
        for stale in target.parent.glob(f".{target.name}{TEMP_MARK}*.tmp"):
            stale.unlink(missing_ok=True)


def _temp_beside(target: Path) -> tuple[int, Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}{TEMP_MARK}", suffix=".tmp", dir=target.parent
    )
    return fd, Path(name)


@contextlib.contextmanager
def staged_copies(
    source: Path, targets: Sequence[Path], *, md5: bool = True
) -> Iterator[tuple[Copied, list[Path]]]:
    """Copy `source` into a temp file beside each target in one read, hashing sha256 (and md5
    unless told not to: then Copied.md5 is "") of the bytes written; each temp is fsynced.
    Yields (digests, temps): the caller checks the digests and `publish`es the temps, or not;
    temps left over are removed on the way out."""
    temps: list[Path] = []
    handles = []
    try:
        for target in targets:
            remove_stale_temps(target)
            fd, temp = _temp_beside(target)
            temps.append(temp)
            handles.append(os.fdopen(fd, "wb", buffering=0))
        sha, md5_hash = hashlib.sha256(), hashlib.md5() if md5 else None
        with source.open("rb", buffering=0) as reader:
            size = _pipelined(reader, sha, md5_hash, handles)
        for handle in handles:
            os.fsync(handle.fileno())
            handle.close()
        yield Copied(sha.hexdigest(), md5_hash.hexdigest() if md5_hash else "", size), temps
    finally:
        for handle in handles:
            handle.close()
        for temp in temps:
            temp.unlink(missing_ok=True)


def _pipelined(reader: Any, sha: Any, md5: Any, handles: list[Any]) -> int:
    """Read once; sha256 here, md5 and the writes each on their own thread (in order)."""
    buffers = [mmap.mmap(-1, COPY_CHUNK) for _ in range(3)]
    pending: list[list[Future[Any]]] = [[], [], []]
    size, turn = 0, 0

    def write(chunk: memoryview) -> None:
        for handle in handles:
            handle.write(chunk)

    with ThreadPoolExecutor(1) as md5_thread, ThreadPoolExecutor(1) as writer:
        while True:
            for job in pending[turn]:
                job.result()  # this buffer is free again
            n = reader.readinto(buffers[turn])
            if not n:
                break
            chunk = memoryview(buffers[turn])[:n]
            pending[turn] = [writer.submit(write, chunk)]
            if md5 is not None:
                pending[turn].append(md5_thread.submit(md5.update, chunk))
            sha.update(chunk)
            size += n
            turn = (turn + 1) % 3
        for jobs in pending:
            for job in jobs:
                job.result()
    return size


def publish(temp: Path, target: Path, mode: int) -> None:
    os.chmod(temp, mode)
    os.replace(temp, target)
    _fsync_directory(target.parent)


def store(root: Path, source: Path, md5: str) -> Path:
    """Copy a workspace file into the cache as object `md5` (the workspace file stays as it
    is). The copy is in-kernel; the caller checks that the source did not change meanwhile."""
    target = cache_object(root, md5)
    remove_stale_temps(target)
    fd, temp = _temp_beside(target)
    try:
        with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
            _copy_in_kernel(reader.fileno(), writer.fileno())
            os.fsync(writer.fileno())
        publish(temp, target, 0o444)
    finally:
        temp.unlink(missing_ok=True)
    return target


def _copy_in_kernel(source: int, target: int) -> None:
    size = os.fstat(source).st_size
    copied = 0
    try:
        while copied < size:
            sent = os.copy_file_range(source, target, min(1 << 30, size - copied))
            if sent == 0:
                break
            copied += sent
    except OSError:  # not supported between these filesystems: fall back to read/write
        os.lseek(source, copied, os.SEEK_SET)
        os.lseek(target, copied, os.SEEK_SET)
        while chunk := os.read(source, COPY_CHUNK):
            os.write(target, chunk)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remote_objects(root: Path, md5s: list[str], remote: str | None = None) -> dict[str, bool]:
    repo, dvc_exception = _open(root)
    try:
        odb = repo.cloud.get_remote_odb(remote, "push")
        return {md5: bool(odb.fs.exists(odb.oid_to_path(md5))) for md5 in md5s}
    except dvc_exception as error:
        raise DvcError(f"cannot read the DVC remote: {error}") from error
    finally:
        repo.close()


def local_remote(root: Path, remote: str | None = None) -> Path | None:
    """The object directory (`<url>/files/md5`) of a local-directory remote, or None."""
    repo, dvc_exception = _open(root)
    try:
        odb = repo.cloud.get_remote_odb(remote, "pull")
        if odb.fs.protocol not in ("local", "file"):
            return None
        if not odb.fs.exists(odb.path):
            raise DvcError(
                f"the DVC remote directory {odb.path} does not exist on this machine; a local "
                "remote serves one machine: add a shared one (docs/artifacts.md, Remotes)"
            )
        return Path(odb.path)
    except dvc_exception as error:
        raise DvcError(f"cannot read the DVC remote: {error}") from error
    finally:
        repo.close()


def remote_object(objects: Path, md5: str) -> Path:
    return objects / md5[:2] / md5[2:]


def fetch(root: Path, targets: list[Path], remote: str | None = None) -> str | None:
    repo, dvc_exception = _open(root)
    try:
        _loadable(repo, targets)
        with _quiet():
            repo.fetch(targets=[str(t) for t in targets], remote=remote)
        return None
    except dvc_exception as error:
        return str(error)
    finally:
        repo.close()
