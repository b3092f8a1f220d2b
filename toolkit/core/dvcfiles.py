"""Read `.dvc` and `dvc.lock` files without importing DVC (they are small YAML documents).

This light reader serves `keel validate`. It reads the shapes DVC's own schema accepts
(`dvc.schema`) and gives each output the hash DVC itself would read from it: `hash: md5` (DVC 3)
names the md5 of the bytes; no `hash` field (DVC 2) means md5-dos2unix (text files hashed with
CRLF turned into LF); an output outside the repository (`s3://...`) is hashed by its remote's
checksum (an etag). `toolkit.bridges.dvcfiles` reads the same files through DVC's schema and
loaders, and a test feeds every shape to both and asserts they agree.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.loading import load_file, load_text

if TYPE_CHECKING:
    from pathlib import Path

CONFLICT = "conflict"  # git merge conflict markers
NOT_YAML = "yaml"  # DVC cannot parse it
NOT_DVC = "schema"  # parsed, but DVC's schema refuses it

LEGACY_HASH = "md5-dos2unix"
_CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)|^={7}$", re.MULTILINE)
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")
# the checksum a remote filesystem records (each DVC filesystem's PARAM_CHECKSUM)
_REMOTE_CHECKSUM = {"hdfs": "checksum", "webhdfs": "checksum", "ssh": "md5", "local": "md5"}
_CHECKSUMS = ("md5", "etag", "checksum")
_META = {"size": int, "nfiles": int, "isexec": bool, "version_id": str}
# the keys DVC's schema allows (dvc.output.SCHEMA, dvc.schema.SINGLE_STAGE_SCHEMA, DATA_SCHEMA)
OUT_KEYS = frozenset(
    {*_CHECKSUMS, *_META, "path", "persist", "cloud", "hash", "desc", "type", "labels", "meta"}
    | {"cache", "remote", "push", "files", "fs_config"}
)
LOCK_OUT_KEYS = frozenset({*_CHECKSUMS, *_META, "path", "cloud", "files", "hash", "dataset"})
STAGE_KEYS = frozenset(
    {"md5", "wdir", "deps", "outs", "locked", "frozen", "meta", "always_changed", "desc"}
)
LOCK_STAGE_KEYS = frozenset({"cmd", "deps", "params", "outs"})
_BOOL_KEYS = ("persist", "cache", "push", "isexec")


@dataclass(frozen=True)
class DvcOut:
    """One output as DVC reads it: `hash_name` is the algorithm DVC uses for it and `value`
    the hash it reads (None when the file records none DVC can use)."""

    path: str
    hash_name: str
    value: str | None
    size: int | None
    isdir: bool = False
    etag: str | None = None

    @property
    def md5(self) -> str | None:
        """DVC 3's md5 of the bytes (`hash: md5`), the only hash keel moves files by."""
        return self.value if self.hash_name == "md5" else None


@dataclass(frozen=True)
class DvcFile:
    """A `.dvc` file: its outputs, or why DVC cannot read it (`error_kind`, `error`)."""

    path: Path
    outs: tuple[DvcOut, ...] = ()
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class LockOut:
    stage: str
    path: str  # relative to the dvc.lock's directory, POSIX
    out: DvcOut


@dataclass(frozen=True)
class DvcLock:
    path: Path
    outs: tuple[LockOut, ...] = ()
    error_kind: str | None = None
    error: str | None = None


def has_conflict_markers(text: str) -> bool:
    return bool(_CONFLICT_MARKER.search(text))


def hash_of(raw: dict[str, Any], *, in_repo: bool, scheme: str = "") -> tuple[str, str | None]:
    """(hash name, value) as `dvc.output.Output` derives them from an output's fields."""
    if in_repo:
        name = raw.get("hash")
        meta_name = "md5" if name is None else name
        name = LEGACY_HASH if name is None else name
    else:
        name = meta_name = _REMOTE_CHECKSUM.get(scheme, "etag")
    value = raw.get(meta_name) if meta_name in _CHECKSUMS else None
    return name, _checksum(value)


def _checksum(value: Any) -> str | None:
    """DVC reads the value as written (its schema's lower-casing is not kept)."""
    return None if value is None or value == "" else str(value)


def location(path: str) -> tuple[bool, str]:
    """(in the repository, URL scheme) of an output's path, as DVC decides it."""
    match = _URL.match(path)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("", "local"):
        return not os.path.isabs(path), "local"
    return False, scheme


def out_of(raw: dict[str, Any]) -> DvcOut:
    """An output from its (schema-checked) fields."""
    path = str(raw.get("path", ""))
    in_repo, scheme = location(path)
    name, value = hash_of(raw, in_repo=in_repo, scheme=scheme)
    isdir = bool(raw.get("nfiles")) or (value or "").endswith(".dir") or bool(raw.get("files"))
    size = raw.get("size")
    return DvcOut(path, name, value, size, isdir, _checksum(raw.get("etag")))


def read_dvc(path: Path) -> DvcFile | None:
    """Every output a `.dvc` file records; None when there is no such file."""
    if not path.is_file():
        return None
    data, kind, error = _load(path)
    if kind is None:
        error = _single_stage_problem(data)
        kind = NOT_DVC if error else None
    if kind is not None:
        return DvcFile(path, (), kind, error)
    return DvcFile(path, tuple(out_of(o) for o in data.get("outs") or ()))


def read_dvc_file(path: Path) -> DvcOut | None:
    """The single output a per-file `.dvc` file records, or None when there is none to read."""
    record = read_dvc(path)
    if record is None or len(record.outs) != 1:
        return None
    return record.outs[0]


def read_lock(path: Path) -> DvcLock | None:
    """The outputs a `dvc.lock` records, their paths relative to its directory (each
    stage's `wdir` comes from the dvc.yaml beside it). None when there is no such file."""
    if not path.is_file():
        return None
    data, kind, error = _load(path)
    if kind is None:
        error = _lock_problem(data)
        kind = NOT_DVC if error else None
    if kind is not None:
        return DvcLock(path, (), kind, error)
    wdirs = _wdirs(path.with_name("dvc.yaml"))
    outs = []
    for stage, body in (data.get("stages") or {}).items():
        wdir = wdirs.get(stage.split("@", 1)[0], ".")
        for raw in body.get("outs") or ():
            relative = posixpath.normpath(posixpath.join(wdir, raw["path"]))
            outs.append(LockOut(stage, relative, out_of(raw)))
    return DvcLock(path, tuple(outs))


def _load(path: Path) -> tuple[Any, str | None, str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, NOT_YAML, str(error)
    if has_conflict_markers(text):
        return None, CONFLICT, "git merge conflict markers"
    loaded = load_text(text, path)  # DVC's files have no size cap: not load_file's
    if not loaded.documents:  # DVC reads an empty (or comments-only) file as {}
        real = [p for p in loaded.problems if not p.message.startswith("empty file")]
        return ({}, None, None) if not real else (None, NOT_YAML, real[0].message)
    if loaded.problems:
        return None, NOT_YAML, loaded.problems[0].message
    return loaded.documents[0].data, None, None


def wdir_of(stage: Any) -> str:
    """A dvc.yaml stage's working directory (a `foreach`/`matrix` one's is under `do`)."""
    if isinstance(stage, dict) and isinstance(stage.get("do"), dict):
        stage = stage["do"]
    wdir = stage.get("wdir") if isinstance(stage, dict) else None
    if not isinstance(wdir, str) or not wdir or "${" in wdir:
        return "."
    return wdir


def _wdirs(dvc_yaml: Path) -> dict[str, str]:
    if not dvc_yaml.is_file():
        return {}
    loaded = load_file(dvc_yaml)
    data = loaded.documents[0].data if loaded.documents and not loaded.problems else None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return {}
    return {str(name): wdir_of(stage) for name, stage in stages.items()}


def _single_stage_problem(data: Any) -> str | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        return "expected a dictionary"
    extra = sorted(str(k) for k in data if k not in STAGE_KEYS)
    if extra:
        return f"extra keys not allowed: {extra[0]}"
    for key in ("deps", "outs"):
        if data.get(key) is not None and not isinstance(data[key], list):
            return f"{key}: expected a list"
    for index, out in enumerate(data.get("outs") or ()):
        problem = _out_problem(out, OUT_KEYS)
        if problem:
            return f"outs[{index}]: {problem}"
    return None


def _lock_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("schema") != "2.0":
        return "schema: expected '2.0'"
    stages = data.get("stages", {})
    if not isinstance(stages, dict):
        return "stages: expected a dictionary"
    for name, body in stages.items():
        if not isinstance(body, dict) or "cmd" not in body:
            return f"stages.{name}: expected a stage with a cmd"
        extra = sorted(str(k) for k in body if k not in LOCK_STAGE_KEYS)
        if extra:
            return f"stages.{name}: extra keys not allowed: {extra[0]}"
        if not isinstance(body.get("outs", []), list):
            return f"stages.{name}.outs: expected a list"
        for index, out in enumerate(body.get("outs", [])):
            problem = _out_problem(out, LOCK_OUT_KEYS, path_required=True)
            if problem:
                return f"stages.{name}.outs[{index}]: {problem}"
    return None


def _out_problem(out: Any, allowed: frozenset[str], *, path_required: bool = False) -> str | None:
    if not isinstance(out, dict):
        return "expected a dictionary"
    extra = sorted(str(k) for k in out if k not in allowed)
    if extra:
        return f"extra keys not allowed: {extra[0]}"
    if "path" in out and not isinstance(out["path"], str):
        return "path: expected a string"
    if path_required and "path" not in out:
        return "path: required"
    for key in _CHECKSUMS:
        value = out.get(key)
        if value not in (None, "") and not (isinstance(value, str | int) and len(str(value)) >= 3):
            return f"{key}: expected a checksum"
    for key, kind in _META.items():
        if key in out and not isinstance(out[key], kind):
            return f"{key}: expected {kind.__name__}"
    for key in _BOOL_KEYS:
        if key in out and not isinstance(out[key], bool):
            return f"{key}: expected bool"
    if "hash" in out and not isinstance(out["hash"], str):
        return "hash: expected a string"
    return None


@dataclass(frozen=True)
class Verdict:
    """What is wrong with the `.dvc` file beside a pinned file, and the command that fixes it
    (`keel track FILE --into REF` rewrites the `.dvc` file in DVC 3's form)."""

    message: str
    error: bool = True


def judge(record: DvcFile, name: str, md5: str | None, size: int, fix: str) -> Verdict | None:
    """None when `record` (the `.dvc` file beside file `name`) records `md5` and `size` the way
    keel reads, pushes and pulls it; else what is wrong, ending with `fix` (a command)."""
    if record.error_kind == CONFLICT:
        return Verdict(f"has git merge conflict markers: resolve the merge, or run `{fix}`")
    if record.error_kind is not None:
        return Verdict(f"cannot be read by DVC ({record.error}); run `{fix}` to write it again")
    outs = record.outs
    mine = [o for o in outs if posixpath.normpath(o.path) == name]
    if len(outs) > 1:
        paths = ", ".join(o.path for o in outs)
        return Verdict(
            f"records {len(outs)} outputs ({paths}); keel keeps one file per .dvc file: run "
            f"`{fix}` (the others move to .dvc files of their own)"
        )
    if not mine and outs and not location(outs[0].path)[0]:
        return Verdict(
            f"tracks {outs[0].path} (outside the repository), not {name}: give it another name "
            f"(`git mv {name}.dvc OTHER.dvc`), then run `{fix}`"
        )
    if not mine:
        what = f"tracks {outs[0].path}, not {name}" if outs else f"records no output for {name}"
        return Verdict(f"{what}; run `{fix}`")
    if mine[0].isdir:
        return Verdict(f"records the directory {mine[0].path}, not a file; run `{fix}`")
    return None if md5 is None else _judge_out(mine[0], md5, size, fix)


def _judge_out(out: DvcOut, md5: str, size: int, fix: str) -> Verdict | None:
    if out.value is None:
        if out.etag:
            why = "only an etag, as `dvc import-url` writes it"
        else:
            why = f"nothing under hash {out.hash_name}"
        return Verdict(
            f"records no md5 DVC can use ({why}), so keel push and pull skip the file; "
            f"run `{fix}` to record it",
            error=False,
        )
    if out.hash_name == LEGACY_HASH:
        if out.value == md5:
            return Verdict(
                "was written by DVC 2 (md5-dos2unix, no `hash: md5`), which keel push and pull do "
                f"not move; run `{fix}` to rewrite it in DVC 3's form",
                error=False,
            )
        return Verdict(
            f"records DVC 2's md5-dos2unix {out.value} (text hashed with CRLF turned into LF), "
            f"the manifest md5 {md5}; run `{fix}` to rewrite it in DVC 3's form"
        )
    if out.hash_name != "md5":
        return Verdict(f"records a {out.hash_name}, not an md5; run `{fix}`")
    if out.value != md5 or (out.size is not None and out.size != size):
        return Verdict(
            f"records md5 {out.value} and size {out.size}, the manifest md5 {md5} and size "
            f"{size}; run `{fix}` again"
        )
    return None


def usable_md5(record: DvcFile, name: str) -> str | None:
    """The md5 keel moves file `name` by: the one DVC 3 output (`hash: md5`) of its `.dvc`
    file, naming it; None when the file records anything else."""
    if record.error_kind is not None or len(record.outs) != 1:
        return None
    out = record.outs[0]
    if posixpath.normpath(out.path) != name or out.isdir:
        return None
    return out.md5
