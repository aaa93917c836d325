"""`import-dicom`: a PACS export (PET and MR series) to a de-identified BIDS dataset.

Steps: scan and group files by series (`scan`), decide per series what it is (`pet`, `mr`,
user series map) or why it is skipped, assign new subject and session labels, convert and
write the whole dataset in a staging folder (`gliopet.atomic.staged_directory`), write the
new id-map under a temporary name beside it, move the dataset into place, and only then
rename the id-map onto its name. A failure at any point (a bad file, BIDS_DIR filled by
another program meanwhile) leaves neither the dataset nor the id-map changed.

Safety of the paths: SRC and BIDS_DIR may not lie inside one another (symbolic links
resolved), the id-map may not lie inside BIDS_DIR, and ``--overwrite`` replaces only a dataset
that gliopet wrote (``GeneratedBy`` of its ``dataset_description.json`` names gliopet): any
other existing folder is refused and left untouched.

De-identification (`docs/deidentification.md`): no patient name, ID, birth date, calendar date,
UID or free text (descriptions, comments, the radiopharmaceutical name) is written to the BIDS
dataset; the tracer label comes from the radiopharmaceutical code or a table of known names
(`deidentify`); sidecars hold times of day and durations only; provenance records no source
paths.
Subjects get new labels ``001``, ``002``... in order of first appearance (PatientID sorted);
sessions ``01``, ``02``... per subject in study-date order (series of one patient on one study
date form one session, so a PET and an MRI of the same day are one session).

The id-map (JSON, must lie outside BIDS_DIR, mode 0600, the only file that holds original
identifiers; docs/deidentification.md) holds::

    {"format": "gliopet-id-map/1",
     "subjects": {"<PatientID>": "001", ...},
     "sessions": {"<PatientID>": {"<StudyDate YYYYMMDD>": "01", ...}, ...},
     "imports": [{"created": ISO time, "bids_dir": path, "source": path,
                  "files": [{"bids_path": "sub-001/ses-01/pet/....nii.gz", "subject": "001",
                             "session": "01", "PatientID": ..., "StudyDate": ...,
                             "StudyInstanceUID": ..., "SeriesInstanceUID": ...,
                             "FrameOfReferenceUID": ..., "SeriesDescription": ...,
                             "SOPInstanceUIDs": [... frame by frame, slice by slice],
                             "source_files": [... relative to the source folder]}, ...]}, ...]}

Giving the same id-map to a later import reuses its labels: a known patient keeps its subject
label, a known study date its session label; new ones get the next free numbers.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gliopet.errors import InputError, ParameterError
from gliopet.io.dicom.convert import read_volume, slice_order
from gliopet.io.dicom.mr import SeriesMap, classify_mr, load_series_map
from gliopet.io.dicom.pet import PETSeries, SkipSeries, pet_series
from gliopet.io.dicom.scan import Series, scan_folder

ID_MAP_FORMAT = "gliopet-id-map/1"
IMAGE_MODALITIES = ("PT", "MR")
NON_IMAGE_MODALITIES = (
    "RTSTRUCT",
    "RTPLAN",
    "RTDOSE",
    "RTRECORD",
    "SR",
    "PR",
    "KO",
    "SEG",
    "REG",
    "DOC",
    "RWV",
    "FID",
    "PLAN",
)


@dataclass
class Skipped:
    """A series not imported and why (`description` is shown only with ``--verbose``)."""

    description: str
    modality: str
    n_files: int
    reason: str
    series_uid: str = ""
    series_number: str = ""


@dataclass
class Written:
    """An image written to the BIDS dataset."""

    bids_path: str
    kind: str
    description: str
    n_files: int
    shape: tuple[int, ...] = ()
    series_number: str = ""


@dataclass
class ImportReport:
    """What `import_dicom` did: images written, series skipped, files ignored, warnings."""

    bids_dir: Path
    id_map: Path
    written: list[Written] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    n_files: int = 0
    n_ignored: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Planned:
    series: Series
    kind: str  # "pet" or an anatomical key
    pet: PETSeries | None = None
    subject: str = ""
    session: str = ""


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def load_id_map(path: Path) -> dict[str, Any]:
    """Read an existing id-map, or return an empty one when `path` does not exist."""
    if not path.exists():
        return {"format": ID_MAP_FORMAT, "subjects": {}, "sessions": {}, "imports": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"id-map is not readable JSON ({exc})",
            path=path,
            fix="give the id-map written by an earlier import, or a new file name",
        ) from None
    if not isinstance(data, dict) or data.get("format") != ID_MAP_FORMAT:
        raise InputError(f"not a gliopet id-map (format is not {ID_MAP_FORMAT!r})", path=path,
                         fix="give the id-map written by an earlier import, or a new file name")
    data.setdefault("subjects", {})
    data.setdefault("sessions", {})
    data.setdefault("imports", [])
    return data


def _classify(series: Series, series_map: SeriesMap, tracer: str | None) -> _Planned:
    modality = series.modality.upper()
    sop_class = str(series.first.get("SOPClassUID", ""))
    if modality in NON_IMAGE_MODALITIES or (
        modality not in IMAGE_MODALITIES and "Rows" not in series.first
    ):
        raise SkipSeries(f"{modality or 'unknown modality'}: not an image")
    if modality not in IMAGE_MODALITIES:
        raise SkipSeries(f"{modality}: not a PET or MR series")
    if str(series.first.get("BurnedInAnnotation", "") or "").upper() == "YES":
        raise SkipSeries("BurnedInAnnotation YES: the pixels may show identifiers")
    if (
        int(series.first.get("NumberOfFrames", 1) or 1) > 1
        or sop_class.startswith("1.2.840.10008.5.1.4.1.1.4.1")
        or sop_class.startswith("1.2.840.10008.5.1.4.1.1.130")
    ):
        raise SkipSeries(
            "enhanced multi-frame images: export the series as classic single-frame images"
        )
    mapped = series_map.lookup(series.uid, series.description)
    if mapped == "skip":
        raise SkipSeries("skipped by --series-map")
    if modality == "PT":
        if mapped not in (None, "pet"):
            raise SkipSeries(f"--series-map gives {mapped} for a PET series")
        image_type = [str(v).upper() for v in (series.first.get("ImageType") or [])]
        if "LOCALIZER" in image_type:
            raise SkipSeries("localizer")
        return _Planned(series, "pet", pet=pet_series(series, tracer=tracer))
    if mapped == "pet":
        raise SkipSeries("--series-map gives pet for an MR series")
    return _Planned(series, mapped or classify_mr(series.first, series.description))


def _labels(plans: list[_Planned], id_map: dict[str, Any]) -> None:
    """Assign subject and session labels, reusing those of the id-map."""
    subjects: dict[str, str] = id_map["subjects"]
    sessions: dict[str, dict[str, str]] = id_map["sessions"]
    taken = [int(v) for v in subjects.values() if str(v).isdigit()]
    next_subject = max(taken, default=0) + 1
    for patient in sorted({p.series.patient_id for p in plans}):
        if patient not in subjects:
            subjects[patient] = f"{next_subject:03d}"
            next_subject += 1
        known = sessions.setdefault(patient, {})
        used = [int(v) for v in known.values() if str(v).isdigit()]
        next_session = max(used, default=0) + 1
        for date in sorted({p.series.study_date for p in plans if p.series.patient_id == patient}):
            if date not in known:
                known[date] = f"{next_session:02d}"
                next_session += 1
    for plan in plans:
        plan.subject = subjects[plan.series.patient_id]
        plan.session = sessions[plan.series.patient_id][plan.series.study_date]


def _mr_sidecar(series: Series, kind: str) -> dict[str, Any]:
    first = series.first

    def seconds(keyword: str) -> float | None:
        value = first.get(keyword)
        try:
            return None if value in (None, "") else float(value) / 1000.0
        except (TypeError, ValueError):
            return None

    sidecar: dict[str, Any] = {
        "Modality": "MR",
        "Manufacturer": str(first.get("Manufacturer", "") or "n/a"),
        "ManufacturersModelName": str(first.get("ManufacturerModelName", "") or "n/a"),
        "ScanningSequence": "\\".join(str(v) for v in (first.get("ScanningSequence") or []))
        or "n/a",
        "SequenceName": str(first.get("SequenceName", "") or "n/a"),
    }
    strength = first.get("MagneticFieldStrength")
    if strength not in (None, ""):
        sidecar["MagneticFieldStrength"] = float(strength)
    for keyword in ("RepetitionTime", "EchoTime", "InversionTime"):
        value = seconds(keyword)
        if value is not None:
            sidecar[keyword] = value
    if kind == "ce-gadolinium_T1w":
        sidecar["ContrastBolusIngredient"] = "GADOLINIUM"
    return sidecar


def _weight(plans: list[_Planned]) -> float | None:
    for plan in sorted(plans, key=lambda p: p.kind != "pet"):
        if plan.pet is not None and plan.pet.weight_kg is not None:
            return plan.pet.weight_kg
        value = plan.series.first.get("PatientWeight")
        try:
            if value not in (None, "") and float(value) > 0:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None


def import_dicom(src: str | Path, bids_dir: str | Path, id_map: str | Path, *,
                 series_map: str | Path | None = None, tracer: str | None = None,
                 overwrite: bool = False, command: str = "gliopet import-dicom") -> ImportReport:
    """Import the PET and MR series found under `src` into a new BIDS dataset `bids_dir`.

    Parameters
    ----------
    src : path
        Folder of DICOM files (any names, nested folders; non-DICOM files are ignored).
    bids_dir : path
        The BIDS dataset to create (refused when it exists and is not empty, unless `overwrite`;
        refused when it holds `src` or lies inside it).
    id_map : path
        Protected JSON mapping of original identifiers and UIDs to BIDS labels and files;
        must lie outside `bids_dir`. Reused when it exists (same labels for the same patients).
    series_map : path, optional
        YAML or TSV of SeriesDescription patterns or SeriesInstanceUIDs -> suffix (see `mr`).
    tracer : str, optional
        Tracer label for every PET series (``FDOPA``, ``FET``); by default from the
        radiopharmaceutical code or a known tracer name (`deidentify`), and required when
        neither is known.
    overwrite : bool
        Replace an existing `bids_dir` that gliopet wrote (only once the new dataset is
        complete); any other existing folder is refused.

    Raises
    ------
    InputError
        Bad paths or broken DICOM data (see the messages); nothing is written then.
    """
    from gliopet.atomic import atomic_path, remove_stale, staged_directory

    src = Path(src).absolute()
    bids_dir = Path(bids_dir).absolute()
    id_map_path = Path(id_map).absolute()
    _check_arguments(src, bids_dir, id_map_path, overwrite, tracer)
    mapping = load_series_map(series_map)
    ids = load_id_map(id_map_path)

    scan = scan_folder(src)
    report = ImportReport(bids_dir=bids_dir, id_map=id_map_path, n_files=scan.n_files,
                          n_ignored=scan.n_ignored)
    plans = _plan_series(scan.series, mapping, tracer, report)
    _labels(plans, ids)
    kept = _one_per_kind(plans, report)
    if not kept:
        raise _nothing_to_import(src, report)
    orders = _slice_orders(kept)  # geometry from the headers before anything is written

    from gliopet.io.bids_write import write_dataset_description, write_participants
    from gliopet.progress import track

    files: list[dict[str, Any]] = []
    # The pending id-map is locked while this import runs, so the next import removes it if
    # this one is killed (it holds identifiers) and never while this one is alive.
    remove_stale(id_map_path.parent, names=[id_map_path.name])
    try:
        with atomic_path(id_map_path, private=True) as pending:
            with staged_directory(bids_dir, overwrite=overwrite) as stage:
                for plan in track(kept, "Converting DICOM series"):
                    files.append(_convert(stage, plan, orders[plan.series.uid], src, report))
                _write_tables(stage, kept, write_participants)
                write_dataset_description(stage, "DICOM import (gliopet import-dicom)")
                _write_provenance(stage, command, len(scan.series), len(kept))
                report.written.sort(key=lambda w: w.bids_path)
                files.sort(key=lambda f: f["bids_path"])
                _write_id_map(pending, ids, bids_dir, src, files)
                _check_target_unchanged(bids_dir, overwrite)
            # the dataset is in place: leaving atomic_path renames the id-map onto its name
    except FileExistsError:  # BIDS_DIR filled between the last check and the move
        if bids_dir.is_dir() and any(bids_dir.iterdir()):
            raise _changed_meanwhile(bids_dir) from None
        raise
    return report


def _nothing_to_import(src: Path, report: ImportReport) -> InputError:
    error = InputError(f"no series could be imported ({len(report.skipped)} skipped: "
                       f"{'; '.join(sorted({s.reason for s in report.skipped}))})", path=src,
                       fix="see the reasons; a --series-map can name MR series")
    error.report = report  # type: ignore[attr-defined]  # the CLI prints the skipped table
    return error


def _check_arguments(src: Path, bids_dir: Path, id_map_path: Path, overwrite: bool,
                     tracer: str | None) -> None:
    """Refuse unsafe or unusable paths and a malformed tracer label before reading anything."""
    from gliopet.io.bids_names import check_label

    src_real, bids_real = src.resolve(), bids_dir.resolve()  # symbolic links followed
    if _inside(id_map_path.resolve(), bids_real):
        raise InputError(f"the id-map lies inside the BIDS folder {bids_dir}, which would put "
                         "patient identifiers in the shared dataset", path=id_map_path,
                         fix="give an --id-map path outside BIDS_DIR")
    if _inside(bids_real, src_real):
        raise InputError("the BIDS folder lies inside the DICOM source folder", path=bids_dir,
                         fix="write the dataset outside SRC")
    if _inside(src_real, bids_real):
        raise InputError("the DICOM source folder lies inside the BIDS folder, so writing or "
                         "replacing the dataset would touch the source files", path=src,
                         fix="give a BIDS_DIR that does not hold SRC")
    if id_map_path.suffix.lower() != ".json":
        raise InputError("the id-map must be a .json file", path=id_map_path,
                         fix="give a name ending in .json")
    _check_target(bids_dir, overwrite)
    if tracer is not None:
        try:
            check_label(tracer, "trc")
        except ValueError:
            raise ParameterError("tracer", tracer,
                                 "letters and digits only (e.g. FDOPA, FET)") from None


def _check_target(bids_dir: Path, overwrite: bool) -> None:
    """BIDS_DIR must be absent, an empty folder or, with `overwrite`, a dataset gliopet wrote."""
    if bids_dir.is_symlink():
        raise InputError("the BIDS folder is a symbolic link", path=bids_dir,
                         fix=f"give the folder it points to ({bids_dir.resolve()})")
    if not bids_dir.exists():
        return
    if not bids_dir.is_dir():
        raise InputError("the BIDS folder exists and is a file, not a folder", path=bids_dir,
                         fix="give a new folder name")
    if not any(bids_dir.iterdir()):
        return
    if not overwrite:
        raise InputError("the BIDS folder exists and is not empty", path=bids_dir,
                         fix="give a new folder, or add --overwrite to replace it")
    problem = _not_written_by_gliopet(bids_dir)
    if problem:
        raise InputError(f"--overwrite replaces only a dataset written by gliopet, and {problem}",
                         path=bids_dir, fix="give a new folder; gliopet never deletes a folder "
                                            "it did not write (remove it yourself if it must go)")


def _not_written_by_gliopet(bids_dir: Path) -> str:
    """Why `bids_dir` is not a dataset gliopet wrote, or ``""`` when it is (``GeneratedBy``
    of its ``dataset_description.json`` has an entry named gliopet)."""
    path = bids_dir / "dataset_description.json"
    if not path.is_file():
        return "this folder has no dataset_description.json"
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its dataset_description.json is not readable JSON"
    generated = description.get("GeneratedBy") if isinstance(description, dict) else None
    if not isinstance(generated, list) or not any(
            isinstance(entry, dict) and entry.get("Name") == "gliopet" for entry in generated):
        return "its dataset_description.json does not name gliopet in GeneratedBy"
    return ""


def _check_target_unchanged(bids_dir: Path, overwrite: bool) -> None:
    """The check of `_check_target` again, just before the move: another program may have
    written to BIDS_DIR during the import."""
    try:
        _check_target(bids_dir, overwrite)
    except InputError:
        raise _changed_meanwhile(bids_dir) from None


def _changed_meanwhile(bids_dir: Path) -> InputError:
    return InputError("the BIDS folder was created or filled by another program during the "
                      "import; the new dataset was not moved into place and the id-map is "
                      "unchanged", path=bids_dir,
                      fix="give a new folder, or rerun when nothing else writes there")


def _plan_series(all_series: list[Series], mapping: SeriesMap, tracer: str | None,
                 report: ImportReport) -> list[_Planned]:
    """Classify every series; those that cannot be imported go to `report.skipped`."""
    plans: list[_Planned] = []
    for series in all_series:
        try:
            plan = _classify(series, mapping, tracer)
        except SkipSeries as skip:
            report.skipped.append(Skipped(series.description, series.modality, len(series.paths),
                                          skip.reason, series.uid, series.series_number))
            continue
        plans.append(plan)
    return plans


def _one_per_kind(plans: list[_Planned], report: ImportReport) -> list[_Planned]:
    """Keep the first series of each kind (PET per tracer) per session; skip the others."""
    kept: list[_Planned] = []
    seen: set[tuple[str, str, str]] = set()
    for plan in plans:
        key = (plan.subject, plan.session, f"pet-{plan.pet.tracer}" if plan.pet else plan.kind)
        if key in seen:
            report.skipped.append(Skipped(
                plan.series.description, plan.series.modality, len(plan.series.paths),
                f"another {plan.kind} series is already imported for sub-{plan.subject} "
                f"ses-{plan.session}: choose one with --series-map (skip)", plan.series.uid,
                plan.series.series_number))
            continue
        seen.add(key)
        kept.append(plan)
    return kept


def _slice_orders(plans: list[_Planned]) -> dict[str, list[tuple[list[int], np.ndarray]]]:
    """Per series UID: for each frame, the file indices in slice order and the 4x4 affine."""
    orders: dict[str, list[tuple[list[int], np.ndarray]]] = {}
    for plan in plans:
        groups = plan.pet.frames if plan.pet else [list(range(len(plan.series.paths)))]
        per_frame: list[tuple[list[int], np.ndarray]] = []
        for members in groups:
            order, affine = slice_order([plan.series.paths[i] for i in members],
                                        [plan.series.headers[i] for i in members])
            if per_frame and not np.allclose(affine, per_frame[0][1], atol=1e-3):
                raise InputError("the frames of the PET series have different slice positions",
                                 path=plan.series.folder, fix="export the series again")
            per_frame.append(([members[i] for i in order], affine))
        orders[plan.series.uid] = per_frame
    return orders


def _convert(stage: Path, plan: _Planned, per_frame: list[tuple[list[int], np.ndarray]],
             src: Path, report: ImportReport) -> dict[str, Any]:
    """Write one series into the staged dataset; return its id-map record (UIDs, sources)."""
    from gliopet.io.bids_write import write_anat, write_pet

    series = plan.series
    affine = per_frame[0][1]
    volumes = [read_volume(series.paths, members) for members, _ in per_frame]
    if plan.pet is not None:
        data = np.stack(volumes, axis=-1) if len(volumes) > 1 else volumes[0]
        data = (data * np.float32(plan.pet.to_bq_ml)).astype(np.float32)
        path = write_pet(stage, plan.subject, plan.session, data, affine, plan.pet.sidecar,
                         tracer=plan.pet.tracer)
        report.warnings.extend(f"{path.relative_to(stage).as_posix()}: {w}"
                               for w in plan.pet.warnings)
    else:
        data = volumes[0]
        path = write_anat(stage, plan.subject, plan.session, plan.kind, data, affine,
                          _mr_sidecar(series, plan.kind))
    relative = path.relative_to(stage).as_posix()
    ordered = [i for members, _ in per_frame for i in members]
    report.written.append(Written(relative, plan.kind, series.description, len(series.paths),
                                  tuple(int(s) for s in data.shape), series.series_number))
    return {
        "bids_path": relative, "subject": plan.subject, "session": plan.session,
        "PatientID": series.patient_id, "StudyDate": series.study_date,
        "StudyInstanceUID": series.study_uid, "SeriesInstanceUID": series.uid,
        "FrameOfReferenceUID": series.frame_of_reference_uid,
        "SeriesDescription": series.description,
        "SOPInstanceUIDs": [str(series.headers[i].get("SOPInstanceUID", "")) for i in ordered],
        "source_files": [series.paths[i].relative_to(src).as_posix() for i in ordered],
    }


def _write_id_map(pending: Path, ids: dict[str, Any], bids_dir: Path, src: Path,
                  files: list[dict[str, Any]]) -> None:
    """Append this import to the id-map and write it to `pending` (the id-map's temporary
    name, readable by the owner only); the caller moves it onto the id-map once the dataset is
    in place."""
    ids["imports"].append({"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "bids_dir": str(bids_dir), "source": str(src), "files": files})
    pending.write_text(json.dumps(ids, indent=2, default=str) + "\n", encoding="utf-8")


def _write_tables(stage: Path, plans: list[_Planned], write_participants) -> None:
    import pandas as pd

    from gliopet.io.bids_write import write_sessions

    subjects = sorted({p.subject for p in plans})
    sexes = []
    for subject in subjects:
        sex = str(
            next(p for p in plans if p.subject == subject).series.first.get("PatientSex", "") or ""
        ).upper()
        sexes.append(sex if sex in ("M", "F", "O") else "n/a")
    write_participants(
        stage,
        pd.DataFrame({"participant_id": [f"sub-{s}" for s in subjects], "sex": sexes}),
        {
            "sex": {
                "Description": "sex from the DICOM PatientSex tag",
                "Levels": {"M": "male", "F": "female", "O": "other"},
            }
        },
    )
    for subject in subjects:
        mine = [p for p in plans if p.subject == subject]
        rows = []
        for session in sorted({p.session for p in mine}):
            weight = _weight([p for p in mine if p.session == session])
            rows.append(
                {"session_id": f"ses-{session}", "weight": np.nan if weight is None else weight}
            )
        write_sessions(
            stage,
            subject,
            pd.DataFrame(rows),
            {
                "weight": {
                    "Description": "body weight from the DICOM PatientWeight tag",
                    "Units": "kg",
                }
            },
        )


def _write_provenance(stage: Path, command: str, n_series: int, n_imported: int) -> None:
    from gliopet.provenance import write_provenance

    # No source paths or argv: folder names of a PACS export often hold patient names.
    write_provenance(
        stage / "code" / "gliopet",
        command=command,
        extra={
            "argv": ["gliopet", "import-dicom", "<SRC>", "<BIDS_DIR>", "--id-map", "<ID_MAP>"],
            "series_found": n_series,
            "series_imported": n_imported,
        },
    )
