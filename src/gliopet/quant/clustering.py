"""Kinetic habitats: tumour voxels grouped by TAC shape with k-means (scikit-learn).

Each voxel TAC is divided by its own mean over the frames (shape only, not uptake level);
k-means (k-means++, ``n_init=10``, seeded) is run for k = 2..5 and k is chosen by the highest
mean silhouette coefficient (computed on at most ``silhouette_sample`` voxels, seeded).
Habitats are numbered 1..k in order of increasing TTP of their mean TAC (ties: decreasing late
slope), so that labels are reproducible; 0 is outside the tumour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gliopet.errors import InputError
from gliopet.io.timing import FrameTiming
from gliopet.quant._curves import require_dynamic
from gliopet.quant.static import check_mask
from gliopet.quant.tac import late_slope


@dataclass
class Habitats:
    """TAC habitats of a tumour.

    Attributes
    ----------
    labels : ndarray of int16
        Label map (0 outside the tumour, 1..k habitats).
    k : int
        Number of habitats chosen.
    silhouette : dict
        Mean silhouette coefficient for each k tried.
    mean_tacs : ndarray (k, n_frames)
        Mean TAC (input units, e.g. SUV) of each habitat, row j = label j + 1.
    """

    labels: np.ndarray
    k: int
    silhouette: dict[int, float]
    mean_tacs: np.ndarray


def tac_habitats(frames: np.ndarray, timing: FrameTiming, tumour: np.ndarray,
                 k_range: tuple[int, int] = (2, 5), seed: int = 0,
                 silhouette_sample: int = 5000) -> Habitats:
    """Cluster tumour voxel TACs by shape; returns the label map and mean TAC per habitat."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    require_dynamic(timing, "TAC clustering")
    frames = np.asarray(frames)
    tumour = check_mask(tumour, frames.shape[:3], "tumour")
    tacs = frames[tumour].astype(float)
    n = tacs.shape[0]
    if n < 2 * k_range[0]:
        raise InputError(f"the tumour VOI has {n} voxels, too few to cluster into habitats",
                         fix="give a larger tumour VOI")
    level = tacs.mean(axis=1, keepdims=True)
    shapes = tacs / np.where(level > 0, level, 1.0)
    rng = np.random.default_rng(seed)
    sample = rng.choice(n, size=min(n, silhouette_sample), replace=False)
    scores: dict[int, float] = {}
    fits = {}
    for k in range(k_range[0], min(k_range[1], n - 1) + 1):
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(shapes)
        if len(np.unique(model.labels_[sample])) < 2:
            continue
        scores[k] = float(silhouette_score(shapes[sample], model.labels_[sample]))
        fits[k] = model.labels_
    if not scores:
        raise InputError("all tumour TACs have the same shape: no habitats to separate",
                         fix="habitats need a dynamic PET with heterogeneous tumour kinetics")
    k = max(scores, key=lambda key: (scores[key], -key))
    raw = fits[k]
    means = np.stack([tacs[raw == j].mean(axis=0) for j in range(k)])
    order = sorted(range(k), key=lambda j: (timing.mid_s[int(np.argmax(means[j]))],
                                            -late_slope(means[j], timing)))
    relabel = np.empty(k, dtype=np.int16)
    relabel[order] = np.arange(1, k + 1, dtype=np.int16)
    labels = np.zeros(tumour.shape, dtype=np.int16)
    labels[tumour] = relabel[raw]
    return Habitats(labels, k, scores, means[order])
