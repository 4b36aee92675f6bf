"""Help that teaches: every command's --help ends with runnable examples; flags show no type."""

import shlex

import pytest
import typer
from typer.testing import CliRunner

from temcoco import cli

COMMANDS = [c.name for c in typer.main.get_group(cli.app).commands.values()]


def test_every_command_is_covered():
    assert {"fuse", "submit", "schedule", "metrics", "jobs", "evaluate", "report", "gc", "compact", "train",
            "convert-weights"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_that_parse(command):
    result = CliRunner().invoke(cli.app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.rstrip().splitlines()
    examples = lines[lines.index("  Examples:") + 1:]
    assert 1 <= len(examples) <= 2 and all(e.startswith(f"    temcoco {command} ") for e in examples), lines[-4:]
    group = typer.main.get_group(cli.app)
    for example in examples:
        args = shlex.split(example)[1:]
        group.commands[command].make_context(command, args[1:], parent=group.make_context("temcoco", args))


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_show_no_type_placeholder(command):
    result = CliRunner().invoke(cli.app, [command, "--help"], env={"COLUMNS": "200"})
    flags = [line for line in result.output.splitlines() if line.lstrip().startswith(("--help", "--json", "--quiet",
             "-q,", "--incremental", "--keep-staging", "--all-columns", "--resume"))]
    assert flags or command not in ("submit", "metrics", "evaluate"), result.output
    assert not [f for f in flags if "<bool>" in f or "BOOLEAN" in f], flags
