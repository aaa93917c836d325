"""IBSI-compliant radiomics features of one image inside one mask, computed with MIRP.

MIRP (Zwanenburg et al.; IBSI 1 and 2 compliant) does every step: optional isotropic resampling
of image and mask, resegmentation to an intensity range, discretisation, and the feature
families. This module only turns gliopet's settings (`FeatureSettings`, built from the
``radiomics`` section of the configuration) into MIRP's keyword arguments and MIRP's one-row
table into a plain dict of floats.

Feature names are MIRP's IBSI names (``stat_max``, ``cm_contrast_d1_3d_v_mrg``, ...): the
prefix names the family (`FAMILIES`), the tail of a texture feature its distance and
aggregation (``3d_v_mrg``: one matrix merged over the 3D volume and its 13 directions;
``3d_avg``: one matrix per direction, features averaged).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gliopet.errors import InputError

#: gliopet family name -> (MIRP family name, prefix of its feature names).
FAMILIES: dict[str, tuple[str, str]] = {
    "morphology": ("morphology", "morph_"),
    "local_intensity": ("local_intensity", "loc_"),
    "statistics": ("statistics", "stat_"),
    "intensity_histogram": ("intensity_histogram", "ih_"),
    "intensity_volume_histogram": ("intensity_volume_histogram", "ivh_"),
    "glcm": ("cooccurrence_matrix", "cm_"),
    "glrlm": ("run_length_matrix", "rlm_"),
    "glszm": ("size_zone_matrix", "szm_"),
    "gldzm": ("distance_zone_matrix", "dzm_"),
    "ngtdm": ("neighbourhood_grey_tone_difference_matrix", "ngt_"),
    "ngldm": ("neighbouring_grey_level_dependence_matrix", "ngl_"),
}
#: Features MIRP computes that the IBSI-1 reference table does not list (intensity-volume
#: histogram at 25/50/75 %): left out, so that every reported feature has a checked reference.
UNREFERENCED = frozenset({"ivh_v25", "ivh_v50", "ivh_v75", "ivh_i25", "ivh_i50", "ivh_i75",
                          "ivh_diff_v25_v75", "ivh_diff_i25_i75"})
#: Families whose features need a discretised image.
DISCRETISED = ("intensity_histogram", "glcm", "glrlm", "glszm", "gldzm", "ngtdm", "ngldm")
#: Families computed from the mask's shape (the same for every image of a mask).
SHAPE_FAMILIES = ("morphology",)
#: Texture aggregation methods MIRP offers, by family kind (IBSI 1 section 3.1).
DIRECTIONAL_METHODS = ("2d_average", "2d_slice_merge", "2.5d_direction_merge",
                       "2.5d_volume_merge", "3d_average", "3d_volume_merge")
ZONE_METHODS = ("2d", "2.5d", "3d")
#: MIRP modalities used: ``pet`` (calibrated, non-negative: MIRP sets negative voxels to 0) for
#: SUV and TBR images, ``mr`` (no intensity processing unless asked) for MRI and for the maps
#: that may be negative (TTP, slope, early/late). ``ct`` would round intensities to integers
#: after resampling (the IBSI phantom, integer grey levels that are not resampled, uses it: only
#: there does MIRP's IVH take the grey levels as they are) and MIRP refuses ``generic`` at
#: feature time.
Modality = Literal["pet", "mr", "ct"]



@dataclass(frozen=True)
class Discretisation:
    """How intensities are binned before the texture and histogram families.

    Attributes
    ----------
    method : {"fixed_bin_size", "fixed_bin_number", "none"}
        Fixed bin size (calibrated units: SUV, TBR; bins start at `lower_bound`), fixed bin
        number (arbitrary units: MRI, maps of mixed sign) or none (the image is already
        discretised, e.g. the IBSI digital phantom).
    value : float or None
        Bin width (image units) or number of bins; None for ``none``.
    lower_bound : float or None
        Resegmentation lower bound (image units): voxels below it leave the intensity mask and
        fixed bins start there (IBSI 1, 2.7); None: no resegmentation, bins start at the ROI
        minimum.
    """

    method: Literal["fixed_bin_size", "fixed_bin_number", "none"]
    value: float | None = None
    lower_bound: float | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (sidecars, provenance)."""
        return {"method": self.method, "value": self.value, "lower_bound": self.lower_bound}


@dataclass(frozen=True)
class FeatureSettings:
    """Everything MIRP needs besides the image and the mask.

    Attributes
    ----------
    families : tuple of str
        Keys of `FAMILIES`.
    discretisation : Discretisation
        Binning of the discretised families.
    resample_mm : float or None
        Isotropic voxel edge (mm) image and mask are resampled to; None keeps the grid.
    image_order : int
        B-spline order of image resampling (1: trilinear, IBSI's usual choice).
    mask_threshold : float
        A resampled mask voxel belongs to the ROI when its interpolated value is >= this.
    texture_method : str
        Aggregation of GLCM and GLRLM (`DIRECTIONAL_METHODS`).
    zone_method : str
        Aggregation of GLSZM, GLDZM, NGTDM and NGLDM (`ZONE_METHODS`).
    glcm_distance : float
        GLCM and NGLDM neighbourhood distance (voxels, Chebyshev).
    ivh_bins : int or None
        Bins of the intensity-volume histogram (None: the intensities as they are, for an
        already discretised image).
    extra_texture_methods, extra_zone_methods : tuple of str
        Further aggregation methods computed as well (the IBSI phantom check runs them all).
    """

    families: tuple[str, ...]
    discretisation: Discretisation
    resample_mm: float | None = None
    image_order: int = 1
    mask_threshold: float = 0.5
    texture_method: str = "3d_volume_merge"
    zone_method: str = "3d"
    glcm_distance: float = 1.0
    ivh_bins: int | None = 1000
    extra_texture_methods: tuple[str, ...] = field(default_factory=tuple)
    extra_zone_methods: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown radiomics families {unknown}; known: {sorted(FAMILIES)}")
        if not self.families:
            raise ValueError("give at least one radiomics family")

    def with_families(self, families: Sequence[str]) -> FeatureSettings:
        """The same settings for other families (empty families are not allowed)."""
        from dataclasses import replace

        return replace(self, families=tuple(families))

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (sidecars, provenance)."""
        return {"families": list(self.families), "discretisation": self.discretisation.describe(),
                "resample_mm": self.resample_mm, "image_spline_order": self.image_order,
                "mask_inclusion_threshold": self.mask_threshold,
                "texture_aggregation": self.texture_method, "zone_aggregation": self.zone_method,
                "glcm_distance_voxels": self.glcm_distance, "ivh_bins": self.ivh_bins,
                "software": f"mirp {_mirp_version()}"}


def _mirp_version() -> str:
    from importlib.metadata import version

    return version("mirp")


def mirp_arguments(settings: FeatureSettings, modality: Modality) -> dict[str, Any]:
    """MIRP keyword arguments (`mirp.extract_features`) for `settings`."""
    families = [FAMILIES[f][0] for f in settings.families]
    texture = [settings.texture_method, *settings.extra_texture_methods]
    zones = [settings.zone_method, *settings.extra_zone_methods]
    disc = settings.discretisation
    args: dict[str, Any] = {
        "image_modality": modality, "by_slice": False, "ibsi_compliant": True,
        "no_approximation": True, "base_feature_families": families,
        "glcm_distance": [settings.glcm_distance], "glcm_spatial_method": texture,
        "glrlm_spatial_method": texture, "glszm_spatial_method": zones,
        "gldzm_spatial_method": zones, "ngtdm_spatial_method": zones,
        "ngldm_distance": [settings.glcm_distance], "ngldm_spatial_method": zones,
        "ngldm_difference_level": [0.0],
        "ivh_discretisation_method": ("none" if settings.ivh_bins is None
                                      else "fixed_bin_number"),
        "anti_aliasing": False,
    }
    if settings.ivh_bins is not None:
        args["ivh_discretisation_n_bins"] = settings.ivh_bins
    if any(f in DISCRETISED for f in settings.families):
        args["base_discretisation_method"] = disc.method
        if disc.method == "fixed_bin_size":
            args["base_discretisation_bin_width"] = float(disc.value)
        elif disc.method == "fixed_bin_number":
            args["base_discretisation_n_bins"] = int(disc.value)
    if disc.lower_bound is not None:
        args["resegmentation_intensity_range"] = [float(disc.lower_bound), np.nan]
    if settings.resample_mm is not None:
        args.update(new_spacing=float(settings.resample_mm), spline_order=settings.image_order,
                    roi_spline_order=1,
                    roi_interpolation_mask_inclusion_threshold=settings.mask_threshold)
    return args


def extract(image: Path, mask: Path, settings: FeatureSettings,
            modality: Modality = "mr") -> dict[str, float]:
    """IBSI features of `image` inside `mask` (NIfTI files on the same grid).

    Returns
    -------
    dict
        MIRP feature name -> value (NaN where MIRP could not compute it); only the families of
        `settings`, without `UNREFERENCED`.

    Raises
    ------
    InputError
        MIRP refused the image or the mask (message names the image).
    """
    from mirp import extract_features

    try:
        with _quiet():
            tables = extract_features(write_features=False, export_features=True,
                                      image=str(image), mask=str(mask),
                                      **mirp_arguments(settings, modality))
    except (ValueError, RuntimeError) as exc:
        raise InputError(f"MIRP could not compute features: {exc}", path=image,
                         fix="check that the image and the mask are on the same grid and that "
                             "the mask is not empty") from None
    if not tables:
        raise InputError("MIRP returned no features (empty mask?)", path=mask,
                         fix="check the mask")
    row = tables[0].iloc[0]
    prefixes = tuple(FAMILIES[f][1] for f in settings.families)
    return {str(k): _float(v) for k, v in row.items()
            if str(k).startswith(prefixes) and str(k) not in UNREFERENCED}


@contextmanager
def _quiet() -> Iterator[None]:
    """MIRP logs two INFO lines per call on the root logger and warns once per image when a
    small VOI falls into one bin: both hidden while it runs (the features say it: zero
    entropy, NaN where undefined)."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def family_of(feature: str) -> str:
    """The gliopet family of a MIRP feature name (``cm_contrast_d1_3d_v_mrg`` -> ``glcm``)."""
    for family, (_, prefix) in FAMILIES.items():
        if feature.startswith(prefix):
            return family
    raise ValueError(f"{feature!r} belongs to no known family")
