"""`keel demo DIR`: a demo repository holding the example semantic-search deployment.

Run again on the same directory, it resumes: the example is not laid out a second time once
its commit exists (see `state`), and `--force` deletes a demo directory to start over. A
directory keel demo did not make is never written into nor deleted.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from toolkit.bridges import dvc, git
from toolkit.core.errors import UsageError
from toolkit.workflows.authoring.init import InitResult, init
from toolkit.workflows.demo.state import (
    EXAMPLE_MESSAGES,
    DemoState,
    Kind,
    inspect,
    mark,
    refuse_foreign,
    refuse_uncommitted,
    start_over,
)
from toolkit.workflows.validation.validate import ValidationResult, validate

EXAMPLE = "data/example"
EXAMPLES = {"minilm": EXAMPLE, "llm": "data/example_llm"}
"""`keel demo --example NAME` -> the package directory holding that example."""


@dataclass
class DemoResult:
    root: Path
    initialised: InitResult | None  # None when the example was committed by an earlier run
    copied: list[str] = field(default_factory=list)
    validation: ValidationResult | None = None
    commit: str | None = None
    state: DemoState | None = None  # where the directory stood (after --force deleted it)
    started_over: bool = False

    @property
    def done(self) -> dict[str, str]:
        """Each step an earlier run committed -> its commit."""
        return {step: sha for step, sha, _ in self.state.done} if self.state else {}


def example_tree(example: str = "minilm") -> Path:
    """An example deployment shipped inside the package (manifests/, maybe artifacts/datasets/)."""
    if example not in EXAMPLES:
        raise UsageError(f"--example {example}: choose one of {', '.join(EXAMPLES)}")
    return Path(str(resources.files("toolkit").joinpath(EXAMPLES[example])))


def demo(
    directory: Path, remote: str | None = None, *, force: bool = False, example: str = "minilm"
) -> DemoResult:
    directory = directory.resolve()
    source = example_tree(example)
    state = inspect(directory)
    refuse_foreign(state)
    started_over = force and start_over(state)
    if started_over:
        state = inspect(directory)
    if state.commit_of("example"):
        _refuse_another_example(state, example)
        refuse_uncommitted(state)
        _refuse_another_remote(state, remote)
        return DemoResult(directory, None, state=state)
    directory.mkdir(parents=True, exist_ok=True)
    mark(directory)
    result = DemoResult(directory, init(directory, remote), state=state, started_over=started_over)
    result.copied = _copy_example(directory, source)
    result.validation = validate(directory)
    if result.copied and result.validation.ok:  # never commit an example that does not validate
        result.commit = git.commit_all(directory, EXAMPLE_MESSAGES[example])
    return result


def _refuse_another_example(state: DemoState, example: str) -> None:
    if state.example is None or state.example == example:
        return
    raise UsageError(
        f"{state.root} holds the {state.example} example, not {example}: run keel demo "
        f"{state.root} --example {state.example} to resume it, or choose a new directory"
    )


def _copy_example(directory: Path, source: Path) -> list[str]:
    """Copy the files of the example that are missing; a file holding something else stops it."""
    copied = []
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
        copied.append(relative.as_posix())
    return copied


def _refuse_another_remote(state: DemoState, remote: str | None) -> None:
    """Resuming keeps the DVC remote the demo was made with; another one is a new demo."""
    if remote is None or state.kind is not Kind.demo:
        return
    current = dvc.default_remote(state.root)
    if current is not None and _same_place(current[1], remote):
        return
    where = current[1] if current else "none"
    raise UsageError(
        f"{state.root} was made with the DVC remote {where}, not {remote}: run keel demo again "
        "without --remote to resume, or add --force to start over with the new remote"
    )


def _same_place(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return Path(a).resolve() == Path(b).resolve()
