"""`gliopet radiomics`: IBSI features (MIRP) of the PET, the dynamic maps and the MRI inside the
tumour VOI and other PET-grid masks.

``gliopet radiomics BIDS_DIR [--participant-label 01] [--mask-desc abnormal] [--force]
[--jobs N] [--dask-scheduler tcp://host:8786] [--config FILE]`` writes
``BIDS_DIR/derivatives/gliopet/radiomics/`` (see `gliopet.radiomics.pipeline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


@app.command("radiomics")
def radiomics(
    bids_dir: Annotated[Path, typer.Argument(
        help="BIDS-PET dataset, already quantified (gliopet quantify).")],
    participant_label: ParticipantLabels = None,
    mask_desc: Annotated[list[str] | None, typer.Option(
        "--mask-desc",
        help="Extra VOI besides the tumour: a PET-grid mask of preprocessing by its desc "
             "(abnormal, healthy, brain, striatum, ...) or quantify's background; repeat for "
             "several.")] = None,
    force: Force = False,
    jobs: Jobs = None,
    dask_scheduler: DaskScheduler = None,
    dask_security: DaskSecurity = None,
    config: ConfigFile = None,
) -> None:
    """Radiomics: IBSI features (MIRP) of SUV, TBR, TTP/slope/early-late maps and MRI inside the
    tumour VOI; settings in the configuration's radiomics section."""
    from gliopet.config import load_config
    from gliopet.io.derivatives import RADIOMICS_TABLE
    from gliopet.radiomics.pipeline import NO_TUMOUR, run_radiomics

    cfg = load_config(config)
    table = run_radiomics(bids_dir, participant_label=participant_label,
                          jobs=resolve_jobs(cfg, jobs), dask_scheduler=dask_scheduler,
                          dask_security=dask_security, force=force, config=cfg,
                          mask_desc=mask_desc or ())
    if table is None:
        typer.echo("no session finished")
        return
    features = [c for c in table.columns if c.startswith("tumour_")]
    no_tumour = int((table["tumour_status"] == NO_TUMOUR).sum())
    typer.echo(f"radiomics of {len(table)} session(s), {len(features)} tumour features each; "
               f"{no_tumour} without a PET-avid tumour; table: {RADIOMICS_TABLE.path(bids_dir)}")
