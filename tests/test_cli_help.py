"""Every command's --help: it explains every option, and shows no type beside flags (typer
printed `<bool>` next to --help, --version and every on/off switch)."""
from __future__ import annotations

import click
import pytest
import typer
from typer.testing import CliRunner

from darkpy.cli import app

runner = CliRunner()
COMMAND = typer.main.get_command(app)
NAMES = sorted(COMMAND.commands)


@pytest.mark.parametrize("name", [None, *NAMES])
def test_help_explains_every_option_and_shows_no_type_for_flags(name):
    args = ["--help"] if name is None else [name, "--help"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    command = COMMAND if name is None else COMMAND.commands[name]
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name}: {param.opts} has no help"
            assert param.opts[0] in result.stdout


def test_every_command_is_registered():
    assert {"info", "convert-cfg", "convert", "detect", "upscale", "train"} <= set(NAMES)
