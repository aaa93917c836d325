"""The IBSI-1 digital phantom check: gliopet's feature extraction against the published values.

The phantom (5 x 4 x 4 voxels of 2 mm, already discretised to grey levels 1-6) and its
reference table (``reference_values.csv``: family, feature, reference value, tolerance, tag)
come from the IBSI (Zwanenburg et al., Radiology 2020). IBSI's configuration for it: no
resampling, no resegmentation, no discretisation, GLCM/NGLDM distance 1, every aggregation.
The phantom is read as ``ct``: its grey levels are integers and are not resampled, and only for
CT images does MIRP's intensity-volume histogram use the grey levels as they are (IBSI's phantom
configuration; for ``mr`` it falls back to 1000 bins).

IBSI compares a value after rounding it to 3 significant digits, the precision of the published
references: ``|round3(x) - reference| <= tolerance`` (MIRP's own IBSI test uses the same rule).
Features without a reference ("not standardized": OMBB and MVEE densities, IVH area) are not
compared.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gliopet.radiomics.features import (
    DIRECTIONAL_METHODS,
    FAMILIES,
    ZONE_METHODS,
    Discretisation,
    FeatureSettings,
    extract,
    family_of,
)

#: Files of the phantom inside its folder.
IMAGE = Path("nifti/image/phantom.nii.gz")
MASK = Path("nifti/mask/mask.nii.gz")
REFERENCES = Path("reference_values.csv")
#: Reference-table aggregation suffix -> MIRP's (directional families: GLCM, GLRLM).
_DIRECTIONAL = {"2D_avg": "2d_avg", "2D_comb": "2d_s_mrg", "2_5D_avg": "2.5d_d_mrg",
                "2_5D_comb": "2.5d_v_mrg", "3D_avg": "3d_avg", "3D_comb": "3d_v_mrg"}
_ZONES = {"2D": "2d", "2_5D": "2.5d", "3D": "3d"}


def phantom_settings(families: tuple[str, ...] = tuple(FAMILIES)) -> FeatureSettings:
    """IBSI's configuration of the digital phantom, with every aggregation method."""
    return FeatureSettings(families=families, discretisation=Discretisation("none"),
                           resample_mm=None, ivh_bins=None, texture_method="3d_volume_merge",
                           zone_method="3d",
                           extra_texture_methods=tuple(m for m in DIRECTIONAL_METHODS
                                                       if m != "3d_volume_merge"),
                           extra_zone_methods=tuple(m for m in ZONE_METHODS if m != "3d"))


def mirp_name(tag: str) -> str:
    """MIRP's name of a reference-table tag
    (``cm_joint_max_3D_comb`` -> ``cm_joint_max_d1_3d_v_mrg``)."""
    for suffix, mirp in _DIRECTIONAL.items():
        if tag.startswith(("cm_", "rlm_")) and tag.endswith("_" + suffix):
            stem = tag[: -len(suffix) - 1]
            return f"{stem}_d1_{mirp}" if tag.startswith("cm_") else f"{stem}_{mirp}"
    for suffix, mirp in _ZONES.items():
        if tag.startswith(("szm_", "dzm_", "ngt_", "ngl_")) and tag.endswith("_" + suffix):
            stem = tag[: -len(suffix) - 1]
            return f"{stem}_d1_a0.0_{mirp}" if tag.startswith("ngl_") else f"{stem}_{mirp}"
    return tag


def round3(value: float) -> float:
    """`value` rounded to 3 significant digits (IBSI's reporting precision)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, 2 - int(math.floor(math.log10(abs(value)))))


def aggregation(tag: str) -> str:
    """The aggregation of a reference tag (``2D_avg``, ``3D``, ...; ``-`` for non-texture)."""
    match = re.search(r"_(2D|2_5D|3D)(_avg|_comb)?$", tag)
    return match.group(0)[1:].replace("_5", ".5") if match else "-"


@dataclass
class PhantomComparison:
    """One row per reference feature: our value, the reference, the tolerance and the verdict."""

    table: pd.DataFrame

    def by_family(self) -> pd.DataFrame:
        """Per family and aggregation: features compared, passed, largest deviation before
        (``|x - reference|``) and after rounding, largest excess over the tolerance
        (``|round3(x) - reference| - tolerance``, <= 0 passes)."""
        grouped = self.table.groupby(["family", "aggregation"], sort=False)
        return grouped.agg(compared=("passed", "size"), passed=("passed", "sum"),
                           max_raw_difference=("raw_difference", "max"),
                           max_abs_difference=("abs_difference", "max"),
                           max_excess=("excess", "max")).reset_index()


def compare_phantom(folder: Path, families: tuple[str, ...] = tuple(FAMILIES)) -> PhantomComparison:
    """Compute the phantom's features with `phantom_settings` and compare every referenced one.

    A feature MIRP did not return counts as failed (value NaN).
    """
    references = pd.read_csv(folder / REFERENCES, encoding="utf-8-sig")
    references = references.rename(columns={"reference value": "reference"})
    references = references.dropna(subset=["reference"])
    values = extract(folder / IMAGE, folder / MASK, phantom_settings(families), modality="ct")
    rows = []
    for ref in references.itertuples(index=False):
        tag = str(ref.tag).strip()
        name = mirp_name(tag)
        family = family_of(name)
        if family not in families:
            continue
        reference, tolerance = float(ref.reference), float(ref.tolerance)
        value = values.get(name, math.nan)
        difference = abs(round3(value) - reference)
        excess = difference - tolerance
        rows.append({"family": family, "aggregation": aggregation(tag), "tag": tag,
                     "mirp_name": name, "value": value, "reference": reference,
                     "tolerance": tolerance, "raw_difference": abs(value - reference),
                     "abs_difference": difference, "excess": excess,
                     "passed": bool(excess <= 1e-12)})
    return PhantomComparison(pd.DataFrame(rows))
