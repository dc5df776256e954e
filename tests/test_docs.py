"""Every command has help and appears in the README (sqlite-utils' test_docs)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from storyline.cli import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_docs_command_has_help_and_is_documented(name):
    res = CliRunner().invoke(cli, [name, "-h"])
    assert res.exit_code == 0 and "Example:" in res.output
    assert f"storyline {name}" in README
