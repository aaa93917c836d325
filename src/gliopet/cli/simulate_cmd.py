"""`gliopet simulate`: write a simulated multi-site FDOPA PET + MRI cohort with ground truth.

``gliopet simulate OUT_DIR --subjects N --seed S --profile tiny|standard [--sites siteA,siteB]
[--scenario diagnosis|recurrence|both|healthy] [--aggressive-fraction F]
[--kinetics fdopa|one-tissue] [--overwrite] [--dicom]``
writes a BIDS-PET dataset to OUT_DIR and the ground truth to
``OUT_DIR/derivatives/phantom-truth``.
Every parameter is checked before anything is written; the folder appears only when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app

_OutDir = Annotated[Path, typer.Argument(
    help="Folder to create (BIDS root of the simulated cohort).")]
_Subjects = Annotated[int, typer.Option("--subjects", "-n", help="Number of subjects (>= 1).")]
_Seed = Annotated[int | None, typer.Option(
    "--seed",
    help="Random seed (>= 0); the same seed gives "
    "identical files. Default: the configuration's seed.")]
_Profile = Annotated[str | None, typer.Option(
    "--profile",
    help="tiny (<= 48^3 voxels, for tests) or "
    "standard (MRI 1 mm, PET at the site voxel size).")]
_Sites = Annotated[str | None, typer.Option(
    "--sites",
    help="Comma-separated sites: siteA, siteB, siteC, "
    "heldout (assigned round-robin to the subjects).")]
_Scenario = Annotated[str | None, typer.Option(
    "--scenario",
    help="diagnosis, recurrence, both (one session of each per patient) or healthy.")]
_AggressiveFraction = Annotated[float | None, typer.Option(
    "--aggressive-fraction",
    help="Fraction of tumour sessions with an aggressive subregion (0-1).")]
_HealthyFraction = Annotated[float | None, typer.Option(
    "--healthy-fraction", help="Fraction of healthy subjects among the others (0-1).")]
_Kinetics = Annotated[str | None, typer.Option(
    "--kinetics",
    help="fdopa (realistic two-tissue kinetics, default) or one-tissue (verification "
    "phantom: one tissue, no blood volume, healthy tissue sharing one k2, so the "
    "reference-region models' assumptions hold exactly).")]
_PsfFwhm = Annotated[float | None, typer.Option(
    "--psf-fwhm", help="Override every site's PET resolution (FWHM, mm, > 0).")]
_PetVoxel = Annotated[float | None, typer.Option(
    "--pet-voxel", help="Override every site's PET voxel size (mm, 0.5-6).")]
# threads here, where the stage verbs' shared `options.Jobs` means processes: its own help
_Threads = Annotated[int | None, typer.Option(
    "--jobs", "-j",
    help="Sessions simulated in parallel (threads); "
    "default: the configuration's compute.jobs.")]
_Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty OUT_DIR.")]
_Dicom = Annotated[bool, typer.Option(
    "--dicom", help="Also write every session as DICOM series under OUT_DIR/sourcedata/dicom.")]
_SimulateConfig = Annotated[Path | None, typer.Option(
    "--config", help="YAML file overriding the defaults (simulate section, seed).")]


@app.command("simulate")
def simulate(
    out_dir: _OutDir,
    subjects: _Subjects = 4,
    seed: _Seed = None,
    profile: _Profile = None,
    sites: _Sites = None,
    scenario: _Scenario = None,
    aggressive_fraction: _AggressiveFraction = None,
    healthy_fraction: _HealthyFraction = None,
    kinetics: _Kinetics = None,
    psf_fwhm: _PsfFwhm = None,
    pet_voxel: _PetVoxel = None,
    jobs: _Threads = None,
    overwrite: _Overwrite = False,
    dicom: _Dicom = False,
    config: _SimulateConfig = None,
) -> None:
    """Simulate a multi-site FDOPA PET + MRI glioma cohort (BIDS) with its ground truth."""
    from gliopet.config import load_config
    from gliopet.simulate.cohort import simulate_cohort

    cfg = load_config(config)
    defaults = cfg.simulate
    site_list = [s.strip() for s in sites.split(",")] if sites is not None else list(defaults.sites)
    site_list = [s for s in site_list if s] if sites is not None else site_list
    written = simulate_cohort(
        out_dir,
        subjects,
        cfg.seed if seed is None else seed,
        profile=profile or defaults.profile,
        sites=site_list,
        scenario=scenario or defaults.scenario,
        dicom=dicom,
        aggressive_fraction=defaults.aggressive_fraction
        if aggressive_fraction is None
        else aggressive_fraction,
        healthy_fraction=defaults.healthy_fraction
        if healthy_fraction is None
        else healthy_fraction,
        overwrite=overwrite,
        psf_fwhm_mm=psf_fwhm,
        pet_voxel_mm=pet_voxel,
        jobs=cfg.compute.jobs if jobs is None else jobs,
        kinetics=defaults.kinetics if kinetics is None else kinetics,
        command="gliopet simulate",
    )
    _echo_summary(written)


def _echo_summary(written: Path) -> None:
    """Print the sessions written per site and where the ground truth is."""
    import pandas as pd

    from gliopet.io.derivatives import TRUTH, TRUTH_TABLE

    truth = pd.read_csv(TRUTH_TABLE.path(written), sep="\t")
    by_site = ", ".join(
        f"{site} {n}" for site, n in truth["site"].value_counts().sort_index().items()
    )
    typer.echo(f"wrote {len(truth)} session(s) of {truth['participant_id'].nunique()} subject(s) "
               f"({by_site}) to {written}")
    typer.echo(f"ground truth (never read by the analysis stages): {TRUTH.root(written)}")
