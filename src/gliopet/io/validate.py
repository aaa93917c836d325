"""Checks of a BIDS-PET dataset before any stage runs: `validate_dataset` and `check_pet_sidecar`.

Every problem names the file, says what is wrong and how to fix it. Errors make the dataset
unusable (`gliopet validate` exits 2); warnings do not (missing body weight: no SUV, but
kinetic work is still possible).

These are the one set of dataset checks: `gliopet validate` reports them all, and every stage
(`gliopet.stage.run_stage`) runs them on the sessions it selects through `usable_sessions`,
which refuses the run with the first error before any work. So validate's verdict says what
the stages accept.

Conventions (docs/conventions.md): BIDS times are s relative to `TimeZero`, the frame timing
is checked relative to the injection (`InjectionStart`); activity in Bq/mL (kBq/mL, MBq/mL
accepted); injected activity in MBq for the plausible range; weight in kg. Tolerances and
ranges come from the ``io`` section of the configuration
(``gliopet/data/config/defaults.yaml``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from gliopet.errors import InputError
from gliopet.io.bids_read import read_json, scan_dataset
from gliopet.io.session import PETImage, Session
from gliopet.io.suv import radioactivity_bq, suv_scaling
from gliopet.io.timing import FrameTiming

if TYPE_CHECKING:
    import nibabel as nib

    from gliopet.config import Config, IOConfig

Level = Literal["error", "warning"]
#: Records one problem: level, file (path or text) and message (see `validate_dataset`).
_AddProblem = Callable[[Level, Path | str, str], None]

#: Sidecar fields every PET image must have, with how to fill each in.
REQUIRED_PET_FIELDS: dict[str, str] = {
    "FrameTimesStart": "start of each frame in s relative to TimeZero",
    "FrameDuration": "length of each frame in s",
    "Units": "unit of the voxel values, e.g. Bq/mL",
    "TracerName": "e.g. FDOPA or FET",
    "TracerRadionuclide": "e.g. F18",
    "InjectedRadioactivity": "injected activity, e.g. 185",
    "InjectedRadioactivityUnits": "e.g. MBq",
    "ImageDecayCorrected": "true or false",
    "ImageDecayCorrectionTime": "s relative to TimeZero, e.g. 0",
    "TimeZero": "clock time of time zero, e.g. 10:32:00",
    "ScanStart": "s relative to TimeZero",
    "InjectionStart": "s relative to TimeZero",
}

# Fixes of the sentences of `FrameTiming.problems`, keyed by a phrase they contain.
_TIMING_FIXES = (
    (
        "look like frame end times",
        "subtract FrameTimesStart from these end times to get the durations",
    ),
    (
        "overlap the next frame",
        "check FrameTimesStart and FrameDuration (s); frames must not overlap",
    ),
    ("not increasing", "list the frames in acquisition order with increasing FrameTimesStart"),
    ("zero or negative", "each FrameDuration must be the frame's length in s, greater than 0"),
    (
        "plausible maximum",
        "check that FrameDuration is in s, or raise io.max_frame_duration_s in the configuration",
    ),
    ("non-finite", "give FrameTimesStart and FrameDuration as finite numbers (s)"),
)


@dataclass
class Problem:
    """One problem: ``level`` (``error`` or ``warning``), the file (relative to the dataset
    root where possible) and a message saying what is wrong and how to fix it."""

    level: Level
    file: str
    message: str


@dataclass
class ValidationReport:
    """The result of `validate_dataset`."""

    root: Path
    problems: list[Problem] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def usable(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def verdict(self) -> str:
        """One line: usable or not, with the counts."""
        counts = (f"{len(self.errors)} error(s), {len(self.warnings)} warning(s), "
                  f"{len(self.sessions)} session(s)")
        return f"{'usable' if self.usable else 'NOT usable'}: {counts}"

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "usable": self.usable, "n_sessions": len(self.sessions),
                "problems": [asdict(p) for p in self.problems]}


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _number_list(value: Any) -> list[float] | None:
    if _is_number(value):
        return [float(value)]
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        return [float(v) for v in value]
    return None


def check_pet_sidecar(sidecar: dict[str, Any], n_frames: int | None,
                      config: Config | None = None) -> list[tuple[Level, str]]:
    """Checks of a BIDS-PET sidecar alone (no image, no body weight).

    Parameters
    ----------
    sidecar : dict
        The JSON sidecar.
    n_frames : int or None
        Frames of the image (4th dimension, 1 for a 3-D image); None skips the count check.
    config : Config, optional
        Its ``io`` section gives the frame timing tolerance (s), the longest plausible frame (s)
        and the plausible injected activity range (MBq).

    Returns
    -------
    list of (level, message)
        Empty when the sidecar is usable.
    """
    from gliopet.config import load_config

    io = (config or load_config()).io
    found = _missing_fields(sidecar)
    starts = _number_list(sidecar.get("FrameTimesStart"))
    durations = _number_list(sidecar.get("FrameDuration"))
    number_problems, injection = _number_fields(sidecar, starts, durations)
    found += number_problems
    timing = None
    if starts is not None and durations is not None:
        timing_problems, timing = _frame_timing(starts, durations, injection, n_frames, io)
        found += timing_problems
    found += _scaling_problems(sidecar, timing)
    found += _activity_problems(sidecar, io.injected_activity_MBq_range)
    return found


def _missing_fields(sidecar: dict[str, Any]) -> list[tuple[Level, str]]:
    """An error per field of `REQUIRED_PET_FIELDS` the sidecar lacks."""
    return [("error", f"required field {key} is missing (fix: add {key} to the sidecar: {what})")
            for key, what in REQUIRED_PET_FIELDS.items() if key not in sidecar]


def _number_fields(
    sidecar: dict[str, Any], starts: list[float] | None, durations: list[float] | None
) -> tuple[list[tuple[Level, str]], float]:
    """Errors of the timing fields that are not numbers; also the injection start (s, 0 if bad).

    `starts` and `durations` are the frame lists as parsed by `_number_list` (None: not numbers).
    """
    found: list[tuple[Level, str]] = []
    for key, values in (("FrameTimesStart", starts), ("FrameDuration", durations)):
        if key in sidecar and values is None:
            found.append(
                ("error", f"{key} is not a list of numbers (fix: one value in s per frame)")
            )
    injection = sidecar.get("InjectionStart", 0.0)
    if "InjectionStart" in sidecar and not _is_number(injection):
        found.append(("error", f"InjectionStart {injection!r} is not a number "
                               "(fix: s relative to TimeZero, e.g. 0)"))
        injection = 0.0
    for key in ("ImageDecayCorrectionTime", "ScanStart"):
        if key in sidecar and not _is_number(sidecar[key]):
            found.append(
                ("error", f"{key} {sidecar[key]!r} is not a number (fix: s relative to TimeZero)")
            )
    return found, injection


def _frame_timing(
    starts: list[float], durations: list[float], injection: float, n_frames: int | None,
    io: IOConfig,
) -> tuple[list[tuple[Level, str]], FrameTiming | None]:
    """Errors of the frame timing (s) and the timing itself (None when the lists disagree).

    `io` is the configuration's ``io`` section (timing tolerance, longest plausible frame).
    """
    if len(starts) != len(durations):
        return [
            (
                "error",
                f"FrameTimesStart has {len(starts)} values and FrameDuration "
                f"{len(durations)} (fix: give one start and one duration per frame)",
            )
        ], None
    found: list[tuple[Level, str]] = []
    timing = FrameTiming.from_bids(starts, durations, float(injection))
    if n_frames is not None and timing.n_frames != n_frames:
        found.append(
            (
                "error",
                f"the sidecar lists {timing.n_frames} frames but the image has "
                f"{n_frames} (fix: FrameTimesStart and FrameDuration need one "
                "value per image frame; check that the sidecar belongs to the image)",
            )
        )
    for sentence in timing.problems(io.frame_timing_tolerance_s, io.max_frame_duration_s):
        found.append(("error", f"{sentence} (fix: {_timing_fix(sentence)})"))
    return found, timing


def _timing_fix(sentence: str) -> str:
    """The fix of a `FrameTiming.problems` sentence (see `_TIMING_FIXES`)."""
    return next((fix for phrase, fix in _TIMING_FIXES if phrase in sentence),
                "check the frame timing")


def _scaling_problems(
    sidecar: dict[str, Any], timing: FrameTiming | None
) -> list[tuple[Level, str]]:
    """Problems `suv_scaling` finds; the decay-factor check needs a valid frame timing."""
    scaling = suv_scaling(
        sidecar, None, timing if timing is not None else FrameTiming([0.0], [1.0])
    )
    skip_decay_check = timing is None
    return [(cast(Level, level), message) for level, message in scaling.problems
            if not (skip_decay_check and message.startswith("DecayCorrectionFactor"))]


def _activity_problems(
    sidecar: dict[str, Any], range_mbq: tuple[float, float]
) -> list[tuple[Level, str]]:
    """An error when the injected activity lies outside the plausible range (MBq)."""
    value, units = sidecar.get("InjectedRadioactivity"), sidecar.get("InjectedRadioactivityUnits")
    if value is None or units is None:
        return []
    try:
        dose_mbq = radioactivity_bq(value, units) / 1e6
    except InputError:
        return []  # reported by suv_scaling
    low, high = range_mbq
    if dose_mbq > 0 and not low <= dose_mbq <= high:
        return [
            (
                "error",
                f"injected activity {dose_mbq:g} MBq is outside the plausible range "
                f"{low:g}-{high:g} MBq (fix: check InjectedRadioactivity and its units, "
                "or set io.injected_activity_MBq_range in the configuration)",
            )
        ]
    return []


def _world_box(affine: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """World-space (mm) bounding box of a voxel grid, voxel edges included."""
    edges = [(-0.5, n - 0.5) for n in shape[:3]]
    corners = np.array(np.meshgrid(*edges, indexing="ij")).reshape(3, -1)
    world = affine[:3, :3] @ corners + affine[:3, 3:4]
    return world.min(axis=1), world.max(axis=1)


def boxes_overlap(affine_a: np.ndarray, shape_a: tuple[int, ...],
                  affine_b: np.ndarray, shape_b: tuple[int, ...]) -> bool:
    """True when the world-space bounding boxes of two images intersect (volume > 0)."""
    low_a, high_a = _world_box(np.asarray(affine_a, float), shape_a)
    low_b, high_b = _world_box(np.asarray(affine_b, float), shape_b)
    return bool(np.all(np.maximum(low_a, low_b) < np.minimum(high_a, high_b)))


def count_non_finite(img: nib.Nifti1Image) -> tuple[int, int]:
    """(non-finite voxels, all voxels) of a lazily loaded image; integer images have none.

    Reads a large 4-D image one frame at a time to bound memory.
    """
    total = int(np.prod(img.shape))
    if not np.issubdtype(img.get_data_dtype(), np.floating):
        return 0, total
    nbytes = total * img.get_data_dtype().itemsize
    if img.ndim < 4 or nbytes <= 512 * 2**20:
        return int(np.count_nonzero(~np.isfinite(np.asanyarray(img.dataobj)))), total
    bad = 0
    for frame in range(img.shape[3]):
        bad += int(np.count_nonzero(~np.isfinite(np.asanyarray(img.dataobj[..., frame]))))
    return bad, total


def validate_dataset(root: str | Path, config: Config | None = None,
                     participant_label: list[str] | None = None) -> ValidationReport:
    """Check a BIDS-PET dataset: files, tables, sidecars, images, weights and geometry.

    Reads every image once (size check and non-finite voxels). Never writes anything.
    `participant_label` limits the session checks to those subjects (with or without ``sub-``;
    the dataset-level checks always run).

    Raises
    ------
    InputError
        When `root` is not a folder or a requested participant is not in it; everything else is
        reported as a `Problem`.
    """
    from gliopet.config import load_config

    config = config or load_config()
    root = Path(root)
    scan = scan_dataset(root, participant_label, config)
    report = ValidationReport(root=root, sessions=scan.sessions)

    def rel(path: Path) -> str:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            return str(path)

    def add(level: Level, path: Path | str, message: str) -> None:
        where = path if isinstance(path, str) else rel(path)
        report.problems.append(Problem(level, where, message))

    for item in scan.issues:
        if item.code != "timing":  # the sidecar check below says which timing field is wrong
            add(item.level, item.file, item.message)  # type: ignore[arg-type]
    subjects = sorted({session.subject for session in scan.sessions})
    _check_lone_sidecars(root, subjects if participant_label else None, config, add)
    for session in scan.sessions:
        if session.pet is None:  # MRI-only (a warning) or no image at all (an error already)
            _check_anat(session, None, add)
            continue
        pet_img = _check_pet(session.pet, config, add)
        _check_anat(session, pet_img, add)
    return report


def usable_sessions(root: str | Path, participant_label: list[str] | None = None,
                    config: Config | None = None) -> list[Session]:
    """The sessions of `participant_label` (all when None), after `validate_dataset`'s checks.

    What every stage reads its sessions with: a dataset that `gliopet validate` calls usable
    passes, any error refuses the run before work starts. Warnings pass.

    Raises
    ------
    InputError
        The first error `validate_dataset` finds (its file, problem and fix; the fix says how
        many errors there are when there are several).
    """
    report = validate_dataset(root, config, participant_label)
    if report.errors:
        first = report.errors[0]
        problem, _, fix = first.message.partition(" (fix: ")
        fix = fix[:-1] if fix else "see gliopet validate"
        if len(report.errors) > 1:
            fix += (f"; this is the first of {len(report.errors)} errors: gliopet validate "
                    f"{report.root} lists them all")
        path = report.root if first.file == "." else report.root / first.file
        raise InputError(problem, path=path, fix=fix)
    return report.sessions


def _check_lone_sidecars(root: Path, subjects: list[str] | None, config: Config,
                         add: _AddProblem) -> None:
    """A sidecar without its image still gets the sidecar checks: its timing may be wrong too.

    `subjects`: the labels whose folders are searched (None: every sub-* folder)."""
    folders = ["sub-*"] if subjects is None else [f"sub-{label}" for label in subjects]
    paths = sorted({p for folder in folders for p in root.glob(f"{folder}/**/pet/*_pet.json")})
    for sidecar_path in paths:
        stem = sidecar_path.name[: -len(".json")]
        if not any(sidecar_path.with_name(stem + ext).is_file() for ext in (".nii", ".nii.gz")):
            try:
                sidecar = read_json(sidecar_path)
            except InputError:
                continue  # already reported by the scan
            for level, message in check_pet_sidecar(sidecar, None, config):
                add(level, sidecar_path, message)


def _check_pet(pet: PETImage, config: Config, add: _AddProblem) -> nib.Nifti1Image | None:
    """Header, sidecar and voxel checks of a session's PET; the lazily opened image or None."""
    from gliopet.io.nifti import load_nifti

    sidecar_path = pet.path.with_name(pet.path.name.split(".nii")[0] + ".json")
    pet_img = None
    try:
        pet_img = load_nifti(pet.path, ensure_ndim=(3, 4), canonical=False, check_size=True)
    except InputError as exc:
        add("error", pet.path, f"{exc.problem} (fix: {exc.fix})")
    n_frames = None if pet_img is None else (pet_img.shape[3] if pet_img.ndim == 4 else 1)
    for level, message in check_pet_sidecar(pet.sidecar, n_frames, config):
        add(level, sidecar_path, message)
    if pet_img is not None:
        try:
            bad, total = count_non_finite(pet_img)
        except (EOFError, OSError, ValueError) as exc:
            add("error", pet.path,
                f"voxel data cannot be read ({exc}) (fix: copy or export the file again)")
        else:
            if bad:
                add("error", pet.path, f"{bad} of {total} voxels are not finite (NaN or inf) "
                                       "(fix: re-export the image; replace NaN outside the field "
                                       "of view by 0)")
    return pet_img


def _check_anat(session: Session, pet_img: nib.Nifti1Image | None, add: _AddProblem) -> None:
    """Each anatomical image opens as 3-D and overlaps the PET in world space; a warning when
    the session has none (a PET-only dataset is valid, but preprocessing needs an MRI)."""
    from gliopet.io.nifti import load_nifti

    if not session.anat and session.pet is not None:
        add("warning", session.pet.path.parent.parent, "no anatomical MRI (ce-gadolinium_T1w, "
            "T1w, T2w or FLAIR) in this session: gliopet preprocess will refuse it (fix: add "
            "at least a T1w image to the anat/ folder)")
    for key, anat in session.anat.items():
        try:
            anat_img = load_nifti(anat.path, ensure_ndim=(3,), canonical=False, check_size=True)
        except InputError as exc:
            add("error", anat.path, f"{exc.problem} (fix: {exc.fix})")
            continue
        if pet_img is not None and not boxes_overlap(pet_img.affine, pet_img.shape,
                                                     anat_img.affine, anat_img.shape):
            add("error", anat.path, f"the {key} image and the PET image do not overlap in "
                                    "physical space (their world bounding boxes are disjoint) "
                                    "(fix: check the affines (qform/sform) of both images; "
                                    "re-convert them from DICOM)")
