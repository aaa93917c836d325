"""The quantification stage (`gliopet quantify`), run session by session by `gliopet.stage`.

Inputs per session: the BIDS PET (timing, SUV factor, decay factors) and the preprocessing
derivatives, found through the derivatives contract `gliopet.io.derivatives`: motion-corrected
frames (MC_PET, ``*_desc-mc_pet``), masks on the PET grid (PET_MASK,
``*_space-pet_desc-<name>_mask``) and the QC row (QC_ROW). A static (1-frame) PET has no
``desc-mc`` image; its raw frame is used, as are the raw frames when preprocessing ran with
``preprocess.motion_correction: false``.

Outputs per session, under ``derivatives/gliopet/quant/sub-<s>/ses-<t>/`` (``<p>`` =
``sub-<s>_ses-<t>``, ``<t>`` = ``trc-<tracer>``; contract constant in brackets), all on the PET
grid::

    <p>_space-pet_desc-tumour_mask.nii.gz, <p>_space-pet_desc-background_mask.nii.gz (+ .json)
                                                            [TUMOUR_MASK, BACKGROUND_MASK]
    <p>_<t>_space-pet_desc-static_stat-SUV_pet.nii.gz       static-window SUV [STATIC_SUV]
    <p>_<t>_space-pet_stat-{TTP,slope,earlylate}_pet.nii.gz  voxel maps in the brain [VOXEL_MAP]
    <p>_<t>_space-pet_desc-<a>to<b>min_stat-TBR_pet.nii.gz   TBR per window [TBR_MAP]
    <p>_<t>_space-pet_desc-loganref_stat-DVR_pet.nii.gz, desc-patlakref_stat-Ki,
    <p>_<t>_space-pet_desc-srtm_stat-{BPnd,R1}_pet.nii.gz    tumour + margin [KINETIC_MAP]
    <p>_<t>_desc-voi_tacs.tsv                                 TACs (mid-time min, SUV) [VOI_TACS]
    <p>_space-pet_desc-habitats_dseg.nii.gz, <p>_<t>_desc-habitats_tacs.tsv
    <p>_space-pet_desc-hotspots_dseg.nii.gz, <p>_<t>_desc-hotspots_table.tsv
    <p>_<t>_desc-plasma_kinetics.tsv                          only with a _blood.tsv
    <p>_quant.json (the session's row) [QUANT_ROW], provenance.json (marks the session done)

and, for the cohort (`gliopet.quant.tables.write_tables`), ``derivatives/gliopet/quant/quant.tsv``
(+ ``quant.json``) and ``cohort.tsv`` (+ ``cohort.json``): quant.tsv joined with participants.tsv
and the sessions files (session-level values take precedence), one row per session, and the
stage-level ``provenance.json``.

Each step returns a typed result (`QuantInputs`, `VOIs`, `StaticColumns`, and the dynamic
features of `gliopet.quant.dynamic`: `KineticsResult`, `HabitatsResult`, `HotspotsResult`,
`PlasmaResult`); `QuantifyStage.row` turns them into the quant.tsv row. Dynamic features need
at least 3 frames; a static PET gets the static columns and a note. A session without tumour
uptake above the threshold (a healthy subject, `gliopet.quant.voi.NoTumourFound`) gets its
reference values, an empty tumour mask and the healthy-brain region as background. No
image-derived input function is used for FDOPA (metabolites make it unreliable): plasma-input
models run only on a user's metabolite-corrected ``_blood.tsv``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.config import Config, QuantConfig
from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import SUV_UNITS, PETImage, Session
from gliopet.io.timing import FrameTiming
from gliopet.quant.dynamic import DynamicResult, dynamic_features
from gliopet.quant.voi import VOIResult
from gliopet.stage import Outcome, SessionContext, SessionWriter, Stage, run_session, run_stage

STAGE_DIR = d.QUANT.relative
PREPROCESS_DIR = d.PREPROCESS.relative
QUANT_TABLE = d.QUANT_TABLE.filename
COHORT_TABLE = d.COHORT_TABLE.filename
#: Placeholders allowed in --tumour-mask / --background-mask patterns.
PLACEHOLDERS = ("subject", "session")
#: Columns of the dynamic features: NaN unless computed (static PET, no tumour, failed fits).
DYNAMIC_COLUMNS = ("TTP_min", "slope_SUV_per_h", "striatum_TTP_min", "striatum_slope_SUV_per_h",
                   "TTP_ratio", "slope_ratio", "frac_early_peak", "frac_negative_slope",
                   "frac_TBR_gt_2", "n_hotspots", "hotspot_volume_mL", "n_habitats", "loganref_DVR",
                   "patlakref_Ki_per_min", "srtm_BPnd", "srtm_R1", "srtm_at_bound", "k2ref_per_min",
                   "K1_1TCM", "VT_1TCM", "K1_2TCM", "VT_2TCM", "VT_logan_plasma")
#: Masks of preprocessing on the PET grid that quantification needs.
PREPROCESS_MASKS = ("brain", "striatum", "lefthemisphere", "healthy")


def resolve_pattern(pattern: str | None, session: Session, what: str) -> Path | None:
    """Fill ``{subject}`` / ``{session}`` of a mask path pattern (labels without prefixes).

    Any other replacement field (``{patient}``, ``{subject.foo}``, ``{subject[0]}``,
    ``{subject!r}``, ``{session:>8}``, ``{}``) or a stray brace is an `InputError`.
    """
    if pattern is None:
        return None
    problem = _pattern_problem(pattern)
    if problem is not None:
        raise InputError(f"the {what} pattern has an unknown placeholder or a stray brace "
                         f"({problem})", path=pattern,
                         fix="use only {subject} and {session}, e.g. "
                             "masks/sub-{subject}_ses-{session}_tumour.nii.gz")
    return Path(pattern.format(subject=session.subject, session=session.session))


def _pattern_problem(pattern: str) -> str | None:
    """What is wrong with a mask path pattern; None when its only fields are `PLACEHOLDERS`,
    plain (no attribute, index, conversion or format spec)."""
    import string

    try:
        fields = [(name, conversion, spec) for _, name, spec, conversion
                  in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:  # a single { or }
        return str(exc)
    for name, conversion, spec in fields:
        if name not in PLACEHOLDERS or conversion or spec:
            field_text = (name + (f"!{conversion}" if conversion else "")
                          + (f":{spec}" if spec else ""))
            return f"{{{field_text}}} is not {{subject}} or {{session}}"
    return None


def check_pattern(pattern: str | None, what: str) -> None:
    """Refuse a pattern with placeholders other than {subject} and {session}, before any work."""
    if pattern is None:
        return
    resolve_pattern(pattern, Session(subject="x", session="y"), what)


# ---------------------------------------------------------------------------- step results
@dataclass
class QuantInputs:
    """Step 1: the frames in SUV (decay-corrected to injection) and the masks on the PET grid.

    ``masks``: brain, striatum, lefthemisphere, healthy (bool); ``striatum_exclusion``: the
    anatomical striatum kept out of the tumour candidates; ``static``: static-window SUV;
    ``sizes``: voxel edges (mm); ``voxel_ml``: voxel volume (mL); ``abnormal``: the MRI
    abnormality on the PET grid, exempt from the striatum margin (None when preprocessing did
    not write it).
    """

    suv: np.ndarray
    affine: np.ndarray
    timing: FrameTiming
    sizes: tuple[float, float, float]
    voxel_ml: float
    masks: dict[str, np.ndarray]
    striatum_exclusion: np.ndarray
    static: np.ndarray
    frames_path: Path
    notes: list[str] = field(default_factory=list)
    abnormal: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape of the PET grid."""
        return self.suv.shape[:3]


@dataclass
class VOIs:
    """Step 2: tumour VOI and background region (bool masks on the PET grid).

    ``source``: automatic, user or none (no tumour found); ``regions``: the VOI rule's result
    (None without tumour); ``note``: how they were made; ``tumour_path`` / ``background_path``:
    the user's masks.
    """

    tumour: np.ndarray
    background: np.ndarray
    source: str
    regions: VOIResult | None
    note: str
    tumour_path: Path | None = None
    background_path: Path | None = None


@dataclass
class StaticColumns:
    """Step 3: the static (guideline) columns of quant.tsv (`gliopet.quant.outputs`)."""

    SUVmax: float
    SUVmean: float
    SUVpeak: float
    TBRmax: float
    TBRmean: float
    TBRpeak: float
    TSRmax: float
    TSRmean: float
    BTV_mL: float
    background_SUVmean: float
    striatum_SUVmean: float
    rano_measurable: bool
    healthy_SUVmean: float
    striatum_brain_ratio: float
    lesion_side: str


@dataclass
class QuantResult:
    """Every step of one session and the files it read."""

    participant_id: str
    session_id: str
    tracer: str
    n_frames: int
    static_window_min: str
    static: StaticColumns
    plasma_input: bool
    voi_source: str
    notes: list[str]
    dynamic: DynamicResult | None
    inputs: list[Path]


# ---------------------------------------------------------------------------- the stage
@dataclass(frozen=True)
class QuantifyStage(Stage[QuantResult]):
    """`gliopet quantify` for the stage runner (module docstring).

    ``tumour_mask`` / ``background_mask``: path patterns with ``{subject}`` / ``{session}``
    placeholders replacing the automatic VOI / crescent background.
    """

    tumour_mask: str | None = None
    background_mask: str | None = None

    folder = d.QUANT
    row_file = d.QUANT_ROW
    command = "gliopet quantify"
    done_verb = "quantified"
    tables = (d.QUANT_TABLE.filename, d.COHORT_TABLE.filename)

    def applies(self, session: Session) -> bool:
        """An MRI-only session has nothing to quantify."""
        return session.pet is not None

    def check(self, session: Session, root: Path) -> None:
        """Preprocessing must have finished for the session."""
        if not d.PREPROCESS.session_provenance(root, session).is_file():
            raise InputError("no preprocessing output for this session",
                             path=d.PREPROCESS.session_dir(root, session),
                             fix="run `gliopet preprocess` on the dataset first")

    def run_session(self, session: Session, context: SessionContext) -> QuantResult:
        """Steps of the module docstring for one session."""
        return _quantify(session, context, self.tumour_mask, self.background_mask)

    def row(self, result: QuantResult) -> dict[str, Any]:
        """The quant.tsv row."""
        row: dict[str, Any] = {"participant_id": result.participant_id,
                               "session_id": result.session_id, "tracer": result.tracer,
                               "n_frames": result.n_frames,
                               "static_window_min": result.static_window_min,
                               **dataclasses.asdict(result.static)}
        row.update({k: float("nan") for k in DYNAMIC_COLUMNS})
        row["plasma_input"] = result.plasma_input
        if result.dynamic is not None:
            row.update(result.dynamic.columns())
        row["voi_source"] = result.voi_source
        row["note"] = "; ".join(n for n in result.notes if n)
        return row

    def inputs(self, session: Session, result: QuantResult) -> list[Path]:
        """PET, frames, user masks, blood file."""
        return result.inputs

    def session_provenance(self, session: Session, context: SessionContext) -> dict[str, Any]:
        """The user's mask patterns."""
        return {"tumour_mask": self.tumour_mask, "background_mask": self.background_mask}

    def stage_provenance(self) -> dict[str, Any]:
        """The user's mask patterns."""
        return {"tumour_mask": self.tumour_mask, "background_mask": self.background_mask}

    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame | None:
        """quant.tsv and cohort.tsv from every finished session folder (None when none finished
        in this run)."""
        from gliopet.quant.tables import write_tables

        if not any(o.ok for o in outcomes):
            return None
        write_tables(root)
        return pd.read_csv(d.QUANT_TABLE.path(root), sep="\t")


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
    stage = QuantifyStage(tumour_mask, background_mask)
    return run_session(stage, session, bids_root, config, force=force)


def run_quantify(bids_dir: str | Path, *, participant_label: Sequence[str] | None = None,
                 jobs: int = 1, dask_scheduler: str | None = None, force: bool = False,
                 config: Config | None = None, tumour_mask: str | None = None,
                 background_mask: str | None = None,
                 dask_security: str | Path | None = None) -> pd.DataFrame:
    """Quantify every session of a BIDS dataset; returns quant.tsv (also written with cohort.tsv).

    Sessions run in parallel with joblib (`jobs` processes) or, given `dask_scheduler`
    (``tcp://host:port``, or ``tls://host:port`` with the TLS settings file `dask_security`),
    on a trusted Dask distributed cluster (`gliopet.cluster`). Failed sessions are reported after
    the others are done (the tables hold the finished sessions); nothing of a failed session is
    written.

    Raises
    ------
    InputError
        The dataset cannot be read, a mask pattern is malformed, or a session failed (first error).
    """
    check_pattern(tumour_mask, "--tumour-mask")
    check_pattern(background_mask, "--background-mask")
    return run_stage(QuantifyStage(tumour_mask, background_mask), bids_dir,
                     participant_label=participant_label, jobs=jobs, dask_scheduler=dask_scheduler,
                     force=force, config=config, label="quantify",
                     dask_security=dask_security).table


# ---------------------------------------------------------------------------- one session
def _quantify(session: Session, context: SessionContext, tumour_mask: str | None,
              background_mask: str | None) -> QuantResult:
    from gliopet.quant import learning, tac

    opts, root = context.config.quant, context.root
    pet = _checked_pet(session, root)
    data = _load_inputs(session, root, opts)
    vois = _vois(session, root, data, opts, tumour_mask, background_mask)
    tracer = pet.tracer or opts.tracer
    out = SessionWriter(context.out, (session.subject, session.session or None), tracer)
    notes = [*data.notes, vois.note]
    _write_vois(out, data, vois, opts, pet.suv_note, first_note=notes[0])
    static = _static_columns(data, vois)
    blood = _blood_file(session)
    tac_masks = {"tumour": vois.tumour, "background": vois.background,
                 "striatum": data.masks["striatum"]}
    out.tsv(d.VOI_TACS, tac.tac_table(data.suv, data.timing, tac_masks))  # static PET: one row
    dynamic = None
    if data.timing.n_frames < 3:
        notes.append(tac.STATIC_NOTE if data.timing.n_frames == 1 else
                     f"{data.timing.n_frames} frames: dynamic features need at least 3, not "
                     "computed")
    else:
        dynamic = dynamic_features(data, vois, out, opts, context.config.seed, pet, blood)
        notes += dynamic.notes() if vois.tumour.any() else []
        learning.write_dynamic_channels(root, session, data.suv, data.timing, data.affine,
                                        data.masks["brain"], vois.background, out, context.config)
    user_masks = [p for p in (vois.tumour_path, vois.background_path) if p is not None]
    inputs = [pet.path, data.frames_path, *user_masks]
    if blood is not None and dynamic is not None and dynamic.plasma is not None:
        inputs.append(blood)
    window = opts.static_window_min
    return QuantResult(f"sub-{session.subject}", f"ses-{session.session}", tracer,
                       data.timing.n_frames, f"{window[0]:g}-{window[1]:g}", static,
                       blood is not None, vois.source, notes, dynamic, inputs)


def _checked_pet(session: Session, root: Path) -> PETImage:
    """The session's PET, refused without SUV (weight and injected activity)."""
    pet = session.pet
    if pet is None:
        raise InputError("no PET image in this session", path=root / f"sub-{session.subject}",
                         fix="add the PET or drop the subject with --participant-label")
    if pet.suv_factor is None:
        raise InputError(f"SUV cannot be computed: {pet.suv_note}", path=pet.path,
                         fix="add the weight (kg) to the sessions or participants file and the "
                             "injected dose to the PET sidecar")
    return pet


# ---- 1. inputs: frames (SUV) and masks on the PET grid
def _load_inputs(session: Session, root: Path, opts: QuantConfig) -> QuantInputs:
    from gliopet.io.nifti import load_nifti, read_voxels
    from gliopet.quant import static
    from gliopet.spatial import voxel_sizes

    pet, timing = session.pet, session.pet.timing
    frames_path, notes = _frames_path(session, root)
    img = load_nifti(frames_path, ensure_ndim=(3, 4))
    affine = img.affine
    raw = read_voxels(img, frames_path)
    raw = raw[..., np.newaxis] if raw.ndim == 3 else raw
    if raw.shape[-1] != timing.n_frames:
        raise InputError(f"the image has {raw.shape[-1]} frames but the PET sidecar lists "
                         f"{timing.n_frames}", path=frames_path,
                         fix="rerun `gliopet preprocess --force` for this session")
    suv = pet.suv_frames(raw)
    shape = suv.shape[:3]
    sizes = voxel_sizes(affine)
    masks = {name: _load_mask(d.find(root, session, d.PET_MASK, desc=name, what=f"{name} mask"),
                              affine, shape, name) for name in PREPROCESS_MASKS}
    # Tumour candidates exclude the whole anatomical striatum (preprocessing's `striatumanat`), not
    # only the healthy part used as T/S reference; older preprocessing outputs lack it.
    anatomical = d.find_or_none(root, session, d.PET_MASK, desc="striatumanat")
    exclusion = (masks["striatum"] if anatomical is None
                 else _load_mask(anatomical, affine, shape, "striatumanat"))
    # The MRI abnormality on the PET grid: tumour candidates inside it are kept near the striatum.
    abnormal_path = d.find_or_none(root, session, d.PET_MASK, desc="abnormal")
    abnormal = None if abnormal_path is None else _load_mask(abnormal_path, affine, shape,
                                                             "abnormal")
    static_suv = pet.static_image(opts.static_window_min, frames=raw).data.astype(np.float32)
    del raw
    return QuantInputs(suv, affine, timing, sizes, static.voxel_volume_ml(sizes), masks, exclusion,
                       static_suv, frames_path, notes, abnormal)


def _frames_path(session: Session, root: Path) -> tuple[Path, list[str]]:
    """The frames to quantify (motion-corrected unless there is one frame or correction was
    switched off) and the note saying so."""
    if session.pet.timing.n_frames == 1:
        return session.pet.path, []
    qc_row = d.find_or_none(root, session, d.QC_ROW)
    if qc_row is not None and json.loads(qc_row.read_text()).get("motion_correction") is False:
        return session.pet.path, ["frames used as acquired: motion correction was switched off in "
                                  "preprocessing (preprocess.motion_correction: false)"]
    return d.find(root, session, d.MC_PET, what="motion-corrected frames"), []


def _load_mask(path: Path, affine: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A mask on the PET grid (same shape and affine within 0.01 mm), as bool."""
    from gliopet.io.nifti import load_nifti

    if not path.is_file():
        raise InputError(f"the {name} mask does not exist", path=path,
                         fix="check the path (placeholders {subject} and {session} are filled "
                             "without prefixes)")
    img = load_nifti(path, ensure_ndim=(3,))
    if tuple(img.shape[:3]) != tuple(shape) or not np.allclose(img.affine, affine, atol=1e-2):
        raise InputError(f"the {name} mask is on another grid than the PET (shape "
                         f"{tuple(img.shape[:3])} vs {tuple(shape)}, or a different affine)",
                         path=path,
                         fix=f"resample the mask onto the PET grid (e.g. onto the "
                             f"{d.STATIC_PET.label()} image of {d.PREPROCESS.relative.as_posix()}) "
                             "with nearest-neighbour interpolation")
    data = np.asanyarray(img.dataobj)
    if not np.all(np.isfinite(data)):
        raise InputError(f"the {name} mask contains NaN values", path=path, fix="give a 0/1 mask")
    return data > 0.5


def _blood_file(session: Session) -> Path | None:
    """The session's raw ``_blood.tsv`` (metabolite-corrected plasma input), if any."""
    if session.pet is None:
        return None
    found = sorted(session.pet.path.parent.glob(f"{session.key}*_blood.tsv"))
    return found[0] if found else None


# ---- 2. VOIs
def _vois(session: Session, root: Path, data: QuantInputs, opts: QuantConfig,
          tumour_mask: str | None, background_mask: str | None) -> VOIs:
    """The user's tumour mask or the automatic VOI; the user's background or the crescent."""
    from gliopet.quant.voi import NoTumourFound

    tumour_path = resolve_pattern(tumour_mask, session, "--tumour-mask")
    background_path = resolve_pattern(background_mask, session, "--background-mask")
    user_bg = None if background_path is None else _load_mask(background_path, data.affine,
                                                                data.shape, "background")
    if tumour_path is not None:
        regions = _user_regions(data, opts, tumour_path, user_bg, background_path)
        return VOIs(regions.tumour, regions.background, "user", regions, regions.note, tumour_path,
                    background_path)
    try:
        regions = _automatic_regions(data, opts, user_bg, background_path)
    except NoTumourFound as exc:
        background = user_bg if user_bg is not None else data.masks["healthy"]
        if not background.any():
            raise InputError("the healthy-brain region of preprocessing is empty",
                             path=d.PREPROCESS.session_dir(root, session),
                             fix="check the preprocessing QC; rerun `gliopet preprocess --force`"
                             ) from None
        note = (f"no tumour: {exc.reason}; tumour columns n/a, background = healthy-brain region "
                "of preprocessing")
        return VOIs(np.zeros(data.shape, bool), background, "none", None, note, None,
                    background_path)
    return VOIs(regions.tumour, regions.background, "automatic", regions, regions.note, None,
                background_path)


def _user_regions(data: QuantInputs, opts: QuantConfig, tumour_path: Path,
                  user_bg: np.ndarray | None, background_path: Path | None) -> VOIResult:
    from gliopet.quant import voi

    user_tumour = _load_mask(tumour_path, data.affine, data.shape, "tumour")
    return voi.user_voi(data.static, user_tumour, data.masks["brain"], data.affine,
                        data.striatum_exclusion, background=user_bg, healthy=data.masks["healthy"],
                        left_mask=data.masks["lefthemisphere"], tumour_path=str(tumour_path),
                        background_path=None if background_path is None else str(background_path),
                        striatum_margin_mm=opts.striatum_margin_mm)


def _automatic_regions(data: QuantInputs, opts: QuantConfig, user_bg: np.ndarray | None,
                       background_path: Path | None) -> VOIResult:
    """The automatic VOI (`gliopet.quant.voi.tumour_voi`; raises `NoTumourFound` without tumour
    uptake), its background replaced by the user's when given."""
    from gliopet.quant import voi

    regions = voi.tumour_voi(data.static, data.masks["brain"], data.affine, data.striatum_exclusion,
                             healthy=data.masks["healthy"], left_mask=data.masks["lefthemisphere"],
                             threshold=opts.tumour_threshold_x_background,
                             reference=opts.healthy_reference,
                             striatum_margin_mm=opts.striatum_margin_mm,
                             min_component_ml=opts.min_component_ml, keep=data.abnormal)
    if user_bg is not None:
        overlap = int(np.count_nonzero(regions.tumour & user_bg))
        if overlap:
            raise InputError(f"the background mask overlaps the tumour mask in {overlap} voxels",
                             path=background_path,
                             fix="give a background region outside the tumour")
        regions.background = user_bg
        regions.background_suv = float(data.static[user_bg].mean())
        regions.note += "; background replaced by the user's mask"
    return regions


def _write_vois(out: SessionWriter, data: QuantInputs, vois: VOIs, opts: QuantConfig, suv_note: str,
                *, first_note: str) -> None:
    """Tumour and background masks and the static SUV image."""
    window = opts.static_window_min
    out.image(d.TUMOUR_MASK, vois.tumour, data.affine, dtype=np.uint8,
              sidecar={"Description": "tumour VOI (every later stage uses it)",
                       "Source": vois.source, "Note": first_note,
                       "VolumeML": float(vois.tumour.sum()) * data.voxel_ml})
    background_note = (vois.regions.note if vois.regions is not None
                       else "healthy-brain region of preprocessing (no tumour)")
    out.image(d.BACKGROUND_MASK, vois.background, data.affine, dtype=np.uint8,
              sidecar={"Description": "background (reference) region of TBR and of the "
                                      "reference-region kinetic models", "Note": background_note})
    out.image(d.STATIC_SUV, data.static, data.affine,
              sidecar={"Units": SUV_UNITS,
                       "Description": f"SUV (body weight), frame-duration-weighted mean over "
                                      f"{window[0]:g}-{window[1]:g} min",
                       "SUVNote": suv_note})


# ---- 3. static columns
def _static_columns(data: QuantInputs, vois: VOIs) -> StaticColumns:
    from gliopet.quant import static

    image, healthy, striatum = data.static, data.masks["healthy"], data.masks["striatum"]
    healthy_suv = float(image[healthy].mean()) if healthy.any() else float("nan")
    striatum_suv = float(image[striatum].mean()) if striatum.any() else float("nan")
    if vois.tumour.any():
        metrics = static.static_metrics(
            image, vois.tumour, vois.background, data.sizes, striatum,
            tumour_path=None if vois.tumour_path is None else str(vois.tumour_path),
            background_path=None if vois.background_path is None else str(vois.background_path))
    else:
        metrics = {k: float("nan") for k in ("SUVmax", "SUVmean", "SUVpeak", "TBRmax", "TBRmean",
                                             "TBRpeak", "TSRmax", "TSRmean")}
        metrics.update({"BTV_mL": 0.0, "background_SUVmean": float(image[vois.background].mean()),
                        "striatum_SUVmean": striatum_suv, "rano_measurable": False})
    side = vois.regions.lesion_side if vois.regions is not None else "n/a"
    return StaticColumns(**metrics, healthy_SUVmean=healthy_suv,
                         striatum_brain_ratio=striatum_suv / healthy_suv, lesion_side=side)
