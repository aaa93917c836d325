"""Configuration of the foundation model: architecture, pretext tasks and training.

Two presets ship in ``gliopet/data/config/foundation/``: ``tiny`` (2 CPU cores, minutes) and
``base`` (one GPU, bf16, 128^3 crops). A user YAML file may override any subset of a preset's
keys (``preset: base`` at its top picks the preset it starts from; default ``tiny``); unknown
keys are refused by name. The seed is the package configuration's (``gliopet.config``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gliopet.errors import InputError

PRESETS = ("tiny", "base")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """The encoder (a 3D ViT, one tokeniser per modality) and the light MAE decoder."""

    patch_size: int = Field(8, ge=2, le=8)  # voxels of the 2 mm learning grid (<= 16 mm)
    hidden_size: int = Field(48, ge=8)
    depth: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    mlp_dim: int = Field(96, ge=8)
    qkv_bias: bool = True
    decoder_hidden_size: int = Field(32, ge=8)
    decoder_depth: int = Field(1, ge=1)
    decoder_num_heads: int = Field(4, ge=1)
    projection_dim: int = Field(32, ge=4)

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelConfig:
        for size, heads in ((self.hidden_size, self.num_heads),
                            (self.decoder_hidden_size, self.decoder_num_heads)):
            if size % heads:
                raise ValueError(f"hidden size {size} is not divisible by {heads} heads")
        return self


class Objective(_Strict):
    enabled: bool = True
    weight: float = Field(1.0, ge=0)


class InpaintingConfig(Objective):
    mask_ratio: float = Field(0.6, ge=0, lt=1)  # fraction of each modality's patches hidden


class CrossModalConfig(Objective):
    drop_probability: float = Field(0.5, ge=0, le=1)  # drop a random proper subset of modalities
    pet_from_mri_probability: float = Field(0.25, ge=0, le=1)  # drop every PET modality


class ContrastiveConfig(Objective):
    temperature: float = Field(0.2, gt=0)
    #: The second view's crop is the first's moved by at most this many patches per axis
    #: (overlapping views); None: both crops drawn independently over the grid.
    view_shift: int | None = Field(None, ge=0)


class DynamicConfig(Objective):
    modality: str = "pet_dynamic"
    mask_ratio: float = Field(0.6, ge=0, lt=1)


class PretextConfig(_Strict):
    inpainting: InpaintingConfig = InpaintingConfig()
    cross_modal: CrossModalConfig = CrossModalConfig()
    contrastive: ContrastiveConfig = ContrastiveConfig()
    dynamic: DynamicConfig = DynamicConfig()
    #: Modalities dropped together by the PET-from-MRI reconstruction.
    pet_modalities: tuple[str, ...] = ("pet", "pet_dynamic")


class AugmentConfig(_Strict):
    intensity_scale: float = Field(0.1, ge=0)  # multiplicative factor range +-
    intensity_shift: float = Field(0.1, ge=0)  # additive shift range +-
    noise_std: float = Field(0.02, ge=0)


class TrainConfig(_Strict):
    crop_size: tuple[int, int, int] = (32, 32, 32)  # voxels, multiples of the patch size
    batch_size: int = Field(2, ge=1)
    max_epochs: int = Field(2, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    accelerator: Literal["cpu", "gpu", "auto"] = "cpu"
    devices: int | Literal["auto"] = 1
    num_nodes: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    threads: int = Field(2, ge=1)  # torch CPU threads
    augment: AugmentConfig = AugmentConfig()


class FoundationConfig(_Strict):
    """The whole foundation configuration (``preset`` names the file it started from)."""

    preset: str = "tiny"
    model: ModelConfig = ModelConfig()
    pretext: PretextConfig = PretextConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _crop_fits_patches(self) -> FoundationConfig:
        size = self.model.patch_size
        if any(c % size for c in self.train.crop_size):
            raise ValueError(f"train.crop_size {list(self.train.crop_size)} must be multiples "
                             f"of model.patch_size {size}")
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _preset_dict(name: str) -> dict[str, Any]:
    text = resources.files("gliopet").joinpath(f"data/config/foundation/{name}.yaml").read_text()
    return yaml.safe_load(text)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _user_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise InputError("foundation configuration not found", path=path,
                         fix=f"give {' or '.join(PRESETS)} or an existing YAML file") from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc.__class__.__name__})", path=path,
                         fix="check the indentation and quoting of the file") from None
    if not isinstance(data, dict):
        raise InputError("the configuration must be a YAML mapping", path=path,
                         fix="see gliopet/data/config/foundation/tiny.yaml for the layout")
    return data


def load_foundation_config(spec: str | Path = "tiny", **overrides: Any) -> FoundationConfig:
    """The validated configuration of a preset name or a YAML file, then `overrides`.

    Raises
    ------
    InputError
        Unknown preset, unreadable file, unknown key or invalid value.
    """
    if str(spec) in PRESETS:
        data, source = _preset_dict(str(spec)), f"preset {spec}"
    else:
        user = _user_file(Path(spec))
        preset = user.get("preset", "tiny")
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}", path=spec,
                             fix=f"use one of {', '.join(PRESETS)}")
        data, source = _merge(_preset_dict(preset), user), str(spec)
    data = _merge(data, overrides)
    try:
        return FoundationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise InputError(f"foundation configuration key {key!r}: {first['msg']}", path=source,
                         fix="correct or remove the key (presets: "
                             "gliopet/data/config/foundation/)") from None
