"""Lint gate: ruff finds no long line, pyflakes error or syntax error in the repository's code."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PATHS = ("src", "tests", "benchmarks", "scripts")
# E501: lines over the configured length (100, pyproject.toml), F: pyflakes (unused imports and
# names, undefined names), E9: syntax errors. `make lint` runs the full rule set of pyproject.toml.
RULES = "E501,F,E9"


def _ruff_command() -> list[str]:
    """The ruff command of this interpreter's environment; skips the test when there is none."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    beside = Path(sys.executable).with_name("ruff")
    if beside.is_file():
        return [str(beside)]
    on_path = shutil.which("ruff")
    if on_path is not None:
        return [on_path]
    pytest.skip("ruff is not installed (it comes with the dev extra: pip install -e '.[dev]')")


def test_ruff_finds_nothing():
    command = [*_ruff_command(), "check", *PATHS, "--select", RULES, "--no-cache",
               "--output-format", "concise"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    shown = "ruff " + " ".join(command[command.index("check"):])
    assert result.returncode == 0, f"`{shown}` found problems:\n{result.stdout}{result.stderr}"
