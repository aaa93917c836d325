"""Configuration: YAML defaults inside the package, validated by pydantic, user overrides.

The defaults live in ``gliopet/data/config/defaults.yaml``. A user file (``--config``) may
override any subset of keys; unknown keys are refused with the key's name, so a typo never
passes silently.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gliopet.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_range(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not low < high:
        raise ValueError(f"range must be increasing, got {list(value)}")
    return value


class IOConfig(_Strict):
    weight_kg_range: tuple[float, float] = (20.0, 250.0)
    injected_activity_MBq_range: tuple[float, float] = (10.0, 1000.0)
    max_frame_duration_s: float = Field(7200.0, gt=0)
    frame_timing_tolerance_s: float = Field(0.5, ge=0)

    _ranges = field_validator("weight_kg_range", "injected_activity_MBq_range")(_check_range)


class SimulateConfig(_Strict):
    profile: Literal["tiny", "standard"] = "tiny"
    scenario: Literal["diagnosis", "recurrence", "both", "healthy"] = "both"
    sites: tuple[str, ...] = ("siteA", "siteB", "siteC")
    aggressive_fraction: float = Field(0.4, ge=0, le=1)
    healthy_fraction: float = Field(0.0, ge=0, le=1)
    kinetics: Literal["fdopa", "one-tissue"] = "fdopa"


class QuantConfig(_Strict):
    tracer: Literal["FDOPA", "FET"] = "FDOPA"
    static_window_min: tuple[float, float] = (10.0, 30.0)
    tumour_threshold_x_background: float = Field(1.6, gt=1.0)
    healthy_reference: Literal["median", "mean"] = "median"
    striatum_margin_mm: float = Field(5.0, ge=0)
    min_component_ml: float = Field(0.5, ge=0)
    slope_window_min: tuple[float, float] = (10.0, 30.0)
    early_window_min: tuple[float, float] = (1.0, 10.0)
    early_peak_min: float = Field(5.4, gt=0)
    hotspot_min_volume_ml: float = Field(0.5, gt=0)

    _ranges = field_validator("static_window_min", "slope_window_min",
                              "early_window_min")(_check_range)


class PreprocessConfig(_Strict):
    """Preprocessing (issue 4): motion correction, registration, brain mask, regions, QC."""

    motion_correction: bool = True
    motion_start_s: float = Field(120.0, ge=0)
    reference_start_s: float = Field(600.0, ge=0)
    motion_fwhm_mm: float = Field(8.0, ge=0)
    motion_threshold_mm: float = Field(2.0, gt=0)
    pet_fwhm_mm: float = Field(4.0, ge=0)
    registration_iterations: int = Field(150, ge=5)
    work_spacing_mm: float = Field(2.0, ge=1.0, le=8.0)
    template_resolution_mm: Literal[1, 2] = 2
    learning_margin_mm: float = Field(4.0, ge=0)
    reference_margin_mm: float = Field(8.0, ge=0)
    min_pet_nmi: float = Field(1.02, ge=1.0)
    min_template_nmi: float = Field(1.03, ge=1.0)
    min_fov_overlap: float = Field(0.2, gt=0, le=1)
    brain_ml_range: tuple[float, float] = (900.0, 2300.0)
    # striatum refined with the patient's PET (gliopet.preprocess.regions.refine_striatum)
    striatum_search_mm: float = Field(6.0, ge=0)
    striatum_core_fraction: float = Field(0.4, gt=0, lt=1)
    striatum_min_contrast: float = Field(1.3, ge=1.0)
    striatum_volume_ratio_range: tuple[float, float] = (0.5, 1.5)

    _ranges = field_validator("brain_ml_range", "striatum_volume_ratio_range")(_check_range)


class ComputeConfig(_Strict):
    jobs: int = Field(1, ge=1)


# ---- radiomics (gliopet.radiomics): MIRP settings, recorded in the provenance and the sidecar
RadiomicsFamily = Literal["morphology", "local_intensity", "statistics", "intensity_histogram",
                          "intensity_volume_histogram", "glcm", "glrlm", "glszm", "gldzm",
                          "ngtdm", "ngldm"]
RadiomicsImage = Literal["SUV", "TBR", "TTP", "slope", "earlylate", "MRI"]


class RadiomicsConfig(_Strict):
    families: tuple[RadiomicsFamily, ...] = Field(
        ("morphology", "local_intensity", "statistics", "intensity_histogram",
         "intensity_volume_histogram", "glcm", "glrlm", "glszm", "gldzm", "ngtdm", "ngldm"),
        min_length=1)
    images: tuple[RadiomicsImage, ...] = Field(("SUV", "TBR", "TTP", "slope", "earlylate", "MRI"),
                                               min_length=1)
    resample_mm: float | None = Field(None, gt=0)
    image_spline_order: int = Field(1, ge=0, le=5)
    mask_inclusion_threshold: float = Field(0.5, gt=0, le=1)
    bin_width_suv: float = Field(0.25, gt=0)
    bin_width_tbr: float = Field(0.1, gt=0)
    bin_number: int = Field(32, ge=2)
    ivh_bins: int = Field(1000, ge=10)
    texture_aggregation: Literal["2d_average", "2d_slice_merge", "2.5d_direction_merge",
                                 "2.5d_volume_merge", "3d_average",
                                 "3d_volume_merge"] = "3d_volume_merge"
    zone_aggregation: Literal["2d", "2.5d", "3d"] = "3d"
    glcm_distance_voxels: float = Field(1.0, gt=0)


class Config(_Strict):
    """The whole resolved configuration (every stage reads its own section)."""

    seed: int = Field(20261126, ge=0)
    io: IOConfig = IOConfig()
    simulate: SimulateConfig = SimulateConfig()
    quant: QuantConfig = QuantConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    compute: ComputeConfig = ComputeConfig()
    radiomics: RadiomicsConfig = RadiomicsConfig()

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_config_dict() -> dict[str, Any]:
    text = resources.files("gliopet").joinpath("data/config/defaults.yaml").read_text()
    return yaml.safe_load(text)


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Return the validated configuration: package defaults, then `path`, then `overrides`.

    Raises
    ------
    InputError
        If the user file is not readable YAML or contains unknown keys or invalid values.
    """
    data = default_config_dict()
    source = "package defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            user = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise InputError("configuration file not found", path=path,
                             fix="give an existing YAML file to --config") from None
        except yaml.YAMLError as exc:
            raise InputError(f"not valid YAML ({exc.__class__.__name__})", path=path,
                             fix="check the indentation and quoting of the file") from None
        if not isinstance(user, dict):
            raise InputError("the configuration must be a YAML mapping of keys to values",
                             path=path, fix="see gliopet/data/config/defaults.yaml for the layout")
        data = _deep_merge(data, user)
    data = _deep_merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise InputError(f"configuration key {key!r}: {first['msg']}", path=source,
                         fix="correct or remove the key (defaults: "
                             "gliopet/data/config/defaults.yaml)") from None


@lru_cache(maxsize=1)
def package_defaults() -> Config:
    """The package defaults (``defaults.yaml``), validated; cached (a `Config` is immutable).

    For module-level defaults of library functions (windows, thresholds, seeds), so that every
    default has one home: this file's YAML. Stages read the resolved configuration instead.
    """
    return load_config()


def window_s(window_min: tuple[float, float]) -> tuple[float, float]:
    """A (start, end) window in min from injection, in s."""
    return (60.0 * float(window_min[0]), 60.0 * float(window_min[1]))
