"""Quality control: one PNG per session and QC table rows with outlier flags.

The PNG shows the static PET (hot colour map, transparent below 35 % of its 99th percentile)
over the MRI resampled onto the PET grid, in three orthogonal planes through the striatum,
with the brain-mask outline (cyan), the striatum (green) and the healthy reference (yellow).

Flags (column ``flags``, ``;``-separated, empty when all is well):

* ``pet_mri_nmi_low``: PET-MRI normalised mutual information after registration below
  `min_pet_nmi` or not better than before registration (a failed registration);
* ``template_nmi_low``: same for MRI-template;
* ``motion_high``: a frame moved more than the motion threshold;
* ``brain_volume``: brain mask outside `brain_ml_range` (mL);
* ``no_striatum`` / ``no_healthy``: an empty reference region;
* ``cohort_outlier:<column>``: more than 3.5 robust SD (MAD) from the cohort median
  (`flag_cohort_outliers`, at least 5 sessions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.atomic import atomic_path

QC_COLUMNS = ("pet_mri_nmi_initial", "pet_mri_nmi", "template_nmi", "max_motion_mm",
              "brain_ml", "striatum_ml", "healthy_ml")


def qc_flags(row: dict[str, Any], *, min_pet_nmi: float = 1.02, min_template_nmi: float = 1.03,
             brain_ml_range: tuple[float, float] = (900.0, 2300.0),
             motion_threshold_mm: float = 2.0) -> list[str]:
    """Flags of one QC row (see module docstring)."""
    flags = []
    nmi = row.get("pet_mri_nmi")
    if nmi is not None and np.isfinite(nmi):
        if nmi < min_pet_nmi or nmi <= row.get("pet_mri_nmi_initial", -np.inf) - 1e-3:
            flags.append("pet_mri_nmi_low")
    tnmi = row.get("template_nmi")
    if tnmi is not None and (not np.isfinite(tnmi) or tnmi < min_template_nmi):
        flags.append("template_nmi_low")
    if (row.get("max_motion_mm") or 0.0) > motion_threshold_mm:
        flags.append("motion_high")
    brain = row.get("brain_ml")
    if brain is not None and not brain_ml_range[0] <= brain <= brain_ml_range[1]:
        flags.append("brain_volume")
    if row.get("striatum_ml") is not None and row["striatum_ml"] <= 0:
        flags.append("no_striatum")
    if row.get("healthy_ml") is not None and row["healthy_ml"] <= 0:
        flags.append("no_healthy")
    return flags


def flag_cohort_outliers(table: pd.DataFrame, columns: tuple[str, ...] = QC_COLUMNS,
                         z: float = 3.5, min_sessions: int = 5) -> pd.DataFrame:
    """Append ``cohort_outlier:<column>`` to ``flags`` where a value is a robust outlier."""
    table = table.copy()
    if "flags" not in table:
        table["flags"] = ""
    table["flags"] = table["flags"].fillna("").astype(str)
    if len(table) < min_sessions:
        return table
    for column in columns:
        if column not in table:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        median = values.median()
        mad = 1.4826 * (values - median).abs().median()
        if not np.isfinite(mad) or mad <= 0:
            continue
        outlier = ((values - median).abs() / mad) > z
        for index in table.index[outlier.fillna(False)]:
            current = table.at[index, "flags"]
            table.at[index, "flags"] = ";".join(filter(None, [current, f"cohort_outlier:{column}"]))
    return table


def _outline(ax, mask: np.ndarray, color: str) -> None:
    if mask.any() and (~mask).any():
        ax.contour(mask.T.astype(float), levels=[0.5], colors=color, linewidths=0.8)


def qc_figure(path: str | Path, pet: np.ndarray, mri: np.ndarray, masks: dict[str, np.ndarray],
              spacing_mm: tuple[float, float, float], title: str) -> Path:
    """Write the session's QC PNG (atomically); arrays on the PET grid, RAS canonical."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    brain = masks.get("brain", np.ones(pet.shape, dtype=bool))
    # Planes through the striatum (when found) so both reference regions show, else the brain
    # centre.
    anchor = (
        masks.get("striatum")
        if masks.get("striatum") is not None and masks["striatum"].any()
        else brain
    )
    centre = (np.argwhere(anchor).mean(axis=0) if anchor.any() else np.array(pet.shape) / 2).astype(
        int
    )
    top = float(np.percentile(pet[brain], 99)) if brain.any() else float(pet.max() or 1.0)
    mri_top = float(np.percentile(mri[brain], 99)) if brain.any() else float(mri.max() or 1.0)
    planes = [("sagittal", lambda a: a[centre[0], :, :], (spacing_mm[1], spacing_mm[2])),
              ("coronal", lambda a: a[:, centre[1], :], (spacing_mm[0], spacing_mm[2])),
              ("axial", lambda a: a[:, :, centre[2]], (spacing_mm[0], spacing_mm[1]))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, (name, cut, (sx, sy)) in zip(axes, planes, strict=True):
        aspect = sy / sx
        ax.imshow(cut(mri).T, origin="lower", cmap="gray", vmin=0, vmax=mri_top, aspect=aspect)
        pet_cut = np.ma.masked_less(cut(pet).T, 0.35 * top)
        ax.imshow(pet_cut, origin="lower", cmap="hot", vmin=0, vmax=top, alpha=0.45, aspect=aspect)
        _outline(ax, cut(brain), "cyan")
        for key, color in (("striatum", "lime"), ("healthy", "yellow")):
            if key in masks:
                _outline(ax, cut(masks[key]), color)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"{title}  (PET over MRI; cyan brain, green striatum, yellow healthy reference)",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path
