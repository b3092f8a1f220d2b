"""Every command's --help (whatever is registered in COMMANDS, subcommands included) ends with
real examples and uses the shared short options; shell completion scripts are printed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pytest

from toolkit.cli import cli, main
from toolkit.cli.commands import command_problem

if TYPE_CHECKING:
    from collections.abc import Iterator

KEEL = Path(sys.executable).with_name("keel")
SHARED = {"--format": "-f", "--remote": "-r", "--out": "-o"}


def _walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        context = click.Context(command, info_name=path[-1])
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, f"{' '.join(path)} lists {name} but cannot load it"
            yield from _walk(sub, (*path, name))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path[1:]:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


# collected at import: every command registered when the tests run, the others' new ones too
PATHS = list(_walk(cli, ("keel",)))


def _help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*path[1:], "--help"]) == 0
    out: str = capsys.readouterr().out
    return out


def _examples(help_text: str) -> list[str]:
    """The `keel ...` lines of the help's `Examples:` section (before `Options:`)."""
    lines = [line.strip() for line in help_text.splitlines()]
    assert "Examples:" in lines, help_text
    section = lines[lines.index("Examples:") + 1 :]
    section = section[: section.index("Options:")] if "Options:" in section else section
    return [line for line in section if line.startswith("keel ")]


def test_the_walk_finds_the_commands_and_their_subcommands() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"keel", "keel validate", "keel schema export", "keel hooks run"} <= names


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_help_ends_with_examples_that_parse(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    examples = _examples(_help(path, capsys))
    assert examples, f"{' '.join(path)} --help has no `keel ...` example line"
    for example in examples:
        args = shlex.split(example)[1:]
        assert command_problem(args) is None, f"{example}: {command_problem(args)}"
        if len(path) > 1:
            assert args[: len(path) - 1] == list(path[1:]), f"{example} is not {' '.join(path)}"


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_shared_options_have_the_shared_short_names(path: tuple[str, ...]) -> None:
    for param in _command(path).params:
        if not isinstance(param, click.Option):
            continue
        names = set(param.opts) | set(param.secondary_opts)
        for long_name, short in SHARED.items():
            if long_name in names:
                assert short in names, f"{' '.join(path)} {long_name} lacks {short}"
        for short in ("-f", "-r"):  # and the short names mean nothing else
            if short in names:
                expected = next(long for long, s in SHARED.items() if s == short)
                assert expected in names, f"{' '.join(path)} {short} is not {expected}"


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_usage_line_holds_no_choice_list_broken_across_lines(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """`keel new`'s usage once listed its eleven kinds and click broke them mid-word."""
    usage = _help(path, capsys).split("\n\n", 1)[0]
    words = " ".join(line.strip() for line in usage.splitlines()).split()
    assert words[: len(path) + 1] == ["Usage:", *path]
    metavars = words[len(path) + 1 :]
    assert all(not re.search(r"[a-z{|]", word) for word in metavars), usage


def test_new_usage_names_kind_and_its_help_lists_the_kinds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help(("keel", "new"), capsys)
    assert text.startswith("Usage: keel new [OPTIONS] KIND NAME\n")
    assert "ArchitectureDecision" in text


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _keel_completion keel"),
        ("zsh", "#compdef keel"),
        ("fish", "complete --no-files --command keel"),
    ],
)
def test_completion_source_prints_a_script(shell: str, marker: str) -> None:
    env = {**os.environ, "_KEEL_COMPLETE": f"{shell}_source"}
    done = subprocess.run([str(KEEL)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout
    assert "_KEEL_COMPLETE" in done.stdout  # the script calls keel back to complete


def test_completion_completes_a_command_name() -> None:
    env = {**os.environ, "_KEEL_COMPLETE": "bash_complete", "COMP_WORDS": "keel val"}
    env["COMP_CWORD"] = "1"
    done = subprocess.run([str(KEEL)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "plain,validate" in done.stdout.splitlines()


def test_the_cli_reference_documents_completion_for_three_shells() -> None:
    from toolkit.cli.reference import render_reference

    reference = render_reference()
    for line in (
        'eval "$(_KEEL_COMPLETE=bash_source keel)"',
        'eval "$(_KEEL_COMPLETE=zsh_source keel)"',
        "_KEEL_COMPLETE=fish_source keel | source",
    ):
        assert line in reference


def test_a_runbook_step_may_start_with_the_groups_no_color_flag() -> None:
    assert command_problem(["--no-color", "validate", "-f", "json"]) is None
    assert command_problem(["--no-color"]) == "no keel command given"
    assert command_problem(["--no-color", "validate", "--colour"]) is not None
