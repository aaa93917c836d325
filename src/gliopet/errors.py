"""Exceptions shared by every stage.

`InputError` is bad input from the user (a file, a parameter): the CLI prints its one-line
message (file, problem, fix) and exits with status 2. Anything else is an internal error
(exit 1, traceback with ``--debug``).
"""

from __future__ import annotations

from pathlib import Path


class GliopetError(Exception):
    """Base class of gliopet's own exceptions."""


class InputError(GliopetError):
    """Bad input: names the file (or parameter), the problem and the fix.

    Parameters
    ----------
    problem : str
        What is wrong, e.g. ``"FrameDuration has 25 values but the image has 26 frames"``.
    path : str or Path, optional
        The file or parameter at fault.
    fix : str, optional
        What the user should do about it.
    """

    exit_code = 2

    def __init__(self, problem: str, *, path: str | Path | None = None, fix: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.path}: {self.problem}" if self.path else self.problem
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class ParameterError(InputError):
    """An invalid parameter value (command-line option, configuration entry)."""

    def __init__(self, name: str, value: object, expected: str, *, fix: str | None = None):
        self.name = name
        self.value = value
        super().__init__(
            f"the {name!r} parameter must be {expected}; got {value!r} instead",
            path=None,
            fix=fix,
        )
