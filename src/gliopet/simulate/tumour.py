"""Phantom tumour: irregular lesion with compartments and an optional aggressive subregion.

Shape: a randomly oriented ellipsoidal distance field around a seed, perturbed by smoothed
Gaussian noise (unit SD, correlation of a few mm), thresholded so that the tumour proper
(necrosis + enhancing + non-enhancing infiltration) has the target volume inside brain
parenchyma; the largest connected component is kept. Compartments follow the depth inside the
tumour: necrotic core (deepest), enhancing rim around it, non-enhancing infiltration outside;
oedema is a shell (mostly in white matter) outside the tumour. The aggressive subregion is a
compact blob (the voxels nearest to a random non-necrotic tumour voxel), so it may lie anywhere
in the tumour, not only at its centre.

Sizes: 5-80 mL; sizes and compartment fractions by grade are reasoned choices, not published
figures (docs/literature.md, "Reasoned choices, not published figures"; glioblastoma:
necrotic core and thick enhancing rim; grade 2: little or no enhancement).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from gliopet.simulate.anatomy import PARENCHYMA_LABELS, SubjectAnatomy
from gliopet.simulate.geometry import Grid
from gliopet.spatial import box_around, largest_component, rotation_matrix

NECROSIS, ENHANCING, INFILTRATION, OEDEMA = 10, 11, 12, 13


@dataclass(frozen=True)
class TumourPlan:
    """What to grow: seed (subject world, RAS mm), target volume (mL) and compartment fractions."""

    seed_mm: tuple[float, float, float]
    volume_ml: float
    necrosis_fraction: float = 0.0
    enhancing_fraction: float = 0.0
    oedema_mm: float = 4.0
    aggressive_fraction: float = 0.0        # 0 = no aggressive subregion
    axes: tuple[float, float, float] = (1.0, 1.0, 1.0)
    angles_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    irregularity: float = 0.35
    near_striatum: bool = False


@dataclass
class Tumour:
    """The grown tumour on the anatomy grid."""

    compartments: np.ndarray  # uint8: 0, or 10 necrosis, 11 enhancing, 12 infiltration, 13 oedema
    aggressive: np.ndarray        # bool, inside the tumour proper
    volumes_ml: dict[str, float] = field(default_factory=dict)
    plan: TumourPlan | None = None

    @property
    def tumour(self) -> np.ndarray:
        """The tumour proper (necrosis, enhancing, infiltration), without oedema."""
        return (self.compartments >= NECROSIS) & (self.compartments <= INFILTRATION)


def compartment_fractions(grade: int | None, kind: str, outcome: str,
                          rng: np.random.Generator) -> tuple[float, float, float]:
    """(necrosis fraction, enhancing fraction, oedema width mm) for a lesion of this kind.

    Recurrences enhance whatever their nature (treatment-related change also enhances, and
    radiation necrosis has a necrotic core), so MRI is only weakly informative of the outcome.
    """
    if kind == "recurrence":
        return rng.uniform(0.03, 0.2), rng.uniform(0.15, 0.35), rng.uniform(3.0, 8.0)
    if grade == 4:
        return rng.uniform(0.08, 0.25), rng.uniform(0.25, 0.4), rng.uniform(5.0, 10.0)
    if grade == 3:
        return rng.uniform(0.0, 0.05), rng.uniform(0.05, 0.2), rng.uniform(3.0, 7.0)
    return 0.0, rng.uniform(0.0, 0.05), rng.uniform(2.0, 5.0)


def choose_seed(anatomy: SubjectAnatomy, rng: np.random.Generator, volume_ml: float,
                near_striatum: bool) -> tuple[float, float, float]:
    """A seed point (RAS mm) in parenchyma of one hemisphere, deep enough for the volume.

    Distances are computed on a view of the grid with voxels of about 3 mm (fast at 1 mm).
    """
    stride = max(1, int(round(3.0 / min(anatomy.grid.voxel_mm))))
    labels = anatomy.labels[::stride, ::stride, ::stride]
    hemisphere = anatomy.hemisphere[::stride, ::stride, ::stride]
    affine = anatomy.grid.affine.copy()
    affine[:3, :3] *= stride
    voxel = np.asarray(anatomy.grid.voxel_mm) * stride
    radius = (3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    side = int(rng.choice([-1, 1]))
    brain = labels >= 2
    depth = ndimage.distance_transform_edt(brain, sampling=voxel)
    from_midline = ndimage.distance_transform_edt(hemisphere == side, sampling=voxel)
    ok = np.isin(labels, (3, 4)) & (hemisphere == side)
    candidates = ok & (depth >= 0.7 * radius) & (from_midline >= 0.6 * radius)
    if near_striatum:
        striatum = np.isin(labels, (5, 6)) & (hemisphere == side)
        to_striatum = ndimage.distance_transform_edt(~striatum, sampling=voxel)
        close = candidates & (to_striatum <= 1.1 * radius) & (to_striatum >= 0.4 * radius)
        if close.any():
            candidates = close
    if not candidates.any():
        candidates = ok & (depth >= depth[ok].max() * 0.5)
    index = np.argwhere(candidates)
    pick = index[rng.integers(len(index))]
    world = affine[:3, :3] @ pick + affine[:3, 3]
    return tuple(float(v) for v in world)


def plan_tumour(anatomy: SubjectAnatomy, rng: np.random.Generator, *, volume_ml: float,
                grade: int | None, kind: str, outcome: str, aggressive: bool,
                seed_mm: tuple[float, float, float] | None = None,
                near_striatum: bool | None = None, necrosis_fraction: float | None = None,
                enhancing_fraction: float | None = None,
                oedema_mm: float | None = None) -> TumourPlan:
    """Draw the shape and compartment parameters of a tumour of `volume_ml` (mL).

    Compartment fractions and the oedema width default to `compartment_fractions` (by grade);
    the phantom passes values derived from the session's latent biology (``mri_effects``)
    instead, so that the images carry no label information outside the latent variables whose
    posterior is stored (otherwise a classifier could beat the Bayes ceiling).
    """
    if near_striatum is None:
        near_striatum = bool(rng.random() < 0.3)
    if seed_mm is None:
        seed_mm = choose_seed(anatomy, rng, volume_ml, near_striatum)
    necrosis, enhancing, oedema = compartment_fractions(grade, kind, outcome, rng)
    if necrosis_fraction is not None:
        necrosis = necrosis_fraction
    if enhancing_fraction is not None:
        enhancing = enhancing_fraction
    if oedema_mm is not None:
        oedema = oedema_mm
    return TumourPlan(
        seed_mm=tuple(seed_mm), volume_ml=float(volume_ml), necrosis_fraction=float(necrosis),
        enhancing_fraction=float(enhancing), oedema_mm=float(oedema),
        aggressive_fraction=float(rng.uniform(0.12, 0.25)) if aggressive else 0.0,
        axes=tuple(float(a) for a in (1.0, *rng.uniform(0.7, 1.3, 2))),
        angles_deg=tuple(float(a) for a in rng.uniform(-90, 90, 3)),
        irregularity=float(rng.uniform(0.2, 0.45)), near_striatum=bool(near_striatum),
    )


def grow_tumour(anatomy: SubjectAnatomy, plan: TumourPlan, rng: np.random.Generator) -> Tumour:
    """Grow the tumour of `plan` on the anatomy grid (vectorised; exact voxel counts by ranking).

    The work is done in a box around the seed (large enough for the most elongated tumour and
    its oedema), then pasted into full-size maps.
    """
    grid = anatomy.grid
    voxel = np.asarray(grid.voxel_mm)
    radius = (3.0 * plan.volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    box = box_around(grid.shape, grid.affine, np.asarray(plan.seed_mm),
                    2.6 * radius * max(plan.axes) + plan.oedema_mm + 3 * voxel.max())
    sub_affine = grid.affine.copy()
    sub_affine[:3, 3] = grid.affine[:3, :3] @ [b.start for b in box] + grid.affine[:3, 3]
    labels = anatomy.labels[box]
    score = _shape_score(Grid(labels.shape, sub_affine), voxel, plan, radius, rng)
    eligible = np.isin(labels, PARENCHYMA_LABELS)
    n_target = max(int(round(plan.volume_ml / grid.voxel_ml)), 8)
    tumour = _take_lowest_scores(score, eligible, n_target)
    compartments = _compartments(tumour, score, labels, plan, voxel)
    n = int(tumour.sum())
    aggressive = _aggressive_blob(tumour & (compartments != NECROSIS), n, plan, voxel, rng)
    volumes = {
        "tumour": n * grid.voxel_ml,
        "necrosis": int((compartments == NECROSIS).sum()) * grid.voxel_ml,
        "enhancing": int((compartments == ENHANCING).sum()) * grid.voxel_ml,
        "infiltration": int((compartments == INFILTRATION).sum()) * grid.voxel_ml,
        "oedema": int((compartments == OEDEMA).sum()) * grid.voxel_ml,
        "aggressive": int(aggressive.sum()) * grid.voxel_ml,
    }
    full_compartments = np.zeros(grid.shape, dtype=np.uint8)
    full_compartments[box] = compartments
    full_aggressive = np.zeros(grid.shape, dtype=bool)
    full_aggressive[box] = aggressive
    return Tumour(
        full_compartments,
        full_aggressive,
        {k: round(float(v), 4) for k, v in volumes.items()},
        plan,
    )


def _shape_score(box: Grid, voxel: np.ndarray, plan: TumourPlan, radius: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Score of each voxel of the work box (lowest first into the tumour).

    The ellipsoidal distance from the seed in units of `radius` (mm) plus `plan.irregularity`
    times Gaussian noise smoothed over ``max(0.35 radius, 4 mm)`` and scaled to unit SD.
    """
    rotation = rotation_matrix(np.asarray(plan.angles_deg)).astype(np.float32)
    local = (box.world() - np.asarray(plan.seed_mm, dtype=np.float32)) @ rotation
    shape_field = (
        np.sqrt(np.sum((local / np.asarray(plan.axes, dtype=np.float32)) ** 2, axis=-1)) / radius
    )
    noise = ndimage.gaussian_filter(rng.normal(size=box.shape).astype(np.float32),
                                    sigma=max(radius * 0.35, 4.0) / voxel)
    noise /= max(float(noise.std()), 1e-6)
    return shape_field + plan.irregularity * noise


def _take_lowest_scores(score: np.ndarray, eligible: np.ndarray, n_target: int) -> np.ndarray:
    """The connected tumour: the largest component of the lowest-scoring eligible voxels.

    The number taken is adjusted (up to 8 rounds) until the component has `n_target` voxels
    within 3 %, or every eligible voxel is taken.
    """
    shape = score.shape
    flat_score = np.where(eligible, score, np.inf).ravel()
    n_take = min(n_target, int(eligible.sum()))
    tumour = np.zeros(shape, dtype=bool)
    for _ in range(8):
        chosen = np.argpartition(flat_score, min(n_take, flat_score.size - 1))[:n_take]
        candidate = np.zeros(flat_score.size, dtype=bool)
        candidate[chosen] = True
        tumour = largest_component(candidate.reshape(shape) & eligible)
        size = int(tumour.sum())
        if abs(size - n_target) <= 0.03 * n_target or n_take >= eligible.sum():
            break
        n_take = min(
            max(int(n_take * n_target / max(size, 1)) + 1, n_take + 1), int(eligible.sum())
        )
    return tumour


def _compartments(tumour: np.ndarray, score: np.ndarray, labels: np.ndarray, plan: TumourPlan,
                  voxel: np.ndarray) -> np.ndarray:
    """Compartment codes (uint8) of the work box, by depth inside the tumour and distance outside.

    Necrosis deepest, then the enhancing rim, then infiltration; oedema within `plan.oedema_mm`
    (mm) outside the tumour in white matter (label 4), within half that in labels 3, 5 and 6.
    """
    compartments = np.zeros(tumour.shape, dtype=np.uint8)
    # depth inside the tumour (mm); ties broken by the shape score so the core is compact
    depth = ndimage.distance_transform_edt(np.pad(tumour, 1), sampling=voxel)[1:-1, 1:-1, 1:-1]
    index = np.flatnonzero(tumour.ravel())
    order = index[np.lexsort((score.ravel()[index], -depth.ravel()[index]))]  # deepest first
    n = order.size
    n_nec = int(round(plan.necrosis_fraction * n))
    n_enh = int(round(plan.enhancing_fraction * n))
    flat = compartments.ravel()
    flat[order] = INFILTRATION
    flat[order[n_nec:n_nec + n_enh]] = ENHANCING
    flat[order[:n_nec]] = NECROSIS
    outside = ndimage.distance_transform_edt(~tumour, sampling=voxel)
    oedema = ~tumour & (((labels == 4) & (outside <= plan.oedema_mm))
                        | (np.isin(labels, (3, 5, 6)) & (outside <= plan.oedema_mm / 2.0)))
    compartments[oedema] = OEDEMA
    return compartments


def _aggressive_blob(viable: np.ndarray, n_tumour: int, plan: TumourPlan, voxel: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """The aggressive subregion of the work box (all False when the plan's fraction is 0).

    The ``plan.aggressive_fraction x n_tumour`` viable voxels (at least 2) nearest a random
    viable voxel.
    """
    aggressive = np.zeros(viable.shape, dtype=bool)
    if plan.aggressive_fraction > 0:
        viable_index = np.argwhere(viable)
        centre = viable_index[rng.integers(len(viable_index))]
        distance = np.sqrt(np.sum(((viable_index - centre) * voxel) ** 2, axis=1))
        k = max(int(round(plan.aggressive_fraction * n_tumour)), 2)
        nearest = viable_index[np.argsort(distance, kind="stable")[:k]]
        aggressive[tuple(nearest.T)] = True
    return aggressive


def apply_tumour(labels: np.ndarray, tumour: Tumour) -> np.ndarray:
    """Tissue labels with the tumour compartments (codes 10-13) written over them."""
    out = labels.copy()
    lesion = tumour.compartments > 0
    out[lesion] = tumour.compartments[lesion]
    return out
