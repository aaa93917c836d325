"""Reading a BIDS-PET dataset into `Session` objects, lazily (paths and metadata, no voxels).

Layout (BIDS 1.9 with the PET extension, docs/conventions.md "Derivatives layout")::

    dataset_description.json                      required
    participants.tsv                              subject labels, ``weight`` (kg)
    sub-<id>/sub-<id>_sessions.tsv                session labels, ``weight`` (kg), ``site``,
                                                  ``scanner``
    sub-<id>/[ses-<id>/]pet/*_pet.nii[.gz] + .json
    sub-<id>/[ses-<id>/]anat/*_{T1w,T2w,FLAIR}.nii[.gz]   (contrast T1w: ``*_ce-gadolinium_T1w``)

Conventions: frame times from the sidecar are relative to `TimeZero` (s); the `FrameTiming` of a
session is relative to the injection (``FrameTimesStart - InjectionStart``, docs/conventions.md
"Time zero and frame times"). ``n/a`` in a table is a missing value. Session labels override
subject labels of the same name; the body weight is the sessions file's ``weight`` when given,
else participants.tsv's.

No NIfTI file is opened here: a cohort of hundreds of sessions lists in a moment. The image
checks (size, affine, voxels) are `gliopet.io.validate`'s job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gliopet.errors import InputError
from gliopet.io.bids_names import is_label, parse_entities
from gliopet.io.session import AnatImage, PETImage, Session
from gliopet.io.suv import suv_scaling
from gliopet.io.timing import FrameTiming

if TYPE_CHECKING:
    from gliopet.config import Config

#: Sidecar fields without which the frame timing cannot be built.
TIMING_FIELDS = ("FrameTimesStart", "FrameDuration", "InjectionStart")

_NIFTI_EXTS = (".nii.gz", ".nii")
_GADOLINIUM = {"gadolinium", "gd", "gado"}


@dataclass
class ReadIssue:
    """A problem met while reading. `fatal` ones make `read_dataset` raise `InputError`."""

    level: str
    file: str
    message: str
    fatal: bool = False
    code: str = ""


@dataclass
class DatasetScan:
    """Everything read from a dataset: the sessions, the tables and the issues met on the way."""

    root: Path
    sessions: list[Session] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    description: dict[str, Any] | None = None


def _msg(problem: str, fix: str) -> str:
    return f"{problem} (fix: {fix})"


def parse_value(text: str) -> Any:
    """A TSV cell as Python: ``n/a`` or empty -> None, else int, float or the string."""
    text = text.strip()
    if text in ("", "n/a"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def read_tsv_rows(path: Path, id_column: str) -> dict[str, dict[str, Any]]:
    """Rows of a BIDS TSV keyed by `id_column` (``participant_id``, ``session_id``).

    Raises
    ------
    InputError
        Unreadable file, missing id column, or a row with another number of cells than the header.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be read ({exc.__class__.__name__})", path=path,
                         fix="save it as UTF-8 tab-separated text") from None
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise InputError("is empty", path=path, fix=f"add a header line starting with {id_column}")
    header = [h.strip() for h in lines[0].split("\t")]
    if id_column not in header:
        raise InputError(f"has no {id_column!r} column (header: {header})", path=path,
                         fix=f"make {id_column!r} the first tab-separated column")
    rows: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise InputError(
                f"line {number} has {len(cells)} cells, the header has {len(header)}",
                path=path,
                fix="separate columns with one tab and write n/a for missing values",
            )
        row = {key: parse_value(cell) for key, cell in zip(header, cells, strict=True)}
        rows[str(row.pop(id_column))] = row
    return rows


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; `InputError` when missing, not valid JSON or not an object."""
    if not path.is_file():
        raise InputError("file not found", path=path, fix="add the JSON sidecar next to the image")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot be read ({exc.__class__.__name__})", path=path, fix="save it as UTF-8 JSON"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            path=path,
            fix="correct the JSON syntax (quotes, commas, brackets)",
        ) from None
    if not isinstance(data, dict):
        raise InputError("the JSON is not an object of key/value pairs", path=path,
                         fix="write the sidecar as a JSON object { ... }")
    return data


def _nifti_stem(path: Path) -> str | None:
    for ext in _NIFTI_EXTS:
        if path.name.endswith(ext):
            return path.name[: -len(ext)]
    return None


def _anat_key(name: str) -> str | None:
    """The `gliopet.io.session.ANAT_SUFFIXES` key of an anatomical file name, or None."""
    entities = parse_entities(name)
    suffix = entities["suffix"]
    if suffix == "T1w" and "ce" in entities:
        return "ce-gadolinium_T1w" if entities["ce"].lower() in _GADOLINIUM else None
    if suffix in ("T1w", "T2w", "FLAIR"):
        return suffix
    return None


def _positive(value: Any) -> bool:
    """True for a finite number above 0 (a TSV cell as `parse_value` gives it)."""
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value) and value > 0)


def _shown(value: Any, unit: str) -> str:
    """A table value in a message: a number with its unit, anything else quoted."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g} {unit}"
    return repr(value)


def _folder_labels(parent: Path, prefix: str, entity: str,
                   issue: Callable[..., None]) -> list[str]:
    """Labels of the ``<prefix>-*`` folders of `parent` (sorted); a folder whose label is not a
    BIDS label (letters and digits only) is a fatal issue and is left out."""
    labels = []
    for folder in sorted(p for p in parent.glob(f"{prefix}-*") if p.is_dir()):
        label = folder.name[len(prefix) + 1:]
        if is_label(label):
            labels.append(label)
            continue
        example = "sub-001" if prefix == "sub" else "ses-baseline"
        issue("error", folder, _msg(
            f"the {entity} label {label!r} of this folder is not a BIDS label (letters and "
            "digits only), so no file name can be built from it",
            f"rename the folder and the {prefix}-{label} part of its file names to "
            f"{prefix}-<letters and digits>, e.g. {example}"), fatal=True)
    return labels


def _sessions_of(subject_dir: Path, issue: Callable[..., None]) -> list[str]:
    """Session labels of a subject folder; ``[""]`` when it has no ses-* folder."""
    if not any(p.is_dir() for p in subject_dir.glob("ses-*")):
        return [""]
    return _folder_labels(subject_dir, "ses", "session", issue)


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def scan_dataset(root: str | Path, participant_label: list[str] | None = None,
                 config: Config | None = None) -> DatasetScan:
    """Read every session of a dataset, recording problems instead of stopping at the first.

    `read_dataset` raises on the first fatal issue; `gliopet validate` reports them all.
    """
    from gliopet.config import load_config

    config = config or load_config()
    root = Path(root)
    scan = DatasetScan(root=root)
    if not root.is_dir():
        raise InputError("not a folder", path=root, fix="give the root folder of a BIDS dataset")

    def issue(level: str, path: Path, message: str, fatal: bool = False, code: str = "") -> None:
        scan.issues.append(ReadIssue(level, _rel(root, path), message, fatal, code))

    scan.description = _read_description(root, issue)
    participants = _read_participants(root, issue)
    for subject in _subjects(root, participant_label, issue):
        scan.sessions += _read_subject(root, subject, participants, config, issue)
    return scan


def _read_description(root: Path, issue: Callable[..., None]) -> dict[str, Any] | None:
    """dataset_description.json of `root`; None (and a fatal issue) when missing or unreadable."""
    description = root / "dataset_description.json"
    if not description.is_file():
        issue(
            "error",
            description,
            _msg(
                "dataset_description.json is missing, so this is not a BIDS dataset",
                "add it with at least Name and BIDSVersion "
                "(see gliopet.io.bids_write.write_dataset_description)",
            ),
            fatal=True,
        )
        return None
    try:
        return read_json(description)
    except InputError as exc:
        issue("error", description, _msg(exc.problem, exc.fix or ""), fatal=True)
        return None


def _read_participants(root: Path, issue: Callable[..., None]) -> dict[str, dict[str, Any]]:
    """Rows of participants.tsv by participant_id; empty (and an issue) when missing or bad."""
    participants_path = root / "participants.tsv"
    if not participants_path.is_file():
        issue("warning", participants_path, _msg(
            "participants.tsv is missing: no subject-level labels or body weight",
            "add participants.tsv with participant_id, weight (kg) and the label columns"))
        return {}
    try:
        return read_tsv_rows(participants_path, "participant_id")
    except InputError as exc:
        issue("error", participants_path, _msg(exc.problem, exc.fix or ""), fatal=True)
        return {}


def _subjects(root: Path, participant_label: list[str] | None,
              issue: Callable[..., None]) -> list[str]:
    """Subject labels to read (without sub-); `InputError` for a requested unknown subject.

    A sub-* folder whose label is not a BIDS label is a fatal issue (`_folder_labels`)."""
    subjects = _folder_labels(root, "sub", "subject", issue)
    if participant_label:
        wanted = {label.removeprefix("sub-") for label in participant_label}
        unknown = sorted(wanted - set(subjects))
        if unknown:
            raise InputError(
                f"participant(s) {', '.join(unknown)} not found in the dataset",
                path=root,
                fix=f"choose among {', '.join(subjects) or '(no sub-* folder)'}",
            )
        subjects = [s for s in subjects if s in wanted]
    if not subjects and not any(p.is_dir() for p in root.glob("sub-*")):
        issue("error", root, _msg("no sub-* folder: the dataset has no subject",
                                  "put each subject's images under sub-<label>/"))
    return subjects


def _read_subject(root: Path, subject: str, participants: dict[str, dict[str, Any]],
                  config: Config, issue: Callable[..., None]) -> list[Session]:
    """Every session of one subject, with the labels of participants.tsv and its sessions.tsv."""
    subject_dir = root / f"sub-{subject}"
    sessions_path = subject_dir / f"sub-{subject}_sessions.tsv"
    session_rows: dict[str, dict[str, Any]] = {}
    if sessions_path.is_file():
        try:
            session_rows = read_tsv_rows(sessions_path, "session_id")
        except InputError as exc:
            issue("error", sessions_path, _msg(exc.problem, exc.fix or ""), fatal=True)
    if participants and f"sub-{subject}" not in participants:
        issue("warning", root / "participants.tsv", _msg(
            f"sub-{subject} has no row in participants.tsv", f"add a row for sub-{subject}"))
    return [
        _read_one(
            root,
            subject,
            session,
            participants.get(f"sub-{subject}", {}),
            session_rows.get(f"ses-{session}", {}) if session else {},
            config,
            issue,
        )
        for session in _sessions_of(subject_dir, issue)
    ]


def _read_one(root: Path, subject: str, session: str, subject_row: dict[str, Any],
              session_row: dict[str, Any], config: Config, issue: Callable[..., None]) -> Session:
    folder = root / f"sub-{subject}" / (f"ses-{session}" if session else "")
    labels = {**subject_row, **session_row}
    images = _pet_images(folder, issue)
    tables = ((root / f"sub-{subject}" / f"sub-{subject}_sessions.tsv", session_row),
              (root / "participants.tsv", subject_row))
    # the table values are checked for sessions with PET only (the others are errors already)
    weight = _table_numbers(tables, f"sub-{subject}" + (f" ses-{session}" if session else ""),
                            config, issue if images else _no_issue)
    result = Session(subject=subject, session=session, labels=labels, weight_kg=weight, root=root,
                     site=str(labels.get("site") or ""), scanner=str(labels.get("scanner") or ""))
    _read_anat(folder, result, issue)
    if not images:
        _no_pet(folder, result, issue)
        return result
    image = images[0]
    sidecar_path = image.with_name(_nifti_stem(image) + ".json")
    try:
        sidecar = read_json(sidecar_path)
    except InputError as exc:
        issue("error", sidecar_path, _msg(exc.problem, exc.fix or ""), fatal=True)
        return result
    result.site = str(labels.get("site") or sidecar.get("InstitutionName") or "")
    scanner = " ".join(str(sidecar[k]) for k in ("Manufacturer", "ManufacturersModelName")
                       if sidecar.get(k))
    result.scanner = str(labels.get("scanner") or scanner)
    entities = parse_entities(image.name)
    tracer = _tracer_label(sidecar, entities, sidecar_path, issue)
    units = str(sidecar.get("Units", ""))
    timing = _pet_timing(sidecar, sidecar_path, issue)
    if timing is None:
        # Only `scan_dataset` callers (validate) see this session: `read_dataset` raises.
        result.pet = PETImage(path=image, sidecar=sidecar, timing=FrameTiming([], []), units=units,
                              suv_note="no SUV: frame timing missing", tracer=tracer)
        return result
    scaling = suv_scaling(sidecar, weight, timing, path=sidecar_path)
    result.pet = PETImage(
        path=image, sidecar=sidecar, timing=timing, units=units,
        suv_factor=scaling.factor, frame_decay_factors=scaling.frame_decay_factors,
        suv_note=scaling.note, tracer=tracer,
    )
    return result


def _no_pet(folder: Path, result: Session, issue: Callable[..., None]) -> None:
    """A session without PET: an MRI-only session (a warning: preprocessing brings its MRI to
    the template and the learning grid, quantification skips it) or, without MRI, an error."""
    if result.anat:
        issue("warning", folder, _msg("MRI-only session: no *_pet.nii.gz in pet/ (preprocessing "
                                      "takes its MRI to the learning grid; quantification skips "
                                      "it)", "add the PET image and its JSON sidecar if one was "
                                      "acquired"))
    else:
        issue("error", folder, _msg("session without PET: no *_pet.nii.gz in pet/",
                                    "add the PET image and its JSON sidecar, or remove the "
                                    "session"))


def _tracer_label(sidecar: dict[str, Any], entities: dict[str, str], sidecar_path: Path,
                  issue: Callable[..., None]) -> str:
    """The tracer label of a PET image, which names gliopet's files (``trc-<label>``).

    TracerName when it is a BIDS label (letters and digits), else the ``trc`` entity of the
    image's file name (TracerName ``[18F]FDOPA`` in ``..._trc-FDOPA_pet.nii.gz`` gives FDOPA);
    a fatal issue when neither is one.
    """
    tracer = str(sidecar.get("TracerName") or entities.get("trc", ""))
    if not tracer or is_label(tracer):
        return tracer
    if is_label(entities.get("trc", "")):
        return entities["trc"]
    issue("error", sidecar_path, _msg(
        f"TracerName {tracer!r} cannot label gliopet's output files (trc-<label>: letters and "
        "digits only) and the PET file name has no trc- entity",
        "add trc-<tracer> to the PET image and sidecar names (e.g. trc-FDOPA), or write "
        "TracerName in letters and digits"), fatal=True)
    return tracer


def _no_issue(*args: Any, **kwargs: Any) -> None:
    """An `issue` callback that records nothing."""


def _table_value(tables: tuple[tuple[Path, dict[str, Any]], ...],
                 column: str) -> tuple[Path, Any] | None:
    """(table, value) of the first table whose row gives `column` (n/a is no value)."""
    return next(((path, row[column]) for path, row in tables if row.get(column) is not None),
                None)


def _table_numbers(tables: tuple[tuple[Path, dict[str, Any]], ...], label: str, config: Config,
                   issue: Callable[..., None]) -> float | None:
    """The session's body weight (kg) from its tables (sessions file first, then
    participants.tsv), with the checks of ``weight`` and ``injected_activity_MBq``.

    No weight is a warning (no SUV, kinetics still possible); a weight or injected activity that
    is not a positive number, or outside the configuration's plausible range (``io``
    section), is an error. A weight that is not a positive number gives None.
    """
    found = _table_value(tables, "weight")
    if found is None:
        where = tables[0][0] if tables[0][0].is_file() else tables[1][0]
        issue("warning", where, _msg(
            f"no body weight for {label}: SUV cannot be computed, kinetic analysis still can",
            "add the weight in kg to the weight column of sub-<id>_sessions.tsv or "
            "participants.tsv"))
        weight = None
    else:
        weight = _checked_number(found, f"body weight {{}} of {label}", "kg",
                                 config.io.weight_kg_range, issue)
    dose = _table_value(tables, "injected_activity_MBq")
    if dose is not None:
        _checked_number(dose, f"injected_activity_MBq {{}} of {label}", "MBq",
                        config.io.injected_activity_MBq_range, issue)
    return weight


def _checked_number(found: tuple[Path, Any], what: str, unit: str,
                    plausible: tuple[float, float], issue: Callable[..., None]) -> float | None:
    """A table value (`found`: table, value) that must be a positive number in `unit` inside
    the `plausible` range; an error issue otherwise. None when it is not a positive number.

    `what` names the value with ``{}`` where the value goes.
    """
    where, value = found
    column = "weight" if unit == "kg" else "injected_activity_MBq"
    if not _positive(value):
        example = "70" if unit == "kg" else "185"
        issue("error", where, _msg(
            f"{what.format(_shown(value, unit))} is not a positive number",
            f"write the value in {unit} (e.g. {example}) in the {column} column, or n/a when "
            "it is unknown"))
        return None
    low, high = plausible
    if not low <= value <= high:
        setting = "io.weight_kg_range" if unit == "kg" else "io.injected_activity_MBq_range"
        issue("error", where, _msg(
            f"{what.format(_shown(value, unit))} is outside the plausible range "
            f"{low:g}-{high:g} {unit}",
            f"check the {column} column is in {unit}, or set {setting} in the configuration"))
    return float(value)


def _read_anat(folder: Path, result: Session, issue: Callable[..., None]) -> None:
    """Anatomical images of the session folder into `result.anat`, keyed by ANAT_SUFFIXES."""
    for path in sorted((folder / "anat").glob("*")) if (folder / "anat").is_dir() else []:
        stem = _nifti_stem(path)
        if stem is None:
            continue
        key = _anat_key(path.name)
        if key is None:
            continue
        if key in result.anat:
            issue("warning", path, _msg(f"second {key} image in the session; "
                                        f"{result.anat[key].path.name} is used",
                                        "keep one image per contrast or remove the extra one"))
            continue
        sidecar_path = path.with_name(stem + ".json")
        sidecar: dict[str, Any] = {}
        if sidecar_path.is_file():
            try:
                sidecar = read_json(sidecar_path)
            except InputError as exc:
                issue("warning", sidecar_path, _msg(exc.problem, exc.fix or ""))
        result.anat[key] = AnatImage(path=path, suffix=key, sidecar=sidecar)


def _pet_images(folder: Path, issue: Callable[..., None]) -> list[Path]:
    """The PET images of the session folder (sorted); reports sidecars without an image and
    more than one image (no image: `_no_pet`)."""
    pet_dir = folder / "pet"
    images = (sorted(p for p in pet_dir.glob("*_pet.nii*") if _nifti_stem(p))
              if pet_dir.is_dir() else [])
    sidecars = sorted(pet_dir.glob("*_pet.json")) if pet_dir.is_dir() else []
    stems = {_nifti_stem(p) for p in images}
    for orphan in sidecars:
        if orphan.name[: -len(".json")] not in stems:
            issue("error", orphan, _msg("PET sidecar without its image",
                                        f"add {orphan.name[:-5]}.nii.gz next to it or remove the "
                                        "sidecar"))
    if len(images) > 1:
        issue("error", images[1], _msg(
            f"{len(images)} PET images in one session ({', '.join(p.name for p in images)})",
            "keep one PET image per session (put other tracers or tasks in their own session)"),
            fatal=True)
    return images


def _pet_timing(sidecar: dict[str, Any], sidecar_path: Path,
                issue: Callable[..., None]) -> FrameTiming | None:
    """Frame timing (s from injection) of a PET sidecar; None, with a fatal issue, when it
    cannot be built."""
    missing = [key for key in TIMING_FIELDS if key not in sidecar]
    if missing:
        issue("error", sidecar_path, _msg(
            f"the frame timing cannot be built: {', '.join(missing)} missing",
            "add FrameTimesStart, FrameDuration (s) and InjectionStart (s from TimeZero)"),
            fatal=True, code="timing")
        return None
    try:
        injection = float(sidecar["InjectionStart"])
        return FrameTiming.from_bids(sidecar["FrameTimesStart"], sidecar["FrameDuration"],
                                     injection)
    except (TypeError, ValueError) as exc:
        issue("error", sidecar_path, _msg(
            "FrameTimesStart, FrameDuration or InjectionStart is not numeric or of unequal "
            f"length ({exc})",
            "give FrameTimesStart and FrameDuration as lists of numbers (s), one per frame"),
            fatal=True, code="timing")
        return None


def _raise_first_fatal(scan: DatasetScan) -> None:
    for item in scan.issues:
        if item.fatal:
            problem, _, fix = item.message.partition(" (fix: ")
            raise InputError(problem, path=scan.root / item.file if item.file != "." else scan.root,
                             fix=fix[:-1] if fix else None)


def read_dataset(root: str | Path, participant_label: list[str] | None = None,
                 config: Config | None = None) -> list[Session]:
    """All sessions of a BIDS-PET dataset (paths and metadata only; no voxel is read).

    Parameters
    ----------
    root : str or Path
        The dataset folder (holding ``dataset_description.json``).
    participant_label : list of str, optional
        Subjects to read (with or without ``sub-``); all when None.
    config : Config, optional
        Resolved configuration (defaults when None).

    Raises
    ------
    InputError
        Missing or unreadable ``dataset_description.json``, unreadable tables, a PET sidecar
        that is missing or not valid JSON, frame timing that cannot be built, several PET
        images in one session, or an unknown participant label.
    """
    scan = scan_dataset(root, participant_label, config)
    _raise_first_fatal(scan)
    return scan.sessions


def read_session(root: str | Path, subject: str, session: str | None,
                 config: Config | None = None) -> Session:
    """One session of a BIDS-PET dataset (``session`` None or "" when it has no sessions)."""
    subject = subject.removeprefix("sub-")
    wanted = (session or "").removeprefix("ses-")
    for item in read_dataset(root, [subject], config):
        if item.session == wanted:
            return item
    raise InputError(
        f"session {wanted or '(none)'} of sub-{subject} not found",
        path=Path(root) / f"sub-{subject}",
        fix="check the ses-<label> folder name",
    )
