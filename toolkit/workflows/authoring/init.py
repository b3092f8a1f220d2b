"""`keel init`: make a directory a keel repository. Running it twice changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.bridges import dvc, git
from toolkit.core.errors import UsageError
from toolkit.core.fsutil import write_atomic
from toolkit.core.layout import KIND_DIRECTORIES, MANIFEST_DIR
from toolkit.core.schemas import SCHEMA_DIR
from toolkit.core.schemas import export as export_schemas

GITIGNORE_LINES = (".keel/", "__pycache__/")

PRE_COMMIT_CONFIG = """\
# keel's checks on every commit that touches a manifest or a .dvc file.
# Once per clone: `pip install pre-commit && pre-commit install`.
# (Without the framework: `keel hooks install` installs the same checks as a plain git hook.)
# Each hook runs {program} (what `keel init` ran with), so it works without
# the virtualenv on PATH; where that path does not exist (another machine), `keel` on PATH.
repos:
  - repo: local
    hooks:
      - id: keel-validate
        name: keel validate
        entry: {validate}
        language: system
        files: ^manifests/.*\\.(ya?ml|json)$
        require_serial: true
      - id: keel-checksums
        name: keel checksums
        entry: {checksums}
        language: system
        files: (^manifests/.*\\.(ya?ml|json)|\\.dvc)$
        require_serial: true
      - id: keel-no-secrets
        name: keel no secrets
        entry: {secrets}
        language: system
        files: ^manifests/.*\\.(ya?ml|json)$
        require_serial: true
      - id: keel-schemas-fresh
        name: keel schemas fresh
        entry: {schemas}
        language: system
        files: ^schemas/
        pass_filenames: false
"""

HOOK_COMMANDS = {
    "validate": "validate --neighbours",
    "checksums": "verify --skip-missing",
    "secrets": "secrets",
    "schemas": "schema check",
}


def keel_program(python: str | None = None) -> tuple[str, str]:
    """How the hooks start this keel without PATH: (absolute program, arguments before the
    command). The `keel` script beside this interpreter (a virtualenv's bin/), else the
    interpreter itself with `-I -m toolkit` (isolated: a `toolkit/` folder in the repository
    cannot shadow keel)."""
    interpreter = Path(os.path.abspath(python or sys.executable))
    script = interpreter.with_name("keel")
    if script.is_file() and os.access(script, os.X_OK):
        return str(script), ""
    return str(interpreter), " -I -m toolkit"


def hook_entry(program: str, prefix: str, command: str) -> str:
    """A pre-commit `entry` running `keel COMMAND FILES...` through `program` when it exists,
    else through `keel` on PATH; as a YAML scalar."""
    quoted = shlex.quote(program)
    script = (
        f'if [ -x {quoted} ]; then exec {quoted}{prefix} {command} "$@"; fi; '
        f'exec keel {command} "$@"'
    )
    return json.dumps(f"sh -c {shlex.quote(script)} --", ensure_ascii=False)


def pre_commit_config(program: str, prefix: str) -> str:
    entries = {key: hook_entry(program, prefix, cmd) for key, cmd in HOOK_COMMANDS.items()}
    return PRE_COMMIT_CONFIG.format(program=program + prefix, **entries)


@dataclass
class InitResult:
    root: Path
    remote_url: str
    done: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def default_remote_url(root: Path) -> Path:
    """A directory outside the repository, so `git clean` can never delete stored weights."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    # DVC writes .dvc/config as ASCII: the folder name keeps the repository's name in ASCII
    ascii_name = unicodedata.normalize("NFKD", root.resolve().name).encode("ascii", "ignore")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name.decode()).strip("-") or "repository"
    return base / "keel" / "remotes" / f"{name}-{tag}"


def init(root: Path, remote: str | None = None) -> InitResult:
    root = root.resolve()
    url = remote or str(default_remote_url(root))
    if not url.isascii():  # checked before anything is written: no half-made repository
        raise UsageError(
            f"DVC remote {url}: DVC writes .dvc/config in ASCII only; give --remote a URL or "
            "path without accents or other non-ASCII characters (or set XDG_DATA_HOME)"
        )
    git.refuse_bare(root)
    root.mkdir(parents=True, exist_ok=True)
    result = InitResult(root, url)

    _, created = git.open_or_init(root)
    _note(result, created, "git repository")
    _note(result, _ensure_lines(root / ".gitignore", GITIGNORE_LINES), ".gitignore")
    _note(result, dvc.ensure_initialised(root), "DVC (.dvc/)")
    current = dvc.default_remote(root)
    if current is None or (remote is not None and current[1] != remote):
        if "://" not in url:
            Path(url).mkdir(parents=True, exist_ok=True)
        dvc.set_default_remote(root, url)
        result.done.append(f"default DVC remote {dvc.DEFAULT_REMOTE} -> {url}")
    else:
        result.remote_url = current[1]
        result.kept.append(f"default DVC remote {current[0]} -> {current[1]}")
    made = [d for d in KIND_DIRECTORIES.values() if _touch(root / MANIFEST_DIR / d / ".gitkeep")]
    _note(result, bool(made), f"{MANIFEST_DIR}/ with one folder per kind")
    _note(
        result, bool(export_schemas(root / SCHEMA_DIR)), f"{SCHEMA_DIR}/ (JSON Schemas for editors)"
    )
    config = root / ".pre-commit-config.yaml"
    program, prefix = keel_program()
    if _write_if_missing(config, pre_commit_config(program, prefix)):
        result.done.append(f".pre-commit-config.yaml (its hooks run {program}{prefix})")
    else:
        result.kept.append(".pre-commit-config.yaml")
    return result


def _note(result: InitResult, changed: bool, what: str) -> None:
    (result.done if changed else result.kept).append(what)


def _touch(path: Path) -> bool:
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return True


def _write_if_missing(path: Path, text: str) -> bool:
    if path.exists():
        return False
    write_atomic(path, text)
    return True


def _ensure_lines(path: Path, lines: tuple[str, ...]) -> bool:
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [line for line in lines if line not in existing]
    if not missing:
        return False
    write_atomic(path, "\n".join([*existing, *missing]) + "\n")
    return True
