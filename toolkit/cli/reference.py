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
    return "\n".join([*parts, *COMPLETION]) + "\n"


COMPLETION = [
    "",
    "## Shell completion",
    "",
    "click completes keel's commands, subcommands, options and choices. Add one line to your",
    "shell's start-up file (keel must be on PATH when the shell starts), then open a new shell:",
    "",
    "```sh",
    "# bash, in ~/.bashrc",
    'eval "$(_KEEL_COMPLETE=bash_source keel)"',
    "# zsh, in ~/.zshrc",
    'eval "$(_KEEL_COMPLETE=zsh_source keel)"',
    "# fish, in ~/.config/fish/completions/keel.fish",
    "_KEEL_COMPLETE=fish_source keel | source",
    "```",
    "",
    "To start shells faster, write the script once and source the file instead:",
    "`_KEEL_COMPLETE=bash_source keel > ~/.keel-complete.bash` and",
    "`. ~/.keel-complete.bash` in ~/.bashrc (likewise for zsh).",
    "",
    "## Colour",
    "",
    "Reports and summaries are coloured when stdout is a terminal. `NO_COLOR=1` or",
    "`keel --no-color ...` turns colour off; `KEEL_FORCE_COLOR=1` (or `FORCE_COLOR=1`) turns it on",
    "for a pipe.",
]


if __name__ == "__main__":
    print(render_reference(), end="")
