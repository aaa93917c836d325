"""`gliopet demo`: run every stage that exists on a small built-in simulated cohort.

The demo uses the public verbs exactly as a user would type them, in pipeline order, and says
which stages ran, how long each took and where the outputs are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app
from gliopet.cli.demo_stages import SIZES, demo_stages, registered_verbs


def _registered_verbs() -> set[str]:
    return registered_verbs(app)


@app.command("demo")
def demo(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for the demo cohort, its derivatives and reports.")
    ] = Path("demo-output"),
    subjects: Annotated[
        int | None, typer.Option("--subjects", min=3,
                                 help="Simulated subjects (default: the size's, "
                                      "small 12, full 24).")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Random seed of the simulation.")
    ] = 2026,
    size: Annotated[
        str, typer.Option("--size", help="small (minutes on 2 cores) or full (more subjects, "
                                         "epochs, repeats).")
    ] = "small",
) -> None:
    """Simulate a three-site FDOPA cohort and run every available stage on it, then the reports.

    Rerunning resumes: a stage that finished with the same settings (marker in
    OUT_DIR/.demo-state/) is skipped.
    """
    from gliopet import DISCLAIMER
    from gliopet.cli import main
    from gliopet.cli.demo_stages import DemoState, demo_config, run_stages, summary_lines
    from gliopet.errors import ParameterError

    if size not in SIZES:
        raise ParameterError("--size", size, "one of " + ", ".join(SIZES))
    subjects = subjects or SIZES[size]["subjects"]
    verbs = _registered_verbs()
    stages = demo_stages(out_dir, subjects, seed, size, verbs)
    typer.echo(f"gliopet demo ({size}): {subjects} simulated subjects (tiny profile, sites A-C, "
               f"diagnosis and recurrence) in {out_dir / 'bids'}")
    typer.echo(DISCLAIMER)
    out_dir.mkdir(parents=True, exist_ok=True)
    demo_config(out_dir, size)
    outcomes = run_stages(stages, DemoState(out_dir), verbs, main, typer.echo)
    for line in summary_lines(outcomes, out_dir):
        typer.echo(line)
    failed = [o for o in outcomes if o.status == "failed" and not o.stage.optional]
    if failed:
        typer.echo(f"demo stopped: `gliopet {failed[0].stage.argv[0]}` exited with status "
                   f"{failed[0].code}; rerun the same command to resume", err=True)
        raise typer.Exit(failed[0].code)
