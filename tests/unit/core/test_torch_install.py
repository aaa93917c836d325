"""Issue 10, defect 11: the Makefile lets the user choose torch's wheel index, and the README
says what a default pip installs and how to choose."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _torch_install_line(*make_args: str) -> str:
    """The torch install command `make` would run for a fresh environment (dry run)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "-B", ".venv/.installed", *make_args], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    (line,) = [item for item in out.splitlines() if "install" in item and "torch==" in item]
    return line


def test_default_make_uses_the_configured_pip_sources():
    line = _torch_install_line()
    assert line.split() == [".venv/bin/pip", "install", "--quiet", "torch==2.13.0"]


def test_torch_index_url_is_passed_to_the_torch_install_only():
    line = _torch_install_line("TORCH_INDEX_URL=https://example.invalid/whl/cpu")
    assert line.split()[-2:] == ["--index-url", "https://example.invalid/whl/cpu"]


def test_readme_says_what_a_default_pip_installs_and_how_to_choose():
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "from the default index, Linux gets the CUDA build" in readme
    assert "make TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu test" in readme
    assert "(CPU wheel)" not in readme
