"""The radiomics stage (`gliopet radiomics`), run session by session by `gliopet.stage`.

Inputs per session (found through the derivatives contract `gliopet.io.derivatives`), all on
the PET grid: the tumour VOI of quantification (TUMOUR_MASK) and any ``--mask-desc`` mask
(preprocessing's PET-grid masks, PET_MASK: ``abnormal``, ``healthy``, ``brain``, ...; or
quantification's ``background``); the images of ``radiomics.images``: static SUV (STATIC_SUV),
the TBR of each quantification window (TBR_MAP), the voxel maps TTP, slope and early/late
(VOXEL_MAP; absent for a static PET) and every MRI sequence resampled onto the PET grid
(MRI_ON_PET).

Per VOI and image, the IBSI features of ``radiomics.families`` (`gliopet.radiomics.features`,
MIRP); morphology once per VOI, on the SUV image. Discretisation: fixed bin size from 0 for
SUV (``bin_width_suv``) and TBR (``bin_width_tbr``), fixed bin number (``bin_number``) for the
others. Columns: ``<voi>_<image>_<feature>`` with MIRP's feature names, which end in the
discretisation of the discretised families (``tumour_SUV_stat_max``,
``tumour_FLAIR_cm_contrast_d1_3d_v_mrg_fbn_n32``, ``tumour_SUV_ih_entropy_fbs_w0.25``).

Outputs: the session's row (RADIOMICS_ROW) under ``derivatives/gliopet/radiomics/sub-<s>/ses-<t>/``
with its ``provenance.json`` (settings of every image), and the cohort table ``radiomics.tsv``
(RADIOMICS_TABLE) with a JSON sidecar describing every column and the settings. A session
whose tumour VOI is empty (no PET-avid tumour) gets a row with ``tumour_status`` saying so and
no tumour features. Features are not harmonised here: `gliopet.radiomics.harmonize.ComBat`
is fitted inside the cross-validation folds.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.config import Config, RadiomicsConfig
from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.radiomics.features import (
    SHAPE_FAMILIES,
    Discretisation,
    FeatureSettings,
    Modality,
    extract,
    family_of,
)
from gliopet.stage import (
    Outcome,
    SessionContext,
    Stage,
    has_pet,
    require_finished,
    run_stage,
)

#: Status of a session whose tumour VOI is empty.
NO_TUMOUR = "no PET-avid tumour (empty tumour VOI of gliopet quantify): tumour features n/a"
#: Voxel maps of quantification used as images, by their ``stat`` entity.
VOXEL_MAPS = ("TTP", "slope", "earlylate")
#: First columns of radiomics.tsv, with their descriptions.
ID_COLUMNS = {
    "participant_id": "subject (sub-<label>)",
    "session_id": "session (ses-<label>)",
    "tumour_status": "ok, or why the tumour VOI has no features",
    "tumour_voxels": "voxels of the tumour VOI on the PET grid",
    "images": "images whose features the row holds (comma-separated labels)",
    "vois": "VOIs whose features the row holds (tumour and --mask-desc masks)",
    "note": "images or VOIs left out and why",
}


@dataclass(frozen=True)
class ImageInput:
    """One image on the PET grid: its column label, file and kind (SUV, TBR, map, MRI)."""

    label: str
    path: Path
    kind: str

    @property
    def modality(self) -> Modality:
        """MIRP modality (`gliopet.radiomics.features.Modality`)."""
        return "pet" if self.kind in ("SUV", "TBR") else "mr"


@dataclass(frozen=True)
class VOIInput:
    """One VOI on the PET grid: its column prefix, file and size (voxels)."""

    name: str
    path: Path
    voxels: int


@dataclass
class RadiomicsResult:
    """One session: ids, tumour status, the features by column, notes and the files read."""

    participant_id: str
    session_id: str
    tumour_status: str
    tumour_voxels: int
    features: dict[str, float]
    images: list[str]
    vois: list[str]
    notes: list[str] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)


def image_settings(kind: str, cfg: RadiomicsConfig, families: Sequence[str]) -> FeatureSettings:
    """The MIRP settings of an image kind (discretisation by kind, the rest from `cfg`)."""
    if kind == "SUV":
        disc = Discretisation("fixed_bin_size", cfg.bin_width_suv, 0.0)
    elif kind == "TBR":
        disc = Discretisation("fixed_bin_size", cfg.bin_width_tbr, 0.0)
    else:
        disc = Discretisation("fixed_bin_number", cfg.bin_number)
    return FeatureSettings(families=tuple(families), discretisation=disc,
                           resample_mm=cfg.resample_mm, image_order=cfg.image_spline_order,
                           mask_threshold=cfg.mask_inclusion_threshold,
                           texture_method=cfg.texture_aggregation,
                           zone_method=cfg.zone_aggregation, glcm_distance=cfg.glcm_distance_voxels,
                           ivh_bins=cfg.ivh_bins)


def settings_record(cfg: RadiomicsConfig) -> dict[str, Any]:
    """Settings of each image kind, for the provenance and the table's sidecar."""
    record: dict[str, Any] = {}
    for kind in ("SUV", "TBR", "map", "MRI"):
        families = [f for f in cfg.families if kind == "SUV" or f not in SHAPE_FAMILIES]
        if families:
            record[kind] = image_settings(kind, cfg, families).describe()
    record["morphology"] = ("computed once per VOI, on the first image (SUV unless "
                            "radiomics.images leaves it out)")
    return record


@dataclass(frozen=True)
class RadiomicsStage(Stage[RadiomicsResult]):
    """`gliopet radiomics` for the stage runner (module docstring).

    ``mask_desc``: extra VOIs by their ``desc`` (PET-grid masks of preprocessing, or
    quantification's ``background``).
    """

    mask_desc: tuple[str, ...] = ()

    folder = d.RADIOMICS
    row_file = d.RADIOMICS_ROW
    command = "gliopet radiomics"
    done_verb = "computed"
    tables = (d.RADIOMICS_TABLE.filename,)

    def applies(self, session: Session) -> bool:
        """An MRI-only session has no PET VOI."""
        return has_pet(session)

    def check(self, session: Session, root: Path) -> None:
        """Quantification must have finished for the session."""
        require_finished(d.QUANT, root, session, fix="run `gliopet quantify` on the dataset "
                                                     "first (it needs `gliopet preprocess`)")

    def run_session(self, session: Session, context: SessionContext) -> RadiomicsResult:
        """Features of every image inside every VOI of the session."""
        return _radiomics(session, context.root, context.config.radiomics, self.mask_desc)

    def row(self, result: RadiomicsResult) -> dict[str, Any]:
        """The radiomics.tsv row."""
        return {"participant_id": result.participant_id, "session_id": result.session_id,
                "tumour_status": result.tumour_status, "tumour_voxels": result.tumour_voxels,
                "images": ",".join(result.images), "vois": ",".join(result.vois),
                "note": "; ".join(result.notes), **result.features}

    def inputs(self, session: Session, result: RadiomicsResult) -> list[Path]:
        """Images and masks read."""
        return result.inputs

    def session_provenance(self, session: Session, context: SessionContext) -> dict[str, Any]:
        """Settings of every image kind and the extra VOIs."""
        return {"radiomics_settings": settings_record(context.config.radiomics),
                "mask_desc": list(self.mask_desc)}

    def stage_provenance(self) -> dict[str, Any]:
        """The extra VOIs."""
        return {"mask_desc": list(self.mask_desc)}

    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame | None:
        """radiomics.tsv (+ sidecar) from every finished session folder."""
        if not any(o.ok for o in outcomes):
            return None
        return write_table(root)


# ---------------------------------------------------------------------------- one session
def _radiomics(session: Session, root: Path, cfg: RadiomicsConfig,
               mask_desc: Sequence[str]) -> RadiomicsResult:
    images, notes = _images(session, root, cfg)
    vois = _vois(session, root, mask_desc)
    tumour = vois[0]
    status = "ok" if tumour.voxels else NO_TUMOUR
    features: dict[str, float] = {}
    done_vois = []
    with tempfile.TemporaryDirectory(prefix="gliopet-radiomics-") as scratch:
        finite = {image.label: _finite_copy(image, Path(scratch)) for image in images}
        for voi in vois:
            if not voi.voxels:
                if voi.name != "tumour":
                    notes.append(f"VOI {voi.name}: empty mask, no features")
                continue
            done_vois.append(voi.name)
            for index, image in enumerate(images):
                families = [f for f in cfg.families
                            if index == 0 or f not in SHAPE_FAMILIES]
                if not families:
                    continue
                values, problem = _features(finite[image.label], voi, image, cfg, families)
                if problem:
                    notes.append(problem)
                features.update({f"{voi.name}_{image.label}_{k}": v for k, v in values.items()})
    inputs = [image.path for image in images] + [voi.path for voi in vois]
    return RadiomicsResult(f"sub-{session.subject}", f"ses-{session.session}", status,
                           tumour.voxels, features, [i.label for i in images], done_vois, notes,
                           inputs)


def _features(path: Path, voi: VOIInput, image: ImageInput, cfg: RadiomicsConfig,
              families: Sequence[str]) -> tuple[dict[str, float], str | None]:
    """Features of one image in one VOI, or none and the reason (non-finite voxels in the VOI,
    MIRP refusing a tiny VOI)."""
    from gliopet.io.nifti import load_nifti

    mask = np.asarray(load_nifti(voi.path).dataobj) > 0.5
    data = np.asarray(load_nifti(image.path).dataobj)
    bad = int(np.count_nonzero(~np.isfinite(data[mask])))
    if bad:
        return {}, f"{image.label} in {voi.name}: {bad} voxels without a value, no features"
    try:
        return extract(path, voi.path, image_settings(image.kind, cfg, families),
                       image.modality), None
    except InputError as exc:
        return {}, f"{image.label} in {voi.name}: {exc.one_line()}"


def _finite_copy(image: ImageInput, scratch: Path) -> Path:
    """The image itself, or a copy with non-finite voxels (quantification's maps are NaN outside
    the brain) set to 0 so that MIRP's resampling stays finite; VOIs holding such voxels are
    refused in `_features`."""
    import nibabel as nib

    from gliopet.io.nifti import load_nifti

    img = load_nifti(image.path)
    data = np.asarray(img.dataobj, dtype=np.float32)
    if np.all(np.isfinite(data)):
        return image.path
    copy = scratch / f"{image.label}.nii.gz"
    nib.save(nib.Nifti1Image(np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0), img.affine),
             copy)
    return copy


def _images(session: Session, root: Path, cfg: RadiomicsConfig) -> tuple[list[ImageInput],
                                                                           list[str]]:
    """The images of ``radiomics.images`` present for the session, SUV first; notes on those
    left out."""
    from gliopet.io.bids_names import parse_entities

    images: list[ImageInput] = []
    notes: list[str] = []
    if "SUV" in cfg.images:
        images.append(ImageInput("SUV", d.find(root, session, d.STATIC_SUV,
                                                what="static SUV image"), "SUV"))
    if "TBR" in cfg.images:
        for path in d.find_all(root, session, d.TBR_MAP):
            window = parse_entities(path.name).get("desc", "")
            images.append(ImageInput(f"TBR{window}", path, "TBR"))
    for stat in VOXEL_MAPS:
        if stat not in cfg.images:
            continue
        path = d.find_or_none(root, session, d.VOXEL_MAP, stat=stat)
        if path is None:
            notes.append(f"no {stat} map (static PET or fewer than 3 frames)")
        else:
            images.append(ImageInput(stat, path, "map"))
    if "MRI" in cfg.images:
        for path in d.find_all(root, session, d.MRI_ON_PET):
            entities = parse_entities(path.name)
            contrast = entities.get("ce")
            label = entities["suffix"] + (f"ce{contrast}" if contrast else "")
            images.append(ImageInput(label, path, "MRI"))
    if not images:
        raise InputError("none of the images of radiomics.images exists for this session",
                         path=d.QUANT.session_dir(root, session),
                         fix="check radiomics.images in the configuration, or rerun "
                             "`gliopet quantify --force`")
    return images, notes


def _vois(session: Session, root: Path, mask_desc: Sequence[str]) -> list[VOIInput]:
    """The tumour VOI, then each ``--mask-desc`` mask (on the PET grid, same shape)."""
    from gliopet.io.nifti import load_nifti

    paths = [("tumour", d.find(root, session, d.TUMOUR_MASK, what="tumour VOI"))]
    for desc in mask_desc:
        derivative = d.BACKGROUND_MASK if desc == "background" else d.PET_MASK
        fill = {} if desc == "background" else {"desc": desc}
        paths.append((desc, d.find(root, session, derivative, what=f"--mask-desc {desc}",
                                   **fill)))
    shape = None
    vois = []
    for name, path in paths:
        img = load_nifti(path, ensure_ndim=(3,))
        if shape is not None and tuple(img.shape[:3]) != shape:
            raise InputError(f"the {name} mask is not on the PET grid of the tumour VOI (shape "
                             f"{tuple(img.shape[:3])} vs {shape})", path=path,
                             fix="give a mask on the PET grid (space-pet)")
        shape = tuple(img.shape[:3])
        vois.append(VOIInput(name, path, int(np.count_nonzero(np.asarray(img.dataobj) > 0.5))))
    return vois


# ---------------------------------------------------------------------------- the cohort
def write_table(root: str | Path) -> pd.DataFrame:
    """(Re)write radiomics.tsv and its sidecar from every finished session folder."""
    from gliopet.atomic import write_json, write_tsv

    root = Path(root)
    rows = [json.loads(p.read_text()) for p in d.find_every_session(root, d.RADIOMICS_ROW)
            if (p.parent / d.PROVENANCE).is_file()]
    table = pd.DataFrame(rows)
    features = sorted(c for c in table.columns if c not in ID_COLUMNS)
    table = table[[c for c in ID_COLUMNS if c in table.columns] + features]
    write_tsv(d.RADIOMICS_TABLE.path(root), table)
    write_json(d.RADIOMICS_TABLE.sidecar(root), table_sidecar(root, features))
    return table


def table_sidecar(root: Path, features: Sequence[str]) -> dict[str, Any]:
    """Column descriptions of radiomics.tsv and the settings the sessions were computed with
    (from their provenance; several sets are listed with a note)."""
    sidecar: dict[str, Any] = {k: {"Description": v} for k, v in ID_COLUMNS.items()}
    for column in features:
        sidecar[column] = {"Description": describe_column(column)}
    found: list[dict[str, Any]] = []
    for row in d.find_every_session(root, d.RADIOMICS_ROW):
        provenance = row.parent / d.PROVENANCE
        if provenance.is_file():
            settings = json.loads(provenance.read_text()).get("radiomics_settings")
            if settings not in found:
                found.append(settings)
    note = ("IBSI features computed with MIRP; not harmonised across sites (use "
            "gliopet.radiomics.harmonize.ComBat inside the cross-validation folds); labels: join "
            "with quant/cohort.tsv on participant_id and session_id")
    if len(found) > 1:
        note += ("; WARNING: the sessions were computed with different settings (listed): "
                 "rerun `gliopet radiomics --force`")
    sidecar["RadiomicsSettings"] = {"images": found[0] if len(found) == 1 else found,
                                    "Note": note}
    return sidecar


def describe_column(column: str) -> str:
    """``tumour_SUV_stat_max`` -> what it is (VOI, image, family, IBSI feature name)."""
    for family_prefix in ("morph_", "loc_", "stat_", "ih_", "ivh_", "cm_", "rlm_", "szm_",
                          "dzm_", "ngt_", "ngl_"):
        at = column.find("_" + family_prefix)
        if at > 0:
            voi, image = column[:at].split("_", 1)
            feature = column[at + 1:]
            return (f"IBSI feature {feature} ({family_of(feature)}) of the {image} image inside "
                    f"the {voi} VOI (image units)")
    return "radiomics feature"


def run_radiomics(bids_dir: str | Path, *, participant_label: Sequence[str] | None = None,
                  jobs: int = 1, dask_scheduler: str | None = None, force: bool = False,
                  config: Config | None = None, mask_desc: Sequence[str] = (),
                  dask_security: str | Path | None = None) -> pd.DataFrame | None:
    """Radiomics of every session of a quantified BIDS dataset; returns radiomics.tsv.

    Raises
    ------
    InputError
        The dataset cannot be read, or a session failed (missing quantification, a missing
        ``--mask-desc`` mask, ...): after the other sessions are done and the table written.
    """
    return run_stage(RadiomicsStage(tuple(mask_desc)), bids_dir,
                     participant_label=participant_label, jobs=jobs,
                     dask_scheduler=dask_scheduler, force=force, config=config,
                     label="radiomics", dask_security=dask_security).table
