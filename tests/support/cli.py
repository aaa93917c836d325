"""Run the gliopet CLI in-process (tests use it through the ``run_cli`` fixture)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path


def run_cli(*args: object) -> tuple[int, str, str]:
    """Run ``gliopet ARGS`` in-process; return (exit status, stdout, stderr)."""
    from gliopet.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def quantified_copy(simulated: Path, root: Path) -> Path:
    """A copy of the dataset `simulated` at `root`, preprocessed and quantified by the CLI (the
    simulated dataset itself is left as it was)."""
    shutil.copytree(simulated, root)
    for verb in ("preprocess", "quantify"):
        code, _, err = run_cli(verb, root)
        assert code == 0, err
    return root
