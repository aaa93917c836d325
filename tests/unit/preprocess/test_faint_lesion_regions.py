"""A lesion faint on FLAIR and not PET-avid stays out of the reference regions (issue 11).

The phantom's sub-031 recurrence (tiny profile, 4.5 mm voxels) had 18 healthy-reference and 3
striatal voxels inside its true tumour + 5 mm: its FLAIR-bright voxels were scattered (largest
face-connected piece 0.9 mL, under the 1 mL minimum) and its uptake below 1.6 x the healthy
median, so neither rule excluded it. `support.faint_lesion` reproduces that on a synthetic head.
"""

from __future__ import annotations

import numpy as np
import pytest

from gliopet.config import load_config
from gliopet.preprocess import registration as reg
from gliopet.preprocess.regions import mri_abnormality, pet_regions
from gliopet.spatial import dilate_mm, label_components
from support.faint_lesion import VOXEL_MM, faint_lesion_session
from support.synthetic import ras_matrix_to_sitk

SPACING = (VOXEL_MM, VOXEL_MM, VOXEL_MM)
VOXEL_ML = VOXEL_MM**3 / 1000.0


@pytest.fixture(scope="module")
def case():
    return faint_lesion_session()


@pytest.fixture(scope="module")
def abnormal(case):
    return mri_abnormality(case.flair, case.brain_mri, SPACING)


def test_the_case_reproduces_sub031(case):
    """Setup check: every face-connected piece of the bright voxels is under 1 mL, together
    (26-connected) they are more."""
    _, faces = label_components(case.bright_mri, connectivity=6)
    _, touching = label_components(case.bright_mri, connectivity=26)
    assert faces.max() * VOXEL_ML < 1.0
    assert touching.max() * VOXEL_ML >= 1.0


def test_scattered_bright_voxels_are_found_as_one_abnormality(case, abnormal):
    assert abnormal[case.bright_mri].all()
    # nothing found away from the lesion (noise, grey matter, striatum)
    assert not abnormal[~dilate_mm(case.lesion_mri, VOXEL_MM, SPACING)].any()


def test_reference_regions_stay_out_of_the_faint_lesion(case, abnormal):
    identity = ras_matrix_to_sitk(np.eye(4))
    masks = pet_regions(reg.to_sitk(case.pet, case.pet_affine),
                        reg.to_sitk(case.t1, case.mri_affine), case.brain_mri, identity, identity,
                        abnormal_t1=abnormal, pet_threshold=1.6,
                        margin_mm=load_config().preprocess.reference_margin_mm)
    # setup check: the lesion is not PET-avid (the PET rule cannot exclude it)
    healthy_median = float(np.median(case.pet[masks["healthy"]]))
    assert case.pet[case.lesion_pet].max() < 1.6 * healthy_median
    # Face-connected components dropped the whole abnormality: 171 healthy-reference voxels in
    # the lesion + 5 mm, 81 of them in the lesion. (Lesion voxels farther than the reference
    # margin from every bright voxel would stay invisible to both rules: a limit, not met here.)
    margin = dilate_mm(case.lesion_pet, 5.0, SPACING)
    assert not np.any(masks["healthy"] & margin)
    assert not np.any(masks["striatum"] & margin)
    assert masks["healthy"].sum() * VOXEL_ML > 700  # mL: the reference is still most of the brain
