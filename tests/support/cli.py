"""Run the gliopet CLI in-process (tests use it through the ``run_cli`` fixture)."""

from __future__ import annotations

import contextlib
import io


def run_cli(*args: object) -> tuple[int, str, str]:
    """Run ``gliopet ARGS`` in-process; return (exit status, stdout, stderr)."""
    from gliopet.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()
