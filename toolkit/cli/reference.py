"""The CLI reference in docs/cli.md, generated from the commands' own --help."""

from __future__ import annotations

import click

from toolkit.cli import COMMANDS, cli


def _help(command: click.Command, path: list[str]) -> str:
    # The same help options as a real run (`-h, --help`), whatever ran in this process before.
    settings = {"terminal_width": 100, **cli.context_settings}
    with click.Context(command, info_name=" ".join(path), **settings) as ctx:
        return command.get_help(ctx)


def render_reference() -> str:
    parts = [
        "# CLI reference",
        "",
        "Generated from `keel --help` by `python -m toolkit.cli.reference > docs/cli.md`; a test "
        "fails when it is out of date.",
        "",
        "```text",
        _help(cli, ["keel"]),
        "```",
    ]
    for name in sorted(COMMANDS):
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        parts += ["", f"## keel {name}", "", "```text", _help(command, ["keel", name]), "```"]
        if isinstance(command, click.Group):
            for sub in sorted(command.commands):
                parts += [
                    "",
                    f"### keel {name} {sub}",
                    "",
                    "```text",
                    _help(command.commands[sub], ["keel", name, sub]),
                    "```",
                ]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
