"""`gliopet biopsy`: the biopsy target of each session and its export for the operating room,
run session by session by `gliopet.stage`.

Inputs per session (derivatives contract): quantification's tumour VOI (TUMOUR_MASK), static
SUV (STATIC_SUV) and hot-spot table (HOTSPOT_TABLE, absent for a static PET); the signature's
aggressiveness map and aggressive subregion (AGGRESSIVENESS_MAP, AGGRESSIVE_MASK); preprocessing's
PET-to-MRI transform (XFM from-pet to-T1w); the reference MRI (contrast T1w, else T1w, ...).

Outputs in ``derivatives/gliopet/biopsy/sub-<s>/ses-<t>/``: the target JSON (BIOPSY_TARGET, the
session's row: `gliopet.signature.biopsy`), the target sphere and the aggressive subregion on the
reference MRI grid (BIOPSY_SPHERE, BIOPSY_SUBREGION, NIfTI) and, unless ``dicom=False``, a DICOM
copy of the reference MRI (BIOPSY_MRI_DICOM) with the SEG (BIOPSY_SEG: segment 1 the subregion,
2 the target sphere), RTSTRUCT (BIOPSY_RTSTRUCT) and the aggressiveness map as a Parametric Map
(BIOPSY_PMAP) and a derived MR series (BIOPSY_MAP_DICOM, `gliopet.export.pmap`) that refer to it.
With the import's id-map (``id_map``) these refer to the original MR series instead; they then
hold the original UIDs and Patient ID, which the de-identified dataset may not hold, so they go to
``export_dir`` (outside the dataset, owner-only files), one folder per session. Every session
folder is built under a temporary name: a refused session leaves no DICOM behind.
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

from gliopet import __version__
from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.signature import biopsy as b
from gliopet.stage import (
    Outcome,
    SessionContext,
    SessionWriter,
    Stage,
    has_pet,
    require_finished,
    run_stage,
)


@dataclass
class BiopsyResult:
    """One session: the target record (the row) and the files read."""

    record: dict[str, Any]
    inputs: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class PetInputs:
    """The PET-grid inputs of a session."""

    tumour: np.ndarray
    aggressive: np.ndarray
    aggressiveness: np.ndarray
    suv: np.ndarray
    affine: np.ndarray
    hotspots: pd.DataFrame | None
    paths: list[Path]


def _mask(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from gliopet.io.nifti import load_nifti

    img = load_nifti(path, ensure_ndim=(3,))
    return np.asarray(img.dataobj), img.affine


def read_pet_inputs(root: Path, session: Session) -> PetInputs:
    """Read the PET-grid inputs; refuses inputs on different grids."""
    paths = {"tumour": d.find(root, session, d.TUMOUR_MASK, what="tumour VOI"),
             "aggressive": d.find(root, session, d.AGGRESSIVE_MASK, what="aggressive subregion"),
             "map": d.find(root, session, d.AGGRESSIVENESS_MAP, what="aggressiveness map"),
             "suv": d.find(root, session, d.STATIC_SUV, what="static SUV")}
    arrays = {key: _mask(path) for key, path in paths.items()}
    affine = arrays["tumour"][1]
    for key, (data, other) in arrays.items():
        if data.shape != arrays["tumour"][0].shape or not np.allclose(other, affine, atol=1e-3):
            raise InputError(f"the {key} image is not on the grid of the tumour VOI",
                             path=paths[key], fix="rerun gliopet quantify and gliopet signature")
    table_path = d.find_or_none(root, session, d.HOTSPOT_TABLE)
    hotspots = pd.read_csv(table_path, sep="\t") if table_path else None
    return PetInputs(arrays["tumour"][0] > 0, arrays["aggressive"][0] > 0,
                     arrays["map"][0].astype(float), arrays["suv"][0].astype(float), affine,
                     hotspots, [*paths.values(), *([table_path] if table_path else [])])


@dataclass(frozen=True)
class MriGrid:
    """The reference MRI (RAS canonical), its key, path, and the PET-to-MRI RAS map."""

    data: np.ndarray
    affine: np.ndarray
    key: str
    path: Path
    pet_to_mri: np.ndarray
    xfm: Path


def read_mri(root: Path, session: Session) -> MriGrid:
    """The reference MRI and preprocessing's PET-to-MRI transform."""
    anat = session.mri_reference()
    if anat is None:
        raise InputError("no anatomical MRI in this session", path=root,
                         fix="add the contrast T1w (or T1w) the target is given on")
    key = next(k for k, v in session.anat.items() if v is anat)
    xfm = d.find(root, session, d.XFM, from_="pet", to=d.REFERENCE_SPACE,
                 what="PET-to-MRI transform")
    img = anat.load()
    return MriGrid(np.asarray(img.dataobj, dtype=np.float32), img.affine, key, anat.path,
                   b.pet_to_mri_matrix(xfm), xfm)


# ---------------------------------------------------------------------------- the target
def _point(pet: PetInputs, mri: MriGrid, voxel: Sequence[float]) -> dict[str, Any]:
    from gliopet.spatial import apply_affine

    pet_ras = apply_affine(pet.affine, np.asarray(voxel, float))
    return b.coordinates(apply_affine(mri.pet_to_mri, pet_ras), mri.affine, mri.data.shape)


def alternatives(pet: PetInputs, mri: MriGrid) -> dict[str, Any]:
    """``suvmax`` and ``ttp_hotspot`` with their coordinates (or why there is none)."""
    from gliopet.spatial import apply_affine

    voxel = b.suvmax_voxel(pet.suv, pet.tumour)
    out: dict[str, Any] = {"suvmax": {**_point(pet, mri, voxel),
                                      "SUV": round(float(pet.suv[voxel]), 4),
                                      "rule": "tumour voxel of highest static SUV"}}
    spot = b.earliest_hotspot(pet.hotspots)
    if spot is None:
        out["ttp_hotspot"] = {"reason": "no dynamic hot spot (static PET, or none found by "
                                        "gliopet quantify)"}
        return out
    ras = np.array([spot["x_ras_mm"], spot["y_ras_mm"], spot["z_ras_mm"]], float)
    out["ttp_hotspot"] = {**b.coordinates(apply_affine(mri.pet_to_mri, ras), mri.affine,
                                          mri.data.shape),
                          "TTP_min": round(float(spot["TTP_min"]), 4),
                          "volume_mL": round(float(spot["volume_mL"]), 4),
                          "rule": "centroid of the dynamic hot spot with the earliest TTP"}
    return out


def target_record(pet: PetInputs, mri: MriGrid, radius_mm: float, margin_mm: float,
                  path: Path) -> tuple[dict[str, Any], b.PetTarget]:
    """The target JSON (without the export part) and the PET-grid target."""
    region = b.check_target_region(pet.tumour, pet.aggressive, pet.affine, radius_mm, path)
    target = b.choose_target(pet.aggressiveness, region, pet.affine, radius_mm=radius_mm,
                             margin_mm=margin_mm)
    record = {**_point(pet, mri, target.voxel), "target_voxel_pet": list(target.voxel),
              "aggressiveness_sphere_mean": round(target.score, 6),
              "edge_distance_mm": round(target.edge_distance_mm, 3),
              "edge_rule_met": target.edge_rule_met, "rule": b.RULE,
              "radius_mm": radius_mm, "margin_mm": margin_mm,
              "alternatives": alternatives(pet, mri), "reference_mri": mri.key}
    return record, target


# ---------------------------------------------------------------------------- the stage
@dataclass(frozen=True)
class BiopsyStage(Stage[BiopsyResult]):
    """`gliopet biopsy` for the stage runner (module docstring)."""

    radius_mm: float = b.RADIUS_MM
    margin_mm: float = b.MARGIN_MM
    dicom: bool = True
    id_map: str | None = None
    export_dir: str | None = None

    folder = d.BIOPSY
    row_file = d.BIOPSY_TARGET
    command = "gliopet biopsy"
    done_verb = "targeted"
    tables = (d.BIOPSY_TABLE.filename,)

    def applies(self, session: Session) -> bool:
        """PET sessions that gliopet signature processed: an MRI-only session, or one left out
        of the signature (e.g. a recurrence session after ``--session diagnosis``), has no
        aggressiveness map to target."""
        if not has_pet(session):
            return False
        return session.root is None or any(
            d.find_or_none(session.root, session, x) is not None
            for x in (d.SIGNATURE_ROW, d.AGGRESSIVENESS_MAP))

    def check(self, session: Session, root: Path) -> None:
        """Quantification must have finished for the session."""
        require_finished(d.QUANT, root, session, fix="run gliopet preprocess, gliopet quantify "
                                                     "and gliopet signature first")

    def run_session(self, session: Session, context: SessionContext) -> BiopsyResult:
        """Target, NIfTI masks and (unless ``dicom`` is off) the DICOM export."""
        return biopsy_session(session, context, self)

    def row(self, result: BiopsyResult) -> dict[str, Any]:
        """The target JSON."""
        return result.record

    def inputs(self, session: Session, result: BiopsyResult) -> list[Path]:
        """Files read."""
        return result.inputs

    def stage_provenance(self) -> dict[str, Any]:
        """Rule and options."""
        return {"rule": b.RULE, "radius_mm": self.radius_mm, "margin_mm": self.margin_mm,
                "dicom": self.dicom, "original_series": self.id_map is not None}

    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame | None:
        """targets.tsv (+ sidecar) from every finished session folder."""
        if not any(o.ok for o in outcomes):
            return None
        return write_table(root)


def biopsy_session(session: Session, context: SessionContext,
                   stage: BiopsyStage) -> BiopsyResult:
    """One session (module docstring)."""
    root = context.root
    where = d.BIOPSY.session_dir(root, session)
    no_target = no_tumour_record(root, session, stage)
    if no_target is not None:
        return no_target
    pet = read_pet_inputs(root, session)
    mri = read_mri(root, session)
    record, target = target_record(pet, mri, stage.radius_mm, stage.margin_mm, where)
    out = SessionWriter(context.out, (session.subject, session.session))
    centre = np.asarray(record["target_ras_mm"], float)
    sphere = b.sphere_on_grid(centre, stage.radius_mm, mri.affine, mri.data.shape)
    subregion = b.mask_to_mri(pet.aggressive & pet.tumour, pet.affine, mri.pet_to_mri,
                              mri.affine, mri.data.shape)
    out.image(d.BIOPSY_SPHERE, sphere, mri.affine, dtype=np.uint8)
    out.image(d.BIOPSY_SUBREGION, subregion, mri.affine, dtype=np.uint8)
    record.update({"sphere_voxels_mri": int(sphere.sum()),
                   "subregion_voxels_mri": int(subregion.sum()),
                   "sphere_in_subregion_fraction": round(float((sphere & subregion).sum()
                                                               / max(sphere.sum(), 1)), 4)})
    if stage.dicom:
        record["dicom"] = export_dicom(session, context, stage, mri, [subregion, sphere],
                                       map_on_mri(root, session, pet, mri))
    inputs = [*pet.paths, mri.path, mri.xfm]
    record["provenance"] = {"gliopet": __version__, "command": stage.command,
                            "inputs": [p.name for p in inputs],
                            "pet_to_mri": "inverse of " + mri.xfm.name}
    record = {"participant_id": f"sub-{session.subject}",
              "session_id": f"ses-{session.session}", "target_status": "ok", **record}
    return BiopsyResult(record, inputs)


def map_on_mri(root: Path, session: Session, pet: PetInputs, mri: MriGrid) -> np.ndarray:
    """The aggressiveness map (0-1, checked) on the reference MRI grid, by the masks' nearest
    neighbour (`gliopet.signature.biopsy.values_to_mri`)."""
    from gliopet.export.pmap import check_map_values

    check_map_values(pet.aggressiveness, d.find(root, session, d.AGGRESSIVENESS_MAP))
    return b.values_to_mri(pet.aggressiveness.astype(np.float32), pet.affine, mri.pet_to_mri,
                           mri.affine, mri.data.shape)


#: `target_status` of a session whose tumour VOI is empty (an expected outcome, not an error).
NO_TUMOUR_STATUS = ("no target: quantification found no PET-avid tumour in this session, so "
                    "there is no aggressive subregion to aim at")


def no_tumour_record(root: Path, session: Session,
                     stage: BiopsyStage) -> BiopsyResult | None:
    """The row of a session whose tumour VOI is empty (None when there is a tumour).

    Quantification writes an empty tumour mask for a session without tumour uptake (a healthy
    subject, or a lesion below the threshold); that session gets a row that says so in words,
    no coordinates and no DICOM, and the other sessions of the run go on.
    """
    path = d.find(root, session, d.TUMOUR_MASK, what="tumour VOI")
    if _mask(path)[0].any():
        return None
    record = {"participant_id": f"sub-{session.subject}",
              "session_id": f"ses-{session.session}", "target_status": NO_TUMOUR_STATUS,
              "target_ras_mm": None, "target_lps_mm": None, "target_voxel_mri": None,
              "alternatives": {}, "rule": b.RULE, "radius_mm": stage.radius_mm,
              "margin_mm": stage.margin_mm,
              "provenance": {"gliopet": __version__, "command": stage.command,
                             "inputs": [path.name]}}
    if stage.dicom:
        record["dicom"] = {"written": False, "reason": "no tumour: no SEG, RTSTRUCT, "
                                                       "parametric map or map series"}
    return BiopsyResult(record, [path])


# ---------------------------------------------------------------------------- DICOM
def export_dicom(session: Session, context: SessionContext, stage: BiopsyStage, mri: MriGrid,
                 masks: list[np.ndarray], aggressiveness: np.ndarray) -> dict[str, Any]:
    """Write the SEG, RTSTRUCT and the map's Parametric Map and MR series (and, without an
    id-map, the MRI copy); return their record. Masks and map on the reference MRI grid."""
    from gliopet.export.series import read_series, write_copy

    ids = (session.subject, session.session)
    if stage.id_map is None:
        folder = d.BIOPSY_MRI_DICOM.in_dir(context.out, ids)
        _refuse_bad_affine(lambda: write_copy(folder, mri.data, mri.affine, mri.key, ids),
                           mri.path)
        series = read_series(folder, "copy", mri.path)
        return {"referenced_series": "gliopet's de-identified DICOM copy of the reference MRI",
                **write_objects(context.out, ids, series, mri, masks, aggressiveness)}
    return _export_original(session, context, stage, mri, masks, aggressiveness)


def _refuse_bad_affine(write: Any, path: Path) -> None:
    try:
        write()
    except ValueError as exc:  # write_mr_series: sheared or degenerate affine
        raise InputError(f"the reference MRI has inconsistent geometry for DICOM ({exc})",
                         path=path,
                         fix="reslice the reference MRI onto an orthogonal grid") from None


def write_objects(folder: Path, ids: tuple[str, str | None], series: Any, mri: MriGrid,
                  masks: list[np.ndarray], aggressiveness: np.ndarray) -> dict[str, Any]:
    """SEG and RTSTRUCT of the masks, Parametric Map and MR series of the aggressiveness map
    (all on the reference MRI grid) carried onto `series`."""
    from gliopet.export.pmap import STEP, write_map_series, write_parametric_map
    from gliopet.export.rtstruct import write_rtstruct
    from gliopet.export.seg import write_seg

    on_series = [b.mask_to_mri(m, mri.affine, np.eye(4), series.affine, series.shape)
                 for m in masks]
    key = f"sub-{ids[0]}_ses-{ids[1]}"
    seg = write_seg(d.BIOPSY_SEG.in_dir(folder, ids), series, on_series, key)
    rt = write_rtstruct(d.BIOPSY_RTSTRUCT.in_dir(folder, ids), series, on_series, key)
    values = b.values_to_mri(aggressiveness, mri.affine, np.eye(4), series.affine, series.shape)
    pmap = write_parametric_map(d.BIOPSY_PMAP.in_dir(folder, ids), series, values, key)
    map_series = d.BIOPSY_MAP_DICOM.in_dir(folder, ids)
    files = write_map_series(map_series, series, values, key)
    return {"seg": seg.name, "rtstruct": rt.name, "segments": {"1": "aggressive subregion",
                                                               "2": "biopsy target"},
            "parametric_map": pmap.name, "map_series": map_series.name,
            "map_series_files": len(files), "map_series_step": STEP,
            "map_units": "unitless 0-1 (0 outside the tumour)",
            "frame_of_reference_uid_shared": True}


def _export_original(session: Session, context: SessionContext, stage: BiopsyStage,
                     mri: MriGrid, masks: list[np.ndarray],
                     aggressiveness: np.ndarray) -> dict[str, Any]:
    from gliopet.atomic import staged_directory
    from gliopet.export.series import (
        check_against_source,
        id_map_record,
        read_series,
        write_original,
    )
    from gliopet.io.bids_names import session_dir
    from gliopet.io.dicom.importer import load_id_map
    from gliopet.io.nifti import load_nifti

    id_map_path = Path(stage.id_map)
    if not id_map_path.is_file():
        raise InputError("id-map not found", path=id_map_path,
                         fix="give the id-map of gliopet import-dicom")
    record = id_map_record(load_id_map(id_map_path), mri.path.relative_to(context.root)
                           .as_posix(), id_map_path)
    stored = load_nifti(mri.path, ensure_ndim=(3,), canonical=False)
    ids = (session.subject, session.session)
    target = session_dir(Path(stage.export_dir), session.subject, session.session)
    with tempfile.TemporaryDirectory(prefix="gliopet-biopsy-") as tmp, \
            staged_directory(target, overwrite=True) as staging:
        folder = Path(tmp) / "series"
        _refuse_bad_affine(lambda: write_original(folder, np.asarray(stored.dataobj, np.float32),
                                                  stored.affine, mri.key, record, id_map_path),
                           mri.path)
        series = read_series(folder, "original", mri.path)
        compared = check_against_source(series, record, mri.path)
        written = write_objects(staging, ids, series, mri, masks, aggressiveness)
        for path in staging.rglob("*"):  # original identifiers: owner only, like the id-map
            path.chmod(0o700 if path.is_dir() else 0o600)
        staging.chmod(0o700)
    return {"referenced_series": "the original MR series (UIDs from the import's id-map)",
            "export_dir": "outside the dataset (holds original identifiers)",
            "original_files_checked": compared, **written}


# ---------------------------------------------------------------------------- the table
TABLE_COLUMNS = {
    "participant_id": "subject (sub-<label>)", "session_id": "session (ses-<label>)",
    "target_status": "ok, or why the session has no target (in words)",
    "reference_mri": "the MRI the coordinates refer to (space T1w)",
    "radius_mm": "radius of the target sphere (mm)",
    **{f"{name}_{axis}_ras_mm": f"{what}, {axis} (RAS mm of the reference MRI)"
       for name, what in (("target", "the target"), ("suvmax", "the SUVmax alternative"),
                          ("ttp_hotspot", "the TTP hot-spot alternative"))
       for axis in "xyz"},
    "target_to_suvmax_mm": "distance from the target to the SUVmax alternative (mm)",
    "edge_rule_met": "whether the target sphere keeps the margin from the region's edge",
}


def table_row(record: dict[str, Any]) -> dict[str, Any]:
    """One targets.tsv row from a target JSON (missing values n/a)."""
    row: dict[str, Any] = {k: record.get(k, "n/a") for k in ("participant_id", "session_id",
                                                             "reference_mri", "radius_mm")}
    row["target_status"] = record.get("target_status", "ok")
    points = {"target": record, **record.get("alternatives", {})}
    for name in ("target", "suvmax", "ttp_hotspot"):
        point = points.get(name, {}).get("target_ras_mm")
        for axis, i in zip("xyz", range(3), strict=True):
            row[f"{name}_{axis}_ras_mm"] = point[i] if point else "n/a"
    suvmax = points["suvmax"].get("target_ras_mm") if "suvmax" in points else None
    row["target_to_suvmax_mm"] = (round(float(np.linalg.norm(np.subtract(
        record["target_ras_mm"], suvmax))), 3) if suvmax and record.get("target_ras_mm")
        else "n/a")
    row["edge_rule_met"] = record.get("edge_rule_met", "n/a")
    return row


def write_table(root: Path) -> pd.DataFrame:
    """targets.tsv (+ JSON sidecar) from every finished session folder of the stage."""
    from gliopet.atomic import write_json, write_tsv

    rows = []
    for folder in d.BIOPSY.session_dirs(root):
        found = d.find_all_in(folder, _ids(folder), d.BIOPSY_TARGET)
        if found and (folder / d.PROVENANCE).is_file():
            rows.append(table_row(json.loads(found[0].read_text())))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    write_tsv(d.BIOPSY_TABLE.path(root), table.astype(object).where(table.notna(), "n/a"))
    write_json(d.BIOPSY_TABLE.sidecar(root), {k: {"Description": v}
                                              for k, v in TABLE_COLUMNS.items()})
    return table


def _ids(folder: Path) -> tuple[str, str | None]:
    if folder.name.startswith("ses-"):
        return folder.parent.name, folder.name
    return folder.name, None


def run_biopsy(bids_dir: str | Path, *, participant_label: Sequence[str] | None = None,
               radius_mm: float = b.RADIUS_MM, margin_mm: float = b.MARGIN_MM,
               dicom: bool = True, id_map: str | Path | None = None,
               export_dir: str | Path | None = None, force: bool = False,
               jobs: int = 1, config: Any = None) -> pd.DataFrame | None:
    """Run `BiopsyStage` on a dataset; return targets.tsv (None when no session finished)."""
    check_options(bids_dir, radius_mm, margin_mm, id_map, export_dir, dicom)
    if not any(d.SIGNATURE.session_dirs(bids_dir)):
        raise InputError("no aggressiveness map: gliopet signature has not been run on this "
                         "dataset", path=bids_dir,
                         fix="run gliopet signature BIDS_DIR first (--session all to target "
                             "recurrence sessions too)")
    stage = BiopsyStage(radius_mm, margin_mm, dicom, str(id_map) if id_map else None,
                        str(Path(export_dir).absolute()) if export_dir else None)
    return run_stage(stage, bids_dir, participant_label=participant_label, jobs=jobs,
                     force=force, config=config, label="biopsy").table


def check_options(bids_dir: str | Path, radius_mm: float, margin_mm: float,
                  id_map: str | Path | None, export_dir: str | Path | None, dicom: bool) -> None:
    """Refuse bad options before any work."""
    if not radius_mm > 0 or not margin_mm >= 0:
        raise InputError(f"--radius-mm must be > 0 and --margin-mm >= 0, got {radius_mm:g} and "
                         f"{margin_mm:g}", fix="give e.g. --radius-mm 2.5 --margin-mm 2")
    if id_map is None:
        if export_dir is not None:
            raise InputError("--export-dir is only used with --id-map", path=export_dir,
                             fix="add --id-map or drop --export-dir")
        return
    if not dicom:
        raise InputError("--id-map is given with --no-dicom", path=id_map,
                         fix="drop one of them")
    if export_dir is None:
        raise InputError("--id-map needs --export-dir: objects that refer to the original "
                         "series hold original UIDs and the Patient ID, which the "
                         "de-identified dataset may not hold", path=id_map,
                         fix="add --export-dir DIR outside the BIDS dataset")
    bids_real, out_real = Path(bids_dir).resolve(), Path(export_dir).resolve()
    if out_real == bids_real or bids_real in out_real.parents:
        raise InputError("--export-dir lies inside the BIDS dataset (it receives original "
                         "identifiers)", path=export_dir, fix="give a folder outside BIDS_DIR")
