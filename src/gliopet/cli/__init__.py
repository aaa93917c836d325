"""The ``gliopet`` command: one verb per stage.

Errors caused by the input (`gliopet.errors.InputError`) print one line (file, problem, fix)
and exit with status 2; internal errors exit with status 1 (the traceback is shown with
``--debug``). Heavy libraries are imported inside the verbs so that ``gliopet --help`` is fast.
"""

from __future__ import annotations

import sys

import typer

from gliopet import DISCLAIMER, __version__
from gliopet.errors import InputError

app = typer.Typer(
    name="gliopet",
    help=f"Amino-acid PET (FDOPA, FET) and MRI of glioma, from DICOM to decisions.\n\n{DISCLAIMER}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gliopet {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks of errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    from gliopet.progress import setup_logging

    _state["debug"] = debug
    setup_logging(verbose)


# Verbs (each module registers its commands on `app`).
from gliopet.cli import (  # noqa: E402,F401  (each verb module registers its commands)
    analyze_cmd,
    biopsy_cmd,
    brats_cmd,
    classify_cmd,
    demo_cmd,
    dicom_cmd,
    evaluate_cmd,
    foundation_cmd,
    io_cmds,
    predict_cmd,
    preprocess_cmd,
    quant_cmd,
    radiomics_cmd,
    reader_analyze_cmd,
    reader_cmd,
    reader_study_cmd,
    report_cmd,
    report_cmds,
    signature_cmd,
    simulate_cmd,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gliopet`` console script; returns the exit status."""
    try:
        app(args=argv, prog_name="gliopet")
    except SystemExit as exc:  # click's standalone mode ends every run with SystemExit
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except InputError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {exc.one_line()}", err=True)
        return InputError.exit_code
    except Exception as exc:
        if _state["debug"]:
            raise
        typer.echo(
            f"internal error: {exc.__class__.__name__}: {exc} "
            "(this is a bug in gliopet: rerun with --debug and report the traceback)",
            err=True,
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())
