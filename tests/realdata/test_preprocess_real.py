"""Real glioma MRI (TCGA-FG-6692, ../shared/data/real): co-registration, brain mask, lesion side.

Thick (5.5 mm) axial slices, not skull-stripped, sequences not co-registered. Skipped when the
real data are absent.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gliopet.io.nifti import load_nifti
from gliopet.preprocess import registration as reg
from gliopet.preprocess.brainmask import n4_correct, register_to_template
from gliopet.preprocess.regions import lesion_centroid_mni, mri_abnormality

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


_CACHE: dict = {}


@pytest.fixture
def real(real_data):
    """Computed once per test session (`real_data` is function-scoped and skips when absent)."""
    if not _CACHE:
        _CACHE.update(_compute(real_data))
    return _CACHE


def _compute(real_data) -> dict:
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    folder = real_data / "tcga-lgg-fg-6692"
    images = {key: n4_correct(reg.nifti_to_sitk(load_nifti(folder / f"{key}.nii.gz")))[0]
              for key in ("ce-gadolinium_T1w", "FLAIR")}
    ref = images["ce-gadolinium_T1w"]
    ref_iso = reg.resample_isotropic(ref, 3.0)
    coreg = reg.register(ref_iso, reg.resample_isotropic(images["FLAIR"], 3.0), kind="rigid",
                         initializer="geometry", iterations=80, seed=1)
    template = register_to_template(ref, iterations=80, work_spacing_mm=3.0, seed=1)
    return {"images": images, "coreg": coreg, "template": template, "ref": ref}


def test_sequences_coregister(real):
    coreg = real["coreg"]
    assert coreg.nmi_final > coreg.nmi_initial + 0.005  # mutual information improves
    assert coreg.metric_final < coreg.metric_initial


def test_brain_mask_volume_is_plausible(real):
    ref = real["ref"]
    volume_ml = real["template"].brain_mask.sum() * np.prod(ref.GetSpacing()) / 1000.0
    assert 1000.0 <= volume_ml <= 1800.0, volume_ml


def test_lesion_maps_to_the_right_frontal_lobe(real):
    ref = real["ref"]
    flair_on_ref = reg.from_sitk(
        reg.resample(real["images"]["FLAIR"], ref, real["coreg"].transform)
    )[0]
    abnormal = mri_abnormality(flair_on_ref, real["template"].brain_mask, ref.GetSpacing())
    assert abnormal.sum() * np.prod(ref.GetSpacing()) / 1000.0 > 5.0  # mL of FLAIR hyperintensity
    centroid = lesion_centroid_mni(
        abnormal, reg.from_sitk(ref)[1], real["template"].registration.transform
    )
    assert centroid[0] > 0 and centroid[1] > 0, centroid  # MNI RAS: right, anterior


def test_qc_image_of_the_coregistration(real, tmp_path):
    from gliopet.preprocess.qc import qc_figure

    ref = real["ref"]
    flair_on_ref = reg.from_sitk(
        reg.resample(real["images"]["FLAIR"], ref, real["coreg"].transform)
    )[0]
    path = qc_figure(
        tmp_path / "coreg.png",
        flair_on_ref,
        reg.from_sitk(ref)[0],
        {"brain": real["template"].brain_mask},
        ref.GetSpacing(),
        "FLAIR over contrast T1w",
    )
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 10_000
