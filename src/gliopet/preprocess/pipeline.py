"""The per-session preprocessing pipeline and the cohort runner (`gliopet preprocess`).

For each session, under ``<bids>/derivatives/gliopet/preprocess/sub-<s>/ses-<t>/``:

1. motion correction of the dynamic PET (`motion.py`): ``*_desc-motion_timeseries.tsv`` and the
   corrected frames ``*_desc-mc_pet.nii.gz``; the static window image ``*_desc-static_pet.nii.gz``
   (SUV when weight and dose are known, else Bq/mL). With ``preprocess.motion_correction: false``
   (frames already corrected, e.g. by the scanner) neither file is written, the QC row says
   ``motion_correction: false`` and `gliopet quantify` reads the raw frames;
2. N4 bias correction of every MRI, rigid co-registration of each sequence to the reference MRI
   (contrast T1w, else T1w): ``*_from-<seq>_to-T1w_mode-image_xfm.txt``;
3. affine MRI-to-template registration and brain mask (`brainmask.py`):
   ``*_from-T1w_to-MNI152NLin2009aSym_mode-image_xfm.txt``, ``*_space-T1w_desc-brain_mask``;
4. rigid PET-to-MRI registration of the static PET: ``*_from-pet_to-T1w_mode-image_xfm.txt``;
5. regions on the PET grid (`regions.py`): ``*_space-pet_desc-<name>_mask.nii.gz``;
6. grids (`grids.py`): MRI on the PET grid (``*_space-pet_desc-preproc_<suffix>``) and the learning
   grid (``*_space-MNI152NLin2009aSym_res-2_desc-learning_<suffix>``);
7. QC: ``*_desc-preproc_qc.png`` and ``*_desc-preproc_qc.json``; the cohort table
   ``derivatives/gliopet/preprocess/qc.tsv`` collects the rows and flags outliers.

The space ``T1w`` is the anatomical reference space (the contrast T1w when present; the JSON of
each transform names the image). Sequence labels in ``from-``: ``T1wGd`` (contrast T1w),
``T1wPlain`` (T1w when it is not the reference), ``T2w``, ``FLAIR``.

A session folder is built under a temporary name and moved into place when complete
(`gliopet.atomic.staged_directory`); its ``provenance.json`` marks it done, and a finished
session is skipped unless ``force``. Registration is seeded (configuration ``seed``) and the
SimpleITK thread count is fixed per job, so a rerun gives the same result.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.config import Config, load_config
from gliopet.errors import InputError
from gliopet.io.bids_names import anat_entities, bids_name
from gliopet.io.session import Session
from gliopet.progress import logger

STAGE_DIR = Path("derivatives") / "gliopet" / "preprocess"
TEMPLATE = "MNI152NLin2009aSym"
REFERENCE_SPACE = "T1w"
SEQUENCE_LABEL = {"ce-gadolinium_T1w": "T1wGd", "T1w": "T1wPlain", "T2w": "T2w", "FLAIR": "FLAIR"}
QC_NAME = "qc.tsv"

#: Column descriptions of the motion table (JSON sidecar of ``*_desc-motion_timeseries.tsv``).
MOTION_COLUMNS = {
    "frame": {"Description": "frame index (0-based)"},
    "start_s": {"Description": "frame start from injection", "Units": "s"},
    "duration_s": {"Description": "frame duration", "Units": "s"},
    "mid_s": {"Description": "frame mid-time from injection", "Units": "s"},
    "registered": {"Description": "true when the frame was registered (start >= preprocess.motion_start_s); "
                                  "false when it took the transform of the nearest registered frame"},
    "transform_from_frame": {"Description": "frame whose transform is used"},
    "rot_x_rad": {"Description": "Euler rotation about x (ITK Euler3DTransform, LPS)", "Units": "rad"},
    "rot_y_rad": {"Description": "Euler rotation about y", "Units": "rad"},
    "rot_z_rad": {"Description": "Euler rotation about z", "Units": "rad"},
    "trans_x_mm": {"Description": "translation along x (LPS)", "Units": "mm"},
    "trans_y_mm": {"Description": "translation along y (LPS)", "Units": "mm"},
    "trans_z_mm": {"Description": "translation along z (LPS)", "Units": "mm"},
    "center_x_mm": {"Description": "centre of rotation x (LPS)", "Units": "mm"},
    "center_y_mm": {"Description": "centre of rotation y (LPS)", "Units": "mm"},
    "center_z_mm": {"Description": "centre of rotation z (LPS)", "Units": "mm"},
    "displacement_mm": {"Description": "mean displacement of the head-mask points from the reference "
                                       "(transform maps reference points to frame points)", "Units": "mm"},
    "framewise_displacement_mm": {"Description": "mean displacement of the head-mask points from the "
                                                 "previous frame", "Units": "mm"},
    "above_threshold": {"Description": "displacement_mm > preprocess.motion_threshold_mm"},
}


def session_out_dir(root: str | Path, session: Session) -> Path:
    """``<root>/derivatives/gliopet/preprocess/sub-<s>[/ses-<t>]``."""
    path = Path(root) / STAGE_DIR / f"sub-{session.subject}"
    return path / f"ses-{session.session}" if session.session else path


def is_done(out_dir: Path) -> bool:
    """True when a session folder is complete (its provenance and QC row exist)."""
    return (out_dir / "provenance.json").is_file() and any(out_dir.glob("*_desc-preproc_qc.json"))


def _set_threads(threads: int) -> None:
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, int(threads)))


def _static_pet(session: Session, frames: np.ndarray, config: Config) -> tuple[np.ndarray, str, str]:
    """Static-window image (frame-duration-weighted mean, decay-corrected to injection).

    Returns (image, units, note): SUV (body weight) when the SUV factor is known, else Bq/mL.
    """
    pet = session.pet
    timing = pet.timing
    start_min, end_min = config.quant.static_window_min
    try:
        weights = timing.window_weights(start_min * 60.0, end_min * 60.0)
        note = f"frame-duration-weighted mean over {start_min:g}-{end_min:g} min"
    except ValueError:
        weights = timing.duration_s / timing.duration_s.sum()
        note = (f"no frame inside {start_min:g}-{end_min:g} min: duration-weighted mean of all "
                f"frames ({timing.start_s[0]:g}-{timing.end_s[-1]:g} s)")
    factors = (np.ones(timing.n_frames) if pet.frame_decay_factors is None
               else np.asarray(pet.frame_decay_factors, dtype=float))
    static = np.tensordot(frames, (weights * factors).astype(np.float32), axes=([3], [0]))
    if pet.suv_factor is not None:
        return (static * np.float32(pet.suv_factor)).astype(np.float32), "SUVbw", note
    return static.astype(np.float32), pet.units or "Bq/mL", note + f"; SUV unavailable ({pet.suv_note})"


def preprocess_session(session: Session, bids_root: str | Path, config: Config | None = None, *,
                       force: bool = False, threads: int = 1) -> dict[str, Any]:
    """Preprocess one session; returns its QC row (dict). Skips a finished session unless `force`.

    Raises
    ------
    InputError
        No PET, no anatomical MRI, a PET whose field of view does not overlap the MRI, or an
        unreadable image.
    """
    from gliopet.atomic import staged_directory

    config = config or load_config()
    out_dir = session_out_dir(bids_root, session)
    if is_done(out_dir) and not force:
        logger.info("%s: already preprocessed (use --force to redo)", session.key)
        return _read_row(out_dir)
    _set_threads(threads)
    started = time.perf_counter()
    with staged_directory(out_dir, overwrite=True) as staging:
        row = _run_session(session, Path(bids_root), staging, config)
        row["seconds"] = round(time.perf_counter() - started, 2)
        row["threads"] = threads
        from gliopet.atomic import write_json

        write_json(staging / bids_name(session.subject, session.session or None, "qc", ".json",
                                       desc="preproc"), row)
        inputs = [session.pet.path] + [a.path for a in session.anat.values()]
        from gliopet.provenance import write_provenance

        write_provenance(staging, command="gliopet preprocess", config=config.as_dict(),
                         inputs=inputs, extra={"session": session.key, "threads": threads})
    return row


def _read_row(out_dir: Path) -> dict[str, Any]:
    path = next(out_dir.glob("*_desc-preproc_qc.json"))
    return json.loads(path.read_text())


def _run_session(session: Session, root: Path, out: Path, config: Config) -> dict[str, Any]:
    import SimpleITK as sitk

    from gliopet.atomic import write_json, write_tsv
    from gliopet.io.bids_write import write_image
    from gliopet.preprocess import brainmask, grids, motion, qc, regions
    from gliopet.preprocess import registration as reg

    opts = config.preprocess
    seed = config.seed
    sub, ses = session.subject, session.session or None
    session_path = root / f"sub-{sub}" / (f"ses-{session.session}" if session.session else "")
    if session.pet is None:
        raise InputError("no PET image in this session", path=session_path,
                         fix="add pet/sub-<s>_ses-<t>_trc-<tracer>_pet.nii.gz or drop the session with --participant-label")
    reference_anat = session.mri_reference()
    if reference_anat is None:
        raise InputError("no anatomical MRI (ce-gadolinium_T1w, T1w, T2w or FLAIR) in this session",
                         path=session_path, fix="add at least a T1w image to the anat/ folder")
    ref_key = reference_anat.suffix
    for key, value in session.anat.items():
        if value is reference_anat:
            ref_key = key
    flags: list[str] = []
    if ref_key not in ("ce-gadolinium_T1w", "T1w"):
        flags.append("reference_not_T1")
    row: dict[str, Any] = {"subject": sub, "session": session.session, "site": session.site,
                           "status": "ok", "error": "", "reference_mri": ref_key,
                           "sequences": ",".join(sorted(session.anat)),
                           "missing_sequences": ",".join(k for k in SEQUENCE_LABEL if k not in session.anat)}

    def name(suffix: str, ext: str = ".nii.gz", **entities: str | None) -> Path:
        return out / bids_name(sub, ses, suffix, ext, **entities)

    def save(data: np.ndarray, affine: np.ndarray, target: Path, dtype=np.float32,
             sidecar: dict | None = None) -> None:
        write_image(target, data, affine, dtype, sidecar)

    # ---- 1. PET: motion correction and static image
    clock = time.perf_counter()
    pet_img = session.pet.load()
    pet_affine = pet_img.affine
    # Checked first, before any heavy work: PET and MRI must share the scanner space.
    ref_img = reference_anat.load()
    overlap = _fov_overlap(pet_img, ref_img)
    row["pet_mri_fov_overlap"] = round(overlap, 3)
    if overlap < opts.min_fov_overlap:
        raise InputError(f"the PET field of view does not overlap the {ref_key} MRI "
                         f"({overlap:.0%} of the smaller image, {opts.min_fov_overlap:.0%} needed)",
                         path=session.pet.path,
                         fix="check the PET and MRI headers (origin, orientation): both must place the head in the same scanner coordinates")
    frames = session.pet.frames()
    if not np.all(np.isfinite(frames)):
        raise InputError("the PET contains NaN or infinite values", path=session.pet.path,
                         fix="re-export the PET; gliopet does not guess missing voxels")
    tracer = session.pet.tracer or None
    row["motion_correction"] = bool(opts.motion_correction and frames.shape[-1] > 1)
    if row["motion_correction"]:
        mc = motion.motion_correct(frames, pet_affine, session.pet.timing,
                                   motion_start_s=opts.motion_start_s,
                                   reference_start_s=opts.reference_start_s,
                                   fwhm_mm=opts.motion_fwhm_mm, threshold_mm=opts.motion_threshold_mm,
                                   seed=seed, iterations=max(20, opts.registration_iterations // 2))
        frames = mc.corrected
        motion_tsv = write_tsv(name("timeseries", ".tsv", trc=tracer, desc="motion"), mc.table)
        write_json(motion_tsv.with_suffix(".json"), MOTION_COLUMNS)
        save(frames, pet_affine, name("pet", trc=tracer, desc="mc"),
             sidecar={"Description": "motion-corrected frames (same units and timing as the raw PET)",
                      "Sources": [str(session.pet.path.relative_to(root)) if session.pet.path.is_relative_to(root) else str(session.pet.path)],
                      "FrameTimesStart": session.pet.timing.start_s.tolist(),
                      "FrameDuration": session.pet.timing.duration_s.tolist(),
                      "Units": session.pet.units})
        row["max_motion_mm"] = round(mc.max_displacement_mm, 3)
        row["n_frames_motion_flagged"] = mc.n_flagged
    else:  # one frame, or frames already corrected (preprocess.motion_correction: false)
        row["max_motion_mm"] = 0.0 if frames.shape[-1] == 1 else None
        row["n_frames_motion_flagged"] = 0
    static, units, static_note = _static_pet(session, frames, config)
    save(static, pet_affine, name("pet", trc=tracer, desc="static"),
         sidecar={"Units": units, "Description": static_note})
    pet_sitk = reg.to_sitk(static, pet_affine)

    row["time_motion_s"], clock = round(time.perf_counter() - clock, 2), time.perf_counter()
    # ---- 2. MRI: N4 and co-registration to the reference
    mri: dict[str, sitk.Image] = {}
    for key, anat in session.anat.items():
        corrected, _ = brainmask.n4_correct(reg.nifti_to_sitk(anat.load()))
        mri[key] = corrected
    ref = mri[ref_key]
    # Registration grid: isotropic, never finer than the reference MRI's finest voxel size.
    work = max(opts.work_spacing_mm, min(mri[ref_key].GetSpacing()))
    ref_iso = reg.resample_isotropic(ref, work)
    to_ref: dict[str, Any] = {ref_key: None}
    coreg = []
    for key, image in mri.items():
        if key == ref_key:
            continue
        if reg.fov_overlap_fraction(ref, image) < opts.min_fov_overlap:
            raise InputError(f"the {key} image does not overlap the {ref_key} image",
                             path=session.anat[key].path, fix="check the image header (origin, orientation)")
        result = reg.register(ref_iso, reg.resample_isotropic(image, work), kind="rigid",
                              initializer="geometry", iterations=opts.registration_iterations, seed=seed)
        to_ref[key] = result.transform
        coreg.append(f"{key}:{result.nmi_initial:.3f}->{result.nmi_final:.3f}")
        row[f"coreg_nmi_{SEQUENCE_LABEL[key]}"] = round(result.nmi_final, 4)
        row[f"coreg_nmi_initial_{SEQUENCE_LABEL[key]}"] = round(result.nmi_initial, 4)
        reg.write_transform(name("xfm", ".txt", from_=SEQUENCE_LABEL[key], to=REFERENCE_SPACE, mode="image"),
                            result.transform, source=key, target=f"{REFERENCE_SPACE} ({ref_key})",
                            extra={"Registration": "rigid, Mattes MI", **result.summary()})
    row["mri_coregistration"] = ";".join(coreg)

    row["time_mri_s"], clock = round(time.perf_counter() - clock, 2), time.perf_counter()
    # ---- 3. template registration and brain mask
    tpl = brainmask.register_to_template(ref, resolution_mm=opts.template_resolution_mm, seed=seed,
                                         iterations=opts.registration_iterations, work_spacing_mm=work)
    xfm_template = tpl.registration.transform
    reg.write_transform(name("xfm", ".txt", from_=REFERENCE_SPACE, to=TEMPLATE, mode="image"), xfm_template,
                        source=f"{REFERENCE_SPACE} ({ref_key})", target=TEMPLATE,
                        extra={"Registration": "affine, Mattes MI", **tpl.registration.summary()})
    ref_data, ref_affine = reg.from_sitk(ref)
    save(tpl.brain_mask, ref_affine, name("mask", space=REFERENCE_SPACE, desc="brain"), dtype=np.uint8)
    row["template_nmi"] = round(tpl.registration.nmi_final, 4)
    row["template_metric"] = round(tpl.registration.metric_final, 4)

    row["time_template_s"], clock = round(time.perf_counter() - clock, 2), time.perf_counter()
    # ---- 4. PET to MRI
    spacing = ref.GetSpacing()
    head = brainmask.dilate_mm(tpl.brain_mask, 10.0, spacing)
    # Start: centre of mass of the PET on that of the stripped MRI (brain + 10 mm), so scalp and
    # neck do not bias it; then Mattes MI on the whole MRI without a metric mask (the empty
    # background is informative; on phantoms a masked or stripped metric was less accurate).
    stripped = reg.resample_isotropic(reg.to_sitk(ref_data * head, ref_affine), work)
    moving_pet = reg.smooth(pet_sitk, opts.pet_fwhm_mm)
    start = sitk.CenteredTransformInitializer(stripped, moving_pet, sitk.Euler3DTransform(),
                                              sitk.CenteredTransformInitializerFilter.MOMENTS)
    pet_result = reg.register(reg.resample_isotropic(ref, work), moving_pet, kind="rigid", initial=start,
                              iterations=opts.registration_iterations, seed=seed)
    xfm_pet = pet_result.transform
    reg.write_transform(name("xfm", ".txt", from_="pet", to=REFERENCE_SPACE, mode="image"), xfm_pet,
                        source="pet (static window)", target=f"{REFERENCE_SPACE} ({ref_key})",
                        extra={"Registration": "rigid, Mattes MI", **pet_result.summary()})
    row["pet_mri_nmi_initial"] = round(pet_result.nmi_initial, 4)
    row["pet_mri_nmi"] = round(pet_result.nmi_final, 4)
    row["pet_mri_metric"] = round(pet_result.metric_final, 4)

    row["time_petmri_s"], clock = round(time.perf_counter() - clock, 2), time.perf_counter()
    # ---- 5. regions on the PET grid
    abnormal = None
    for key in ("FLAIR", "T2w"):
        if key in mri:
            on_ref = reg.from_sitk(reg.resample(mri[key], ref, to_ref[key]))[0]
            abnormal = regions.mri_abnormality(on_ref, tpl.brain_mask, spacing)
            save(abnormal, ref_affine, name("mask", space=REFERENCE_SPACE, desc="abnormal"), dtype=np.uint8,
                 sidecar={"Description": f"{key} hyperintensity inside the brain (median + 3 MAD)"})
            break
    if "ce-gadolinium_T1w" in mri and "T1w" in mri:
        # Contrast enhancement (tumour, and treatment-related change, which enhances too) can lie
        # outside the FLAIR/T2 abnormality: keep it out of the reference regions as well.
        enhancement = regions.enhancement_map(
            reg.from_sitk(reg.resample(mri["ce-gadolinium_T1w"], ref, to_ref["ce-gadolinium_T1w"]))[0],
            reg.from_sitk(reg.resample(mri["T1w"], ref, to_ref["T1w"]))[0], tpl.brain_mask)
        enhancing = regions.mri_abnormality(enhancement, tpl.brain_mask, spacing)
        abnormal = enhancing if abnormal is None else (abnormal | enhancing)
    masks = regions.pet_regions(pet_sitk, ref, tpl.brain_mask, xfm_pet, xfm_template,
                                abnormal_t1=abnormal, margin_mm=opts.reference_margin_mm,
                                resolution_mm=opts.template_resolution_mm)
    voxel_ml = float(abs(np.linalg.det(pet_affine[:3, :3]))) / 1000.0
    for desc, mask in masks.items():
        save(mask, pet_affine, name("mask", space="pet", desc=desc), dtype=np.uint8)
    row["brain_ml"] = round(float(masks["brain"].sum()) * voxel_ml, 1)
    row["brain_ml_mri"] = round(float(tpl.brain_mask.sum()) * float(np.prod(spacing)) / 1000.0, 1)
    row["striatum_ml"] = round(float(masks["striatum"].sum()) * voxel_ml, 2)
    row["healthy_ml"] = round(float(masks["healthy"].sum()) * voxel_ml, 1)

    row["time_regions_s"], clock = round(time.perf_counter() - clock, 2), time.perf_counter()
    # ---- 6. grids
    xfm_to_ref = {k: v for k, v in to_ref.items() if v is not None}
    on_pet = grids.mri_on_pet_grid(pet_sitk, mri, xfm_pet, xfm_to_ref)
    for key, data in on_pet.items():
        suffix, entities = anat_entities(key)
        save(data, pet_affine, name(suffix, space="pet", desc="preproc", **entities))
    learn_inputs = {"pet": pet_sitk, **mri}
    learn_to_ref = {"pet": xfm_pet, **to_ref}
    learned, learn_affine = grids.learning_grid(learn_inputs, learn_to_ref, xfm_template,
                                                mri_names=tuple(mri), margin_mm=opts.learning_margin_mm)
    for key, data in learned.items():
        if key == "pet":
            save(data, learn_affine, name("pet", trc=tracer, space=TEMPLATE, res="2", desc="learning"),
                 sidecar={"Units": units})
        else:
            suffix, entities = anat_entities(key)
            save(data, learn_affine, name(suffix, space=TEMPLATE, res="2", desc="learning", **entities),
                 sidecar={"Units": "z-score over the template brain mask"})

    row["time_grids_s"], clock = round(time.perf_counter() - clock, 2), time.perf_counter()
    # ---- 7. QC
    flags += qc.qc_flags(row, min_pet_nmi=opts.min_pet_nmi, min_template_nmi=opts.min_template_nmi,
                         brain_ml_range=opts.brain_ml_range, motion_threshold_mm=opts.motion_threshold_mm)
    row["flags"] = ";".join(flags)
    qc.qc_figure(name("qc", ".png", desc="preproc"), static, on_pet[ref_key], masks,
                 tuple(float(z) for z in pet_img.header.get_zooms()[:3]), session.key)
    row["time_qc_s"] = round(time.perf_counter() - clock, 2)
    return row


def _fov_overlap(a, b) -> float:
    """Shared fraction of the smaller field of view of two nibabel images (bounding boxes)."""
    def bounds(img) -> tuple[np.ndarray, np.ndarray]:
        shape = np.asarray(img.shape[:3], dtype=float)
        corners = np.array([[i, j, k, 1.0] for i in (-0.5, shape[0] - 0.5) for j in (-0.5, shape[1] - 0.5)
                            for k in (-0.5, shape[2] - 0.5)])
        world = corners @ np.asarray(img.affine, dtype=float).T
        return world[:, :3].min(axis=0), world[:, :3].max(axis=0)

    (lo_a, hi_a), (lo_b, hi_b) = bounds(a), bounds(b)
    shared = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None).prod()
    smaller = min((hi_a - lo_a).prod(), (hi_b - lo_b).prod())
    return float(shared / smaller) if smaller > 0 else 0.0


def _worker(args: tuple) -> dict[str, Any]:
    session, root, config, force, threads = args
    try:
        return preprocess_session(session, root, config, force=force, threads=threads)
    except InputError as exc:
        return {"subject": session.subject, "session": session.session, "site": session.site,
                "status": "failed", "error": exc.one_line(), "flags": "failed"}


def run_preprocess(bids_dir: str | Path, *, participant_label: Sequence[str] | None = None,
                   jobs: int = 1, dask_scheduler: str | None = None, force: bool = False,
                   config: Config | None = None, threads: int | None = None) -> pd.DataFrame:
    """Preprocess every session of a BIDS dataset; returns the cohort QC table (also written).

    Sessions run in parallel with joblib (`jobs` processes) or, given `dask_scheduler`
    (``tcp://host:port``), on a Dask distributed cluster. Each job uses `threads` SimpleITK
    threads (default: the CPU count divided by `jobs`).

    Raises
    ------
    InputError
        The dataset cannot be read, or (after the other sessions are done and the QC table is
        written) one or more sessions failed: the first error is reported.
    """
    from gliopet.atomic import write_tsv
    from gliopet.io.bids_read import read_dataset
    from gliopet.io.bids_write import write_dataset_description
    from gliopet.preprocess.qc import flag_cohort_outliers
    from gliopet.provenance import generated_by

    config = config or load_config()
    root = Path(bids_dir)
    sessions = read_dataset(root, list(participant_label) if participant_label else None, config)
    if not sessions:
        raise InputError("no session found", path=root, fix="check the dataset and --participant-label")
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}", fix="give --jobs 1 or more")
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    derivatives = root / "derivatives" / "gliopet"
    if not (derivatives / "dataset_description.json").is_file():
        write_dataset_description(derivatives, "gliopet derivatives", dataset_type="derivative",
                                  generated_by=generated_by())
    tasks = [(s, root, config, force, threads) for s in sessions]
    if dask_scheduler:
        rows = _run_dask(tasks, dask_scheduler)
    elif jobs > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        rows = Parallel(n_jobs=jobs, backend="loky")(delayed(_worker)(t) for t in tasks)
    else:
        from gliopet.progress import track

        rows = [_worker(t) for t in track(tasks, "preprocess")]
    table = flag_cohort_outliers(pd.DataFrame(rows))
    write_tsv(root / STAGE_DIR / QC_NAME, table)
    failed = [r for r in rows if r.get("status") == "failed"]
    if failed:
        first = failed[0]["error"]
        if len(rows) == 1:
            raise InputError(first)  # the session's own one-line message (file, problem, fix)
        raise InputError(f"{len(failed)} of {len(rows)} sessions failed; first: {first}",
                         path=root / STAGE_DIR / QC_NAME, fix="see the error column of the QC table")
    return table


def _run_dask(tasks: list[tuple], address: str) -> list[dict[str, Any]]:
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask-scheduler needs the Dask 'distributed' package", path=address,
                         fix="install it (pip install 'dask[distributed]') or use --jobs") from None
    try:
        client = Client(address, timeout="20s")
    except OSError as exc:
        raise InputError(f"cannot connect to the Dask scheduler ({exc})", path=address,
                         fix="give the scheduler address as tcp://host:port") from None
    try:
        futures = client.map(_worker, tasks, pure=False)
        return client.gather(futures)
    finally:
        client.close()
