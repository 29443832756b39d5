"""The README documents every setting and names the two set-up commands."""
from __future__ import annotations

from app.config import Settings
from tests.helpers import ROOT


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [f"EMEND_{name.upper()}" for name in Settings.model_fields if f"`EMEND_{name.upper()}`" not in readme]
    assert missing == []


def test_the_two_commands_and_ci_agree():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
