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


@app.command("preprocess")
def preprocess(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS-PET dataset (folder with dataset_description.json).")],
    participant_label: Annotated[list[str] | None, typer.Option(
        "--participant-label", help="Subject to process (with or without sub-); repeat for several. Default: all.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Sessions processed in parallel (joblib processes, >= 1). "
                                             "Default: the configuration's compute.jobs.")] = None,
    dask_scheduler: Annotated[str | None, typer.Option(
        "--dask-scheduler", help="Run the sessions on a Dask distributed cluster at this address (tcp://host:port).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute sessions that are already preprocessed.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file overriding the defaults "
                                                "(preprocess section, seed).")] = None,
) -> None:
    """Preprocess PET and MRI: motion, PET-MRI and MRI-template registration, masks, grids, QC."""
    from gliopet.config import load_config
    from gliopet.errors import ParameterError
    from gliopet.io.derivatives import QC_TABLE
    from gliopet.preprocess.pipeline import run_preprocess

    cfg = load_config(config)
    jobs = cfg.compute.jobs if jobs is None else jobs
    if jobs < 1:
        raise ParameterError("--jobs", jobs, "an integer >= 1")
    table = run_preprocess(bids_dir, participant_label=participant_label, jobs=jobs,
                           dask_scheduler=dask_scheduler, force=force, config=cfg)
    flagged = table[table["flags"].fillna("").astype(str) != ""]
    typer.echo(f"preprocessed {len(table)} session(s); QC table: {QC_TABLE.path(bids_dir)}")
    for _, row in flagged.iterrows():
        typer.echo(f"flagged: sub-{row['subject']} ses-{row['session']}: {row['flags']}")
