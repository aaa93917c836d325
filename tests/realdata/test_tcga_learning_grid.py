"""Real glioma MRI (TCGA-FG-6692, ../shared/data/real) through the ordinary BIDS path: an
MRI-only session preprocessed onto the learning grid and read by `LearningGridDataset`.

Skipped when the real data are absent; slow (N4 and registrations of four real sequences).
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from gliopet.foundation.data import MODALITY_CHANNELS, LearningGridDataset
from gliopet.io.bids_write import write_dataset_description, write_participants

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
SEQUENCES = ("T1w", "ce-gadolinium_T1w", "T2w", "FLAIR")


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory, run_cli):
    from support.real_data import REAL_DATA

    folder = REAL_DATA / "tcga-lgg-fg-6692"
    if not folder.is_dir():
        pytest.skip("../shared/data/real/tcga-lgg-fg-6692 is not present")
    root = tmp_path_factory.mktemp("tcga") / "bids"
    anat = root / "sub-TCGAFG6692" / "ses-diagnosis" / "anat"
    anat.mkdir(parents=True)
    write_dataset_description(root, "TCGA-FG-6692 (TCIA TCGA-LGG), MRI only")
    write_participants(root, pd.DataFrame({"participant_id": ["sub-TCGAFG6692"]}))
    for key in SEQUENCES:
        shutil.copyfile(folder / f"{key}.nii.gz",
                        anat / f"sub-TCGAFG6692_ses-diagnosis_{key}.nii.gz")
    code, _, err = run_cli("preprocess", root)
    assert code == 0, err
    return root


def test_real_mri_on_the_learning_grid(preprocessed):
    dataset = LearningGridDataset(preprocessed)
    assert dataset.presence()[list(MODALITY_CHANNELS)].to_numpy().tolist() == [
        [True, True, True, True, False, False]]
    sample = dataset[0]
    brain = sample["brain_mask"][0].numpy()
    assert 1000.0 <= brain.sum() * 8e-3 <= 1900.0  # mL, 2 mm voxels
    for modality in ("t1w", "t1ce", "t2w", "flair"):
        assert abs(float(sample["images"][modality][0].numpy()[brain].mean())) < 0.3
    # the FLAIR hyperintensity (top 2 % of brain voxels) lies right-frontal in MNI space
    flair = sample["images"]["flair"][0].numpy()
    hot = brain & (flair >= np.percentile(flair[brain], 98))
    centre = sample["affine"] @ np.append(np.argwhere(hot).mean(axis=0), 1.0)
    assert centre[0] > 0 and centre[1] > 0, centre
