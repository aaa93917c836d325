"""The preprocessing stage (`gliopet preprocess`), run session by session by `gliopet.stage`.

For each session, under ``<bids>/derivatives/gliopet/preprocess/sub-<s>/ses-<t>/`` (file names
from the derivatives contract `gliopet.io.derivatives`, constant in brackets):

1. motion correction of the dynamic PET (`motion.py`): ``*_desc-motion_timeseries.tsv``
   (MOTION_TABLE) and the corrected frames ``*_desc-mc_pet.nii.gz`` (MC_PET); the static window
   image ``*_desc-static_pet.nii.gz`` (STATIC_PET; SUV when weight and dose are known, else
   Bq/mL). With ``preprocess.motion_correction: false`` (frames already corrected, e.g. by the
   scanner) neither motion file is written, the QC row says ``motion_correction: false`` and
   `gliopet quantify` reads the raw frames;
2. N4 bias correction of every MRI, rigid co-registration of each sequence to the reference MRI
   (contrast T1w, else T1w): ``*_from-<seq>_to-T1w_mode-image_xfm.txt`` (XFM);
3. affine MRI-to-template registration and brain mask (`brainmask.py`):
   ``*_from-T1w_to-MNI152NLin2009aSym_mode-image_xfm.txt``, ``*_space-T1w_desc-brain_mask``
   (T1W_MASK);
4. rigid PET-to-MRI registration of the static PET: ``*_from-pet_to-T1w_mode-image_xfm.txt``;
5. regions on the PET grid (`regions.py`): ``*_space-pet_desc-<name>_mask.nii.gz`` (PET_MASK);
6. grids (`grids.py`): MRI on the PET grid (``*_space-pet_desc-preproc_<suffix>``, MRI_ON_PET)
   and the learning grid (``*_space-MNI152NLin2009aSym_res-2_desc-learning_<suffix>``,
   LEARNING_PET, LEARNING_MRI);
7. QC: ``*_desc-preproc_qc.png`` (QC_FIGURE) and the session's row ``*_desc-preproc_qc.json``
   (QC_ROW); the cohort table ``derivatives/gliopet/preprocess/qc.tsv`` (QC_TABLE) collects the
   rows (failed sessions included, with their error) and flags outliers.

Each step returns a typed result (`PETResult`, `MRIResult`, `TemplateResult`, `PETMRIResult`,
`RegionsResult`); `PreprocessStage.row` turns them into the QC row.

The space ``T1w`` is the anatomical reference space (the contrast T1w when present; the JSON of
each transform names the image). Sequence labels in ``from-``: ``T1wGd`` (contrast T1w),
``T1wPlain`` (T1w when it is not the reference), ``T2w``, ``FLAIR``.

The stage runner builds each session folder under a temporary name and moves it into place when
complete; its ``provenance.json`` and QC row mark it done, and a finished session is skipped
unless ``force``. Registration is seeded (configuration ``seed``) and runs on one ITK thread
(`gliopet.preprocess.registration.single_threaded`); the other filters use the job's thread
count. A rerun with the same thread count gives the same files, byte for byte (the QC row's
timing columns and the provenance time stamps aside).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.config import Config
from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.spatial import dilate_mm, fov_overlap_fraction
from gliopet.stage import Outcome, SessionContext, SessionWriter, Stage, run_session, run_stage

STAGE_DIR = d.PREPROCESS.relative
QC_NAME = d.QC_TABLE.filename
TEMPLATE = d.TEMPLATE_SPACE
REFERENCE_SPACE = d.REFERENCE_SPACE
SEQUENCE_LABEL = {"ce-gadolinium_T1w": "T1wGd", "T1w": "T1wPlain", "T2w": "T2w", "FLAIR": "FLAIR"}

#: Column descriptions of the motion table (JSON sidecar of ``*_desc-motion_timeseries.tsv``).
MOTION_COLUMNS = {
    "frame": {"Description": "frame index (0-based)"},
    "start_s": {"Description": "frame start from injection", "Units": "s"},
    "duration_s": {"Description": "frame duration", "Units": "s"},
    "mid_s": {"Description": "frame mid-time from injection", "Units": "s"},
    "registered": {"Description": "true when the frame was registered (start >= "
                                  "preprocess.motion_start_s); false when it took the transform of "
                                  "the nearest registered frame"},
    "transform_from_frame": {"Description": "frame whose transform is used"},
    "rot_x_rad": {"Description": "Euler rotation about x (ITK Euler3DTransform, LPS)",
                  "Units": "rad"},
    "rot_y_rad": {"Description": "Euler rotation about y", "Units": "rad"},
    "rot_z_rad": {"Description": "Euler rotation about z", "Units": "rad"},
    "trans_x_mm": {"Description": "translation along x (LPS)", "Units": "mm"},
    "trans_y_mm": {"Description": "translation along y (LPS)", "Units": "mm"},
    "trans_z_mm": {"Description": "translation along z (LPS)", "Units": "mm"},
    "center_x_mm": {"Description": "centre of rotation x (LPS)", "Units": "mm"},
    "center_y_mm": {"Description": "centre of rotation y (LPS)", "Units": "mm"},
    "center_z_mm": {"Description": "centre of rotation z (LPS)", "Units": "mm"},
    "displacement_mm": {"Description": "mean displacement of the head-mask points from the "
                                       "reference (transform maps reference points to frame "
                                       "points)",
                        "Units": "mm"},
    "framewise_displacement_mm": {"Description": "mean displacement of the head-mask points from "
                                                 "the previous frame", "Units": "mm"},
    "above_threshold": {"Description": "displacement_mm > preprocess.motion_threshold_mm"},
}


# ---------------------------------------------------------------------------- step results
@dataclass
class PETResult:
    """Step 1: the PET, motion-corrected, and its static-window image.

    ``static``: static image (``units``: g/mL (SUV) or Bq/mL); ``image``: the same as a SimpleITK
    image (registration input); ``fov_overlap``: shared fraction of the smaller field of view of
    PET and reference MRI; ``max_motion_mm``: None when frames were not corrected.
    """

    affine: np.ndarray
    zooms_mm: tuple[float, float, float]
    static: np.ndarray
    units: str
    image: Any
    fov_overlap: float
    motion_correction: bool
    max_motion_mm: float | None
    n_frames_motion_flagged: int


@dataclass
class MRIResult:
    """Step 2: N4-corrected MRI (SimpleITK) and their rigid transforms to the reference.

    ``to_reference[key]`` is None for the reference itself; ``nmi[key]`` = (initial, final)
    normalised mutual information of each co-registration; ``work_mm``: registration grid (mm).
    """

    images: dict[str, Any]
    reference: str
    work_mm: float
    to_reference: dict[str, Any]
    nmi: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class TemplateResult:
    """Step 3: affine MRI-to-template registration and the brain mask on the reference grid."""

    transform: Any
    nmi: float
    metric: float
    brain_mask: np.ndarray
    ref_data: np.ndarray
    ref_affine: np.ndarray
    spacing_mm: tuple[float, float, float]


@dataclass
class PETMRIResult:
    """Step 4: rigid PET-to-MRI registration of the static PET."""

    transform: Any
    nmi_initial: float
    nmi: float
    metric: float


@dataclass
class RegionsResult:
    """Step 5: masks on the PET grid and their volumes (mL)."""

    masks: dict[str, np.ndarray]
    brain_ml: float
    brain_ml_mri: float
    striatum_ml: float
    healthy_ml: float
    striatum_template_ml: float = float("nan")
    striatum_refined: bool = False
    flags: list[str] = field(default_factory=list)


@dataclass
class PreprocessResult:
    """Every step of one session, the QC flags and the step times (s)."""

    header: dict[str, Any]
    pet: PETResult
    mri: MRIResult
    template: TemplateResult
    petmri: PETMRIResult
    regions: RegionsResult
    times: dict[str, float]
    flags: list[str]
    seconds: float
    threads: int


# ---------------------------------------------------------------------------- the stage
class PreprocessStage(Stage[PreprocessResult]):
    """`gliopet preprocess` for the stage runner (module docstring)."""

    folder = d.PREPROCESS
    row_file = d.QC_ROW
    command = "gliopet preprocess"
    done_verb = "preprocessed"
    tables = (d.QC_TABLE.filename,)
    failure_fix = "see the error column of the QC table"

    def run_session(self, session: Session, context: SessionContext) -> PreprocessResult:
        """Steps 1-7 of the module docstring for one session (an MRI-only session: steps 2, 3
        and the learning grid, `gliopet.preprocess.mri_only`)."""
        if session.pet is None and session.mri_reference() is not None:
            from gliopet.preprocess.mri_only import preprocess_mri_only

            return preprocess_mri_only(session, context)  # type: ignore[return-value]
        return _preprocess(session, context)

    def row(self, result: PreprocessResult) -> dict[str, Any]:
        """The QC row (column order of qc.tsv)."""
        if not isinstance(result, PreprocessResult):  # an MRI-only session
            return result.row()
        return {**_measures(result.header, result.pet, result.mri, result.template, result.petmri,
                            result.regions, result.times),
                "flags": ";".join(result.flags), "time_qc_s": result.times["time_qc_s"],
                "seconds": result.seconds, "threads": result.threads}

    def inputs(self, session: Session, result: PreprocessResult) -> list[Path]:
        """The raw PET (when there is one) and every MRI."""
        pet = [session.pet.path] if session.pet is not None else []
        return pet + [a.path for a in session.anat.values()]

    def session_provenance(self, session: Session, context: SessionContext) -> dict[str, Any]:
        """The SimpleITK thread count (results depend on it)."""
        return {"threads": context.threads}

    def failed_row(self, session: Session, message: str) -> dict[str, Any]:
        """A failed session stays in qc.tsv with its error."""
        return {"subject": session.subject, "session": session.session, "site": session.site,
                "status": "failed", "error": message, "flags": "failed"}

    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame:
        """qc.tsv: this run's rows (failed ones included) with cohort outliers flagged."""
        from gliopet.atomic import write_tsv
        from gliopet.preprocess.qc import flag_cohort_outliers

        table = flag_cohort_outliers(pd.DataFrame([o.row for o in outcomes if o.row is not None]))
        write_tsv(d.QC_TABLE.path(root), table)
        return table

    def failure_path(self, root: Path) -> Path:
        """The QC table (its error column lists every failure)."""
        return d.QC_TABLE.path(root)


def preprocess_session(session: Session, bids_root: str | Path, config: Config | None = None, *,
                       force: bool = False, threads: int = 1) -> dict[str, Any]:
    """Preprocess one session; returns its QC row (dict). Skips a finished session unless `force`.

    Raises
    ------
    InputError
        No PET, no anatomical MRI, a PET whose field of view does not overlap the MRI, or an
        unreadable image.
    """
    return run_session(PreprocessStage(), session, bids_root, config, force=force, threads=threads)


def run_preprocess(bids_dir: str | Path, *, participant_label: Sequence[str] | None = None,
                   jobs: int = 1, dask_scheduler: str | None = None, force: bool = False,
                   config: Config | None = None, threads: int | None = None,
                   dask_security: str | Path | None = None) -> pd.DataFrame:
    """Preprocess every session of a BIDS dataset; returns the cohort QC table (also written).

    Sessions run in parallel with joblib (`jobs` processes) or, given `dask_scheduler`
    (``tcp://host:port``, or ``tls://host:port`` with the TLS settings file `dask_security`),
    on a trusted Dask distributed cluster (`gliopet.cluster`). Each job uses `threads`
    SimpleITK threads (default: the CPU count divided by `jobs`).

    Raises
    ------
    InputError
        The dataset cannot be read, or (after the other sessions are done and the QC table is
        written) one or more sessions failed: the first error is reported.
    """
    return run_stage(PreprocessStage(), bids_dir, participant_label=participant_label, jobs=jobs,
                     dask_scheduler=dask_scheduler, force=force, config=config, threads=threads,
                     label="preprocess", dask_security=dask_security).table


# ---------------------------------------------------------------------------- one session
class _Stopwatch:
    """Seconds (rounded to 0.01) of consecutive steps, by row column."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, column: str) -> None:
        now = time.perf_counter()
        self.times[column] = round(now - self._last, 2)
        self._last = now


def _preprocess(session: Session, context: SessionContext) -> PreprocessResult:
    from gliopet.preprocess import qc

    started = time.perf_counter()
    _set_threads(context.threads)
    config, opts = context.config, context.config.preprocess
    reference = _reference_key(session, context.root)
    out = SessionWriter(context.out, (session.subject, session.session or None),
                        session.pet.tracer or None)
    clock = _Stopwatch()
    pet = _pet_step(session, reference, out, context.root, config)
    clock.lap("time_motion_s")
    mri = _mri_step(session, reference, out, config)
    clock.lap("time_mri_s")
    template = _template_step(mri, out, config)
    clock.lap("time_template_s")
    petmri = _pet_to_mri(pet, mri, template, out, config)
    clock.lap("time_petmri_s")
    regions = _regions_step(pet, mri, template, petmri, out, config)
    clock.lap("time_regions_s")
    on_pet = _grids_step(pet, mri, template, petmri, out, config)
    clock.lap("time_grids_s")
    header = _header(session, reference)
    flags = ([] if reference in ("ce-gadolinium_T1w", "T1w") else ["reference_not_T1"])
    flags += regions.flags
    flags += qc.qc_flags(_measures(header, pet, mri, template, petmri, regions, clock.times),
                         min_pet_nmi=opts.min_pet_nmi, min_template_nmi=opts.min_template_nmi,
                         brain_ml_range=opts.brain_ml_range,
                         motion_threshold_mm=opts.motion_threshold_mm)
    qc.qc_figure(out.path(d.QC_FIGURE), pet.static, on_pet[reference], regions.masks, pet.zooms_mm,
                 session.key)
    clock.lap("time_qc_s")
    return PreprocessResult(header, pet, mri, template, petmri, regions, clock.times, flags,
                            round(time.perf_counter() - started, 2), context.threads)


def _set_threads(threads: int) -> None:
    """SimpleITK threads of the session's filters (registration always runs on one)."""
    from gliopet.preprocess.registration import set_default_threads

    set_default_threads(threads)


def _reference_key(session: Session, root: Path) -> str:
    """Key of the registration target MRI (contrast T1w, else T1w, T2w, FLAIR)."""
    session_path = root / f"sub-{session.subject}"
    session_path = session_path / f"ses-{session.session}" if session.session else session_path
    if session.pet is None:
        raise InputError("no PET image in this session", path=session_path,
                         fix="add pet/sub-<s>_ses-<t>_trc-<tracer>_pet.nii.gz or drop the "
                             "session with --participant-label")
    reference_anat = session.mri_reference()
    if reference_anat is None:
        raise InputError("no anatomical MRI (ce-gadolinium_T1w, T1w, T2w or FLAIR) in this session",
                         path=session_path, fix="add at least a T1w image to the anat/ folder")
    ref_key = reference_anat.suffix
    for key, value in session.anat.items():
        if value is reference_anat:
            ref_key = key
    return ref_key


def _header(session: Session, reference: str) -> dict[str, Any]:
    return {"subject": session.subject, "session": session.session, "site": session.site,
            "status": "ok", "error": "", "reference_mri": reference,
            "sequences": ",".join(sorted(session.anat)),
            "missing_sequences": ",".join(k for k in SEQUENCE_LABEL if k not in session.anat)}


def _measures(header: dict[str, Any], pet: PETResult, mri: MRIResult, template: TemplateResult,
              petmri: PETMRIResult, regions: RegionsResult,
              times: dict[str, float]) -> dict[str, Any]:
    """QC row columns of the steps, in qc.tsv order (without flags and total time)."""
    row = {**header, "pet_mri_fov_overlap": round(pet.fov_overlap, 3),
           "motion_correction": pet.motion_correction, "max_motion_mm": pet.max_motion_mm,
           "n_frames_motion_flagged": pet.n_frames_motion_flagged,
           "time_motion_s": times["time_motion_s"]}
    for key, (initial, final) in mri.nmi.items():
        row[f"coreg_nmi_{SEQUENCE_LABEL[key]}"] = round(final, 4)
        row[f"coreg_nmi_initial_{SEQUENCE_LABEL[key]}"] = round(initial, 4)
    row["mri_coregistration"] = ";".join(f"{key}:{initial:.3f}->{final:.3f}"
                                         for key, (initial, final) in mri.nmi.items())
    row.update({"time_mri_s": times["time_mri_s"], "template_nmi": round(template.nmi, 4),
                "template_metric": round(template.metric, 4),
                "time_template_s": times["time_template_s"],
                "pet_mri_nmi_initial": round(petmri.nmi_initial, 4),
                "pet_mri_nmi": round(petmri.nmi, 4), "pet_mri_metric": round(petmri.metric, 4),
                "time_petmri_s": times["time_petmri_s"],
                "brain_ml": regions.brain_ml, "brain_ml_mri": regions.brain_ml_mri,
                "striatum_ml": regions.striatum_ml,
                "striatum_template_ml": regions.striatum_template_ml,
                "striatum_refined": regions.striatum_refined, "healthy_ml": regions.healthy_ml,
                "time_regions_s": times["time_regions_s"], "time_grids_s": times["time_grids_s"]})
    return row


# ---- 1. PET: motion correction and static image
def _pet_step(session: Session, reference: str, out: SessionWriter, root: Path,
              config: Config) -> PETResult:
    from gliopet.preprocess import registration as reg

    opts = config.preprocess
    pet_img = session.pet.load()
    # Checked first, before any heavy work: PET and MRI must share the scanner space.
    overlap = _check_fov(session, reference, pet_img, opts.min_fov_overlap)
    frames = session.pet.frames()
    if not np.all(np.isfinite(frames)):
        raise InputError("the PET contains NaN or infinite values", path=session.pet.path,
                         fix="re-export the PET; gliopet does not guess missing voxels")
    corrected = bool(opts.motion_correction and frames.shape[-1] > 1)
    if corrected:
        frames, max_motion, n_flagged = _motion_correct(session, frames, pet_img.affine, out, root,
                                                        config)
    else:  # one frame, or frames already corrected (preprocess.motion_correction: false)
        max_motion, n_flagged = (0.0 if frames.shape[-1] == 1 else None), 0
    # SUV when weight and dose are known, else Bq/mL; all frames when none lies in the window
    static = session.pet.static_image(config.quant.static_window_min, frames=frames, fallback="all")
    out.image(d.STATIC_PET, static.data, pet_img.affine,
              sidecar={"Units": static.units, "Description": static.note})
    zooms = tuple(float(z) for z in pet_img.header.get_zooms()[:3])
    return PETResult(pet_img.affine, zooms, static.data, static.units,
                     reg.to_sitk(static.data, pet_img.affine), overlap, corrected, max_motion,
                     n_flagged)


def _check_fov(session: Session, reference: str, pet_img: Any, min_overlap: float) -> float:
    """Shared field-of-view fraction of PET and reference MRI; refuses too little overlap."""
    mri_img = session.anat[reference].load()
    overlap = fov_overlap_fraction(pet_img.shape, pet_img.affine, mri_img.shape, mri_img.affine)
    if overlap < min_overlap:
        raise InputError(f"the PET field of view does not overlap the {reference} MRI "
                         f"({overlap:.0%} of the smaller image, {min_overlap:.0%} needed)",
                         path=session.pet.path,
                         fix="check the PET and MRI headers (origin, orientation): both must "
                             "place the head in the same scanner coordinates")
    return overlap


def _motion_correct(session: Session, frames: np.ndarray, affine: np.ndarray, out: SessionWriter,
                    root: Path, config: Config) -> tuple[np.ndarray, float, int]:
    """Motion-corrected frames (written with the motion table); (frames, max displacement mm,
    flagged frames)."""
    from gliopet.preprocess import motion

    opts, pet = config.preprocess, session.pet
    mc = motion.motion_correct(frames, affine, pet.timing, motion_start_s=opts.motion_start_s,
                               reference_start_s=opts.reference_start_s,
                               fwhm_mm=opts.motion_fwhm_mm,
                               threshold_mm=opts.motion_threshold_mm, seed=config.seed,
                               iterations=max(20, opts.registration_iterations // 2))
    out.tsv(d.MOTION_TABLE, mc.table, sidecar=MOTION_COLUMNS)
    source = str(pet.path.relative_to(root)) if pet.path.is_relative_to(root) else str(pet.path)
    out.image(d.MC_PET, mc.corrected, affine,
              sidecar={"Description": "motion-corrected frames (same units and timing as the raw "
                                      "PET)",
                       "Sources": [source], "FrameTimesStart": pet.timing.start_s.tolist(),
                       "FrameDuration": pet.timing.duration_s.tolist(), "Units": pet.units})
    return mc.corrected, round(mc.max_displacement_mm, 3), mc.n_flagged


# ---- 2. MRI: N4 and co-registration to the reference
def _mri_step(session: Session, reference: str, out: SessionWriter, config: Config) -> MRIResult:
    from gliopet.preprocess import brainmask
    from gliopet.preprocess import registration as reg

    opts = config.preprocess
    images = {key: brainmask.n4_correct(reg.nifti_to_sitk(anat.load()))[0]
              for key, anat in session.anat.items()}
    ref = images[reference]
    # Registration grid: isotropic, never finer than the reference MRI's finest voxel size.
    work = max(opts.work_spacing_mm, min(ref.GetSpacing()))
    result = MRIResult(images, reference, work, {reference: None})
    ref_iso = reg.resample_isotropic(ref, work)
    for key, image in images.items():
        if key == reference:
            continue
        if reg.fov_overlap_fraction(ref, image) < opts.min_fov_overlap:
            raise InputError(f"the {key} image does not overlap the {reference} image",
                             path=session.anat[key].path,
                             fix="check the image header (origin, orientation)")
        fit = reg.register(ref_iso, reg.resample_isotropic(image, work), kind="rigid",
                           initializer="geometry", iterations=opts.registration_iterations,
                           seed=config.seed)
        result.to_reference[key] = fit.transform
        result.nmi[key] = (fit.nmi_initial, fit.nmi_final)
        reg.write_transform(out.path(d.XFM, from_=SEQUENCE_LABEL[key], to=REFERENCE_SPACE),
                            fit.transform, source=key, target=f"{REFERENCE_SPACE} ({reference})",
                            extra={"Registration": "rigid, Mattes MI", **fit.summary()})
    return result


# ---- 3. template registration and brain mask
def _template_step(mri: MRIResult, out: SessionWriter, config: Config) -> TemplateResult:
    from gliopet.preprocess import brainmask
    from gliopet.preprocess import registration as reg

    opts = config.preprocess
    ref = mri.images[mri.reference]
    tpl = brainmask.register_to_template(ref, resolution_mm=opts.template_resolution_mm,
                                         seed=config.seed, iterations=opts.registration_iterations,
                                         work_spacing_mm=mri.work_mm)
    fit = tpl.registration
    reg.write_transform(out.path(d.XFM, from_=REFERENCE_SPACE, to=TEMPLATE), fit.transform,
                        source=f"{REFERENCE_SPACE} ({mri.reference})", target=TEMPLATE,
                        extra={"Registration": "affine, Mattes MI", **fit.summary()})
    ref_data, ref_affine = reg.from_sitk(ref)
    out.image(d.T1W_MASK, tpl.brain_mask, ref_affine, dtype=np.uint8, desc="brain")
    return TemplateResult(fit.transform, fit.nmi_final, fit.metric_final, tpl.brain_mask, ref_data,
                          ref_affine, ref.GetSpacing())


# ---- 4. PET to MRI
def _pet_to_mri(pet: PETResult, mri: MRIResult, template: TemplateResult, out: SessionWriter,
                config: Config) -> PETMRIResult:
    import SimpleITK as sitk

    from gliopet.preprocess import registration as reg

    opts = config.preprocess
    ref = mri.images[mri.reference]
    head = dilate_mm(template.brain_mask, 10.0, template.spacing_mm)
    # Start: centre of mass of the PET on that of the stripped MRI (brain + 10 mm), so scalp and
    # neck do not bias it; then Mattes MI on the whole MRI without a metric mask (the empty
    # background is informative; on phantoms a masked or stripped metric was less accurate).
    stripped = reg.resample_isotropic(reg.to_sitk(template.ref_data * head, template.ref_affine),
                                      mri.work_mm)
    moving_pet = reg.smooth(pet.image, opts.pet_fwhm_mm)
    start = sitk.CenteredTransformInitializer(stripped, moving_pet, sitk.Euler3DTransform(),
                                              sitk.CenteredTransformInitializerFilter.MOMENTS)
    fit = reg.register(reg.resample_isotropic(ref, mri.work_mm), moving_pet, kind="rigid",
                       initial=start, iterations=opts.registration_iterations, seed=config.seed)
    reg.write_transform(out.path(d.XFM, from_="pet", to=REFERENCE_SPACE), fit.transform,
                        source="pet (static window)", target=f"{REFERENCE_SPACE} ({mri.reference})",
                        extra={"Registration": "rigid, Mattes MI", **fit.summary()})
    return PETMRIResult(fit.transform, fit.nmi_initial, fit.nmi_final, fit.metric_final)


# ---- 5. regions on the PET grid
def _regions_step(pet: PETResult, mri: MRIResult, template: TemplateResult, petmri: PETMRIResult,
                  out: SessionWriter, config: Config) -> RegionsResult:
    from gliopet.preprocess import regions

    opts = config.preprocess
    abnormal = _mri_abnormality(mri, template, out)
    masks = regions.pet_regions(pet.image, mri.images[mri.reference], template.brain_mask,
                                petmri.transform, template.transform, abnormal_t1=abnormal,
                                pet_threshold=config.quant.tumour_threshold_x_background,
                                margin_mm=opts.reference_margin_mm,
                                resolution_mm=opts.template_resolution_mm,
                                striatum_search_mm=opts.striatum_search_mm,
                                striatum_core_fraction=opts.striatum_core_fraction,
                                striatum_min_contrast=opts.striatum_min_contrast)
    voxel_ml = float(abs(np.linalg.det(pet.affine[:3, :3]))) / 1000.0
    for desc, mask in masks.items():
        out.image(d.PET_MASK, mask, pet.affine, dtype=np.uint8, desc=desc)
    mri_voxel_mm3 = float(np.prod(template.spacing_mm))
    refined = masks.refinement
    return RegionsResult(masks, round(float(masks["brain"].sum()) * voxel_ml, 1),
                         round(float(template.brain_mask.sum()) * mri_voxel_mm3 / 1000.0, 1),
                         round(float(masks["striatum"].sum()) * voxel_ml, 2),
                         round(float(masks["healthy"].sum()) * voxel_ml, 1),
                         round(refined.template_ml, 2), refined.refined,
                         regions.striatum_flags(refined, opts.striatum_volume_ratio_range))


def _mri_abnormality(mri: MRIResult, template: TemplateResult,
                     out: SessionWriter) -> np.ndarray | None:
    """FLAIR (else T2w) hyperintensity, plus contrast enhancement when both T1w exist, on the
    reference grid (kept out of the reference regions); None without those sequences."""
    from gliopet.preprocess import regions
    from gliopet.preprocess import registration as reg

    ref, spacing = mri.images[mri.reference], template.spacing_mm

    def on_reference(key: str) -> np.ndarray:
        return reg.from_sitk(reg.resample(mri.images[key], ref, mri.to_reference[key]))[0]

    abnormal = None
    for key in ("FLAIR", "T2w"):
        if key in mri.images:
            abnormal = regions.mri_abnormality(on_reference(key), template.brain_mask, spacing)
            out.image(d.T1W_MASK, abnormal, template.ref_affine, dtype=np.uint8, desc="abnormal",
                      sidecar={"Description": f"{key} hyperintensity inside the brain "
                                              "(median + 3 MAD)"})
            break
    if "ce-gadolinium_T1w" in mri.images and "T1w" in mri.images:
        # Contrast enhancement (tumour, and treatment-related change, which enhances too) can lie
        # outside the FLAIR/T2 abnormality: keep it out of the reference regions as well.
        enhancement = regions.enhancement_map(on_reference("ce-gadolinium_T1w"),
                                              on_reference("T1w"), template.brain_mask)
        enhancing = regions.mri_abnormality(enhancement, template.brain_mask, spacing)
        abnormal = enhancing if abnormal is None else (abnormal | enhancing)
    return abnormal


# ---- 6. grids
def _grids_step(pet: PETResult, mri: MRIResult, template: TemplateResult, petmri: PETMRIResult,
                out: SessionWriter, config: Config) -> dict[str, np.ndarray]:
    """MRI on the PET grid and every image on the learning grid; returns the MRI on the PET grid."""
    from gliopet.preprocess import grids

    to_reference = {k: v for k, v in mri.to_reference.items() if v is not None}
    on_pet = grids.mri_on_pet_grid(pet.image, mri.images, petmri.transform, to_reference)
    for key, data in on_pet.items():
        out.image(d.MRI_ON_PET, data, pet.affine, **d.anat_fill(key))
    learning_step(mri, template, out, config, pet=(pet.image, petmri.transform, pet.units))
    return on_pet


def learning_step(mri: MRIResult, template: TemplateResult, out: SessionWriter, config: Config,
                  pet: tuple[Any, Any, str] | None = None) -> None:
    """Every MRI (and the static PET: image, from-pet_to-T1w transform, units) on the learning
    grid, and the brain mask; an MRI-only session gives no PET."""
    from gliopet.preprocess import grids

    images, to_reference = dict(mri.images), dict(mri.to_reference)
    if pet is not None:
        images, to_reference = {"pet": pet[0], **images}, {"pet": pet[1], **to_reference}
    learned, learn_affine = grids.learning_grid(
        images, to_reference, template.transform, mri_names=tuple(mri.images),
        margin_mm=config.preprocess.learning_margin_mm)
    for key, data in learned.items():
        if key == "pet" and pet is not None:
            out.image(d.LEARNING_PET, data, learn_affine, sidecar={"Units": pet[2]})
        else:
            out.image(d.LEARNING_MRI, data, learn_affine, **d.anat_fill(key),
                      sidecar={"Units": "z-score over the template brain mask"})
    brain = grids.learning_mask(template.brain_mask, template.ref_affine, template.transform,
                                margin_mm=config.preprocess.learning_margin_mm)
    out.image(d.LEARNING_MASK, brain, learn_affine, dtype=np.uint8)
