"""Representation evaluation, input side: patch-level clustering against the phantom's true
compartments (issue 12, item 8a), for an embedding map and for the baselines that need no model.

Every comparison is made on one **patch grid**: patch ``p`` covers the learning-grid voxels
``p * P + offset ... p * P + offset + P - 1`` per axis, its centre is the voxel centre of its
NIfTI affine (the learning affine scaled by ``P`` with the origin moved to the first patch's
centre). An embedding map of `gliopet embed` carries such an affine (its padding offset
included); the baselines use `baseline_patch_grid` (no offset). A learning voxel belongs to the
patch whose centre is nearest (rounding in patch coordinates), so any patch affine works.

* True compartment of a patch: the most frequent phantom tissue label (``TRUTH_TISSUE_T1W``,
  read through the contract, carried to the learning grid with preprocessing's T1w-to-template
  transform, nearest neighbour) among its brain voxels; patches less than
  ``min_brain_fraction`` brain are left out.
* Features of a patch: the embedding vector, or the mean of each learning-grid channel over the
  patch's brain voxels: ``raw`` = every present modality but the dynamic PET (MRI z-scores,
  static PET ratio), ``kinetic`` = the dynamic PET channels (docs/foundation.md).
* k-means (scikit-learn) on standardised features with k = the number of true compartments, then
  the adjusted Rand index against the true compartments.

The phantom truth is read here on purpose (evaluation, like the realism report); no analysis
stage reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gliopet.config import Config, load_config
from gliopet.errors import InputError
from gliopet.io import derivatives as d

#: Phantom labels outside the brain (outside head, scalp/skull): never a compartment.
NON_BRAIN_LABELS = (0, 1)


@dataclass(frozen=True)
class PatchGrid:
    """A patch grid: shape (patches per axis) and the RAS affine of the patch centres."""

    shape: tuple[int, int, int]
    affine: np.ndarray


def baseline_patch_grid(learning_shape: tuple[int, ...], learning_affine: np.ndarray,
                        patch_size: int) -> PatchGrid:
    """Patches of `patch_size` voxels from the first learning voxel (the last ones may overhang).
    """
    if patch_size < 1:
        raise InputError(f"the patch size must be at least 1 voxel, got {patch_size}",
                         fix="give a patch size of 1 or more voxels")
    shape = tuple(int(np.ceil(n / patch_size)) for n in learning_shape[:3])
    scale = np.diag([patch_size, patch_size, patch_size, 1.0])
    scale[:3, 3] = (patch_size - 1) / 2.0
    return PatchGrid(shape, np.asarray(learning_affine, float) @ scale)  # type: ignore[arg-type]


def patch_index(learning_shape: tuple[int, ...], learning_affine: np.ndarray,
                grid: PatchGrid) -> np.ndarray:
    """Flat index (C order) of each learning voxel's patch, -1 outside the patch grid."""
    voxels = np.indices(learning_shape[:3]).reshape(3, -1)
    to_patch = np.linalg.inv(grid.affine) @ np.asarray(learning_affine, float)
    coords = np.rint(to_patch[:3, :3] @ voxels + to_patch[:3, 3:]).astype(int)
    inside = np.all((coords >= 0) & (coords < np.array(grid.shape)[:, None]), axis=0)
    flat = np.full(voxels.shape[1], -1, dtype=np.int64)
    flat[inside] = np.ravel_multi_index(tuple(coords[:, inside]), grid.shape)
    return flat.reshape(learning_shape[:3])


def patch_labels(truth: np.ndarray, brain: np.ndarray, index: np.ndarray, n_patches: int, *,
                 min_brain_fraction: float = 0.5) -> np.ndarray:
    """The most frequent true label of each patch's brain voxels; -1 for patches less than
    `min_brain_fraction` brain (or without a compartment label)."""
    keep = (index >= 0) & brain & ~np.isin(truth, NON_BRAIN_LABELS)
    counts = np.bincount(index[index >= 0], minlength=n_patches)
    brain_counts = np.bincount(index[keep], minlength=n_patches)
    labels = np.full(n_patches, -1, dtype=np.int64)
    values = truth[keep].astype(np.int64)
    if values.size == 0:
        return labels
    table = np.zeros((n_patches, int(values.max()) + 1), dtype=np.int64)
    np.add.at(table, (index[keep], values), 1)
    majority = table.argmax(axis=1)
    enough = (brain_counts > 0) & (brain_counts >= min_brain_fraction * np.maximum(counts, 1))
    labels[enough] = majority[enough]
    return labels


def patch_means(images: np.ndarray, brain: np.ndarray, index: np.ndarray,
                n_patches: int) -> np.ndarray:
    """Mean of each channel (images (C, X, Y, Z)) over each patch's brain voxels: (n_patches, C);
    NaN for a patch without brain voxels."""
    keep = (index >= 0) & brain
    counts = np.bincount(index[keep], minlength=n_patches).astype(float)
    sums = np.stack([np.bincount(index[keep], weights=channel[keep].astype(float),
                                 minlength=n_patches) for channel in images], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def cluster_ari(features: np.ndarray, labels: np.ndarray, *, seed: int) -> float:
    """Adjusted Rand index of k-means clusters (k = the number of true labels; standardised
    features) against `labels`, over the patches with a label (>= 0) and finite features."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, float).reshape(len(labels), -1)
    use = (labels >= 0) & np.all(np.isfinite(features), axis=1)
    k = len(np.unique(labels[use]))
    if k < 2 or use.sum() <= k:
        raise InputError(f"{k} true compartment(s) in {int(use.sum())} patches: nothing to "
                         "cluster", fix="use a session with a tumour, or smaller patches")
    scaled = StandardScaler().fit_transform(features[use])
    clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(scaled)
    return float(adjusted_rand_score(labels[use], clusters))


def embedding_ari(embedding: np.ndarray, embedding_affine: np.ndarray, truth: np.ndarray,
                  brain: np.ndarray, learning_affine: np.ndarray, *, seed: int,
                  min_brain_fraction: float = 0.5) -> float:
    """ARI of an embedding map (x, y, z, d) on its patch grid (`embedding_affine`) against the
    true compartments given on the learning grid (`truth`, `brain`, `learning_affine`)."""
    embedding = np.asarray(embedding)
    if embedding.ndim != 4:
        raise InputError(f"an embedding map has 4 axes (x, y, z, feature), got shape "
                         f"{embedding.shape}", fix="give the 4-D map written by gliopet embed")
    grid = PatchGrid(tuple(embedding.shape[:3]), np.asarray(embedding_affine, float))
    index = patch_index(truth.shape, learning_affine, grid)
    n = int(np.prod(grid.shape))
    labels = patch_labels(truth, brain, index, n, min_brain_fraction=min_brain_fraction)
    return cluster_ari(embedding.reshape(n, -1), labels, seed=seed)


def baseline_aris(sample: dict[str, Any], truth: np.ndarray, *, patch_size: int,
                  seed: int) -> dict[str, float]:
    """ARI of the ``raw`` and ``kinetic`` patch features of a `LearningGridDataset` sample
    (``kinetic`` NaN without dynamic PET) at `patch_size`."""
    brain = np.asarray(sample["brain_mask"][0], bool)
    grid = baseline_patch_grid(truth.shape, sample["affine"], patch_size)
    index = patch_index(truth.shape, sample["affine"], grid)
    n = int(np.prod(grid.shape))
    labels = patch_labels(truth, brain, index, n)
    images = {m: np.asarray(v) for m, v in sample["images"].items()}
    raw = np.concatenate([v for m, v in images.items() if m != "pet_dynamic"])
    out = {"raw": cluster_ari(patch_means(raw, brain, index, n), labels, seed=seed),
           "kinetic": float("nan")}
    if "pet_dynamic" in images:
        kinetic = patch_means(images["pet_dynamic"], brain, index, n)
        out["kinetic"] = cluster_ari(kinetic, labels, seed=seed)
    return out


def truth_on_learning_grid(bids_root: str | Path, ids: d.IdsLike,
                           config: Config | None = None) -> np.ndarray:
    """The phantom's tissue labels (``TRUTH_TISSUE_T1W``) on the learning grid (nearest
    neighbour through preprocessing's T1w-to-template transform), int16.

    Raises
    ------
    InputError
        No phantom truth or no preprocessing for the session.
    """
    from gliopet.io.nifti import load_nifti
    from gliopet.preprocess import registration as reg
    from gliopet.preprocess.grids import learning_reference

    config = config or load_config()
    labels_path = d.find(bids_root, ids, d.TRUTH_TISSUE_T1W, what="phantom tissue labels")
    xfm = d.find(bids_root, ids, d.XFM, from_=d.REFERENCE_SPACE, to=d.TEMPLATE_SPACE,
                 what="T1w-to-template transform")
    reference = learning_reference(config.preprocess.learning_margin_mm,
                                   config.preprocess.template_resolution_mm)
    moved = reg.resample(reg.nifti_to_sitk(load_nifti(labels_path)), reference,
                         reg.read_transform(xfm), "nearest")
    return np.rint(reg.from_sitk(moved)[0]).astype(np.int16)
