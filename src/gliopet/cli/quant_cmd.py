"""`gliopet quantify`: SUV/TBR/TSR/BTV, TACs, voxel maps, kinetic models, habitats, hot spots.

``gliopet quantify BIDS_DIR [--participant-label 01]
[--tumour-mask 'masks/sub-{subject}_ses-{session}.nii.gz'] [--background-mask PATTERN] [--force]
[--jobs N] [--dask-scheduler tcp://host:8786] [--config FILE]`` writes
``BIDS_DIR/derivatives/gliopet/quant/`` (see `gliopet.quant.pipeline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from gliopet.cli import app
from gliopet.cli.options import (
    ConfigFile,
    DaskScheduler,
    DaskSecurity,
    Force,
    Jobs,
    ParticipantLabels,
    resolve_jobs,
)

if TYPE_CHECKING:
    import pandas as pd


@app.command("quantify")
def quantify(
    bids_dir: Annotated[Path, typer.Argument(
        help="BIDS-PET dataset, already preprocessed (gliopet preprocess).")],
    participant_label: ParticipantLabels = None,
    tumour_mask: Annotated[str | None, typer.Option(
        "--tumour-mask",
        help="Tumour mask on the PET grid replacing the automatic VOI; path pattern with "
             "{subject} and {session} placeholders (labels without sub-/ses-).")] = None,
    background_mask: Annotated[str | None, typer.Option(
        "--background-mask",
        help="Background mask on the PET grid replacing the contralateral crescent "
             "(same placeholders).")] = None,
    force: Force = False,
    jobs: Jobs = None,
    dask_scheduler: DaskScheduler = None,
    dask_security: DaskSecurity = None,
    config: ConfigFile = None,
) -> None:
    """Quantify PET: static SUV/TBR/TSR/BTV, TACs, TTP/slope maps, kinetic models, habitats, hot
    spots."""
    from gliopet.config import load_config
    from gliopet.io.derivatives import COHORT_TABLE
    from gliopet.quant.pipeline import run_quantify

    cfg = load_config(config)
    table = run_quantify(bids_dir, participant_label=participant_label,
                         jobs=resolve_jobs(cfg, jobs), dask_scheduler=dask_scheduler,
                         dask_security=dask_security, force=force, config=cfg,
                         tumour_mask=tumour_mask, background_mask=background_mask)
    typer.echo(f"quantified {len(table)} session(s); cohort table: {COHORT_TABLE.path(bids_dir)}")
    _print_summary(table, cfg.quant.static_window_min)


#: Columns of the summary printed after a run (all columns are in quant.tsv).
SUMMARY_COLUMNS = (
    "participant_id",
    "session_id",
    "SUVmax",
    "TBRmax",
    "TBRmean",
    "TSRmax",
    "BTV_mL",
    "TTP_min",
    "slope_SUV_per_h",
    "n_hotspots",
)


def _print_summary(table: pd.DataFrame, window_min: tuple[float, float]) -> None:
    """The guideline numbers of each session, as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    columns = [c for c in SUMMARY_COLUMNS if c in table.columns]
    start, end = window_min
    summary = Table(title=f"Static ({start:g}-{end:g} min) and dynamic tumour values; "
                          "research use only")
    for column in columns:
        summary.add_column(column, justify="left" if column.endswith("_id") else "right")
    for _, row in table.iterrows():
        cells = [_cell(row[column], column) for column in columns]
        summary.add_row(*cells)
    Console(width=160).print(summary)


def _cell(value: object, column: str) -> str:
    """A table cell a person reads: counts as whole numbers, missing values as "n/a" (a session
    without a PET-avid tumour has no tumour values), never "nan"."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if column.startswith("n_") and isinstance(value, (int, float, np.number)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.2f}"
    return str(value)
