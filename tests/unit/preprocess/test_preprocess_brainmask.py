"""N4, template registration, brain mask and PET-grid regions (synthetic heads, known truth)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gliopet.preprocess import registration as reg
from gliopet.preprocess.brainmask import (
    n4_correct,
    refine_brain_mask,
    register_to_template,
    rough_brain_mask,
)
from gliopet.preprocess.regions import lesion_centroid_mni, mri_abnormality, pet_regions
from gliopet.spatial import dilate_mm, erode_mm
from gliopet.templates import load_mni
from support.synthetic import (
    LESION_CENTRE_MNI,
    head_grid,
    make_session,
    ras_matrix_to_sitk,
    rigid_matrix,
    sample,
)

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.sum(a & b) / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def synth():
    return make_session(mri_spacing_mm=4.0, pet_spacing_mm=4.0, seed=4,
                        mri_position=rigid_matrix((4.0, -3.0, 8.0), (5.0, -6.0, 3.0)),
                        pet_position=rigid_matrix((-3.0, 2.0, -4.0), (-4.0, 5.0, 2.0)),
                        durations_s=np.array([600.0, 600.0]))


@pytest.fixture(scope="module")
def template_result(synth):
    t1 = reg.to_sitk(synth.t1, synth.mri_affine)
    corrected, _ = n4_correct(t1)
    return register_to_template(corrected, iterations=80, work_spacing_mm=4.0, seed=1)


def test_n4_removes_a_smooth_bias_field():
    shape, grid = head_grid(4.0)
    t1 = sample("t1", shape, grid)
    wm = sample("brain", shape, grid) >= 0.5
    wm &= t1 > 0.8
    xyz = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1) * 4.0
    bias = np.exp(0.3 * (xyz[..., 0] - xyz[..., 0].mean()) / 80.0)
    corrected, field = n4_correct(reg.to_sitk(t1 * bias, grid))
    out = reg.from_sitk(corrected)[0]
    cv = lambda v: float(v.std() / v.mean())  # noqa: E731
    assert cv(out[wm]) < 0.7 * cv((t1 * bias)[wm])  # white-matter spread shrinks
    assert reg.from_sitk(field)[0].shape == shape


def test_rough_mask_strips_skull_and_scalp():
    shape, grid = head_grid(4.0)
    t1 = sample("t1", shape, grid)
    truth = sample("brain", shape, grid) >= 0.5
    assert dice(rough_brain_mask(t1, (4.0, 4.0, 4.0)), truth) > 0.85


def test_refinement_recovers_the_brain_from_a_shifted_prior():
    shape, grid = head_grid(4.0)
    t1 = sample("t1", shape, grid)
    truth = sample("brain", shape, grid) >= 0.5
    prior = np.roll(truth, 1, axis=0).astype(np.float32)  # 4 mm off
    refined = refine_brain_mask(t1, prior, (4.0, 4.0, 4.0))
    assert dice(refined, truth) > dice(prior > 0.5, truth)
    assert dice(refined, truth) > 0.93


def test_template_registration_and_brain_mask(synth, template_result):
    brain_mni = load_mni(2)["brain_mask"]
    points = reg.mask_points(np.asarray(brain_mni.dataobj) > 0, brain_mni.affine)
    error = reg.mean_displacement_mm(template_result.registration.transform,
                                     ras_matrix_to_sitk(synth.true_t1_to_mni_ras), points)
    assert error < 2.0, error  # mm over the template brain (affine model, 4 mm subject)
    assert dice(template_result.brain_mask, synth.brain_mri) >= 0.95
    assert template_result.registration.nmi_final > template_result.registration.nmi_initial


def test_morphology_in_mm_handles_anisotropic_voxels():
    mask = np.zeros((21, 21, 9), bool)
    mask[10, 10, 4] = True
    grown = dilate_mm(mask, 5.0, (1.0, 1.0, 5.0))
    assert grown[10, 15, 4] and not grown[10, 16, 4]
    assert grown[10, 10, 5] and not grown[10, 10, 6]
    assert not erode_mm(grown, 1.0, (1.0, 1.0, 5.0))[10, 15, 4]


def test_regions_on_the_pet_grid(synth, template_result):
    pet = reg.to_sitk(synth.pet_frames[..., -1], synth.pet_affine)
    t1 = reg.to_sitk(synth.t1, synth.mri_affine)
    xfm_pet = ras_matrix_to_sitk(synth.true_pet_to_t1_ras)
    xfm_tpl = ras_matrix_to_sitk(synth.true_t1_to_mni_ras)
    flair_abn = mri_abnormality(synth.flair, synth.brain_mri, (4.0, 4.0, 4.0))
    lesion_mri = (
        sample("lesion", synth.t1.shape, np.linalg.inv(synth.true_t1_to_mni_ras) @ synth.mri_affine)
        >= 0.5
    )
    assert dice(flair_abn, lesion_mri) > 0.6
    centroid = lesion_centroid_mni(flair_abn, synth.mri_affine, xfm_tpl)
    np.testing.assert_allclose(centroid, LESION_CENTRE_MNI, atol=4.0)
    masks = pet_regions(pet, t1, synth.brain_mri, xfm_pet, xfm_tpl, abnormal_t1=flair_abn,
                        pet_threshold=1.6, margin_mm=5.0)
    voxel_ml = 4.0**3 / 1000
    assert not np.any(masks["lefthemisphere"] & masks["righthemisphere"])
    assert masks["lefthemisphere"].sum() == pytest.approx(masks["righthemisphere"].sum(), rel=0.1)
    for name in ("caudateL", "caudateR", "putamenL", "putamenR"):
        assert 2.0 <= masks[name].sum() * voxel_ml <= 7.0, name  # mL on a 4 mm grid
    striatum_x = pet_regions.__globals__["grid_points_lps"](pet)[masks["caudateR"]]
    assert np.all(striatum_x[:, 0] < 0)  # right = negative LPS x in the PET space (small rotation)
    # Reference regions stay clear of the true lesion + 5 mm (the PET grid's lesion truth).
    margin = dilate_mm(synth.lesion_pet, 5.0, (4.0, 4.0, 4.0))
    assert not np.any(masks["healthy"] & margin)
    assert not np.any(masks["striatum"] & synth.lesion_pet)
    assert masks["healthy"].sum() * voxel_ml > 800
    assert np.all(masks["healthy"] <= masks["brain"])


def test_enhancement_map_finds_an_enhancing_blob_only():
    from gliopet.preprocess.regions import enhancement_map, mri_abnormality

    rng = np.random.default_rng(0)
    brain = np.zeros((40, 40, 40), dtype=bool)
    brain[5:35, 5:35, 5:35] = True
    t1 = np.where(brain, 100.0, 0.0) + rng.normal(0, 2, brain.shape)
    t1c = 1.1 * t1  # contrast scales the whole image: no enhancement after normalisation
    blob = np.zeros_like(brain)
    blob[18:24, 18:24, 18:24] = True
    t1c[blob] += 60.0
    found = mri_abnormality(enhancement_map(t1c, t1, brain), brain, (2.0, 2.0, 2.0))
    assert found[blob].mean() > 0.9
    assert not found[brain & ~blob].any()
