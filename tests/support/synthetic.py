"""Small synthetic heads with known transforms, for the preprocessing tests and benchmark.

Not the phantom (`gliopet.simulate` is the realistic one): a quick, exactly known test bed built
from the MNI152 template. Anatomy is defined on the template's 2 mm grid, then sampled onto
any grid whose header places the head at a known rigid position, so the true transforms are
known exactly:

* a grid with RAS affine ``M @ A`` (``A`` axis-aligned, ``M`` rigid head position) holds the
  anatomy sampled at the template points ``A v``;
* from-pet_to-T1w (maps T1w points to PET points) is ``M_pet @ inv(M_mri)`` in RAS;
* from-T1w_to-MNI (maps template points to T1w points) is ``M_mri``.

Images: T1w (with a dark skull and bright scalp, bias field and noise), FLAIR (bright lesion),
and an FDOPA-like PET (grey 1.2, white 0.6, striatum +2.0, lesion +2.0 SUV, 6 mm FWHM blur).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from gliopet import spatial
from gliopet.spatial import world_coordinates
from gliopet.templates import load_mni, striatum_masks

LESION_CENTRE_MNI = (30.0, 30.0, 20.0)  # right frontal (RAS mm)
#: Centre of rotation of the synthetic head positions (RAS mm, near the MNI brain centre).
HEAD_CENTRE_MM = (0.0, -18.0, 10.0)


def rigid_matrix(rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 centre_mm: tuple[float, float, float] = HEAD_CENTRE_MM) -> np.ndarray:
    """4 x 4 RAS rigid matrix (`gliopet.spatial.rigid_matrix`) rotating about the head centre."""
    return spatial.rigid_matrix(rotation_deg, translation_mm, centre_mm)


def ras_matrix_to_sitk(matrix_ras: np.ndarray) -> sitk.AffineTransform:
    """A SimpleITK (LPS) affine transform equal to a 4 x 4 RAS point mapping."""
    lps = spatial.ras_to_lps_matrix(matrix_ras)
    out = sitk.AffineTransform(3)
    out.SetMatrix(lps[:3, :3].ravel().tolist())
    out.SetTranslation(lps[:3, 3].tolist())
    return out


@lru_cache(maxsize=2)
def anatomy(seed: int = 0) -> dict[str, np.ndarray]:
    """Truth images on the MNI 2 mm grid (arrays) plus ``affine``: t1, flair, pet, brain,
    lesion, striatum."""
    images = load_mni(2)
    affine = images["t1"].affine
    t1 = np.asarray(images["t1"].dataobj, dtype=np.float32)
    gm = np.asarray(images["gm"].dataobj, dtype=np.float32)
    wm = np.asarray(images["wm"].dataobj, dtype=np.float32)
    brain = np.asarray(images["brain_mask"].dataobj) > 0
    outside = ndimage.distance_transform_edt(~brain, sampling=2.0)
    skull = (outside > 0) & (outside <= 6.0)
    scalp = (outside > 6.0) & (outside <= 12.0)
    xyz = world_coordinates(brain.shape, affine)
    lesion = brain & (np.linalg.norm(xyz - np.asarray(LESION_CENTRE_MNI), axis=-1) <= 12.0)
    striatum = np.zeros(brain.shape, dtype=bool)
    for mask in striatum_masks(2).values():
        striatum |= mask
    t1_head = np.where(brain, t1, 0.0) + 0.08 * skull + 1.2 * scalp
    t1_head = np.where(lesion, 0.45, t1_head)
    flair = np.where(brain, 0.15 + 0.75 * gm + 0.55 * wm, 0.0) + 0.05 * skull + 0.6 * scalp
    flair = np.where(lesion, 1.6, flair)
    pet = np.where(brain, 1.2 * gm + 0.6 * wm + 2.0 * striatum + 2.0 * lesion, 0.0) + 0.3 * scalp
    sigma_vox = 6.0 / 2.3548 / 2.0
    pet = ndimage.gaussian_filter(pet.astype(np.float32), sigma_vox)
    return {"t1": t1_head.astype(np.float32), "flair": flair.astype(np.float32), "pet": pet,
            "brain": brain.astype(np.float32), "lesion": lesion.astype(np.float32),
            "striatum": striatum.astype(np.float32), "affine": affine}


def head_grid(spacing_mm: float,
              margin_mm: float = 14.0) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and axis-aligned RAS affine of a grid covering the template brain + `margin_mm`."""
    images = load_mni(2)
    brain = np.asarray(images["brain_mask"].dataobj) > 0
    xyz = world_coordinates(brain.shape, images["brain_mask"].affine)[brain]
    lo, hi = xyz.min(axis=0) - margin_mm, xyz.max(axis=0) + margin_mm
    shape = tuple(int(np.ceil((h - low) / spacing_mm)) + 1 for low, h in zip(lo, hi, strict=True))
    affine = np.diag([spacing_mm] * 3 + [1.0])
    affine[:3, 3] = lo
    return shape, affine


def sample(name: str, shape: tuple[int, int, int], grid_affine: np.ndarray,
           grid_to_mni: np.ndarray | None = None, nearest: bool = False,
           seed: int = 0) -> np.ndarray:
    """Truth image `name` sampled on a grid (i, j, k); `grid_to_mni` maps grid-world RAS to MNI
    RAS."""
    from gliopet.preprocess.registration import from_sitk, to_sitk

    truth = anatomy(seed)
    moving = to_sitk(truth[name], truth["affine"])
    reference = to_sitk(np.zeros(shape, dtype=np.float32), grid_affine)
    transform = ras_matrix_to_sitk(np.eye(4) if grid_to_mni is None else grid_to_mni)
    interp = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    return from_sitk(sitk.Resample(moving, reference, transform, interp, 0.0, sitk.sitkFloat32))[0]


@dataclass
class SyntheticSession:
    """Images of one synthetic session (arrays with RAS affines) and the true transforms."""

    t1: np.ndarray
    flair: np.ndarray
    mri_affine: np.ndarray
    pet_frames: np.ndarray
    pet_affine: np.ndarray
    frame_durations_s: np.ndarray
    true_pet_to_t1_ras: np.ndarray
    true_t1_to_mni_ras: np.ndarray
    true_frame_motion_ras: list[np.ndarray]
    brain_mri: np.ndarray
    lesion_pet: np.ndarray


DEFAULT_DURATIONS = np.array([30, 30, 60, 60, 120, 180, 300, 300, 300, 300, 300], dtype=float)


def make_session(*, mri_spacing_mm: float = 4.0, pet_spacing_mm: float = 4.0,
                 mri_position: np.ndarray | None = None, pet_position: np.ndarray | None = None,
                 frame_motion: dict[int, np.ndarray] | None = None,
                 durations_s: np.ndarray = DEFAULT_DURATIONS, noise: float = 0.03,
                 seed: int = 0) -> SyntheticSession:
    """A synthetic session: T1w + FLAIR on one grid, dynamic PET on another, known transforms.

    `frame_motion` maps frame index to a RAS rigid matrix D (head moved by D in the PET space
    during that frame); the frame's true transform (reference points to frame points) is
    ``M_pet @ D @ inv(M_pet)``.
    """
    rng = np.random.default_rng(seed)
    m_mri = np.eye(4) if mri_position is None else mri_position
    m_pet = np.eye(4) if pet_position is None else pet_position
    shape_m, grid_m = head_grid(mri_spacing_mm)
    t1 = sample("t1", shape_m, grid_m, seed=seed)
    flair = sample("flair", shape_m, grid_m, seed=seed)
    brain = sample("brain", shape_m, grid_m, seed=seed) >= 0.5
    xyz = world_coordinates(shape_m, grid_m)
    bias = 1.0 + 0.15 * (xyz[..., 0] / 80.0) - 0.1 * (xyz[..., 2] / 80.0)
    t1 = (t1 * bias + noise * rng.standard_normal(t1.shape)).clip(0).astype(np.float32)
    flair = (flair * bias + noise * rng.standard_normal(flair.shape)).clip(0).astype(np.float32)

    shape_p, grid_p = head_grid(pet_spacing_mm, margin_mm=10.0)
    durations = np.asarray(durations_s, dtype=float)
    mids = np.cumsum(durations) - durations / 2
    frames = np.empty(shape_p + (durations.size,), dtype=np.float32)
    motions = []
    static = sample("pet", shape_p, grid_p, seed=seed)
    for k in range(durations.size):
        d = (frame_motion or {}).get(k, np.eye(4))
        motions.append(m_pet @ d @ np.linalg.inv(m_pet))
        # Frame content: the head moved by D; the grid world is the PET space (header m_pet @ grid).
        img = (static if np.allclose(d, np.eye(4))
               else sample("pet", shape_p, grid_p, np.linalg.inv(d), seed=seed))
        uptake = 1.0 - np.exp(-mids[k] / 300.0)   # tissue uptake rises over minutes
        blood = np.exp(-mids[k] / 90.0)           # early blood pool: smooth, brain-wide
        frame = uptake * img + blood * ndimage.gaussian_filter(img, 3.0) * 1.5
        sd = noise * np.sqrt(300.0 / durations[k]) * (frame.max() or 1.0)
        frames[..., k] = (frame + sd * rng.standard_normal(frame.shape)).clip(0)
    lesion = sample("lesion", shape_p, grid_p, seed=seed) >= 0.5
    return SyntheticSession(
        t1=t1, flair=flair, mri_affine=m_mri @ grid_m, pet_frames=frames, pet_affine=m_pet @ grid_p,
        frame_durations_s=durations, true_pet_to_t1_ras=m_pet @ np.linalg.inv(m_mri),
        true_t1_to_mni_ras=m_mri, true_frame_motion_ras=motions, brain_mri=brain, lesion_pet=lesion,
    )


def write_bids_session(root, subject: str, session: str, synth: SyntheticSession, *,
                       flair: bool = True, weight_kg: float = 70.0,
                       dose_mbq: float = 185.0) -> None:
    """Write a synthetic session as BIDS-PET (PET in Bq/mL from SUV, T1w, optional FLAIR)."""
    from pathlib import Path

    import pandas as pd

    from gliopet.io.bids_write import (
        write_anat,
        write_dataset_description,
        write_pet,
        write_sessions,
    )

    root = Path(root)
    if not (root / "dataset_description.json").is_file():
        write_dataset_description(root, "gliopet synthetic preprocessing test")
    starts = np.concatenate([[0.0], np.cumsum(synth.frame_durations_s)[:-1]])
    bq_per_ml = synth.pet_frames * (dose_mbq * 1e6) / (weight_kg * 1000.0)
    sidecar = {"FrameTimesStart": starts.tolist(),
               "FrameDuration": synth.frame_durations_s.tolist(),
               "TracerName": "FDOPA", "TracerRadionuclide": "F18", "Units": "Bq/mL",
               "InjectedRadioactivity": dose_mbq, "InjectedRadioactivityUnits": "MBq",
               "ImageDecayCorrected": True, "ImageDecayCorrectionTime": 0, "TimeZero": "10:00:00",
               "ScanStart": 0, "InjectionStart": 0, "ModeOfAdministration": "bolus"}
    write_pet(root, subject, session, bq_per_ml.astype(np.float32), synth.pet_affine, sidecar)
    write_anat(root, subject, session, "T1w", synth.t1, synth.mri_affine)
    if flair:
        write_anat(root, subject, session, "FLAIR", synth.flair, synth.mri_affine)
    sessions_path = root / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
    rows = (pd.read_csv(sessions_path, sep="\t").to_dict("records") if sessions_path.is_file()
            else [])
    rows = [r for r in rows if r["session_id"] != f"ses-{session}"]
    rows.append({"session_id": f"ses-{session}", "weight": weight_kg, "site": "synthetic"})
    write_sessions(root, subject, pd.DataFrame(rows),
                   {"weight": {"Description": "body weight", "Units": "kg"},
                    "site": {"Description": "acquisition site"}})
