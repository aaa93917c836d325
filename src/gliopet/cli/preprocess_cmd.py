"""`gliopet preprocess`: motion correction, registration, brain mask, regions, grids and QC.

``gliopet preprocess BIDS_DIR [--participant-label 01 --participant-label 02] [--jobs N]
[--dask-scheduler tcp://host:8786] [--force] [--config FILE]`` writes
``BIDS_DIR/derivatives/gliopet/preprocess/`` (see `gliopet.preprocess.pipeline`).
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


@app.command("preprocess")
def preprocess(
    bids_dir: Annotated[Path, typer.Argument(
        help="BIDS-PET dataset (folder with dataset_description.json).")],
    participant_label: ParticipantLabels = None,
    jobs: Jobs = None,
    dask_scheduler: DaskScheduler = None,
    dask_security: DaskSecurity = None,
    force: Force = False,
    config: ConfigFile = None,
) -> None:
    """Preprocess PET and MRI: motion, PET-MRI and MRI-template registration, masks, grids, QC."""
    from gliopet.config import load_config
    from gliopet.io.derivatives import QC_TABLE
    from gliopet.preprocess.pipeline import run_preprocess

    cfg = load_config(config)
    table = run_preprocess(bids_dir, participant_label=participant_label,
                           jobs=resolve_jobs(cfg, jobs), dask_scheduler=dask_scheduler,
                           dask_security=dask_security, force=force, config=cfg)
    flagged = table[table["flags"].fillna("").astype(str) != ""]
    typer.echo(f"preprocessed {len(table)} session(s); QC table: {QC_TABLE.path(bids_dir)}")
    for _, row in flagged.iterrows():
        typer.echo(f"flagged: sub-{row['subject']} ses-{row['session']}: {row['flags']}")
