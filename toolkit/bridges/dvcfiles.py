"""Read `.dvc` and `dvc.lock` files through DVC's own loader and schema.

`dvc.utils.strictyaml.load` parses the file as DVC does and checks it against
`dvc.schema.COMPILED_SINGLE_STAGE_SCHEMA` / `COMPILED_LOCKFILE_SCHEMA`; each output's hash is
then derived as `dvc.output.Output` derives it (`Meta` and `HashInfo` from dvc-data). No stage
is built, so an `import-url` from S3 reads without the `dvc-s3` plugin. The results are
`toolkit.core.dvcfiles` records: the light reader `keel validate` uses must agree with these
(tests/test_dvc_shapes.py feeds every shape to both).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from toolkit.core.dvcfiles import (
    CONFLICT,
    NOT_DVC,
    NOT_YAML,
    DvcFile,
    DvcLock,
    DvcOut,
    LockOut,
    has_conflict_markers,
    judge,
    location,
    usable_md5,
    wdir_of,
)

if TYPE_CHECKING:
    from toolkit.core.pinned import PinnedFile


def load_dvc(path: Path) -> DvcFile | None:
    """Every output of a `.dvc` file as DVC reads it; None when there is no such file."""
    from dvc.schema import COMPILED_SINGLE_STAGE_SCHEMA

    if not path.is_file():
        return None
    data, kind, error = _load(path, COMPILED_SINGLE_STAGE_SCHEMA)
    if kind is not None:
        return DvcFile(path, (), kind, error)
    return DvcFile(path, tuple(_out(o) for o in (data or {}).get("outs") or ()))


def load_lock(path: Path) -> DvcLock | None:
    """The outputs a `dvc.lock` records, paths relative to its directory (each stage's wdir
    from the dvc.yaml beside it); None when there is no such file."""
    from dvc.schema import COMPILED_LOCKFILE_SCHEMA

    if not path.is_file():
        return None
    data, kind, error = _load(path, COMPILED_LOCKFILE_SCHEMA)
    if kind is not None:
        return DvcLock(path, (), kind, error)
    wdirs = _wdirs(path.with_name("dvc.yaml"))
    outs = []
    for stage, body in (data.get("stages") or {}).items():
        wdir = wdirs.get(stage.split("@", 1)[0], ".")
        for raw in body.get("outs") or ():
            relative = posixpath.normpath(posixpath.join(wdir, raw["path"]))
            outs.append(LockOut(stage, relative, _out(raw)))
    return DvcLock(path, tuple(outs))


def _load(path: Path, schema: Any) -> tuple[Any, str | None, str | None]:
    """(data, problem kind, one-line problem) through DVC's strict YAML loader."""
    from dvc.utils.strictyaml import EncodingError, YAMLSyntaxError, YAMLValidationError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, NOT_YAML, str(error)
    if has_conflict_markers(text):  # DVC only says "corrupted": name the cause
        return None, CONFLICT, "git merge conflict markers"
    from dvc.utils import strictyaml

    try:
        data, _ = strictyaml.load(str(path), schema)
    except YAMLValidationError as error:
        return None, NOT_DVC, _one_line(error.__cause__ or error)
    except (YAMLSyntaxError, EncodingError) as error:
        return None, NOT_YAML, _one_line(error.__cause__ or error)
    return data, None, None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _out(raw: dict[str, Any]) -> DvcOut:
    """`Output._compute_hash_info_from_meta`, without building a stage."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta

    path = raw.get("path", "")
    meta = Meta.from_dict(raw)
    in_repo, scheme = location(path)
    if in_repo:
        hash_name = raw.get("hash")
        meta_name = "md5" if hash_name is None else hash_name
        hash_name = "md5-dos2unix" if hash_name is None else hash_name
    else:  # the remote filesystem's PARAM_CHECKSUM; its plugin may not be installed
        from toolkit.core.dvcfiles import hash_of

        hash_name = meta_name = hash_of({}, in_repo=False, scheme=scheme)[0]
    found = getattr(meta, meta_name, None)
    info = HashInfo(name=hash_name, value=None if found in (None, "") else str(found))
    value = info.value
    isdir = bool(raw.get("files")) or bool(meta.nfiles) or info.isdir
    etag = None if meta.etag in (None, "") else str(meta.etag)
    return DvcOut(str(path), hash_name, value, meta.size, isdir, etag)


def _wdirs(dvc_yaml: Path) -> dict[str, str]:
    from dvc.utils.serialize import YAMLFileCorruptedError, load_yaml

    if not dvc_yaml.is_file():
        return {}
    try:
        data = load_yaml(os.fspath(dvc_yaml))
    except (YAMLFileCorruptedError, UnicodeDecodeError):
        return {}
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return {}
    return {str(name): wdir_of(stage) for name, stage in stages.items()}


def lock_output(root: Path, path: Path) -> tuple[Path, LockOut] | None:
    """(dvc.lock, its output) when a pipeline stage writes file `path`: a dvc.lock in the
    file's directory or any directory above it, up to `root`, records it."""
    directory = path.parent
    while directory.is_relative_to(root):
        lock = load_lock(directory / "dvc.lock")
        if lock is not None:
            relative = path.relative_to(directory).as_posix()
            for out in lock.outs:
                if out.path == relative:
                    return directory / "dvc.lock", out
        if directory == root:
            break
        directory = directory.parent
    return None


KEPT_OUT_FIELDS = ("desc", "type", "labels", "meta", "remote", "push", "cache")


def write_dvc_file(data_path: Path, md5: str, size: int) -> None:
    """Write `<data_path>.dvc` in DVC 3's form, atomically, keeping what a user may have added
    (desc, remote, push, an import's deps...) when DVC can read the old file, and git-ignore the
    data file beside it, as `dvc add` does. Other outputs the old file recorded (several outs,
    or an out naming another file) move first to `.dvc` files of their own."""
    import yaml

    from toolkit.core.fsutil import write_atomic

    dvc_path = data_path.with_name(data_path.name + ".dvc")
    kept: dict[str, object] = {}
    top: dict[str, object] = {}
    record = load_dvc(dvc_path)
    if record is not None and record.error_kind is None:
        from dvc.utils.serialize import load_yaml

        old = load_yaml(str(dvc_path))  # as DVC read it just now
        if isinstance(old, dict):
            top = {k: v for k, v in old.items() if k != "outs"}
            for raw in old.get("outs") or ():
                if posixpath.normpath(raw.get("path", "")) == data_path.name:
                    kept = {k: v for k, v in raw.items() if k in KEPT_OUT_FIELDS}
                else:
                    _move_out(dvc_path, raw)
    out = {"md5": md5, "size": size, "hash": "md5", "path": data_path.name, **kept}
    text = yaml.safe_dump({"outs": [out], **top}, sort_keys=False)
    ignore_in_git(data_path)
    write_atomic(dvc_path, text)


def _move_out(dvc_path: Path, raw: dict[str, Any]) -> None:
    """Write output `raw` of `dvc_path` to a `.dvc` file of its own beside its data (nothing
    to do when that file already records it); refuse what cannot be moved."""
    import yaml

    from toolkit.core.errors import UsageError
    from toolkit.core.fsutil import write_atomic

    path = str(raw.get("path", ""))
    if not location(path)[0] or posixpath.normpath(path).startswith(".."):
        raise UsageError(
            f"{dvc_path}: also records the output {path}, outside this directory; move it to "
            "a .dvc file of its own by hand (`dvc add` it there), then run keel track again"
        )
    data = (dvc_path.parent / path).resolve()
    target = data.with_name(data.name + ".dvc")
    moved = {**raw, "path": data.name}
    existing = load_dvc(target)
    if existing is not None:
        if existing.outs == (_out(moved),):
            return
        raise UsageError(
            f"{dvc_path}: also records {path}, and {target.name} beside it records something "
            "else; keep one of the two by hand, then run keel track again"
        )
    write_atomic(target, yaml.safe_dump({"outs": [moved]}, sort_keys=False))
    ignore_in_git(data)


def ignore_in_git(data_path: Path) -> None:
    """Add `/name` to the .gitignore beside the file unless it is there (what `dvc add` does)."""
    from toolkit.core.fsutil import write_atomic

    gitignore = data_path.parent / ".gitignore"
    line = f"/{data_path.name}"
    text = gitignore.read_text(encoding="utf-8") if gitignore.is_file() else ""
    if line in text.splitlines():
        return
    write_atomic(gitignore, text + ("" if not text or text.endswith("\n") else "\n") + line + "\n")


@dataclass(frozen=True)
class Tracking:
    """How DVC tracks a pinned file: the md5 keel moves it by and what DVC is handed for it
    (its `.dvc` file, or the file itself when a pipeline stage writes it), or why keel cannot
    move it (`refused`, naming the command that fixes it)."""

    md5: str | None
    target: Path
    refused: str = ""


def tracking(root: Path, file: PinnedFile) -> Tracking | None:
    """None when DVC does not track `file` at all."""
    from toolkit.core.checks.dvc_files import track_command
    from toolkit.core.fsutil import display

    dvc_path, fix = file.dvc_file(root), track_command(file)
    record = load_dvc(dvc_path)
    name = PurePosixPath(file.relative).name
    if record is not None:
        md5 = usable_md5(record, name)
        why = judge(record, name, file.md5, file.size, fix)
        reason = why.message if why else f"records no md5 keel can move the file by; run `{fix}`"
        return Tracking(md5, dvc_path, "" if md5 else f"{display(dvc_path, root)} {reason}")
    written = lock_output(root, file.absolute(root))
    if written is not None:
        lock, out = written
        if out.out.md5 is None or out.out.isdir:
            return Tracking(
                None,
                lock,
                f"{display(lock, root)} (stage {out.stage}) records "
                f"no md5 of the file; run `dvc commit {out.stage}`",
            )
        return Tracking(out.out.md5, file.absolute(root))
    directory = tracked_directory(root, file.relative)
    if directory is None:
        return None
    where, dvc_name = display(directory, root), display(Path(f"{directory}.dvc"), root)
    return Tracking(
        None,
        Path(f"{directory}.dvc"),
        f"tracked by DVC as part of the directory {where} ({dvc_name}); keel moves files "
        f"tracked one by one: run `dvc remove {dvc_name}` then `keel track {where} --into "
        f"{file.ref}`",
    )


def tracked_directory(root: Path, relative: str) -> Path | None:
    """The directory above file `relative` that a `.dvc` file tracks as a whole, if any."""
    for parent in PurePosixPath(relative).parents:
        if parent == PurePosixPath("."):
            return None
        record = load_dvc(root / f"{parent}.dvc")
        if record is not None and any(o.path == parent.name for o in record.outs):
            return root / parent
    return None
