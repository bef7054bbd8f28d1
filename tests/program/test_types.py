"""The program type-checks against pulumi-aws's typed inputs, and functions/ as Lambda imports it
(the same mypy run as `make lint`)."""

from __future__ import annotations

from mypy import api

from .graphs import ROOT


def test_program_components_and_functions_type_check_cleanly():
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, stdout + stderr
