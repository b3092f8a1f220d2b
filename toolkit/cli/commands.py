"""keel's command line as data: whether a `keel ...` line (a runbook step, say) parses."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import click


def command_problem(args: list[str]) -> str | None:
    """Why `keel ARGS` would not parse, or None: the command, its subcommands and options are
    checked by click itself, without running anything. What click would print while parsing
    (`--help`, `--version`) is swallowed: it must not end up in the audit's report."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _parse_problem(args)


def _parse_problem(args: list[str]) -> str | None:
    from toolkit.cli import COMMANDS, cli

    # the group's own flags (`keel --no-color validate`) come before the command
    group_flags = {opt for p in cli.params if getattr(p, "is_flag", False) for opt in p.opts}
    while args and args[0] in group_flags - {"--help", "-h", "--version"}:
        args = args[1:]
    if not args:
        return "no keel command given"
    if args[0] not in COMMANDS:
        return f"`{args[0]}` is not a keel command (known: {', '.join(sorted(COMMANDS))})"
    # the group's own settings: click caches each command's help option from the first
    # context it sees, and `keel ... -h` must stay valid (and help output unchanged)
    context = click.Context(cli, info_name="keel", **cli.context_settings)
    command = cli.get_command(context, args[0])
    assert command is not None
    try:
        sub = command.make_context(args[0], list(args[1:]), parent=context)
    except click.exceptions.Exit:
        return None  # --help and friends
    except click.UsageError as error:
        return error.format_message()
    while isinstance(command, click.Group) and _unparsed(sub):
        name, *rest = _unparsed(sub)
        child = command.get_command(sub, name)
        if child is None:
            return f"`{name}` is not a `keel {args[0]}` command"
        try:
            sub = child.make_context(name, rest, parent=sub)
        except click.UsageError as error:
            return error.format_message()
        command = child
    return None


def _unparsed(context: Any) -> list[str]:
    """A group's subcommand and its arguments (click 8.2 moved them to `_protected_args`)."""
    protected = getattr(context, "_protected_args", None)
    if protected is None:
        protected = context.protected_args
    return [*protected, *context.args]
