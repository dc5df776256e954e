"""Every command has help with an example and appears in the README (sqlite-utils' test_docs)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from storyline.cli import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, (*prefix, name)))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_docs_command_has_help_and_is_documented(path):
    res = CliRunner().invoke(cli, [*path, "-h"])
    assert res.exit_code == 0 and "Example:" in res.output
    assert f"storyline {' '.join(path)}" in README
