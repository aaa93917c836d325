"""`gliopet radiomics` on a tiny phantom that went through simulate, preprocess and quantify:
radiomics' SUV statistics equal quantify's, every image and column described, the provenance
records the settings, a session without tumour gets a row saying so, bad input.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from support.cli import quantified_copy

pytestmark = pytest.mark.slow

SUB, SES = "001", "diagnosis"
P = f"sub-{SUB}_ses-{SES}"
RADIOMICS = Path("derivatives/gliopet/radiomics")
QUANT = Path("derivatives/gliopet/quant")


@pytest.fixture(scope="module")
def simulated(run_cli, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("radiomics") / "bids"
    code, _, err = run_cli("simulate", root, "--subjects", 1, "--seed", 4, "--profile", "tiny",
                           "--scenario", "diagnosis", "--aggressive-fraction", 1)
    assert code == 0, err
    return root


@pytest.fixture(scope="module")
def quantified(simulated, tmp_path_factory) -> Path:
    """The phantom preprocessed and quantified by the CLI (never modified by the tests)."""
    return quantified_copy(simulated, tmp_path_factory.mktemp("quantified") / "bids")


@pytest.fixture(scope="module")
def computed(run_cli, quantified, tmp_path_factory) -> tuple[Path, str]:
    """Radiomics with the default configuration."""
    root = tmp_path_factory.mktemp("computed") / "bids"
    shutil.copytree(quantified, root)
    code, out, err = run_cli("radiomics", root)
    assert code == 0, err
    return root, out


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_suv_features_equal_quantify(computed):
    root, out = computed
    table = pd.read_csv(root / RADIOMICS / "radiomics.tsv", sep="\t")
    quant = pd.read_csv(root / QUANT / "quant.tsv", sep="\t").iloc[0]
    row = table.iloc[0]
    assert len(table) == 1 and row["tumour_status"] == "ok"
    mask = np.asarray(nib.load(root / QUANT / f"sub-{SUB}" / f"ses-{SES}" /
                               f"{P}_space-pet_desc-tumour_mask.nii.gz").dataobj)
    assert row["tumour_voxels"] == int(mask.sum()) > 0
    # same image, same VOI, no resampling by default: IBSI statistics are quantify's numbers
    assert row["tumour_SUV_stat_max"] == pytest.approx(quant["SUVmax"], rel=1e-6)
    assert row["tumour_SUV_stat_mean"] == pytest.approx(quant["SUVmean"], rel=1e-6)
    assert row["tumour_SUV_loc_peak_glob"] == pytest.approx(quant["SUVpeak"], rel=1e-5)
    assert row["tumour_SUV_morph_vol_approx"] == pytest.approx(quant["BTV_mL"] * 1000, rel=1e-6)
    # every image of the default configuration, morphology once (on SUV)
    images = row["images"].split(",")
    assert images[0] == "SUV"
    assert {"TBR1to10min", "TBR10to30min", "TTP", "slope", "earlylate", "T1w", "FLAIR", "T2w",
            "T1wcegadolinium"} <= set(images)
    for image in images:
        assert f"tumour_{image}_stat_mean" in table.columns, image
        assert any(c.startswith(f"tumour_{image}_cm_contrast_d1_3d_v_mrg")
                   for c in table.columns), image
    assert not [c for c in table.columns if "_morph_" in c and not c.startswith("tumour_SUV_")]
    assert "tumour features each" in out


def test_table_sidecar_and_provenance_record_the_settings(computed):
    root, _ = computed
    table = pd.read_csv(root / RADIOMICS / "radiomics.tsv", sep="\t")
    sidecar = json.loads((root / RADIOMICS / "radiomics.json").read_text())
    assert set(table.columns) <= set(sidecar)
    assert "FLAIR image inside the tumour VOI" in sidecar["tumour_FLAIR_stat_mean"]["Description"]
    settings = sidecar["RadiomicsSettings"]["images"]
    assert settings["SUV"]["discretisation"] == {"method": "fixed_bin_size", "value": 0.25,
                                                 "lower_bound": 0.0}
    assert settings["MRI"]["discretisation"]["method"] == "fixed_bin_number"
    assert settings["SUV"]["resample_mm"] is None and "morphology" in settings["SUV"]["families"]
    assert "morphology" not in settings["MRI"]["families"]
    provenance = json.loads((root / RADIOMICS / f"sub-{SUB}" / f"ses-{SES}" /
                             "provenance.json").read_text())
    assert provenance["radiomics_settings"] == settings
    assert provenance["config"]["radiomics"]["bin_width_suv"] == 0.25


def test_rerun_skips_and_force_recomputes(run_cli, computed, tmp_path):
    root = tmp_path / "bids"
    shutil.copytree(computed[0], root)
    config = _config(tmp_path, "radiomics:\n  images: [SUV]\n  families: [statistics]\n")
    row_file = root / RADIOMICS / f"sub-{SUB}" / f"ses-{SES}" / f"{P}_radiomics.json"
    before = row_file.read_text()
    code, _, err = run_cli("radiomics", root, "--config", config)
    assert code == 0, err
    assert row_file.read_text() == before  # done: skipped
    code, _, err = run_cli("radiomics", root, "--config", config, "--force")
    assert code == 0, err
    row = json.loads(row_file.read_text())
    assert row["images"] == "SUV" and not any("_cm_" in k for k in row)


def test_session_without_tumour_gets_a_row_saying_so(run_cli, quantified, tmp_path):
    from gliopet.radiomics.pipeline import NO_TUMOUR

    root = tmp_path / "bids"
    shutil.copytree(quantified, root)
    mask_path = (root / QUANT / f"sub-{SUB}" / f"ses-{SES}" /
                 f"{P}_space-pet_desc-tumour_mask.nii.gz")
    mask = nib.load(mask_path)
    nib.save(nib.Nifti1Image(np.zeros(mask.shape, np.uint8), mask.affine), mask_path)
    config = _config(tmp_path, "radiomics:\n  images: [SUV]\n  families: [statistics]\n")
    code, out, err = run_cli("radiomics", root, "--config", config, "--mask-desc", "healthy")
    assert code == 0, err
    row = pd.read_csv(root / RADIOMICS / "radiomics.tsv", sep="\t").iloc[0]
    assert row["tumour_status"] == NO_TUMOUR and row["tumour_voxels"] == 0
    assert row["vois"] == "healthy"
    assert not [c for c in row.index if c.startswith("tumour_SUV")]
    assert row["healthy_SUV_stat_mean"] > 0
    assert "1 without a PET-avid tumour" in out


def test_missing_quantification_names_the_command(run_cli, simulated, tmp_path):
    root = tmp_path / "bids"
    shutil.copytree(simulated, root)
    code, _, err = run_cli("radiomics", root)
    assert code == 2
    assert "no quantification output for this session" in err
    assert "run `gliopet quantify` on the dataset first" in err
    assert not (root / RADIOMICS / f"sub-{SUB}").exists()


def test_missing_extra_mask_is_named(run_cli, quantified, tmp_path):
    root = tmp_path / "bids"
    shutil.copytree(quantified, root)
    code, _, err = run_cli("radiomics", root, "--mask-desc", "nosuch")
    assert code == 2
    assert "preprocessing output *_space-pet_desc-nosuch_mask.nii.gz is missing (--mask-desc " \
           "nosuch)" in err
    assert not (root / RADIOMICS / f"sub-{SUB}").exists()


def test_unknown_family_in_the_configuration(run_cli, quantified, tmp_path):
    config = _config(tmp_path, "radiomics:\n  families: [wavelets]\n")
    code, _, err = run_cli("radiomics", quantified, "--config", config)
    assert code == 2
    assert "configuration key 'radiomics.families.0'" in err
