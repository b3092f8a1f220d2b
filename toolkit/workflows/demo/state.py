"""Where a `keel demo` directory stands, so that running the demo again resumes it.

A directory is one of three things: new (missing or empty), a demo repository (keel demo left
its marker in `.keel/demo/`, or the repository's first commit is the demo's example commit),
or someone else's directory, which keel demo never writes into nor deletes. In a demo
repository each step of the story ended in one commit whose subject starts with a known prefix;
the steps done are those up to the last such commit, and what is not committed was left by a
step that failed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from toolkit.bridges import git
from toolkit.core.errors import UsageError

EXAMPLE_MESSAGE = "keel demo: the example semantic-search deployment"
LLM_EXAMPLE_MESSAGE = "keel demo: the example LLM deployment (pydoc-assistant)"
EXAMPLE_MESSAGES = {"minilm": EXAMPLE_MESSAGE, "llm": LLM_EXAMPLE_MESSAGE}
"""The first commit of a demo repository names its example (`keel demo --example`)."""
MARKER = Path(".keel") / "demo" / "made-by-keel-demo"
MARKER_TEXT = (
    "keel demo made this directory. Running `keel demo DIR` again resumes the demo after its\n"
    "last committed step; `keel demo DIR --force` deletes the directory and starts over.\n"
)
REPORT = Path(".keel") / "demo" / "reproduce-report.md"
# (step, subject prefix of the one commit that ends it), in the order the demo runs them
STEPS: tuple[tuple[str, str], ...] = (
    ("example", "keel demo: "),
    ("pin", "keel pin: "),
    ("train", "keel train: "),
    ("quantize", "keel quantize: "),
    ("evaluate", "keel evaluate: "),
)
LLM_STEPS: tuple[tuple[str, str], ...] = (
    ("example", "keel demo: "),
    ("data", "keel track: "),
    ("pin", "keel pin: "),
    ("train", "keel train: "),
    ("quantize", "keel quantize: "),
    ("evaluate", "keel evaluate: "),
)
STEPS_OF = {"minilm": STEPS, "llm": LLM_STEPS}
SHOWN_UNCOMMITTED = 10


class Kind(str, Enum):
    new = "new"
    demo = "demo"
    foreign = "foreign"


@dataclass(frozen=True)
class DemoState:
    root: Path
    kind: Kind
    done: tuple[tuple[str, str, str], ...] = ()  # (step, commit sha, subject), in step order
    uncommitted: tuple[str, ...] = ()  # paths relative to root, as `git status` names them
    example: str | None = None  # the example its first commit lays out (minilm, llm)

    def commit_of(self, step: str) -> str | None:
        return next((sha for name, sha, _ in self.done if name == step), None)


def inspect(directory: Path) -> DemoState:
    root = directory.resolve()
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return DemoState(root, Kind.new)
    if not root.is_dir():
        return DemoState(root, Kind.foreign)
    marked = (root / MARKER).is_file()
    if not (root / ".git").exists():
        return DemoState(root, Kind.demo if marked else Kind.foreign)
    commits = _commits(root)
    examples = {message: name for name, message in EXAMPLE_MESSAGES.items()}
    example = examples.get(commits[-1][1]) if commits else None
    if not marked and example is None:
        return DemoState(root, Kind.foreign)
    steps = STEPS_OF[example or "minilm"]
    return DemoState(root, Kind.demo, _done(commits, steps), _uncommitted(root), example)


def mark(root: Path) -> None:
    """Leave the marker that makes `root` a demo directory (in .keel/, which git ignores)."""
    marker = root / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(MARKER_TEXT, encoding="utf-8")


def refuse_foreign(state: DemoState) -> None:
    if state.kind is Kind.foreign:
        raise UsageError(
            f"{state.root} is not empty and not a keel demo repository; keel demo never writes "
            "into or deletes a directory it did not make: choose a new directory"
        )


def start_over(state: DemoState) -> bool:
    """Delete a demo directory (`--force`); True when there was one. Anything else is refused."""
    refuse_foreign(state)
    if state.kind is not Kind.demo:
        return False
    shutil.rmtree(state.root)
    return True


def refuse_uncommitted(state: DemoState) -> None:
    """Changes a failed step left (measurements that broke a gate, say) are the user's to look
    at: resuming would commit them, starting over would delete them, so neither happens
    unasked."""
    if not state.uncommitted:
        return
    shown = ", ".join(state.uncommitted[:SHOWN_UNCOMMITTED])
    more = len(state.uncommitted) - SHOWN_UNCOMMITTED
    if more > 0:
        shown += f" and {more} more"
    last = state.done[-1][2] if state.done else "nothing"
    raise UsageError(
        f"{state.root} has changes an earlier run left uncommitted (after '{last}'): {shown}. "
        f"Look at them (git -C {state.root} status), commit or discard them, then run keel demo "
        "again to resume; or add --force to delete the directory and start over"
    )


def _commits(root: Path) -> list[tuple[str, str]]:
    """(sha, subject) of every commit reachable from HEAD, newest first; [] before the first."""
    repo = git.open_repo(root)
    if not repo.head.is_valid():
        return []
    return [(c.hexsha, str(c.summary)) for c in repo.iter_commits("HEAD")]


def _done(
    commits: list[tuple[str, str]], steps: tuple[tuple[str, str], ...] = STEPS
) -> tuple[tuple[str, str, str], ...]:
    """The steps up to the last one that has its commit (each with its oldest such commit)."""
    oldest_first = list(reversed(commits))
    found = {
        step: next(((sha, s) for sha, s in oldest_first if s.startswith(prefix)), None)
        for step, prefix in steps
    }
    last = max((i for i, (step, _) in enumerate(steps) if found[step]), default=-1)
    done = []
    for step, _ in steps[: last + 1]:
        sha, subject = found[step] or ("", "")
        done.append((step, sha, subject))
    return tuple(done)


def _uncommitted(root: Path) -> tuple[str, ...]:
    repo = git.open_repo(root)
    listing = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all").split("\0")
    paths: list[str] = []
    records = iter(listing)
    for record in records:
        if not record:
            continue
        paths.append(record[3:])
        if record[0] in "RC":  # a rename or copy: the next record is where it came from
            next(records, None)
    return tuple(paths)
