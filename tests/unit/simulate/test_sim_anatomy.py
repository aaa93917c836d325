"""Phantom anatomy, tumour, MRI contrasts, geometry (simulate.anatomy/tumour/mri/geometry)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from gliopet.simulate import anatomy as anat
from gliopet.simulate import geometry as geo
from gliopet.simulate.mri import simulate_mri
from gliopet.simulate.tumour import (
    ENHANCING,
    INFILTRATION,
    NECROSIS,
    OEDEMA,
    apply_tumour,
    grow_tumour,
    plan_tumour,
)
from gliopet.spatial import apply_affine, ras_to_lps_matrix, rigid_matrix


@pytest.fixture(scope="module")
def subject():
    """One warped subject on the tiny MRI grid (4.5 mm)."""
    warp = anat.random_warp(np.random.default_rng(11), "smooth_field")
    grid = anat.mri_grid(4.5, max_size=48)
    return anat.sample_anatomy(warp, grid, 2)


def test_template_label_map_has_every_tissue_with_plausible_volumes():
    template = anat.template_labels(2)
    ml = {
        code: float(np.sum(template.labels == code)) * template.grid.voxel_ml for code in range(8)
    }
    assert all(ml[code] > 0 for code in range(1, 8))
    assert 850 < ml[3] < 1300          # grey matter (MNI 2009a GM map, brain mask of nilearn)
    assert 450 < ml[4] < 800           # white matter
    assert 15 < ml[7] < 90             # ventricles: central CSF
    assert 3 < ml[5] < 10 and 4 < ml[6] < 12   # caudate, putamen (both sides), plausible volumes
    # the head shell surrounds the brain: every brain voxel on the mask border touches scalp/skull
    brain = np.isin(template.labels, anat.BRAIN_LABELS)
    border = brain & ~ndimage.binary_erosion(brain)
    outside_neighbour = ndimage.binary_dilation(template.labels == 1) & border
    assert outside_neighbour.sum() / border.sum() > 0.95


def test_identity_warp_reproduces_the_template_labels():
    template = anat.template_labels(2)
    warp = anat.SubjectWarp(np.eye(4), "radial_bumps", bump_centres=np.zeros((1, 3)),
                            bump_vectors=np.zeros((1, 3)))
    sampled = anat.sample_anatomy(warp, template.grid, 2)
    assert np.array_equal(sampled.labels, template.labels)
    assert np.allclose(sampled.gm, template.gm, atol=1e-5)


@pytest.mark.parametrize("model", ["smooth_field", "radial_bumps"])
def test_random_warp_is_seeded_and_has_the_requested_size(model):
    a = anat.random_warp(np.random.default_rng(3), model, amplitude_mm=3.0)
    b = anat.random_warp(np.random.default_rng(3), model, amplitude_mm=3.0)
    points = anat.template_labels(2).grid.world()[::6, ::6, ::6].reshape(-1, 3)
    assert np.array_equal(a.to_template(points), b.to_template(points))
    displacement = np.linalg.norm(a.displacement(points), axis=-1)
    assert 0.5 < displacement.max() < 12.0                  # a few mm, never a fold-inducing jump
    scale = np.asarray(a.info["scale"])
    assert np.all(np.abs(scale - 1) <= 0.05)                 # +/- 5 % per axis
    c = anat.random_warp(np.random.default_rng(4), model, amplitude_mm=3.0)
    assert not np.allclose(a.to_template(points), c.to_template(points))


def test_subject_anatomy_keeps_volumes_within_the_scaling(subject):
    template = anat.template_labels(2)
    brain_t = np.isin(template.labels, anat.BRAIN_LABELS).sum() * template.grid.voxel_ml
    brain_s = subject.brain.sum() * subject.grid.voxel_ml
    assert abs(brain_s / brain_t - 1) < 0.2
    assert set(np.unique(subject.labels)) == set(range(10)) | {14}   # every healthy structure
    assert subject.grid.shape[0] <= 48 and max(subject.grid.shape) <= 48
    # hemispheres split the brain roughly in half
    left = np.sum(subject.hemisphere[subject.brain] == -1)
    right = np.sum(subject.hemisphere[subject.brain] == 1)
    assert 0.4 < left / (left + right) < 0.6


@pytest.mark.parametrize(("volume_ml", "grade"), [(5.0, 2), (20.0, 3), (45.0, 4), (80.0, 4)])
def test_tumour_volume_compartments_and_placement(subject, volume_ml, grade):
    rng = np.random.default_rng(int(volume_ml))
    plan = plan_tumour(
        subject,
        rng,
        volume_ml=volume_ml,
        grade=grade,
        kind="diagnosis",
        outcome="n/a",
        aggressive=True,
    )
    tumour = grow_tumour(subject, plan, rng)
    voxel_ml = subject.grid.voxel_ml
    measured = tumour.tumour.sum() * voxel_ml
    assert abs(measured / volume_ml - 1) < 0.2, (measured, volume_ml)
    assert tumour.volumes_ml["tumour"] == pytest.approx(measured, abs=1e-4)
    # inside parenchyma only, one connected piece, mostly one hemisphere
    assert np.all(np.isin(subject.labels[tumour.tumour], anat.PARENCHYMA_LABELS))
    assert ndimage.label(tumour.tumour)[1] == 1
    side = subject.hemisphere[tumour.tumour]
    assert max(np.mean(side == -1), np.mean(side == 1)) > 0.85
    comp = tumour.compartments
    if grade == 4:
        assert (comp == NECROSIS).sum() > 0 and (comp == ENHANCING).sum() > 0
        # necrosis is the core: it never touches healthy tissue or oedema directly
        ring = ndimage.binary_dilation(comp == NECROSIS) & ~(comp == NECROSIS)
        assert np.all(np.isin(comp[ring], (ENHANCING, INFILTRATION)))
    if grade == 2:
        assert (comp == NECROSIS).sum() == 0
    # oedema lies outside the tumour, next to it
    oedema = comp == OEDEMA
    assert not np.any(oedema & tumour.tumour)
    if oedema.any():
        distance = ndimage.distance_transform_edt(~tumour.tumour, sampling=subject.grid.voxel_mm)
        assert distance[oedema].max() <= plan.oedema_mm + 1e-6
    # aggressive subregion: compact blob inside the viable tumour, of the planned size
    agg = tumour.aggressive
    assert agg.sum() >= 2 and np.all(tumour.tumour[agg]) and not np.any(comp[agg] == NECROSIS)
    assert agg.sum() == max(round(plan.aggressive_fraction * tumour.tumour.sum()), 2)
    labels = apply_tumour(subject.labels, tumour)
    assert np.array_equal(labels[comp > 0], comp[comp > 0])


def test_aggressive_subregion_is_not_always_at_the_tumour_centre(subject):
    offsets = []
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        plan = plan_tumour(subject, rng, volume_ml=60.0, grade=3, kind="diagnosis", outcome="n/a",
                           aggressive=True, seed_mm=(30.0, -20.0, 10.0))
        tumour = grow_tumour(subject, plan, rng)
        centre = np.argwhere(tumour.tumour).mean(axis=0)
        blob = np.argwhere(tumour.aggressive).mean(axis=0)
        offsets.append(np.linalg.norm((blob - centre) * subject.grid.voxel_mm))
    assert max(offsets) > 10.0 and np.std(offsets) > 2.0


def test_tumour_seed_can_be_placed_next_to_the_striatum(subject):
    rng = np.random.default_rng(5)
    plan = plan_tumour(subject, rng, volume_ml=20.0, grade=3, kind="diagnosis", outcome="n/a",
                       aggressive=False, near_striatum=True)
    tumour = grow_tumour(subject, plan, rng)
    striatum = np.isin(subject.labels, (5, 6))
    distance = ndimage.distance_transform_edt(~striatum, sampling=subject.grid.voxel_mm)
    assert distance[tumour.tumour].min() <= 5.0


def test_mri_contrasts_follow_tissue_order_and_site_scaling(subject):
    rng = np.random.default_rng(7)
    plan = plan_tumour(
        subject, rng, volume_ml=40.0, grade=4, kind="diagnosis", outcome="n/a", aggressive=False
    )
    tumour = grow_tumour(subject, plan, rng)
    labels = apply_tumour(subject.labels, tumour)
    kwargs = dict(noise_sd=0.02, bias_strength=0.1, enhancement=1.0, oedema_strength=1.0)
    images = simulate_mri(subject, labels, np.random.default_rng(1), site_scale={}, **kwargs)
    scaled = simulate_mri(
        subject,
        labels,
        np.random.default_rng(1),
        site_scale={"T1w": 2.0, "ce-gadolinium_T1w": 1.0, "T2w": 0.5, "FLAIR": 1.0},
        **kwargs,
    )

    def med(key, code):
        return float(np.median(images[key][labels == code]))

    assert med("T1w", 4) > med("T1w", 3) > med("T1w", 7)           # WM > GM > CSF on T1w
    assert med("T2w", 7) > med("T2w", 3) > med("T2w", 4)           # CSF > GM > WM on T2w
    assert med("FLAIR", 13) > 1.5 * med("FLAIR", 4)                 # oedema bright on FLAIR
    assert med("FLAIR", 7) < 0.5 * med("FLAIR", 4)                  # CSF suppressed
    assert med("ce-gadolinium_T1w", 11) > 1.8 * med("T1w", 11)      # the enhancing rim enhances
    assert np.allclose(scaled["T1w"], 2.0 * images["T1w"], rtol=1e-5)
    assert np.allclose(scaled["T2w"], 0.5 * images["T2w"], rtol=1e-5)
    # Rician background: mean of |N(0, s) + i N(0, s)| is s sqrt(pi / 2)
    background = images["T1w"][labels == 0]
    assert np.mean(background) == pytest.approx(20.0 * np.sqrt(np.pi / 2), rel=0.05)
    none = simulate_mri(subject, labels, np.random.default_rng(1), site_scale={}, noise_sd=0.02,
                        bias_strength=0.1, enhancement=0.0, oedema_strength=1.0)
    assert float(np.median(none["ce-gadolinium_T1w"][labels == 11])) < 1.3 * med("T1w", 11)


def test_transform_files_round_trip_and_follow_the_itk_convention(tmp_path):
    import SimpleITK as sitk

    matrix = rigid_matrix([4.0, -3.0, 7.0], [5.0, -8.0, 3.0], centre_mm=[0.0, -17.0, 5.0])
    txt, sidecar = geo.write_transform(tmp_path / "sub-1_from-A_to-B_mode-image_xfm.txt", matrix,
                                       from_space="A", to_space="B")
    assert np.allclose(geo.read_transform(txt), matrix, atol=1e-9)
    meta = json.loads(sidecar.read_text())
    assert np.allclose(meta["MatrixRAS"], matrix) and np.allclose(
        meta["MatrixLPS"], ras_to_lps_matrix(matrix)
    )
    assert "maps points of the 'To' space" in meta["Convention"] and (meta["From"], meta["To"]) == (
        "A",
        "B",
    )
    # A blob at world point c in space A must land at T^-1 c after resampling A onto B with the
    # file.
    grid = geo.Grid.box(2.0, np.array([0.0, -17.0, 5.0]), (64.0, 64.0, 64.0))
    centre_a = np.array([6.0, -12.0, 9.0])
    world = grid.world()
    blob = np.exp(-np.sum((world - centre_a) ** 2, axis=-1) / (2 * 4.0**2)).astype(np.float32)
    import nibabel as nib

    nib.save(nib.Nifti1Image(blob, grid.affine), tmp_path / "a.nii.gz")
    moving = sitk.ReadImage(str(tmp_path / "a.nii.gz"))
    out = sitk.Resample(moving, moving, sitk.ReadTransform(str(txt)), sitk.sitkLinear, 0.0)
    nib_out = sitk.GetArrayFromImage(out).transpose(2, 1, 0)   # sitk (z, y, x) -> (x, y, z)
    # the NIfTI affine here is diagonal positive (RAS), sitk reads it as LPS with flipped axes:
    # compare in world coordinates through SimpleITK's own index -> point map
    peak = np.unravel_index(np.argmax(nib_out), nib_out.shape)
    peak_lps = np.asarray(out.TransformIndexToPhysicalPoint([int(i) for i in peak]))
    peak_ras = peak_lps * np.array([-1, -1, 1])
    expected = apply_affine(np.linalg.inv(matrix), centre_a[None, :])[0]
    assert np.linalg.norm(peak_ras - expected) < 2.5   # within about one 2 mm voxel
    # and our own resampler agrees (same convention)
    ours = geo.resample(blob, grid, grid, dst_to_src=matrix, order=1)
    ours_peak = (
        grid.affine[:3, :3] @ np.unravel_index(np.argmax(ours), ours.shape) + grid.affine[:3, 3]
    )
    assert np.linalg.norm(ours_peak - expected) < 2.5


def test_deep_structures_have_adult_sizes_and_sit_where_the_atlas_puts_them():
    """Thalamus, brainstem and cerebellar cortex of the template (2 mm): volumes and centres."""
    template = anat.template_labels(2)
    world = template.grid.world()
    ml = template.grid.voxel_ml
    for code, lo, hi in ((8, 8.0, 12.0), (9, 8.0, 20.0), (14, 100.0, 200.0)):
        assert lo <= np.sum(template.labels == code) * ml <= hi, code
    thalamus = world[template.labels == 8]
    assert np.all(np.abs(thalamus[:, 0]) < 21.0) and abs(thalamus[:, 1].mean() + 18.0) < 3.0
    assert world[template.labels == 14][:, 2].max() < -17.0          # below the tentorium plane
    # the striatum keeps its voxels: deep structures never overwrite caudate or putamen
    assert np.sum(np.isin(template.labels, (5, 6))) * ml > 14.0
