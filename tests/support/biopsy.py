"""Test data of the biopsy target and export (issue 14, items 4-5).

* `write_fixture_signature`: the signature outputs the biopsy stage reads (AGGRESSIVENESS_MAP,
  AGGRESSIVE_MASK) made by a simple FIXTURE RULE from quantification's maps, standing in for
  `gliopet signature` where a test does not run it: aggressiveness = how early a tumour voxel
  peaks (1 - TTP / max tumour TTP), aggressive subregion = the largest connected part of the
  tumour voxels at or above the 70th percentile of that map. It reads no truth.
* `synthetic_dataset`: a small BIDS dataset with hand-written preprocess / quant / signature
  derivatives and an exactly known PET-to-MRI transform, target region and SUV maximum.
* `phantom_samples`: biopsy samples drawn from a phantom's true aggressive subregion and tumour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.io import derivatives as d
from gliopet.io.bids_write import write_image
from gliopet.spatial import apply_affine, largest_component, world_coordinates

#: Percentile of the fixture rule's aggressive subregion.
FIXTURE_PERCENTILE = 70.0


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from gliopet.io.nifti import load_nifti

    img = load_nifti(path)
    return np.asarray(img.dataobj), img.affine


def write_fixture_signature(root: Path, ids: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Write AGGRESSIVENESS_MAP and AGGRESSIVE_MASK by the fixture rule; return (map, mask)."""
    tumour, affine = _load(d.find(root, ids, d.TUMOUR_MASK))
    tumour = tumour > 0
    ttp_path = d.find_or_none(root, ids, d.VOXEL_MAP, stat="TTP")
    if ttp_path is None:  # static PET: use the SUV instead
        values, _ = _load(d.find(root, ids, d.STATIC_SUV))
        score = values / max(float(values[tumour].max()), 1e-6)
    else:
        ttp, _ = _load(ttp_path)
        score = 1.0 - ttp / max(float(ttp[tumour].max()), 1e-6)
    aggressiveness = np.where(tumour, np.clip(score, 0, None), 0.0).astype(np.float32)
    cut = np.percentile(aggressiveness[tumour], FIXTURE_PERCENTILE)
    mask = largest_component(tumour & (aggressiveness >= cut), connectivity=26)
    write_image(d.AGGRESSIVENESS_MAP.path(root, ids), aggressiveness, affine)
    write_image(d.AGGRESSIVE_MASK.path(root, ids), mask.astype(np.uint8), affine, np.uint8)
    return aggressiveness, mask


# ---------------------------------------------------------------------------- synthetic
def ball_mask(shape: tuple[int, int, int], affine: np.ndarray, centre_mm: np.ndarray,
              radius_mm: float) -> np.ndarray:
    """Voxels whose centres lie within `radius_mm` of a world point."""
    xyz = world_coordinates(shape, affine, dtype=np.float64)
    return np.linalg.norm(xyz - np.asarray(centre_mm, float), axis=-1) <= radius_mm


def synthetic_dataset(root: Path, *, tumour_radius_mm: float = 18.0,
                      region_radius_mm: float = 7.0, subject: str = "01",
                      session: str = "diagnosis", mri_spacing_mm: float = 4.0) -> dict:
    """A one-session dataset with the biopsy stage's inputs; returns the truth.

    PET and MRI grids from `tests.support.synthetic.make_session` with the MRI rotated and
    shifted (known rigid PET-to-MRI map); tumour = ball around the lesion centre, aggressive
    subregion = ball of `region_radius_mm` at P, 10 mm in front of the centre (so the SUV peak,
    at the tumour centre, lies outside it), aggressiveness peaking at P; hot spots: the
    earliest (TTP 3 min) with its centroid at P + (0, 0, 4 mm), a later one at the centre.
    Truth: ``pet_to_mri_ras`` (PET RAS -> MRI RAS), ``centre_pet`` (P, PET RAS mm),
    ``suvmax_pet`` (tumour centre), ``hotspot_pet``.
    """
    from gliopet.atomic import write_json, write_tsv
    from gliopet.io.transforms import write_transform
    from support.synthetic import (
        LESION_CENTRE_MNI,
        make_session,
        ras_matrix_to_sitk,
        rigid_matrix,
        write_bids_session,
    )

    m_mri = rigid_matrix((0.0, 0.0, 8.0), (3.0, -2.0, 1.5))
    synth = make_session(mri_spacing_mm=mri_spacing_mm, pet_spacing_mm=4.0, mri_position=m_mri,
                         durations_s=np.array([60.0, 120, 300, 600, 600]))
    write_bids_session(root, subject, session, synth, flair=False)
    ids = (subject, session)
    pet_shape, pet_affine = synth.pet_frames.shape[:3], synth.pet_affine
    # from-pet_to-T1w maps T1w points to PET points (RAS here; the file is LPS).
    write_transform(d.XFM.path(root, ids, from_="pet", to="T1w"),
                    ras_matrix_to_sitk(synth.true_pet_to_t1_ras), source="pet", target="T1w")
    (d.PREPROCESS.session_provenance(root, ids)).write_text("{}")
    centre = np.asarray(LESION_CENTRE_MNI, float)
    point = centre + np.array([0.0, 10.0, 0.0])
    tumour = ball_mask(pet_shape, pet_affine, centre, tumour_radius_mm)
    region = ball_mask(pet_shape, pet_affine, point, region_radius_mm) & tumour
    xyz = world_coordinates(pet_shape, pet_affine, dtype=np.float64)
    aggressiveness = np.where(tumour, np.exp(-np.sum((xyz - point) ** 2, -1) / 200.0), 0.0)
    suv = 1.0 + 3.0 * np.exp(-np.sum((xyz - centre) ** 2, -1) / 50.0)
    hotspot = point + np.array([0.0, 0.0, 4.0])
    write_image(d.TUMOUR_MASK.path(root, ids), tumour.astype(np.uint8), pet_affine, np.uint8)
    write_image(d.STATIC_SUV.path(root, ids, tracer="FDOPA"), suv, pet_affine)
    write_tsv(d.HOTSPOT_TABLE.path(root, ids, tracer="FDOPA"), pd.DataFrame([
        {"label": 1, "volume_mL": 1.0, "TTP_min": 3.0, "slope_SUV_per_h": -1.0, "peak_SUV": 3.0,
         "x_ras_mm": hotspot[0], "y_ras_mm": hotspot[1], "z_ras_mm": hotspot[2]},
        {"label": 2, "volume_mL": 2.0, "TTP_min": 4.0, "slope_SUV_per_h": -1.0, "peak_SUV": 3.0,
         "x_ras_mm": centre[0], "y_ras_mm": centre[1], "z_ras_mm": centre[2]}]))
    write_json(d.QUANT.session_provenance(root, ids), {})
    write_image(d.AGGRESSIVENESS_MAP.path(root, ids), aggressiveness, pet_affine)
    write_image(d.AGGRESSIVE_MASK.path(root, ids), region.astype(np.uint8), pet_affine, np.uint8)
    return {"ids": ids, "pet_to_mri_ras": np.linalg.inv(synth.true_pet_to_t1_ras),
            "centre_pet": point, "suvmax_pet": centre, "hotspot_pet": hotspot,
            "pet_affine": pet_affine, "mri_affine": synth.mri_affine, "region_pet": region,
            "tumour_pet": tumour}


def to_mri(truth: dict, point_pet: np.ndarray) -> np.ndarray:
    """A PET RAS point of `synthetic_dataset` in MRI RAS mm."""
    return apply_affine(truth["pet_to_mri_ras"], np.asarray(point_pet, float))


# ---------------------------------------------------------------------------- samples
def phantom_samples(sim_root: Path, sim_ids: tuple[str, str], out_ids: tuple[str, str], *,
                    n_each: int = 6, seed: int = 0) -> pd.DataFrame:
    """Biopsy samples (RAS mm of the phantom's MRI) drawn from its truth: `n_each` points in
    the true aggressive subregion (grade 4) and `n_each` in the rest of the tumour (grade 2),
    labelled with the analysed dataset's subject and session `out_ids`."""
    rng = np.random.default_rng(seed)
    aggressive, affine = _load(d.find(sim_root, sim_ids, d.TRUTH_AGGRESSIVE_T1W))
    tissue, _ = _load(d.find(sim_root, sim_ids, d.TRUTH_TISSUE_T1W))
    tumour = np.isin(tissue, (10, 11, 12))
    rows = []
    for grade, mask in ((4, aggressive > 0), (2, tumour & ~(aggressive > 0))):
        voxels = np.argwhere(mask)
        for v in voxels[rng.choice(len(voxels), size=min(n_each, len(voxels)), replace=False)]:
            x, y, z = apply_affine(affine, v.astype(float))
            rows.append({"subject": out_ids[0], "session": out_ids[1], "x": x, "y": y, "z": z,
                         "grade": grade})
    return pd.DataFrame(rows)
