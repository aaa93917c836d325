"""The foundation inputs end to end: simulate, preprocess, quantify, `LearningGridDataset`.

Three tiny phantom sessions: sub-001 dynamic PET + MRI, sub-002 MRI-only (its PET removed),
sub-003 a static (one-frame, 10-30 min) PET + MRI. Checks which learning-grid files each gets,
their values against the quantification, and the dataset's presence table.
"""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet.config import load_config, window_s
from gliopet.foundation.data import MODALITY_CHANNELS, LearningGridDataset
from gliopet.io import derivatives as d
from gliopet.quant.voxelmaps import window_label

pytestmark = pytest.mark.slow
SES = "diagnosis"


def _make_static(root, subject: str) -> None:
    """Replace the session's frames by one static 10-30 min frame (duration-weighted mean)."""
    pet_dir = root / f"sub-{subject}" / f"ses-{SES}" / "pet"
    image = next(pet_dir.glob("*_pet.nii.gz"))
    sidecar_path = image.with_name(image.name.replace(".nii.gz", ".json"))
    sidecar = json.loads(sidecar_path.read_text())
    start, dur = np.array(sidecar["FrameTimesStart"]), np.array(sidecar["FrameDuration"])
    inside = (start + dur / 2 >= 600) & (start + dur / 2 <= 1800)
    img = nib.load(image)
    data = np.asarray(img.dataobj)[..., inside]
    static = (data * dur[inside]).sum(-1) / dur[inside].sum()
    nib.save(nib.Nifti1Image(static.astype(np.float32), img.affine), image)
    sidecar.update(FrameTimesStart=[float(start[inside][0])],
                   FrameDuration=[float(dur[inside].sum())], DecayCorrectionFactor=[1.0])
    sidecar_path.write_text(json.dumps(sidecar))


@pytest.fixture(scope="module")
def cohort(run_cli, tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs") / "bids"
    code, _, err = run_cli("simulate", root, "--subjects", 3, "--seed", 5, "--profile", "tiny",
                           "--scenario", "diagnosis", "--aggressive-fraction", 1)
    assert code == 0, err
    shutil.rmtree(root / "sub-002" / f"ses-{SES}" / "pet")
    _make_static(root, "003")
    code, out, err = run_cli("preprocess", root, "--jobs", 2)
    assert code == 0, err
    code, out, err = run_cli("quantify", root)
    assert code == 0, err
    assert "quantified 2 session(s)" in out
    return root


def test_files_per_session(cohort):
    for subject in ("001", "002", "003"):
        assert d.find_or_none(cohort, (subject, SES), d.LEARNING_MASK) is not None
        assert d.find_or_none(cohort, (subject, SES), d.LEARNING_MRI, suffix="T1w",
                              ce=None) is not None
    assert d.find_or_none(cohort, ("002", SES), d.LEARNING_PET) is None
    assert not d.QUANT.session_dir(cohort, ("002", SES)).exists()  # MRI-only: not quantified
    assert d.find_all(cohort, ("003", SES), d.LEARNING_DYNAMIC) == []  # static PET
    found = d.find_all(cohort, ("001", SES), d.LEARNING_DYNAMIC)
    assert len(found) == len(d.LEARNING_DYNAMIC_STATS)


def test_presence_and_values(cohort):
    dataset = LearningGridDataset(cohort)
    table = dataset.presence().set_index("subject")
    assert table.loc["001", list(MODALITY_CHANNELS)].all()
    assert table.loc["002", list(MODALITY_CHANNELS)].tolist() == [True] * 4 + [False, False]
    assert table.loc["003", list(MODALITY_CHANNELS)].tolist() == [True] * 5 + [False]
    sample = dataset[0]
    brain = sample["brain_mask"][0].numpy()
    # the session's brain mask keeps its volume on the learning grid (8 mm^3 voxels)
    qc = pd.read_csv(d.QC_TABLE.path(cohort), sep="\t").set_index("subject")
    assert brain.sum() * 8e-3 == pytest.approx(qc.loc[1, "brain_ml_mri"], rel=0.1)
    dynamic = sample["images"]["pet_dynamic"].numpy()
    tbr_early, tbr_late, ttp, slope = dynamic
    late = window_label(window_s(load_config().quant.static_window_min))
    on_pet = np.nanmax(nib.load(d.find(cohort, ("001", SES), d.TBR_MAP, desc=late)).get_fdata())
    # healthy brain near 1; linear resampling never exceeds the PET-grid TBR map and keeps most
    # of its hottest voxels (tumour or striatum)
    assert np.median(tbr_late[brain]) == pytest.approx(1.0, abs=0.25)
    assert 0.6 * on_pet <= tbr_late.max() <= on_pet + 1e-4
    assert 0.0 <= ttp[brain].min() and ttp[brain].max() <= 40.0 / 30.0 + 1e-6
    assert np.isfinite(slope).all() and np.isfinite(tbr_early).all()
    # static PET divided by its brain median
    assert float(np.median(sample["images"]["pet"][0].numpy()[brain])) == pytest.approx(1.0,
                                                                                          rel=1e-3)


def test_truth_and_baselines_on_the_learning_grid(cohort):
    from gliopet.foundation.evaluation import baseline_aris, truth_on_learning_grid

    sample = LearningGridDataset(cohort, participant_labels=["001"])[0]
    truth = truth_on_learning_grid(cohort, ("001", SES))
    brain = sample["brain_mask"][0].numpy()
    in_brain = np.isin(truth, range(2, 14))  # the phantom's brain labels
    assert (in_brain & brain).sum() / in_brain.sum() > 0.85
    assert (in_brain & brain).sum() / brain.sum() > 0.9
    tbr_late = sample["images"]["pet_dynamic"][1].numpy()
    tumour = np.isin(truth, (10, 11, 12)) & brain
    healthy = np.isin(truth, (3, 4)) & brain
    assert tumour.sum() > 50
    assert tbr_late[tumour].mean() > 1.3 * tbr_late[healthy].mean()
    aris = baseline_aris(sample, truth, patch_size=4, seed=0)
    assert 0.0 < aris["raw"] < 1.0 and -1.0 <= aris["kinetic"] <= 1.0
