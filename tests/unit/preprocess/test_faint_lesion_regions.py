"""Lesions that one rule misses stay out of the reference regions (issue 11, phantom sub-031).

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


def test_pet_avid_tumour_outside_the_brain_mask_keeps_the_reference_away():
    """sub-031 at diagnosis: a PET-avid tumour voxel at the brain surface lay outside the brain
    mask (71 of its 561 tumour voxels did), so the PET rule, sought inside the mask only, left
    its healthy neighbour in the reference. Here the brain mask leaves the whole (PET-avid,
    +2 SUV) lesion out and there is no MRI abnormality: with the search inside the mask only, 28
    reference voxels lay in the lesion + 5 mm."""
    case = faint_lesion_session(lesion_suv=2.0)
    identity = ras_matrix_to_sitk(np.eye(4))
    masks = pet_regions(reg.to_sitk(case.pet, case.pet_affine),
                        reg.to_sitk(case.t1, case.mri_affine), case.brain_mri & ~case.lesion_mri,
                        identity, identity, abnormal_t1=None, pet_threshold=1.6,
                        margin_mm=load_config().preprocess.reference_margin_mm)
    healthy_median = float(np.median(case.pet[masks["healthy"]]))
    assert (case.pet[case.lesion_pet] > 1.6 * healthy_median).mean() > 0.95  # PET-avid lesion
    assert (masks["brain"] & case.lesion_pet).sum() <= 0.05 * case.lesion_pet.sum()  # left out
    assert not np.any(masks["healthy"] & dilate_mm(case.lesion_pet, 5.0, SPACING))
