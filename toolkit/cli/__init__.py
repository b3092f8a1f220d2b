"""The `keel` command: one click group, commands loaded only when they run.

This module must stay light: `keel --help` and `keel validate` import no torch, transformers,
peft or dvc. Each command module imports the library it calls inside its function.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from toolkit import __version__
from toolkit.core.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, KeelError
from toolkit.core.text import one_line

# command name -> (module, attribute, one-line help shown by `keel --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "hooks": ("toolkit.cli.hooks", "hooks", "Install or run keel's plain git pre-commit hook."),
    "secrets": (
        "toolkit.cli.secrets",
        "secrets",
        "Refuse access tokens, private keys and PII examples in manifests.",
    ),
    "init": (
        "toolkit.cli.init",
        "init",
        "Make a directory a keel repository (git, DVC, manifests/).",
    ),
    "new": ("toolkit.cli.new", "new", "Write a commented template manifest of one kind."),
    "validate": ("toolkit.cli.validate", "validate", "Check manifests: schema, references, gates."),
    "ls": ("toolkit.cli.ls", "ls", "List every manifest with its kind, owner and status."),
    "show": (
        "toolkit.cli.show",
        "show",
        "Print one manifest with what it needs and what needs it.",
    ),
    "schema": (
        "toolkit.cli.schema",
        "schema",
        "Export or check the JSON Schemas of the manifests.",
    ),
    "demo": ("toolkit.cli.demo", "demo", "Create a demo repository with the example deployment."),
    "pin": (
        "toolkit.cli.pin",
        "pin",
        "Pin a model snapshot (HF cache or a directory) as manifests.",
    ),
    "push": (
        "toolkit.cli.transfer",
        "push",
        "Push the artifacts some manifests need to the DVC remote.",
    ),
    "pull": (
        "toolkit.cli.transfer",
        "pull",
        "Pull the artifacts some manifests need, then verify them.",
    ),
    "evaluate": (
        "toolkit.cli.evaluate",
        "evaluate",
        "Run a subject on a Dataset and record an Evaluation with its outputs.",
    ),
    "reproduce": (
        "toolkit.cli.reproduce",
        "reproduce",
        "Stand a deployment back up from a clean checkout and compare with the record.",
    ),
    "serve": ("toolkit.cli.serve", "serve", "Serve a Deployment's API contract over HTTP."),
    "audit": (
        "toolkit.cli.audit",
        "audit",
        "The quarterly runbook audit of a deployment, as a report and an Audit manifest.",
    ),
    "log": ("toolkit.cli.history", "log", "The commits that changed a manifest, field by field."),
    "diff": (
        "toolkit.cli.history",
        "diff",
        "Compare manifests between two revisions, field by field.",
    ),
    "train": (
        "toolkit.cli.train",
        "train",
        "Run the LoRA fine-tune a TrainingRun records; write back the adapter.",
    ),
    "quantize": (
        "toolkit.cli.train",
        "quantize",
        "Run a Quantization's recipe and record the result's tensor digest.",
    ),
    "track": ("toolkit.cli.track", "track", "Put files under DVC and pin them in a manifest."),
    "verify": (
        "toolkit.cli.verify",
        "verify",
        "Recompute the checksums of the files manifests name.",
    ),
    "doctor": (
        "toolkit.cli.doctor",
        "doctor",
        "Check this machine and repository; say how to fix what is missing.",
    ),
    "inspect": (
        "toolkit.cli.inspect",
        "inspect",
        "Read safetensors headers: tensors, dtypes, parameters, memory budget.",
    ),
    "checklist": (
        "toolkit.cli.checklist",
        "checklist",
        "The architecture checklist of a Deployment: verified, recorded, or a finding.",
    ),
    "export": (
        "toolkit.cli.export",
        "export",
        "Export a Deployment's alert rules (Prometheus) with their promtool tests.",
    ),
    "drift": (
        "toolkit.cli.drift",
        "drift",
        "Compare production inputs with the canary's and training inputs: drift or not.",
    ),
    "canary": (
        "toolkit.cli.canary",
        "canary",
        "Send the canary through a live endpoint; compare with the record and SLOs.",
    ),
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs or shows its own help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keel")
@click.option(
    "--no-color",
    is_flag=True,
    help="Plain output even on a terminal (as NO_COLOR=1 does; KEEL_FORCE_COLOR=1 forces it).",
)
@click.pass_context
def cli(ctx: click.Context, no_color: bool) -> None:
    """keel: versioned, schema-checked manifests for transformer model deployments.

    Exit codes: 0 ok, 1 check failed, 2 usage or input error, 3 internal error, 130 interrupted.
    Set KEEL_DEBUG=1 to see tracebacks. Shell completion for bash, zsh and fish: docs/cli.md.

    Examples:

    \b
      keel init my-models
      keel validate -f json
    """
    from toolkit.core.style import wanted

    # every command's context inherits this: click.echo keeps or strips the colour codes
    ctx.color = False if no_color else wanted()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map keel's errors to exit codes and one-line messages."""
    try:
        # Without standalone mode click returns (not raises) the code of `Exit` from a command.
        returned = cli.main(args=argv, prog_name="keel", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        click.echo("keel: interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeelError as error:
        _debug_traceback()
        click.echo(f"keel: error: {one_line(str(error))}", err=True)
        return error.exit_code
    except KeyboardInterrupt:
        click.echo("keel: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as error:  # the one place that turns a bug into exit code 3
        if os.environ.get("KEEL_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"keel: internal error: {type(error).__name__}: {one_line(str(error))} "
            "(set KEEL_DEBUG=1 for the traceback, and please report it)",
            err=True,
        )
        return EXIT_INTERNAL
    return returned if isinstance(returned, int) else 0


def _debug_traceback() -> None:
    if os.environ.get("KEEL_DEBUG"):
        traceback.print_exc()


def run() -> None:
    sys.exit(main())
