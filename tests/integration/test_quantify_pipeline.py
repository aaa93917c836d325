"""`gliopet quantify` on a tiny phantom: exact static columns and TTP against the truth table,
every output file, cohort labels, idempotence, static PET, no-tumour session, bad input.

The preprocessing folder is built here from the phantom truth (masks from the true label maps
on the PET grid, the layout of `gliopet.preprocess.pipeline`) so that the test stays fast and
exact; `make validate` runs the real chain (simulate, preprocess, quantify).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet.simulate.anatomy import TUMOUR_LABELS
from gliopet.simulate.truth import TRUTH_DIR
from support.cli import run_cli

SUB, SES = "001", "diagnosis"
P = f"sub-{SUB}_ses-{SES}"
STATIC_COLUMNS = (
    "SUVmax",
    "SUVmean",
    "TBRmax",
    "TBRmean",
    "TSRmax",
    "TSRmean",
    "background_SUVmean",
    "striatum_SUVmean",
    "TTP_min",
)


def _truth_pet(root: Path, name: str) -> Path:
    return root / TRUTH_DIR / f"sub-{SUB}" / f"ses-{SES}" / "pet" / name


def _save(data: np.ndarray, affine: np.ndarray, path: Path, dtype=np.float32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=dtype), affine), path)


def make_preprocess(
    root: Path, frames: np.ndarray | None = None, mc: bool = True
) -> dict[str, np.ndarray]:
    """Write the preprocessing layout from the truth label maps; return the truth masks.

    ``frames``: the motion-corrected frames to write (default: the raw PET).
    """
    tissue_img = nib.load(_truth_pet(root, f"{P}_space-pet_desc-tissue_dseg.nii.gz"))
    tissue = np.asarray(tissue_img.dataobj)
    hemi = np.asarray(
        nib.load(_truth_pet(root, f"{P}_space-pet_desc-hemisphere_dseg.nii.gz")).dataobj
    )
    affine = tissue_img.affine
    tumour = np.isin(tissue, TUMOUR_LABELS)
    left = hemi == 255
    side_left = np.count_nonzero(tumour & left) >= np.count_nonzero(tumour & (hemi == 1))
    healthy = np.isin(tissue, (3, 4))
    masks = {
        "brain": np.isin(tissue, (2, 3, 4, 5, 6, 7, 10, 11, 12, 13)),
        "striatum": np.isin(tissue, (5, 6)),
        "lefthemisphere": left,
        "righthemisphere": hemi == 1,
        # the truth table's background: healthy grey + white matter of the other hemisphere
        "healthy": healthy & ((hemi == 1) if side_left else left),
        "tumour": tumour,
    }
    prep = root / "derivatives" / "gliopet" / "preprocess" / f"sub-{SUB}" / f"ses-{SES}"
    prep.mkdir(parents=True, exist_ok=True)
    for name in ("brain", "striatum", "lefthemisphere", "righthemisphere", "healthy"):
        _save(masks[name], affine, prep / f"{P}_space-pet_desc-{name}_mask.nii.gz", np.uint8)
    if mc:
        if frames is None:
            frames = np.asarray(nib.load(root / f"sub-{SUB}" / f"ses-{SES}" / "pet" /
                                         f"{P}_trc-FDOPA_pet.nii.gz").dataobj)
        _save(frames, affine, prep / f"{P}_trc-FDOPA_desc-mc_pet.nii.gz")
    (prep / "provenance.json").write_text("{}")
    _save(masks["tumour"], affine, root / "masks" / f"sub-{SUB}_ses-{SES}_tumour.nii.gz", np.uint8)
    _save(
        masks["healthy"],
        affine,
        root / "masks" / f"sub-{SUB}_ses-{SES}_background.nii.gz",
        np.uint8,
    )
    return masks


@pytest.fixture(scope="module")
def phantom(run_cli, tmp_path_factory) -> Path:
    """A one-subject, one-session tiny phantom (BIDS + truth), never modified by the tests."""
    root = tmp_path_factory.mktemp("quant") / "bids"
    code, _, err = run_cli("simulate", root, "--subjects", 1, "--seed", 4, "--profile", "tiny",
                           "--scenario", "diagnosis", "--aggressive-fraction", 1)
    assert code == 0, err
    return root


def copy_of(phantom: Path, tmp_path: Path) -> Path:
    root = tmp_path / "bids"
    shutil.copytree(phantom, root)
    return root


@pytest.fixture(scope="module")
def quantified(run_cli, phantom: Path, tmp_path_factory) -> Path:
    """The phantom preprocessed (truth masks), with a plasma input, quantified by the CLI."""
    root = tmp_path_factory.mktemp("e2e") / "bids"
    shutil.copytree(phantom, root)
    make_preprocess(root)
    t = np.array(
        [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 2400, 3600], float
    )
    plasma = 4e4 * (np.exp(-t / 300.0) - np.exp(-t / 15.0)) + 5e3
    pd.DataFrame(
        {
            "time": t,
            "plasma_radioactivity": plasma,
            "metabolite_parent_fraction": np.exp(-t / 3000.0),
            "whole_blood_radioactivity": plasma * 0.9,
        }
    ).to_csv(
        root / f"sub-{SUB}" / f"ses-{SES}" / "pet" / f"{P}_recording-manual_blood.tsv",
        sep="\t",
        index=False,
    )
    code, out, err = run_cli("quantify", root)
    assert code == 0, err
    assert "quantified 1 session(s)" in out
    return root


def test_truth_vois_give_the_truth_table_exactly(run_cli, phantom, tmp_path):
    """Noise-free PET after PSF, truth tumour and background masks: static columns and TTP exact."""
    root = copy_of(phantom, tmp_path)
    frames = np.asarray(
        nib.load(_truth_pet(root, f"{P}_trc-FDOPA_space-pet_desc-noisefreepsf_pet.nii.gz")).dataobj
    )
    masks = make_preprocess(root, frames)
    code, _, err = run_cli(
        "quantify",
        root,
        "--tumour-mask",
        str(root / "masks" / "sub-{subject}_ses-{session}_tumour.nii.gz"),
        "--background-mask",
        str(root / "masks" / "sub-{subject}_ses-{session}_background.nii.gz"),
    )
    assert code == 0, err
    row = pd.read_csv(root / "derivatives/gliopet/quant/quant.tsv", sep="\t").iloc[0]
    truth = pd.read_csv(root / TRUTH_DIR / "truth.tsv", sep="\t").set_index(
        ["participant_id", "session_id"]
    )
    truth = truth.loc[(f"sub-{SUB}", f"ses-{SES}")]
    for column in STATIC_COLUMNS:
        assert row[column] == pytest.approx(truth[f"{column}_psf"], rel=1e-5), column
    voxel_ml = (
        float(np.prod(nib.load(root / "masks" / f"{P}_tumour.nii.gz").header.get_zooms()[:3]))
        / 1000
    )
    assert row["BTV_mL"] == pytest.approx(masks["tumour"].sum() * voxel_ml, rel=1e-9)
    assert row["BTV_mL"] == pytest.approx(truth["tumour_volume_pet_ml"], rel=1e-6)
    assert row["voi_source"] == "user"
    left = np.count_nonzero(masks["tumour"] & masks["lefthemisphere"]) * 2 >= masks["tumour"].sum()
    assert row["lesion_side"] == ("left" if left else "right")
    # the TAC table holds the tumour's mean TAC: its peak frame gives the truth TTP
    tacs = pd.read_csv(
        root / f"derivatives/gliopet/quant/sub-{SUB}/ses-{SES}/{P}_trc-FDOPA_desc-voi_tacs.tsv",
        sep="\t",
    )
    assert tacs["mid_time_min"][tacs["tumour"].idxmax()] == pytest.approx(truth["TTP_min_psf"])


def test_truth_and_quant_tables_share_names_and_descriptions(quantified):
    """A quantity that truth.tsv and quant.tsv both report has one name, one description and one
    unit (`gliopet.io.columns`); every written column is documented in its sidecar."""
    import re

    from gliopet.io.columns import SHARED_COLUMNS

    def stem(column: str) -> str:
        return re.sub(r"_(nopsf|psf)$", "", column)

    quant = json.loads((quantified / "derivatives/gliopet/quant/quant.json").read_text())
    truth = json.loads((quantified / TRUTH_DIR / "truth.json").read_text())
    truth_written = pd.read_csv(quantified / TRUTH_DIR / "truth.tsv", sep="\t").columns
    assert set(truth_written) == set(truth)
    truth_names = {stem(c) for c in truth}
    assert set(SHARED_COLUMNS) <= set(quant) and set(SHARED_COLUMNS) <= truth_names
    spelling = {name.lower().replace("_", ""): name for name in quant}
    for name in truth_names:
        assert spelling.get(name.lower().replace("_", ""), name) == name, name
    for name, shared in SHARED_COLUMNS.items():
        truth_meta = truth.get(name) or truth[f"{name}_psf"]
        for meta in (quant[name], truth_meta):
            assert meta["Description"].startswith(shared["Description"]), name
            assert meta.get("Units") == shared.get("Units"), name


def test_every_output_file_and_the_cohort_labels(quantified):
    stage = quantified / "derivatives/gliopet/quant"
    ses = stage / f"sub-{SUB}" / f"ses-{SES}"
    expected = [
        "space-pet_desc-tumour_mask.nii.gz",
        "space-pet_desc-background_mask.nii.gz",
        "trc-FDOPA_space-pet_desc-static_stat-SUV_pet.nii.gz",
        "trc-FDOPA_space-pet_stat-TTP_pet.nii.gz",
        "trc-FDOPA_space-pet_stat-slope_pet.nii.gz",
        "trc-FDOPA_space-pet_stat-earlylate_pet.nii.gz",
        "trc-FDOPA_space-pet_desc-1to10min_stat-TBR_pet.nii.gz",
        "trc-FDOPA_space-pet_desc-10to30min_stat-TBR_pet.nii.gz",
        "trc-FDOPA_space-pet_desc-loganref_stat-DVR_pet.nii.gz",
        "trc-FDOPA_space-pet_desc-patlakref_stat-Ki_pet.nii.gz",
        "trc-FDOPA_space-pet_desc-srtm_stat-BPnd_pet.nii.gz",
        "trc-FDOPA_space-pet_desc-srtm_stat-R1_pet.nii.gz",
        "trc-FDOPA_desc-voi_tacs.tsv",
        "space-pet_desc-habitats_dseg.nii.gz",
        "trc-FDOPA_desc-habitats_tacs.tsv",
        "space-pet_desc-hotspots_dseg.nii.gz",
        "trc-FDOPA_desc-hotspots_table.tsv",
        "trc-FDOPA_desc-plasma_kinetics.tsv",
        "quant.json",
    ]
    for suffix in expected:
        assert (ses / f"{P}_{suffix}").is_file(), suffix
    assert (ses / "provenance.json").is_file() and (stage / "provenance.json").is_file()
    srtm = json.loads((ses / f"{P}_trc-FDOPA_space-pet_desc-srtm_stat-BPnd_pet.json").read_text())
    assert "background" in srtm["ReferenceRegion"]
    quant = pd.read_csv(stage / "quant.tsv", sep="\t")
    sidecar = json.loads((stage / "quant.json").read_text())
    assert set(quant.columns) == set(sidecar)
    for column in ("SUVmax", "TBRmax", "TTP_min", "slope_SUV_per_h", "BTV_mL"):
        assert "Units" in sidecar[column]
    row = quant.iloc[0]
    assert row["voi_source"] == "automatic" and bool(row["rano_measurable"])
    assert np.isfinite(
        row[
            [
                "SUVpeak",
                "TBRpeak",
                "TTP_ratio",
                "slope_ratio",
                "frac_early_peak",
                "loganref_DVR",
                "srtm_BPnd",
                "VT_2TCM",
                "VT_logan_plasma",
            ]
        ].astype(float)
    ).all()
    assert bool(row["plasma_input"])
    tacs = pd.read_csv(ses / f"{P}_trc-FDOPA_desc-voi_tacs.tsv", sep="\t")
    assert list(tacs.columns[2:]) == ["mid_time_min", "tumour", "background", "striatum"]
    assert row["TTP_min"] == tacs["mid_time_min"][tacs["tumour"].idxmax()]
    # the VOI masks on the PET grid and the row agree
    tumour = np.asarray(nib.load(ses / f"{P}_space-pet_desc-tumour_mask.nii.gz").dataobj) > 0
    background = (
        np.asarray(nib.load(ses / f"{P}_space-pet_desc-background_mask.nii.gz").dataobj) > 0
    )
    assert tumour.any() and not (tumour & background).any()
    suv = np.asarray(
        nib.load(ses / f"{P}_trc-FDOPA_space-pet_desc-static_stat-SUV_pet.nii.gz").dataobj
    )
    assert row["SUVmax"] == pytest.approx(suv[tumour].max(), rel=1e-6)
    assert row["TBRmean"] == pytest.approx(suv[tumour].mean() / suv[background].mean(), rel=1e-5)
    cohort = pd.read_csv(stage / "cohort.tsv", sep="\t")
    labels = pd.read_csv(quantified / "participants.tsv", sep="\t").iloc[0]
    assert len(cohort) == 1
    for column in ("IDH", "grade", "MGMT", "site", "weight"):
        assert cohort.iloc[0][column] == labels[column], column
    assert "IDH" in json.loads((stage / "cohort.json").read_text())


@pytest.mark.slow
def test_dask_scheduler_gives_the_same_tables(run_cli, quantified, tmp_path):
    distributed = pytest.importorskip("distributed")
    root = tmp_path / "bids"
    shutil.copytree(quantified, root, ignore=shutil.ignore_patterns("quant"))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code, out, err = run_cli("quantify", root, "--dask-scheduler", cluster.scheduler_address)
    assert code == 0, err
    assert "quantified 1 session(s)" in out
    for table in ("quant.tsv", "cohort.tsv"):
        expected = (quantified / "derivatives/gliopet/quant" / table).read_text()
        assert (root / "derivatives/gliopet/quant" / table).read_text() == expected


def test_rerun_is_skipped_and_force_recomputes(run_cli, quantified):
    prov = quantified / f"derivatives/gliopet/quant/sub-{SUB}/ses-{SES}/provenance.json"
    before = prov.stat().st_mtime_ns
    code, _, err = run_cli("quantify", quantified)
    assert code == 0, err
    assert prov.stat().st_mtime_ns == before
    code, _, err = run_cli("quantify", quantified, "--force")
    assert code == 0, err
    assert prov.stat().st_mtime_ns > before


def test_static_pet_gets_static_columns_and_a_note(run_cli, phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    pet_dir = root / f"sub-{SUB}" / f"ses-{SES}" / "pet"
    img = nib.load(pet_dir / f"{P}_trc-FDOPA_pet.nii.gz")
    sidecar = json.loads((pet_dir / f"{P}_trc-FDOPA_pet.json").read_text())
    start, dur = np.array(sidecar["FrameTimesStart"]), np.array(sidecar["FrameDuration"])
    inside = (start + dur / 2 >= 600) & (start + dur / 2 <= 1800)
    data = np.asarray(img.dataobj)[..., inside]
    static = (data * dur[inside]).sum(-1) / dur[inside].sum()
    nib.save(
        nib.Nifti1Image(static.astype(np.float32), img.affine),
        pet_dir / f"{P}_trc-FDOPA_pet.nii.gz",
    )
    sidecar.update(
        FrameTimesStart=[float(start[inside][0])],
        FrameDuration=[float(dur[inside].sum())],
        DecayCorrectionFactor=[1.0],
    )
    (pet_dir / f"{P}_trc-FDOPA_pet.json").write_text(json.dumps(sidecar))
    make_preprocess(root, mc=False)
    code, _, err = run_cli("quantify", root)
    assert code == 0, err
    row = pd.read_csv(root / "derivatives/gliopet/quant/quant.tsv", sep="\t").iloc[0]
    assert np.isfinite(
        row[["SUVmax", "SUVmean", "SUVpeak", "TBRmax", "TSRmax", "BTV_mL"]].astype(float)
    ).all()
    assert np.isnan(
        row[["TTP_min", "slope_SUV_per_h", "frac_early_peak", "n_hotspots"]].astype(float)
    ).all()
    assert (
        "static PET (1 frame): dynamic features (TTP, slope and their ratios) not computed"
        in row["note"]
    )


def test_session_without_tumour_keeps_reference_values(run_cli, phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    frames = np.asarray(
        nib.load(root / f"sub-{SUB}" / f"ses-{SES}" / "pet" / f"{P}_trc-FDOPA_pet.nii.gz").dataobj
    )
    tissue = np.asarray(
        nib.load(_truth_pet(root, f"{P}_space-pet_desc-tissue_dseg.nii.gz")).dataobj
    )
    healthy_tac = frames[np.isin(tissue, (3, 4))].mean(axis=0)
    flat = np.where(
        np.isin(tissue, (5, 6))[..., None], frames, healthy_tac
    )  # striata kept, rest uniform
    make_preprocess(root, flat)
    code, _, err = run_cli("quantify", root)
    assert code == 0, err
    row = pd.read_csv(root / "derivatives/gliopet/quant/quant.tsv", sep="\t").iloc[0]
    assert row["voi_source"] == "none" and row["BTV_mL"] == 0
    assert np.isnan(row[["SUVmax", "TBRmax", "TSRmax", "TTP_min"]].astype(float)).all()
    assert np.isfinite(row[["background_SUVmean", "healthy_SUVmean", "striatum_SUVmean",
                            "striatum_brain_ratio"]].astype(float)).all()
    assert row["striatum_brain_ratio"] > 1.2
    assert row["note"].startswith(
        "no tumour: no brain voxel above 1.6 x the healthy-brain reference"
    )


# ------------------------------------------------------------------ bad input


def _fails(root: Path, *args: str) -> str:
    code, _, err = run_cli("quantify", root, *args)
    assert code == 2, err
    assert not (root / "derivatives/gliopet/quant/quant.tsv").exists()
    assert not (root / f"derivatives/gliopet/quant/sub-{SUB}/ses-{SES}").exists()
    return err.strip()


def test_missing_preprocessing(phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    prep = root / "derivatives/gliopet/preprocess" / f"sub-{SUB}" / f"ses-{SES}"
    assert _fails(root) == (f"error: {prep}: no preprocessing output for this session "
                            "(fix: run `gliopet preprocess` on the dataset first)")


def test_empty_user_tumour_mask(phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    make_preprocess(root)
    path = root / "masks" / f"{P}_tumour.nii.gz"
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.zeros(img.shape, np.uint8), img.affine), path)
    assert _fails(
        root, "--tumour-mask", str(root / "masks/sub-{subject}_ses-{session}_tumour.nii.gz")
    ) == (
        f"error: {path}: the tumour mask is empty (no voxel set) "
        "(fix: give a tumour mask with at least one voxel on the PET grid)"
    )


def test_user_mask_on_another_grid(phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    make_preprocess(root)
    path = root / "masks" / f"{P}_tumour.nii.gz"
    img = nib.load(path)
    nib.save(
        nib.Nifti1Image(np.asarray(img.dataobj)[::2, ::2, ::2], img.affine @ np.diag([2, 2, 2, 1])),
        path,
    )
    err = _fails(root, "--tumour-mask", str(path))
    assert err.startswith(
        f"error: {path}: the tumour mask is on another grid than the PET (shape (20, 23, 20) vs"
    )
    assert "(fix: resample the mask onto the PET grid" in err


def test_background_overlapping_the_tumour(phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    masks = make_preprocess(root)
    bg = root / "masks" / f"{P}_background.nii.gz"
    img = nib.load(bg)
    nib.save(nib.Nifti1Image((masks["healthy"] | masks["tumour"]).astype(np.uint8), img.affine), bg)
    assert _fails(
        root,
        "--tumour-mask",
        str(root / "masks" / f"{P}_tumour.nii.gz"),
        "--background-mask",
        str(bg),
    ) == (
        f"error: {bg}: the background mask overlaps the tumour mask in "
        f"{int(masks['tumour'].sum())} voxels (fix: give a background region outside the tumour)"
    )


def test_static_window_outside_the_frames(phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    make_preprocess(root)
    config = tmp_path / "late.yaml"
    config.write_text("quant:\n  static_window_min: [90.0, 120.0]\n")
    pet = root / f"sub-{SUB}" / f"ses-{SES}" / "pet" / f"{P}_trc-FDOPA_pet.nii.gz"
    err = _fails(root, "--config", str(config))
    assert err.startswith(
        f"error: {pet}: static window 90-120 min lies outside the acquired frames (frames span 0-"
    )
    assert err.endswith("min from injection) (fix: choose a static window inside the acquisition)")


def test_bad_mask_pattern_is_refused_before_any_work(phantom, tmp_path):
    root = copy_of(phantom, tmp_path)
    make_preprocess(root)
    err = _fails(root, "--tumour-mask", "masks/{patient}.nii.gz")
    assert err.startswith(
        "error: masks/{patient}.nii.gz: the --tumour-mask pattern has an unknown placeholder"
    )


def test_frames_used_as_acquired_when_motion_correction_was_off(run_cli, phantom, tmp_path):
    """A preprocessing run with motion correction switched off leaves no desc-mc image: quantify
    then reads the raw frames (same numbers as a desc-mc copy of them) and says so."""
    with_mc = copy_of(phantom, tmp_path / "a")
    make_preprocess(with_mc)  # desc-mc = the raw frames
    without = copy_of(phantom, tmp_path / "b")
    make_preprocess(without, mc=False)
    prep = without / "derivatives" / "gliopet" / "preprocess" / f"sub-{SUB}" / f"ses-{SES}"
    (prep / f"{P}_desc-preproc_qc.json").write_text(json.dumps({"motion_correction": False}))
    rows = []
    for root in (with_mc, without):
        code, _, err = run_cli("quantify", root)
        assert code == 0, err
        rows.append(
            pd.read_csv(root / "derivatives" / "gliopet" / "quant" / "quant.tsv", sep="\t").iloc[0]
        )
    for column in (*STATIC_COLUMNS, "slope_SUV_per_h", "srtm_R1"):
        assert rows[1][column] == pytest.approx(rows[0][column], rel=1e-9, nan_ok=True), column
    assert "motion correction was switched off" in rows[1]["note"]
    assert "motion correction" not in str(rows[0]["note"])
