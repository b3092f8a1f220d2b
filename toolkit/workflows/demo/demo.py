"""`keel demo DIR`: a demo repository holding the example semantic-search deployment."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from toolkit.bridges import git
from toolkit.core.errors import UsageError
from toolkit.workflows.authoring.init import InitResult, init
from toolkit.workflows.validation.validate import ValidationResult, validate

EXAMPLE = "data/example"


@dataclass
class DemoResult:
    root: Path
    initialised: InitResult
    copied: list[str] = field(default_factory=list)
    validation: ValidationResult | None = None
    commit: str | None = None


def example_tree() -> Path:
    """The example deployment shipped inside the package (manifests/ and artifacts/datasets/)."""
    return Path(str(resources.files("toolkit").joinpath(EXAMPLE)))


def demo(directory: Path, remote: str | None = None) -> DemoResult:
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()) and not (directory / ".git").exists():
        raise UsageError(f"{directory} is not empty and not a repository; choose a new directory")
    result = DemoResult(directory, init(directory, remote))
    source = example_tree()
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(source)
        target = directory / relative
        if target.exists() and target.read_bytes() == path.read_bytes():
            continue
        if target.exists():
            raise UsageError(f"{target} exists with other content; keel demo will not overwrite it")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        result.copied.append(relative.as_posix())
    result.validation = validate(directory)
    if result.copied and result.validation.ok:  # never commit an example that does not validate
        result.commit = git.commit_all(
            directory, "keel demo: the example semantic-search deployment"
        )
    return result
