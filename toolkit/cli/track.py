"""`keel track PATH... --into Kind/name`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--into",
    "into",
    required=True,
    metavar="KIND/NAME",
    help="The Model, Tokenizer, Adapter or Dataset manifest that pins these files.",
)
@click.option("--no-cache", is_flag=True, help="Hash every file again, ignoring the stat cache.")
@root_option
def track(paths: tuple[Path, ...], into: str, no_cache: bool, root: Path | None) -> None:
    """Put files under DVC and record their path, size, sha256 and md5 in a manifest.

    Files must lie under the manifest's spec.directory. Running it again on unchanged files
    changes nothing. The manifest keeps its comments and key order.

    Examples:

    \b
      keel track artifacts/datasets/search-canary/canary.jsonl --into Dataset/search-canary
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.artifacts.track import track as run_track

    result = run_track(root or find_root(Path.cwd()), list(paths), into, use_cache=not no_cache)
    for fingerprint in result.files:
        click.echo(f"{fingerprint.sha256}  {fingerprint.size:>12}  {fingerprint.path.name}")
    click.echo(
        f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}: "
        f"{len(result.added_to_dvc)} added to DVC; "
        + (f"{result.manifest_path} updated" if result.manifest_changed else "manifest unchanged")
    )
    if result.placeholders_left:
        left = ", ".join(result.placeholders_left)
        click.echo(f"still to fill in {result.manifest_path.name}: {left}")
