"""`keel verify [REF...]`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import coloured, root_option
from toolkit.core.errors import EXIT_CHECK_FAILED


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--no-cache", is_flag=True, help="Hash every file again, ignoring the stat cache.")
@click.option("--strict", is_flag=True, help="Fail on files no manifest names, too.")
@click.option(
    "--skip-missing",
    is_flag=True,
    help="Files not pulled here are not problems (the hook mode: nothing to contradict).",
)
@root_option
def verify(
    targets: tuple[str, ...], no_cache: bool, strict: bool, skip_missing: bool, root: Path | None
) -> None:
    """Recompute the sha256 of every file the manifests name (default: all).

    TARGETS are `Kind/name` references (a Model, Tokenizer, Dataset or Adapter stands for its
    own files; a Deployment, Quantization, TrainingRun or Evaluation for every artifact it
    needs) or paths of manifests, `.dvc` files or pinned files (what a commit stages: the hook
    mode).
    Unchanged files cost a stat thanks to the cache in .keel/. Exit 1 on a mismatch, a
    missing file, or an artifact manifest that does not validate (its files are reported as
    not checked, with the reason).

    Examples:

    \b
      keel verify
      keel verify Tokenizer/all-minilm-l6-v2 --no-cache
    """
    from toolkit.core.layout import find_root
    from toolkit.core.reporters import text
    from toolkit.workflows.artifacts.verify import verify as run_verify

    paths = [Path(t) for t in targets if Path(t).exists()]
    refs = [t for t in targets if not Path(t).exists()]
    if paths and not refs:
        result = run_verify(
            root or find_root(Path.cwd()),
            paths=paths,
            use_cache=not no_cache,
            skip_missing=skip_missing,
        )
    else:
        result = run_verify(
            root or find_root(Path.cwd()), refs, use_cache=not no_cache, skip_missing=skip_missing
        )
    click.echo(text(result.report(strict=strict), colour=coloured()))
    if not result.ok or (strict and result.extra):
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)
