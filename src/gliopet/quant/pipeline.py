"""The per-session quantification runner and the cohort tables (`gliopet quantify`).

Inputs per session: the BIDS PET (timing, SUV factor, decay factors) and the preprocessing
derivatives ``derivatives/gliopet/preprocess/sub-<s>/ses-<t>/`` (motion-corrected frames
``*_desc-mc_pet``, masks on the PET grid ``*_space-pet_desc-<name>_mask``). A static (1-frame)
PET has no ``desc-mc`` image; its raw frame is used.

Outputs per session, under ``derivatives/gliopet/quant/sub-<s>/ses-<t>/`` (``<p>`` =
``sub-<s>_ses-<t>``, ``<t>`` = ``trc-<tracer>``), all on the PET grid::

    <p>_space-pet_desc-tumour_mask.nii.gz, <p>_space-pet_desc-background_mask.nii.gz (+ .json)
    <p>_<t>_space-pet_desc-static_stat-SUV_pet.nii.gz       static-window SUV
    <p>_<t>_space-pet_stat-{TTP,slope,earlylate}_pet.nii.gz  voxel maps inside the brain
    <p>_<t>_space-pet_desc-<a>to<b>min_stat-TBR_pet.nii.gz   TBR per window
    <p>_<t>_space-pet_desc-loganref_stat-DVR_pet.nii.gz, desc-patlakref_stat-Ki,
    <p>_<t>_space-pet_desc-srtm_stat-{BPnd,R1}_pet.nii.gz    tumour + margin, background = reference
    <p>_<t>_desc-voi_tacs.tsv                                 TACs (mid-time min, SUV)
    <p>_space-pet_desc-habitats_dseg.nii.gz, <p>_<t>_desc-habitats_tacs.tsv
    <p>_space-pet_desc-hotspots_dseg.nii.gz, <p>_<t>_desc-hotspots_table.tsv
    <p>_<t>_desc-plasma_kinetics.tsv                          only with a _blood.tsv
    <p>_quant.json (the session's row), provenance.json (marks the session done)

and, for the cohort, ``derivatives/gliopet/quant/quant.tsv`` (+ ``quant.json``) and
``cohort.tsv`` (+ ``cohort.json``): quant.tsv joined with participants.tsv and the sessions
files (session-level values take precedence), one row per session.

A session folder is built under a temporary name (`gliopet.atomic.staged_directory`) and is
skipped on a rerun unless ``force``. Dynamic features need at least 3 frames; a static PET gets
the static columns and a note. A session without tumour uptake above the threshold (a healthy
subject) gets its reference values, an empty tumour mask and the healthy-brain region as
background. No image-derived input function is used for FDOPA (metabolites make it unreliable):
plasma-input models run only on a user's metabolite-corrected ``_blood.tsv``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.config import Config, load_config
from gliopet.errors import InputError
from gliopet.io.bids_names import bids_name
from gliopet.io.session import Session
from gliopet.progress import logger

STAGE_DIR = Path("derivatives") / "gliopet" / "quant"
PREPROCESS_DIR = Path("derivatives") / "gliopet" / "preprocess"
QUANT_TABLE = "quant.tsv"
COHORT_TABLE = "cohort.tsv"
#: Margin (mm) around the tumour VOI inside which the voxelwise kinetic models are fitted.
KINETIC_MARGIN_MM = 10.0
#: Start of the linear part of the graphical reference models (min).
T_STAR_MIN = 10.0
#: Placeholders allowed in --tumour-mask / --background-mask patterns.
PLACEHOLDERS = ("subject", "session")
PATLAK_CAVEAT = ("Patlak with a reference region assumes the reference is in equilibrium with plasma after "
                 "t*; a slowly equilibrating reference (FDOPA grey/white matter, k2' about 0.06 /min) biases "
                 "the slope strongly on 30-min scans (docs/validation.md, curves section). Prefer SRTM or "
                 "Logan-ref for FDOPA.")
REFERENCE_NOTE = ("kinetic models: reference region = the background region (healthy contralateral "
                  "brain), fitted voxelwise inside the tumour + {margin:g} mm margin")


def session_out_dir(root: str | Path, session: Session) -> Path:
    """``<root>/derivatives/gliopet/quant/sub-<s>[/ses-<t>]``."""
    path = Path(root) / STAGE_DIR / f"sub-{session.subject}"
    return path / f"ses-{session.session}" if session.session else path


def preprocess_dir(root: str | Path, session: Session) -> Path:
    """The session's preprocessing folder."""
    path = Path(root) / PREPROCESS_DIR / f"sub-{session.subject}"
    return path / f"ses-{session.session}" if session.session else path


def is_done(out_dir: Path) -> bool:
    """True when a session folder is complete (its provenance and row exist)."""
    return (out_dir / "provenance.json").is_file() and any(out_dir.glob("*_quant.json"))


def resolve_pattern(pattern: str | None, session: Session, what: str) -> Path | None:
    """Fill ``{subject}`` / ``{session}`` of a mask path pattern (labels without prefixes)."""
    if pattern is None:
        return None
    try:
        return Path(pattern.format(subject=session.subject, session=session.session))
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"the {what} pattern has an unknown placeholder or a stray brace ({exc})",
                         path=pattern, fix="use only {subject} and {session}, e.g. masks/sub-{subject}_ses-{session}_tumour.nii.gz") from None


def check_pattern(pattern: str | None, what: str) -> None:
    """Refuse a pattern with placeholders other than {subject} and {session}, before any work."""
    if pattern is None:
        return
    resolve_pattern(pattern, Session(subject="x", session="y"), what)


# ---------------------------------------------------------------- inputs


def _load_mask(path: Path, affine: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A mask on the PET grid (same shape and affine within 0.01 mm), as bool."""
    from gliopet.io.nifti import load_nifti

    if not path.is_file():
        raise InputError(f"the {name} mask does not exist", path=path,
                         fix="check the path (placeholders {subject} and {session} are filled without prefixes)")
    img = load_nifti(path, ensure_ndim=(3,))
    if tuple(img.shape[:3]) != tuple(shape) or not np.allclose(img.affine, affine, atol=1e-2):
        raise InputError(f"the {name} mask is on another grid than the PET (shape {tuple(img.shape[:3])} vs "
                         f"{tuple(shape)}, or a different affine)", path=path,
                         fix="resample the mask onto the PET grid (e.g. onto the desc-static_pet image of "
                             "derivatives/gliopet/preprocess) with nearest-neighbour interpolation")
    data = np.asanyarray(img.dataobj)
    if not np.all(np.isfinite(data)):
        raise InputError(f"the {name} mask contains NaN values", path=path, fix="give a 0/1 mask")
    return data > 0.5


def _prep_file(prep: Path, pattern: str, session: Session, what: str) -> Path:
    found = sorted(prep.glob(pattern))
    if not found:
        raise InputError(f"preprocessing output {pattern} is missing ({what})", path=prep,
                         fix="run `gliopet preprocess` on the dataset first (add --force to redo a broken session)")
    return found[0]


def _prep_file_or_none(prep: Path, pattern: str) -> Path | None:
    found = sorted(prep.glob(pattern))
    return found[0] if found else None


def _motion_correction_off(prep: Path) -> bool:
    """True when preprocessing ran with motion correction switched off (its QC row says so)."""
    import json

    found = sorted(prep.glob("*_desc-preproc_qc.json"))
    if not found:
        return False
    return json.loads(found[0].read_text()).get("motion_correction") is False


def _blood_file(session: Session) -> Path | None:
    if session.pet is None:
        return None
    found = sorted(session.pet.path.parent.glob(f"{session.key}*_blood.tsv"))
    return found[0] if found else None


# ---------------------------------------------------------------- one session


def quantify_session(session: Session, bids_root: str | Path, config: Config | None = None, *,
                     tumour_mask: str | None = None, background_mask: str | None = None,
                     force: bool = False) -> dict[str, Any]:
    """Quantify one session (module docstring); returns its quant.tsv row.

    ``tumour_mask`` / ``background_mask``: path patterns with ``{subject}`` / ``{session}``
    placeholders replacing the automatic VOI / crescent background. A finished session is
    skipped (its stored row returned) unless ``force``.

    Raises
    ------
    InputError
        Missing preprocessing, a user mask that is empty, missing or on another grid, a
        background overlapping the tumour, a static window outside the acquired frames, no SUV.
    """
    from gliopet.atomic import staged_directory
    from gliopet.provenance import write_provenance

    config = config or load_config()
    out_dir = session_out_dir(bids_root, session)
    if is_done(out_dir) and not force:
        logger.info("%s: already quantified (use --force to redo)", session.key)
        return read_row(out_dir)
    prep = preprocess_dir(bids_root, session)
    if not (prep / "provenance.json").is_file():
        raise InputError("no preprocessing output for this session", path=prep,
                         fix="run `gliopet preprocess` on the dataset first")
    with staged_directory(out_dir, overwrite=True) as staging:
        row, inputs = _run_session(session, Path(bids_root), prep, staging, config,
                                   tumour_mask=tumour_mask, background_mask=background_mask)
        from gliopet.atomic import write_json

        write_json(staging / bids_name(session.subject, session.session or None, "quant", ".json"), row)
        write_provenance(staging, command="gliopet quantify", config=config.as_dict(), inputs=inputs,
                         extra={"session": session.key, "tumour_mask": tumour_mask,
                                "background_mask": background_mask})
    return row


def read_row(out_dir: Path) -> dict[str, Any]:
    """The stored quant.tsv row of a finished session folder."""
    return json.loads(next(out_dir.glob("*_quant.json")).read_text())


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _run_session(session: Session, root: Path, prep: Path, out: Path, config: Config, *,
                 tumour_mask: str | None, background_mask: str | None) -> tuple[dict[str, Any], list[Path]]:

    from gliopet.atomic import write_tsv
    from gliopet.io.bids_write import write_image
    from gliopet.io.nifti import load_nifti, read_voxels
    from gliopet.quant import clustering, hotspots, reference_models, static, tac, voi, voxelmaps

    opts = config.quant
    sub, ses = session.subject, session.session or None
    pet = session.pet
    if pet is None:
        raise InputError("no PET image in this session", path=root / f"sub-{sub}",
                         fix="add the PET or drop the subject with --participant-label")
    if pet.suv_factor is None:
        raise InputError(f"SUV cannot be computed: {pet.suv_note}", path=pet.path,
                         fix="add the weight (kg) to the sessions or participants file and the injected dose to the PET sidecar")
    tracer = pet.tracer or opts.tracer
    timing = pet.timing
    dynamic = timing.n_frames >= 3
    notes: list[str] = []

    # ---- inputs: frames (SUV) and masks on the PET grid
    frames_path = pet.path
    if timing.n_frames > 1:
        if _motion_correction_off(prep):
            notes.append("frames used as acquired: motion correction was switched off in preprocessing "
                         "(preprocess.motion_correction: false)")
        else:
            frames_path = _prep_file(prep, "*_desc-mc_pet.nii.gz", session, "motion-corrected frames")
    img = load_nifti(frames_path, ensure_ndim=(3, 4))
    affine = img.affine
    raw = read_voxels(img, frames_path)
    raw = raw[..., np.newaxis] if raw.ndim == 3 else raw
    if raw.shape[-1] != timing.n_frames:
        raise InputError(f"the image has {raw.shape[-1]} frames but the PET sidecar lists {timing.n_frames}",
                         path=frames_path, fix="rerun `gliopet preprocess --force` for this session")
    suv = static.suv_frames(raw, pet.suv_factor, pet.frame_decay_factors)
    del raw
    shape = suv.shape[:3]
    sizes = voi.voxel_sizes(affine)
    voxel_ml = static.voxel_volume_ml(sizes)
    masks = {name: _load_mask(_prep_file(prep, f"*_space-pet_desc-{name}_mask.nii.gz", session, f"{name} mask"),
                              affine, shape, name)
             for name in ("brain", "striatum", "lefthemisphere", "healthy")}
    inputs = [pet.path, frames_path]
    brain, striatum = masks["brain"], masks["striatum"]
    # Tumour candidates exclude the whole anatomical striatum (preprocessing's `striatumanat`), not
    # only the healthy part used as T/S reference; older preprocessing outputs lack it.
    anatomical = _prep_file_or_none(prep, "*_space-pet_desc-striatumanat_mask.nii.gz")
    striatum_exclusion = striatum if anatomical is None else _load_mask(anatomical, affine, shape, "striatumanat")

    window_s = (opts.static_window_min[0] * 60.0, opts.static_window_min[1] * 60.0)
    static_suv = static.static_image(suv, timing, window_s, path=pet.path).astype(np.float32)

    # ---- VOIs
    tumour_path = resolve_pattern(tumour_mask, session, "--tumour-mask")
    background_path = resolve_pattern(background_mask, session, "--background-mask")
    user_bg = _load_mask(background_path, affine, shape, "background") if background_path else None
    crescent = {"striatum_margin_mm": opts.striatum_margin_mm}
    voi_source = "automatic"
    if tumour_path is not None:
        user_tumour = _load_mask(tumour_path, affine, shape, "tumour")
        inputs.append(tumour_path)
        regions = voi.user_voi(static_suv, user_tumour, brain, affine, striatum_exclusion, background=user_bg,
                               healthy=masks["healthy"], left_mask=masks["lefthemisphere"], tumour_path=str(tumour_path),
                               background_path=None if background_path is None else str(background_path),
                               **crescent)
        voi_source = "user"
    else:
        try:
            regions = voi.tumour_voi(static_suv, brain, affine, striatum_exclusion, healthy=masks["healthy"],
                                     left_mask=masks["lefthemisphere"],
                                     threshold=opts.tumour_threshold_x_background,
                                     reference=opts.healthy_reference, striatum_margin_mm=opts.striatum_margin_mm,
                                     min_component_ml=opts.min_component_ml)
        except InputError as exc:
            if not exc.problem.startswith("no brain voxel above"):
                raise
            regions = None
            voi_source = "none"
            notes.append("no tumour: " + exc.problem.split(": no tumour")[0]
                         + "; tumour columns n/a, background = healthy-brain region of preprocessing")
        if regions is not None and user_bg is not None:
            overlap = int(np.count_nonzero(regions.tumour & user_bg))
            if overlap:
                raise InputError(f"the background mask overlaps the tumour mask in {overlap} voxels",
                                 path=background_path, fix="give a background region outside the tumour")
            regions.background = user_bg
            regions.background_suv = float(static_suv[user_bg].mean())
            regions.note += "; background replaced by the user's mask"
    if background_path is not None:
        inputs.append(background_path)
    if regions is not None:
        tumour, background = regions.tumour, regions.background
        notes.append(regions.note)
    else:
        tumour = np.zeros(shape, bool)
        background = user_bg if user_bg is not None else masks["healthy"]
        if not background.any():
            raise InputError("the healthy-brain region of preprocessing is empty", path=prep,
                             fix="check the preprocessing QC; rerun `gliopet preprocess --force`")

    def name(suffix: str, ext: str = ".nii.gz", **entities: str | None) -> Path:
        return out / bids_name(sub, ses, suffix, ext, **entities)

    def save(data: np.ndarray, target: Path, dtype=np.float32, sidecar: dict | None = None) -> None:
        write_image(target, data, affine, dtype, sidecar)

    save(tumour, name("mask", space="pet", desc="tumour"), np.uint8,
         {"Description": "tumour VOI (every later stage uses it)", "Source": voi_source,
          "Note": notes[0] if notes else "", "VolumeML": float(tumour.sum()) * voxel_ml})
    save(background, name("mask", space="pet", desc="background"), np.uint8,
         {"Description": "background (reference) region of TBR and of the reference-region kinetic models",
          "Note": regions.note if regions is not None else "healthy-brain region of preprocessing (no tumour)"})
    save(static_suv, name("pet", trc=tracer, space="pet", desc="static", stat="SUV"),
         sidecar={"Units": "g/mL", "Description": f"SUV (body weight), frame-duration-weighted mean over "
                                                  f"{opts.static_window_min[0]:g}-{opts.static_window_min[1]:g} min",
                  "SUVNote": pet.suv_note})

    # ---- static columns
    row: dict[str, Any] = {"participant_id": f"sub-{sub}", "session_id": f"ses-{session.session}",
                           "tracer": tracer, "n_frames": timing.n_frames,
                           "static_window_min": f"{opts.static_window_min[0]:g}-{opts.static_window_min[1]:g}"}
    healthy_suv = float(static_suv[masks["healthy"]].mean()) if masks["healthy"].any() else float("nan")
    striatum_suv = float(static_suv[striatum].mean()) if striatum.any() else float("nan")
    if tumour.any():
        row.update(static.static_metrics(static_suv, tumour, background, sizes, striatum,
                                         tumour_path=None if tumour_path is None else str(tumour_path),
                                         background_path=None if background_path is None else str(background_path)))
    else:
        row.update({k: float("nan") for k in ("SUVmax", "SUVmean", "SUVpeak", "TBRmax", "TBRmean", "TBRpeak",
                                              "TSRmax", "TSRmean")})
        row.update({"BTV_mL": 0.0, "background_SUVmean": float(static_suv[background].mean()),
                    "striatum_SUVmean": striatum_suv, "rano_measurable": False})
    row["healthy_SUVmean"] = healthy_suv
    row["striatum_brain_ratio"] = striatum_suv / healthy_suv
    row["lesion_side"] = regions.lesion_side if regions is not None else "n/a"

    dyn_cols = ("TTP_min", "slope_SUV_per_h", "striatum_TTP_min", "striatum_slope_SUV_per_h", "TTP_ratio",
                "slope_ratio", "frac_early_peak", "frac_negative_slope", "frac_TBR_gt_2", "n_hotspots",
                "hotspot_volume_mL", "n_habitats", "loganref_DVR", "patlakref_Ki_per_min", "srtm_BPnd", "srtm_R1", "srtm_at_bound", "k2ref_per_min",
                "K1_1TCM", "VT_1TCM", "K1_2TCM", "VT_2TCM", "VT_logan_plasma")
    row.update({k: float("nan") for k in dyn_cols})
    blood = _blood_file(session)
    row["plasma_input"] = blood is not None
    slope_s = (opts.slope_window_min[0] * 60.0, opts.slope_window_min[1] * 60.0)
    early_s = (opts.early_window_min[0] * 60.0, opts.early_window_min[1] * 60.0)

    # ---- TACs (a static PET gets a one-row table)
    tac_masks = {"tumour": tumour, "background": background, "striatum": striatum}
    write_tsv(name("tacs", ".tsv", trc=tracer, desc="voi"), tac.tac_table(suv, timing, tac_masks))

    if not dynamic:
        notes.append(tac.STATIC_NOTE if timing.n_frames == 1 else
                     f"{timing.n_frames} frames: dynamic features need at least 3, not computed")
    else:
        # ---- voxel maps inside the brain
        vm = voxelmaps.voxel_maps(suv, timing, brain, background & brain if (background & brain).any() else None,
                                  tumour if tumour.any() else None, slope_window_s=slope_s,
                                  early_window_s=early_s, late_window_s=window_s,
                                  tbr_windows_s=[early_s, window_s], early_peak_min=opts.early_peak_min)
        units = {"TTP": ("min", "time to peak: mid-time of each voxel's highest frame"),
                 "slope": ("SUV/h", f"late slope over {opts.slope_window_min[0]:g}-{opts.slope_window_min[1]:g} min"),
                 "earlylate": ("ratio", f"early ({opts.early_window_min[0]:g}-{opts.early_window_min[1]:g} min) / "
                                        f"late (static window) mean SUV")}
        for key, data in vm.maps.items():
            if key.startswith("TBR_"):
                label = key[4:]
                save(data, name("pet", trc=tracer, space="pet", desc=label, stat="TBR"),
                     sidecar={"Units": "ratio", "Description": f"voxel SUV mean over {label} / background mean "
                                                               "over the same window; NaN outside the brain"})
            else:
                save(data, name("pet", trc=tracer, space="pet", stat=key),
                     sidecar={"Units": units[key][0], "Description": units[key][1] + "; NaN outside the brain"})
        row.update(vm.fractions)
        if tumour.any():
            row.update({k: v for k, v in tac.voi_dynamics(suv, timing, tumour, striatum, slope_s).items()
                        if k != "dynamic_note"})
            _kinetics(suv, timing, tumour, background, brain, sizes, row, notes, save, name, tracer,
                      reference_models, voi)
            # ---- habitats
            try:
                hab = clustering.tac_habitats(suv, timing, tumour, seed=config.seed)
                save(hab.labels, name("dseg", space="pet", desc="habitats"), np.int16,
                     {"Description": "TAC habitats: k-means on voxel TACs divided by their mean, k by the "
                                     "highest silhouette; labels ordered by increasing TTP of the mean TAC",
                      "Silhouette": {str(k): v for k, v in hab.silhouette.items()}})
                table = pd.DataFrame({"mid_time_min": timing.mid_min})
                for j in range(hab.k):
                    table[f"habitat_{j + 1}"] = hab.mean_tacs[j]
                write_tsv(name("tacs", ".tsv", trc=tracer, desc="habitats"), table)
                row["n_habitats"] = hab.k
            except InputError as exc:
                notes.append(f"habitats not computed: {exc.problem}")
            # ---- hot spots
            spots = hotspots.dynamic_hotspots(suv, timing, tumour, affine, early_peak_min=opts.early_peak_min,
                                              min_volume_ml=opts.hotspot_min_volume_ml, slope_window_s=slope_s)
            save(spots.labels, name("dseg", space="pet", desc="hotspots"), np.int16,
                 {"Description": f"dynamic hot spots (Kunz 2011): TTP < {opts.early_peak_min:g} min and negative "
                                 f"late slope, >= {opts.hotspot_min_volume_ml:g} mL; 1..n by decreasing volume"})
            spot_rows = [{**{k: v for k, v in s.items() if k != "centroid_ras_mm"},
                          "x_ras_mm": s["centroid_ras_mm"][0], "y_ras_mm": s["centroid_ras_mm"][1],
                          "z_ras_mm": s["centroid_ras_mm"][2]} for s in spots.spots]
            columns = ["label", "volume_mL", "TTP_min", "slope_SUV_per_h", "peak_SUV", "x_ras_mm", "y_ras_mm", "z_ras_mm"]
            write_tsv(name("table", ".tsv", trc=tracer, desc="hotspots"), pd.DataFrame(spot_rows, columns=columns))
            row["n_hotspots"] = len(spots.spots)
            row["hotspot_volume_mL"] = float(sum(s["volume_mL"] for s in spots.spots))
            # ---- plasma input
            if blood is not None:
                inputs.append(blood)
                _plasma(suv, timing, tumour, background, pet, blood, row, notes, name, tracer)
            else:
                notes.append("no _blood.tsv: plasma-input models not fitted (no image-derived input for FDOPA)")
    row["voi_source"] = voi_source
    row["note"] = "; ".join(n for n in notes if n)
    return row, inputs


def _kinetics(suv, timing, tumour, background, brain, sizes, row, notes, save, name, tracer,
              reference_models, voi) -> None:
    """Reference-region Logan, Patlak and SRTM: voxelwise in tumour + margin, and on the tumour TAC."""
    from gliopet.quant.tac import voi_tac

    region = voi.dilate_mm(tumour, KINETIC_MARGIN_MM, sizes) & (brain | tumour) & ~background
    ref = voi_tac(suv, background)
    tacs = suv[region].astype(float)
    tumour_tac = voi_tac(suv, tumour)
    note = REFERENCE_NOTE.format(margin=KINETIC_MARGIN_MM)
    basis = reference_models.srtm_basis(ref, timing)
    fit = reference_models.srtm_fit(tumour_tac, basis, timing)
    row["srtm_BPnd"], row["srtm_R1"] = float(fit["BPnd"]), float(fit["R1"])
    row["srtm_at_bound"] = bool(fit["at_bound"])
    srtm = reference_models.srtm_fit(tacs, basis, timing)
    # Reference efflux k2' for Logan-ref (without the Cr/k2' term Logan-ref DVR is biased when the
    # reference equilibrates slowly within the scan): the median of voxelwise SRTM k2/R1 over the
    # informative tumour voxels; else k2/R1 of the SRTM fit of the tumour TAC.
    k2_ref = reference_models.reference_efflux({k: v[tumour[region]] for k, v in srtm.items()})
    k2_source = "median SRTM k2/R1 of the tumour voxels"
    if k2_ref is None:
        k2_ref = float(fit["k2"] / fit["R1"]) if fit["R1"] > 0 else float("nan")
        k2_source = "SRTM k2/R1 of the tumour TAC"
    if not (np.isfinite(k2_ref) and k2_ref > 0):
        k2_ref = None
    row["k2ref_per_min"] = float("nan") if k2_ref is None else k2_ref
    try:
        logan = reference_models.logan_reference(tacs, ref, timing, T_STAR_MIN, k2_ref_per_min=k2_ref)
        patlak = reference_models.patlak_reference(tacs, ref, timing, T_STAR_MIN)
    except ValueError as exc:
        notes.append(f"graphical reference models not computed: {exc}")
        logan = patlak = None
    sidecar = {"ReferenceRegion": "desc-background_mask (healthy contralateral brain)",
               "Description": note + "; NaN elsewhere"}
    k2_text = "no k2'" if k2_ref is None else f"k2' = {k2_ref:.4g} /min ({k2_source})"
    if logan is not None:
        save(reference_models.to_image(logan["DVR"], region), name("pet", trc=tracer, space="pet", desc="loganref",
                                                                   stat="DVR"),
             sidecar={**sidecar, "Units": "ratio", "Model": f"Logan reference (t* = {T_STAR_MIN:g} min, {k2_text})"})
        save(reference_models.to_image(patlak["Ki"], region), name("pet", trc=tracer, space="pet", desc="patlakref",
                                                                   stat="Ki"),
             sidecar={**sidecar, "Units": "1/min", "Model": f"Patlak reference (t* = {T_STAR_MIN:g} min)",
                      "Caveat": PATLAK_CAVEAT})
        row["loganref_DVR"] = float(reference_models.logan_reference(tumour_tac, ref, timing, T_STAR_MIN,
                                                                     k2_ref_per_min=k2_ref)["DVR"])
        row["patlakref_Ki_per_min"] = float(reference_models.patlak_reference(tumour_tac, ref, timing,
                                                                              T_STAR_MIN)["Ki"])
    for key in ("BPnd", "R1"):
        save(reference_models.to_image(srtm[key], region), name("pet", trc=tracer, space="pet", desc="srtm", stat=key),
             sidecar={**sidecar, "Units": "ratio",
                      "Model": f"SRTM, basis functions ({basis.describe()}), weights = frame duration"})
    notes.append(note)


def _plasma(suv, timing, tumour, background, pet, blood, row, notes, name, tracer) -> None:
    """1TCM, 2TCM (WNLS) and plasma-input Logan on the tumour and background TACs (Bq/mL)."""
    from gliopet.atomic import write_tsv
    from gliopet.quant.plasma_models import fit_compartment, logan_plasma, read_blood_tsv
    from gliopet.quant.tac import voi_tac

    injection = float(pet.sidecar.get("InjectionStart", 0.0) or 0.0)
    inp = read_blood_tsv(blood, injection_start_s=injection)
    to_bq = 1.0 / pet.suv_factor  # SUV -> Bq/mL (decay-corrected to injection)
    rows = []
    for region, mask in (("tumour", tumour), ("background", background)):
        tac = voi_tac(suv, mask) * to_bq
        one = fit_compartment(tac, timing, inp, "1TCM")
        two = fit_compartment(tac, timing, inp, "2TCM")
        try:
            lg = logan_plasma(tac, timing, inp, t_star_min=T_STAR_MIN)["VT"]
        except InputError:
            lg = float("nan")
        rows.append({"region": region, **{f"{k}_1TCM": v for k, v in one.items()},
                     **{f"{k}_2TCM": v for k, v in two.items()}, "VT_logan_plasma": lg})
        if region == "tumour":
            row.update({"K1_1TCM": one["K1"], "VT_1TCM": one["VT"], "K1_2TCM": two["K1"], "VT_2TCM": two["VT"],
                        "VT_logan_plasma": lg})
    write_tsv(name("kinetics", ".tsv", trc=tracer, desc="plasma"), pd.DataFrame(rows))
    notes.append(f"plasma input from {blood.name} (metabolite-corrected; no image-derived input for FDOPA)")


# ---------------------------------------------------------------- cohort


def _worker(args: tuple) -> dict[str, Any]:
    session, root, config, force, tumour_mask, background_mask = args
    try:
        return {"ok": True, "row": quantify_session(session, root, config, tumour_mask=tumour_mask,
                                                    background_mask=background_mask, force=force)}
    except InputError as exc:
        return {"ok": False, "session": session.key, "error": exc.one_line()}


def _labels(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(participants.tsv rows, rows of every sub-<s>_sessions.tsv with its participant_id)."""
    from gliopet.io.bids_read import read_tsv_rows

    participants = read_tsv_rows(root / "participants.tsv", "participant_id") \
        if (root / "participants.tsv").is_file() else {}
    subjects = pd.DataFrame([{**values, "participant_id": pid} for pid, values in participants.items()])
    rows = []
    for sessions_file in sorted(root.glob("sub-*/sub-*_sessions.tsv")):
        pid = sessions_file.parent.name
        for sid, values in read_tsv_rows(sessions_file, "session_id").items():
            rows.append({**values, "participant_id": pid, "session_id": sid})
    return subjects, pd.DataFrame(rows)


def _join_labels(quant: pd.DataFrame, subjects: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """quant rows + label columns; a session-level value takes precedence over the subject's."""
    cohort = quant.copy()
    if not sessions.empty:
        extra = [c for c in sessions.columns if c not in cohort.columns or c in ("participant_id", "session_id")]
        cohort = cohort.merge(sessions[extra], on=["participant_id", "session_id"], how="left")
    if not subjects.empty:
        cohort = cohort.merge(subjects, on="participant_id", how="left", suffixes=("", "__subject"))
        for column in [c for c in cohort.columns if c.endswith("__subject")]:
            base = column[: -len("__subject")]
            cohort[base] = cohort[base].where(cohort[base].notna(), cohort[column])
            cohort = cohort.drop(columns=column)
    return cohort


def write_tables(root: str | Path) -> tuple[Path, Path]:
    """(Re)write quant.tsv and cohort.tsv (+ JSON sidecars) from every finished session folder."""
    from gliopet.atomic import write_json, write_tsv
    from gliopet.quant.outputs import QUANT_COLUMNS

    root = Path(root)
    stage = root / STAGE_DIR
    rows = [json.loads(p.read_text()) for p in sorted(stage.glob("sub-*/**/*_quant.json"))
            if (p.parent / "provenance.json").is_file()]
    quant = pd.DataFrame(rows)
    columns = [c for c in QUANT_COLUMNS if c in quant.columns]
    quant = quant[columns]
    quant_path = write_tsv(stage / QUANT_TABLE, quant)
    write_json(stage / "quant.json", {c: QUANT_COLUMNS[c] for c in columns})
    cohort = _join_labels(quant, *_labels(root))
    cohort_path = write_tsv(stage / COHORT_TABLE, cohort)
    sidecar = {c: QUANT_COLUMNS[c] for c in columns}
    described: dict[str, Any] = {}
    for source in (root / "participants.json",
                   *sorted(root.glob("sub-*/sub-*_sessions.json"))[:1]):
        if source.is_file():
            try:
                described.update(json.loads(source.read_text()))
            except json.JSONDecodeError:
                pass
    for column in cohort.columns:
        if column not in sidecar:
            sidecar[column] = described.get(column, {"Description": f"label {column} from participants.tsv / "
                                                                     "sub-<s>_sessions.tsv"})
    write_json(stage / "cohort.json", sidecar)
    return quant_path, cohort_path


def run_quantify(bids_dir: str | Path, *, participant_label: Sequence[str] | None = None, jobs: int = 1,
                 force: bool = False, config: Config | None = None, tumour_mask: str | None = None,
                 background_mask: str | None = None) -> pd.DataFrame:
    """Quantify every session of a BIDS dataset; returns quant.tsv (also written with cohort.tsv).

    Sessions run in parallel with joblib (`jobs` processes). Failed sessions are reported after
    the others are done (the tables hold the finished sessions); nothing of a failed session is
    written.

    Raises
    ------
    InputError
        The dataset cannot be read, a mask pattern is malformed, or a session failed (first error).
    """
    from gliopet.io.bids_read import read_dataset
    from gliopet.io.bids_write import write_dataset_description
    from gliopet.progress import track
    from gliopet.provenance import generated_by

    config = config or load_config()
    root = Path(bids_dir)
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}", fix="give --jobs 1 or more")
    check_pattern(tumour_mask, "--tumour-mask")
    check_pattern(background_mask, "--background-mask")
    sessions = read_dataset(root, list(participant_label) if participant_label else None, config)
    if not sessions:
        raise InputError("no session found", path=root, fix="check the dataset and --participant-label")
    tasks = [(s, root, config, force, tumour_mask, background_mask) for s in sessions]
    if jobs > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        results = list(track(Parallel(n_jobs=jobs, backend="loky", return_as="generator")(
            delayed(_worker)(t) for t in tasks), "quantify", total=len(tasks)))
    else:
        results = [_worker(t) for t in track(tasks, "quantify")]
    done = [r["row"] for r in results if r["ok"]]
    failed = [r for r in results if not r["ok"]]
    if done:
        derivatives = root / "derivatives" / "gliopet"
        if not (derivatives / "dataset_description.json").is_file():
            write_dataset_description(derivatives, "gliopet derivatives", dataset_type="derivative",
                                      generated_by=generated_by())
        write_tables(root)
        from gliopet.provenance import write_provenance

        write_provenance(root / STAGE_DIR, command="gliopet quantify", config=config.as_dict(),
                         inputs=[root / "participants.tsv"],
                         extra={"tables": [QUANT_TABLE, COHORT_TABLE], "sessions": [r["participant_id"] + "_"
                                                                                     + r["session_id"] for r in done],
                                "tumour_mask": tumour_mask, "background_mask": background_mask})
    if failed:
        if len(results) == 1:
            raise InputError(failed[0]["error"])
        raise InputError(f"{len(failed)} of {len(results)} sessions failed; first: {failed[0]['error']}",
                         path=root / STAGE_DIR, fix="fix the inputs of the failed sessions and rerun (finished "
                                                    "sessions are skipped)")
    return pd.read_csv(root / STAGE_DIR / QUANT_TABLE, sep="\t")
