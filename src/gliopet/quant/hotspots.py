"""Dynamic hot spots (Kunz 2011, Neuro-Oncology 13:307): focal regions of early-peaking,
then decreasing uptake inside a tumour, the marker of aggressive foci in suspected low-grade
glioma (FET; Thon 2015).

A voxel is "early peak, decreasing" when its TTP is below ``early_peak_min`` and its late slope
is negative; connected regions of such voxels inside the tumour VOI (26-connectivity,
`scipy.ndimage.label`) are hot spots when at least ``min_volume_ml`` large. Each is reported
with its volume (mL), the TTP (min), late slope (SUV/h) and peak SUV of its mean TAC, and its
centroid in world RAS mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gliopet.config import package_defaults
from gliopet.io.timing import FrameTiming
from gliopet.quant._curves import require_dynamic
from gliopet.quant.static import check_mask, voxel_volume_ml
from gliopet.quant.tac import SLOPE_WINDOW_S, late_slope, slope_weights, ttp_min
from gliopet.spatial import label_components, voxel_sizes

#: Defaults from the configuration (``quant.early_peak_min``, ``quant.hotspot_min_volume_ml``).
EARLY_PEAK_MIN = package_defaults().quant.early_peak_min
MIN_VOLUME_ML = package_defaults().quant.hotspot_min_volume_ml


@dataclass
class HotSpots:
    """Hot-spot label map (0 none, 1..n by decreasing volume) and one dict per hot spot."""

    labels: np.ndarray
    spots: list[dict[str, float | tuple[float, float, float]]]


def dynamic_hotspots(frames: np.ndarray, timing: FrameTiming, tumour: np.ndarray,
                     affine: np.ndarray, *, early_peak_min: float = EARLY_PEAK_MIN,
                     min_volume_ml: float = MIN_VOLUME_ML,
                     slope_window_s: tuple[float, float] = SLOPE_WINDOW_S) -> HotSpots:
    """Find hot spots in the tumour VOI of a dynamic SUV image (see module docstring)."""
    require_dynamic(timing, "dynamic hot spots")
    frames = np.asarray(frames)
    tumour = check_mask(tumour, frames.shape[:3], "tumour")
    tacs = frames[tumour].astype(np.float32)
    ttp = timing.mid_min[np.argmax(tacs, axis=1)]
    slope = tacs @ slope_weights(timing, slope_window_s).astype(np.float32)
    flagged = np.zeros(tumour.shape, bool)
    flagged[tumour] = (ttp < early_peak_min) & (slope < 0)
    labels, counts = label_components(flagged, connectivity=26)
    sizes = counts * voxel_volume_ml(voxel_sizes(affine))
    keep = [j + 1 for j in np.argsort(-sizes, kind="stable") if sizes[j] >= min_volume_ml]
    out = np.zeros(tumour.shape, dtype=np.int16)
    spots = []
    for rank, lab in enumerate(keep, start=1):  # loop over hot spots (few), not voxels
        region = labels == lab
        out[region] = rank
        tac = frames[region].astype(float).mean(axis=0)
        centre = ndimage.center_of_mass(region)
        world = np.asarray(affine)[:3, :3] @ np.asarray(centre) + np.asarray(affine)[:3, 3]
        spots.append({
            "label": rank, "volume_mL": float(sizes[lab - 1]), "TTP_min": ttp_min(tac, timing),
            "slope_SUV_per_h": late_slope(tac, timing, slope_window_s),
            "peak_SUV": float(tac.max()),
            "centroid_ras_mm": tuple(float(v) for v in world),
        })
    return HotSpots(out, spots)
