"""Registration, resampling and transform files of `gliopet.preprocess.registration`."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from gliopet.errors import InputError
from gliopet.preprocess import registration as reg
from support.synthetic import (
    head_grid,
    ras_matrix_to_sitk,
    rigid_matrix,
    sample,
)

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)


@pytest.fixture(scope="module")
def pair():
    """T1-like MRI at 4 mm and a PET-like image at 4 mm in another head position."""
    shape, grid = head_grid(4.0)
    m_mri = rigid_matrix((3.0, -2.0, 6.0), (4.0, -3.0, 2.0))
    m_pet = rigid_matrix((-5.0, 4.0, -3.0), (-6.0, 7.0, 4.0))
    t1 = sample("t1", shape, grid)
    pet = sample("pet", shape, grid)
    brain = sample("brain", shape, grid) >= 0.5
    return {"t1": reg.to_sitk(t1, m_mri @ grid), "pet": reg.to_sitk(pet, m_pet @ grid),
            "brain": reg.mask_points(brain, m_mri @ grid),
            "true": ras_matrix_to_sitk(m_pet @ np.linalg.inv(m_mri))}


def test_sitk_conversion_keeps_voxels_and_world_positions():
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    affine = rigid_matrix((10, -5, 20), (3, 4, 5)) @ np.diag([2.0, 3.0, 4.0, 1.0])
    image = reg.to_sitk(data, affine)
    back, back_affine = reg.from_sitk(image)
    assert np.array_equal(back, data)
    np.testing.assert_allclose(back_affine, affine, atol=1e-6)
    ras = affine @ np.array([1, 2, 3, 1.0])
    lps = image.TransformIndexToPhysicalPoint((1, 2, 3))
    np.testing.assert_allclose(lps, [-ras[0], -ras[1], ras[2]], atol=1e-5)
    assert image.GetPixel(1, 2, 3) == data[1, 2, 3]


def test_compose_and_invert_follow_the_resampling_convention():
    a = ras_matrix_to_sitk(rigid_matrix((5, 0, 0), (1, 2, 3)))
    b = ras_matrix_to_sitk(rigid_matrix((0, 0, -7), (-4, 0, 2)))
    points = np.random.default_rng(0).normal(0, 50, (20, 3))
    np.testing.assert_allclose(reg.transform_points(reg.compose(a, b), points),
                               reg.transform_points(b, reg.transform_points(a, points)), atol=1e-6)
    np.testing.assert_allclose(reg.transform_points(reg.invert(a), reg.transform_points(a, points)),
                               points, atol=1e-6)


def test_rigid_pet_to_mri_registration_recovers_the_true_transform(pair):
    result = reg.register(pair["t1"], reg.smooth(pair["pet"], 4.0), kind="rigid",
                          initializer="moments", iterations=100, seed=7)
    error = reg.mean_displacement_mm(result.transform, pair["true"], pair["brain"])
    assert error < 1.0, error  # mean displacement over the brain (mm)
    assert (
        reg.mean_displacement_mm(pair["true"], None, pair["brain"]) > 8.0
    )  # a real offset to find
    assert result.nmi_final > result.nmi_initial
    assert result.metric_final < result.metric_initial


def test_registration_is_deterministic_for_a_seed(pair):
    def run(threads: int) -> np.ndarray:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
        try:
            return np.array(
                reg.register(
                    pair["t1"],
                    pair["pet"],
                    kind="rigid",
                    iterations=30,
                    seed=3,
                    shrink_factors=(4, 2),
                    smoothing_sigmas_mm=(4.0, 2.0),
                ).transform.GetParameters()
            )
        finally:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)

    assert np.array_equal(run(1), run(1))  # one thread: bit for bit
    # Several threads: ITK sums per-thread partial metrics, so the last digits may differ.
    np.testing.assert_allclose(run(2), run(2), rtol=0, atol=1e-9)


def test_transform_file_round_trip_and_direction(tmp_path, pair):
    name = reg.xfm_name("01", "diagnosis", "pet", "T1w")
    assert name == "sub-01_ses-diagnosis_from-pet_to-T1w_mode-image_xfm.txt"
    path = reg.write_transform(tmp_path / name, pair["true"], source="pet", target="T1w")
    back = reg.read_transform(path)
    np.testing.assert_allclose(reg.transform_points(back, pair["brain"][:50]),
                               reg.transform_points(pair["true"], pair["brain"][:50]), atol=1e-6)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["From"] == "pet" and "LPS" in sidecar["Convention"]
    lps, ras = np.array(sidecar["MatrixLPS"]), np.array(sidecar["MatrixRAS"])
    np.testing.assert_allclose(
        np.diag([-1, -1, 1, 1]) @ lps @ np.diag([-1, -1, 1, 1]), ras, atol=1e-6
    )
    # The file resamples the PET (from) onto the T1w grid (to): aligned images correlate highly.
    on_mri = reg.from_sitk(reg.resample(pair["pet"], pair["t1"], back))[0]
    brain_vox = reg.from_sitk(reg.resample(pair["pet"], pair["t1"], None))[0]
    t1 = reg.from_sitk(pair["t1"])[0]
    mask = t1 > 0.2
    assert (
        reg.mutual_information(t1, on_mri, mask)
        > reg.mutual_information(t1, brain_vox, mask) + 0.03
    )


def test_unreadable_transform_is_a_clear_error(tmp_path):
    bad = tmp_path / "x_xfm.txt"
    bad.write_text("not a transform\n")
    with pytest.raises(InputError, match="not a readable ITK transform"):
        reg.read_transform(bad)
    with pytest.raises(InputError, match="transform file not found"):
        reg.read_transform(tmp_path / "missing.txt")


def test_non_overlapping_images_are_refused(pair):
    far = sitk.Image(pair["pet"])
    far.SetOrigin((900.0, 900.0, 900.0))
    assert reg.fov_overlap_fraction(pair["t1"], far) == 0.0
    with pytest.raises(InputError, match="do not overlap in world space"):
        reg.register(pair["t1"], far, initializer="geometry", iterations=5, seed=0)


def test_mutual_information_bounds():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20, 20, 20))
    assert reg.mutual_information(a, a) == pytest.approx(2.0, abs=1e-6)
    assert reg.mutual_information(a, rng.normal(size=a.shape)) < 1.05


def test_nifti_round_trip_through_sitk():
    img = nib.Nifti1Image(
        np.ones((4, 5, 6), np.float32), rigid_matrix((0, 0, 30)) @ np.diag([2, 2, 3, 1.0])
    )
    back = reg.sitk_to_nifti(reg.nifti_to_sitk(img))
    np.testing.assert_allclose(back.affine, img.affine, atol=1e-5)


def test_truncated_file_is_a_one_line_input_error(tmp_path):
    """A NIfTI that breaks on disk after the dataset checks still names itself (not 'Aborted.')."""
    path = tmp_path / "t1.nii.gz"
    volume = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt") as info:
        reg.nifti_to_sitk(nib.load(path))
    assert str(path) in info.value.one_line()
