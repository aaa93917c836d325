"""The derivatives contract: every file a stage writes, declared once by its BIDS entities.

Writers build their file names here and readers find files here; no other module spells a
derivative file name or a glob pattern (``tests/unit/core/test_derivatives_contract.py``
enforces it). A new stage declares its folder, its per-session files and its tables in this
module, and the next stage reads them through the same declarations.

Layout (``<p>`` = ``sub-<s>_ses-<t>``, ``<trc>`` = ``trc-<tracer>``)::

    derivatives/gliopet/dataset_description.json
    derivatives/gliopet/<stage>/provenance.json                  stage-level provenance
    derivatives/gliopet/<stage>/<table>.tsv (+ .json)             qc.tsv, quant.tsv, cohort.tsv
    derivatives/gliopet/<stage>/sub-<s>/ses-<t>/<p>_..._<suffix>   one folder per session; its
                                    provenance.json and its row file mark the session done
    derivatives/phantom-truth/sub-<s>/ses-<t>/<datatype>/<p>_...  the phantom's ground truth

Example::

    >>> MC_PET.name("01", "diagnosis", tracer="FDOPA")
    'sub-01_ses-diagnosis_trc-FDOPA_desc-mc_pet.nii.gz'
    >>> PET_MASK.name("01", "diagnosis", desc="brain")
    'sub-01_ses-diagnosis_space-pet_desc-brain_mask.nii.gz'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gliopet.errors import InputError
from gliopet.io.bids_names import ENTITY_ORDER, anat_entities, bids_name, parse_entities

#: Folder of every derivative dataset (relative to the BIDS root).
DERIVATIVES_DIR = Path("derivatives")
#: Folder of every derivative written by gliopet's analysis stages (relative to the BIDS root).
PIPELINE_DIR = DERIVATIVES_DIR / "gliopet"
#: File of a session folder (and of a stage folder) that records how it was made; a session
#: folder is done when it holds this file and the stage's row file.
PROVENANCE = "provenance.json"
#: Template space of the learning grid and of the MRI-to-template transform.
TEMPLATE_SPACE = "MNI152NLin2009aSym"
#: Anatomical reference space (the contrast T1w when present, else the T1w).
REFERENCE_SPACE = "T1w"


class _Any:
    """Wildcard of `find_all`: any value of an entity, or the entity absent."""

    def __repr__(self) -> str:
        return "ANY"


#: Matches any value (or no value) of an entity or of the tracer in `find`, `find_all`, ....
ANY: Any = _Any()


class SessionIds(Protocol):
    """Anything with BIDS ``subject`` and ``session`` labels (`gliopet.io.session.Session`)."""

    subject: str
    session: str


IdsLike = SessionIds | tuple[str, str | None]


def session_ids(ids: IdsLike) -> tuple[str, str | None]:
    """(subject, session) labels without prefixes from a Session or a (subject, session) pair.

    Labels may carry their ``sub-`` / ``ses-`` prefixes (as in quant.tsv); an empty session is
    None (a dataset without sessions).
    """
    subject, session = ids if isinstance(ids, tuple) else (ids.subject, ids.session)
    subject = str(subject).removeprefix("sub-")
    session = str(session).removeprefix("ses-") if session else None
    return subject, session or None


@dataclass(frozen=True)
class StageFolder:
    """The derivatives folder of one stage.

    Attributes
    ----------
    name : str
        Stage name (``preprocess``, ``quant``, ``phantom-truth``).
    relative : Path
        Folder relative to the BIDS root.
    producer : str
        What writes it, for messages (``preprocessing``).
    command : str
        The command that writes it, for the fix of a missing file.
    """

    name: str
    relative: Path
    producer: str
    command: str

    def root(self, bids_root: str | Path) -> Path:
        """``<bids_root>/<relative>``."""
        return Path(bids_root) / self.relative

    def session_dir(self, bids_root: str | Path, ids: IdsLike) -> Path:
        """``<root>/sub-<s>[/ses-<t>]``: the session's folder of this stage."""
        subject, session = session_ids(ids)
        path = self.root(bids_root) / f"sub-{subject}"
        return path / f"ses-{session}" if session else path

    def session_provenance(self, bids_root: str | Path, ids: IdsLike) -> Path:
        """The session folder's ``provenance.json`` (written last: the session is complete)."""
        return self.session_dir(bids_root, ids) / PROVENANCE

    def provenance(self, bids_root: str | Path) -> Path:
        """The stage-level ``provenance.json`` (written with the stage's tables)."""
        return self.root(bids_root) / PROVENANCE

    def session_dirs(self, bids_root: str | Path) -> Iterator[Path]:
        """Every finished or unfinished session folder, sorted (staging folders are hidden)."""
        root = self.root(bids_root)
        if not root.is_dir():
            return
        for subject in _subfolders(root, "sub-"):
            sessions = _subfolders(subject, "ses-")
            yield from sessions or [subject]


def _subfolders(folder: Path, prefix: str) -> list[Path]:
    """Sub-folders named ``<prefix>...``, sorted (hidden staging folders start with a dot)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(prefix))


PREPROCESS = StageFolder("preprocess", PIPELINE_DIR / "preprocess", "preprocessing",
                         "gliopet preprocess")
QUANT = StageFolder("quant", PIPELINE_DIR / "quant", "quantification", "gliopet quantify")
REPORTS = StageFolder("reports", PIPELINE_DIR / "reports", "reporting", "gliopet phantom-report")
TRUTH = StageFolder("phantom-truth", DERIVATIVES_DIR / "phantom-truth", "phantom truth",
                    "gliopet simulate")


@dataclass(frozen=True)
class Derivative:
    """One kind of per-session file, by its BIDS entities.

    Attributes
    ----------
    folder : StageFolder
        The stage that writes it.
    suffix : str or None
        BIDS suffix; None when each file gives its own (an MRI sequence: ``T1w``, ``FLAIR``).
    ext : str
        Extension with its dot (``.nii.gz``, ``.tsv``, ``.json``).
    fixed : tuple of (entity, value)
        Entities every file of this kind carries.
    variable : tuple of str
        Entities each file fills in (``desc`` of a mask, ``stat`` of a map); None leaves it out.
    tracer : bool
        Whether the name carries ``trc-<tracer>``.
    datatype : str or None
        Sub-folder of the session folder (``anat``, ``pet``, ``xfm``, ``beh``: the phantom truth).
    description : str
        What the file holds (units where they matter).
    """

    folder: StageFolder
    suffix: str | None
    ext: str = ".nii.gz"
    fixed: tuple[tuple[str, str], ...] = ()
    variable: tuple[str, ...] = ()
    tracer: bool = False
    datatype: str | None = None
    description: str = ""

    # ------------------------------------------------------------------ names
    def name(self, subject: str, session: str | None, *, tracer: str | None = None,
             **fill: str | None) -> str:
        """File name of one file (``tracer`` None: no ``trc-`` entity).

        ``fill`` gives every variable entity (``from_`` for ``from``) and, when `suffix` is
        None, ``suffix``.
        """
        suffix, entities = self._resolve(fill)
        if tracer is not None and not self.tracer:
            raise ValueError(f"{self.label()} carries no tracer entity")
        if self.tracer:
            entities["trc"] = tracer
        return bids_name(subject, session, suffix, self.ext, **entities)

    def path(self, bids_root: str | Path, ids: IdsLike, *, tracer: str | None = None,
             **fill: str | None) -> Path:
        """Path of one file in the stage's session folder under `bids_root`."""
        return self.in_dir(self.folder.session_dir(bids_root, ids), ids, tracer=tracer, **fill)

    def in_dir(self, directory: str | Path, ids: IdsLike, *, tracer: str | None = None,
               **fill: str | None) -> Path:
        """Path of one file inside `directory` standing for the session folder (e.g. the staging
        folder a stage builds before moving it into place)."""
        subject, session = session_ids(ids)
        folder = Path(directory) / self.datatype if self.datatype else Path(directory)
        return folder / self.name(subject, session, tracer=tracer, **fill)

    def sidecar(self) -> Derivative:
        """The JSON sidecar of this file (same entities, ``.json``)."""
        return dataclasses.replace(self, ext=".json")

    def label(self, *, only: tuple[str, ...] | None = None, **fill: str | None) -> str:
        """Entities and suffix without subject, session and tracer (``space-pet_desc-brain_mask``),
        for messages and sidecars; unfilled variable entities show as ``<entity>``; ``only``
        keeps just those entities (``only=("desc",)``: ``desc-brain_mask``)."""
        fill = _normalise(fill)
        suffix = fill.pop("suffix", self.suffix) or "<suffix>"
        values = dict(self.fixed)
        values.update({key: fill.get(key, f"<{key}>") for key in self._variable_keys()})
        if only is not None:
            values = {key: value for key, value in values.items() if key in only}
        parts = [f"{key}-{values[key]}" for key in _ordered(values) if values[key] is not None]
        return "_".join([*parts, suffix])

    def pattern(self, **fill: str | None) -> str:
        """Glob-style description of the files (``*_desc-mc_pet.nii.gz``), for messages."""
        return f"*_{self.label(**fill)}{self.ext}"

    # ------------------------------------------------------------------ matching
    def matches(self, filename: str, ids: IdsLike, *, tracer: Any = ANY, **fill: Any) -> bool:
        """Whether `filename` is a file of this kind for the session (`ANY` matches anything)."""
        subject, session = session_ids(ids)
        fill = _normalise(fill)
        if not filename.endswith(self.ext):
            return False
        stem = filename[: -len(self.ext)]
        if "." in stem:
            return False
        found = parse_entities(filename)
        if found.pop("sub", None) != subject or found.pop("ses", None) != session:
            return False
        suffix = fill.pop("suffix", ANY if self.suffix is None else self.suffix)
        if not _equal(found.pop("suffix"), suffix):
            return False
        wanted: dict[str, Any] = dict(self.fixed)
        wanted.update({key: fill.pop(key, ANY) for key in self._variable_keys()})
        wanted["trc"] = tracer if self.tracer else None
        if fill:
            raise ValueError(f"{self.label()} has no entity {sorted(fill)}")
        if set(found) - set(wanted):
            return False
        return all(_equal(found.get(key), value) for key, value in wanted.items())

    # ------------------------------------------------------------------ helpers
    def _variable_keys(self) -> tuple[str, ...]:
        return tuple("from" if key == "from_" else key for key in self.variable)

    def _resolve(self, fill: dict[str, str | None]) -> tuple[str, dict[str, str | None]]:
        fill = _normalise(fill)
        suffix = fill.pop("suffix", None) if self.suffix is None else self.suffix
        if suffix is None:
            raise ValueError(f"{self.label()}: give the suffix")
        keys = set(self._variable_keys())
        if set(fill) != keys:
            raise ValueError(f"{self.label()}: give exactly the entities {sorted(keys)}, "
                             f"got {sorted(fill)}")
        entities: dict[str, str | None] = dict(self.fixed)
        entities.update(fill)
        if "from" in entities:
            entities["from_"] = entities.pop("from")
        return suffix, entities


def _normalise(fill: dict[str, Any]) -> dict[str, Any]:
    """``from_`` (the keyword-safe spelling) as ``from``."""
    return {("from" if key == "from_" else key): value for key, value in fill.items()}


def _ordered(values: dict[str, Any]) -> list[str]:
    return [key for key in ENTITY_ORDER if key in values]


def _equal(found: str | None, wanted: Any) -> bool:
    return wanted is ANY or found == wanted


def declare(folder: StageFolder, suffix: str | None, ext: str = ".nii.gz", *,
            variable: tuple[str, ...] = (), tracer: bool = False, datatype: str | None = None,
            description: str = "", **fixed: str) -> Derivative:
    """A `Derivative` with its fixed entities as keywords (``space="pet", desc="brain"``)."""
    pairs = tuple((("from" if key == "from_" else key), value) for key, value in fixed.items())
    return Derivative(folder, suffix, ext, pairs, variable, tracer, datatype, description)


def anat_fill(anat_key: str) -> dict[str, str | None]:
    """Suffix and contrast entity of a gliopet anatomical key, as `Derivative.name` fill
    (``ce-gadolinium_T1w`` -> ``{"suffix": "T1w", "ce": "gadolinium"}``)."""
    suffix, entities = anat_entities(anat_key)
    unknown = set(entities) - {"ce"}
    if unknown:
        raise ValueError(f"anatomical key {anat_key!r} has entities {sorted(unknown)} besides ce")
    return {"suffix": suffix, "ce": entities.get("ce")}


# ---------------------------------------------------------------------------- lookups
def find_all(bids_root: str | Path, ids: IdsLike, derivative: Derivative, *, tracer: Any = ANY,
             **fill: Any) -> list[Path]:
    """Every file of `derivative` in the session folder, sorted; entities not given match any."""
    return find_all_in(derivative.folder.session_dir(bids_root, ids), ids, derivative,
                       tracer=tracer, **fill)


def find_all_in(directory: str | Path, ids: IdsLike, derivative: Derivative, *, tracer: Any = ANY,
                **fill: Any) -> list[Path]:
    """`find_all` in a given session folder (a stage's own output folder)."""
    folder = Path(directory) / derivative.datatype if derivative.datatype else Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and derivative.matches(p.name, ids, tracer=tracer, **dict(fill)))


def find_or_none(bids_root: str | Path, ids: IdsLike, derivative: Derivative, *,
                 tracer: Any = ANY, **fill: Any) -> Path | None:
    """The file of `derivative` for the session, or None when it is absent."""
    found = find_all(bids_root, ids, derivative, tracer=tracer, **fill)
    return found[0] if found else None


def find(bids_root: str | Path, ids: IdsLike, derivative: Derivative, *, tracer: Any = ANY,
         what: str = "", **fill: Any) -> Path:
    """The file of `derivative` for the session.

    Raises
    ------
    InputError
        The file is missing: names the expected file, the folder and the command to run.
    """
    found = find_or_none(bids_root, ids, derivative, tracer=tracer, **fill)
    if found is None:
        folder = derivative.folder
        shown = {k: v for k, v in fill.items() if v is not ANY}
        detail = f" ({what})" if what else ""
        raise InputError(f"{folder.producer} output {derivative.pattern(**shown)} is missing"
                         f"{detail}",
                         path=folder.session_dir(bids_root, ids),
                         fix=f"run `{folder.command}` on the dataset first (add --force to redo a "
                             "broken session)")
    return found


def find_every_session(bids_root: str | Path, derivative: Derivative) -> list[Path]:
    """The file of `derivative` in every session folder of its stage (any entity value), sorted."""
    found = []
    for directory in derivative.folder.session_dirs(bids_root):
        subject = directory.name if directory.name.startswith("sub-") else directory.parent.name
        session = None if directory.name.startswith("sub-") else directory.name
        found += find_all_in(directory, (subject, session), derivative)
    return found


# ---------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class Table:
    """A stage-level table (TSV with its JSON sidecar) or report file."""

    folder: StageFolder
    filename: str
    description: str = ""

    def path(self, bids_root: str | Path) -> Path:
        """``<stage folder>/<filename>``."""
        return self.folder.root(bids_root) / self.filename

    def sidecar(self, bids_root: str | Path) -> Path:
        """The JSON sidecar beside the table (same stem)."""
        path = self.path(bids_root)
        return path.with_name(path.name.split(".", 1)[0] + ".json")

    @property
    def relative(self) -> Path:
        """Path relative to the BIDS root."""
        return self.folder.relative / self.filename


def pipeline_root(bids_root: str | Path) -> Path:
    """``<bids_root>/derivatives/gliopet`` (its ``dataset_description.json`` names gliopet)."""
    return Path(bids_root) / PIPELINE_DIR


# ============================================================================ declarations
# ---- preprocess: derivatives/gliopet/preprocess/sub-<s>/ses-<t>/
MOTION_TABLE = declare(PREPROCESS, "timeseries", ".tsv", tracer=True, desc="motion",
                       description="frame motion parameters (rad, mm) and displacements (mm)")
MC_PET = declare(PREPROCESS, "pet", tracer=True, desc="mc",
                 description="motion-corrected frames (units and timing of the raw PET)")
STATIC_PET = declare(PREPROCESS, "pet", tracer=True, desc="static",
                     description="static-window image (SUV when known, else Bq/mL)")
XFM = declare(PREPROCESS, "xfm", ".txt", variable=("from", "to"), mode="image",
              description="ITK transform resampling `from` onto `to` (+ JSON sidecar)")
T1W_MASK = declare(PREPROCESS, "mask", variable=("desc",), space=REFERENCE_SPACE,
                   description="masks on the reference MRI grid: brain, abnormal")
PET_MASK = declare(PREPROCESS, "mask", variable=("desc",), space="pet",
                   description="regions on the PET grid: brain, striatum (PET-refined T/S "
                               "reference), striatumanat, caudate/putamen L/R, left/right "
                               "hemisphere, healthy, abnormal (MRI abnormality)")
MRI_ON_PET = declare(PREPROCESS, None, variable=("ce",), space="pet", desc="preproc",
                     description="bias-corrected MRI resampled onto the PET grid")
LEARNING_PET = declare(PREPROCESS, "pet", tracer=True, space=TEMPLATE_SPACE, res="2",
                       desc="learning", description="static PET on the 2 mm template grid")
LEARNING_MRI = declare(PREPROCESS, None, variable=("ce",), space=TEMPLATE_SPACE, res="2",
                       desc="learning", description="MRI on the 2 mm template grid (z-score)")
QC_ROW = declare(PREPROCESS, "qc", ".json", desc="preproc",
                 description="the session's row of qc.tsv (marks the session done)")
QC_FIGURE = declare(PREPROCESS, "qc", ".png", desc="preproc", description="QC figure")

# ---- quant: derivatives/gliopet/quant/sub-<s>/ses-<t>/
TUMOUR_MASK = declare(QUANT, "mask", space="pet", desc="tumour",
                      description="tumour VOI on the PET grid (every later stage uses it)")
BACKGROUND_MASK = declare(QUANT, "mask", space="pet", desc="background",
                          description="background (reference) region on the PET grid")
STATIC_SUV = declare(QUANT, "pet", tracer=True, space="pet", desc="static", stat="SUV",
                     description="static-window SUV (g/mL)")
VOXEL_MAP = declare(QUANT, "pet", variable=("stat",), tracer=True, space="pet",
                    description="voxel maps inside the brain: TTP (min), slope (SUV/h), earlylate")
TBR_MAP = declare(QUANT, "pet", variable=("desc",), tracer=True, space="pet", stat="TBR",
                  description="TBR of a time window (desc-<a>to<b>min)")
KINETIC_MAP = declare(QUANT, "pet", variable=("desc", "stat"), tracer=True, space="pet",
                      description="reference-region model maps: loganref DVR, patlakref Ki, srtm "
                                  "BPnd and R1")
VOI_TACS = declare(QUANT, "tacs", ".tsv", tracer=True, desc="voi",
                   description="TACs of the VOIs (mid-time min, SUV)")
HABITATS = declare(QUANT, "dseg", space="pet", desc="habitats", description="TAC habitats")
HABITAT_TACS = declare(QUANT, "tacs", ".tsv", tracer=True, desc="habitats",
                       description="mean TAC of each habitat (SUV)")
HOTSPOTS = declare(QUANT, "dseg", space="pet", desc="hotspots", description="dynamic hot spots")
HOTSPOT_TABLE = declare(QUANT, "table", ".tsv", tracer=True, desc="hotspots",
                        description="one row per dynamic hot spot")
PLASMA_KINETICS = declare(QUANT, "kinetics", ".tsv", tracer=True, desc="plasma",
                          description="plasma-input models of the tumour and background TACs")
QUANT_ROW = declare(QUANT, "quant", ".json",
                    description="the session's row of quant.tsv (marks the session done)")

# ---- phantom truth: derivatives/phantom-truth/sub-<s>/ses-<t>/<datatype>/
_SIM = {"space": "T1w", "res": "sim"}
TRUTH_TISSUE_T1W = declare(TRUTH, "dseg", datatype="anat", space="T1w", desc="tissue",
                           description="tissue and tumour labels, MRI grid (+ JSON legend)")
TRUTH_AGGRESSIVE_T1W = declare(TRUTH, "mask", datatype="anat", space="T1w", desc="aggressive")
TRUTH_HEMISPHERE_T1W = declare(TRUTH, "dseg", datatype="anat", space="T1w", desc="hemisphere")
TRUTH_TISSUE_PET = declare(TRUTH, "dseg", datatype="pet", space="pet", desc="tissue")
TRUTH_AGGRESSIVE_PET = declare(TRUTH, "mask", datatype="pet", space="pet", desc="aggressive")
TRUTH_HEMISPHERE_PET = declare(TRUTH, "dseg", datatype="pet", space="pet", desc="hemisphere")
TRUTH_UNIFORM_KINETICS = declare(TRUTH, "mask", datatype="pet", space="pet", desc="uniformkinetics",
                                 description="PET voxels whose support has one k2, k3, k4, vB")
TRUTH_TISSUE_SIM = declare(TRUTH, "dseg", datatype="pet", desc="tissue", **_SIM)
TRUTH_AGGRESSIVE_SIM = declare(TRUTH, "mask", datatype="pet", desc="aggressive", **_SIM)
TRUTH_PARAMS_SIM = declare(TRUTH, "pet", variable=("stat",), tracer=True, datatype="pet", **_SIM,
                           description="true K1, k2, k3, k4, vB on the simulation grid")
TRUTH_PARAMS_PET = declare(TRUTH, "pet", variable=("stat",), tracer=True, datatype="pet",
                           space="pet", description="true K1, k2 resampled onto the PET grid")
TRUTH_NOISEFREE_SIM = declare(TRUTH, "pet", tracer=True, datatype="pet", desc="noisefree", **_SIM,
                              description="noise-free PET before the PSF, simulation grid (Bq/mL)")
TRUTH_NOISEFREE_PET = declare(TRUTH, "pet", variable=("desc",), tracer=True, datatype="pet",
                              space="pet", description="noise-free PET on the PET grid before "
                                                       "(noisefreenopsf) or after (noisefreepsf) "
                                                       "the PSF (Bq/mL)")
TRUTH_XFM = declare(TRUTH, "xfm", ".txt", datatype="xfm", from_="pet", to="T1w", mode="image",
                    description="true PET-to-MRI rigid transform (+ JSON: RAS and LPS matrices)")
TRUTH_MOTION = declare(TRUTH, "motion", ".json", tracer=True, datatype="xfm",
                       description="one rigid matrix per frame")
TRUTH_LATENT = declare(TRUTH, "latent", ".json", datatype="beh",
                       description="labels, latent parameters, posteriors, tumour plan, warp, "
                                   "input function")

# ---- foundation-model inputs on the learning grid (issue 12, data side; docs/foundation.md)
LEARNING_MASK = declare(PREPROCESS, "mask", space=TEMPLATE_SPACE, res="2", desc="brain",
                        description="the session's brain mask (reference MRI) on the 2 mm "
                                    "template grid (linear interpolation, threshold 0.5)")
#: The dynamic PET channels on the learning grid, in channel order (the `stat` of each file):
#: early-window TBR, static-window TBR, TTP / end of the static window, late slope / background
#: static-window SUVmean (1/h). Definitions and normalisation: docs/foundation.md.
LEARNING_DYNAMIC_STATS = ("TBRearly", "TBRlate", "TTPrel", "slopeTBR")
LEARNING_DYNAMIC = declare(QUANT, "pet", variable=("stat",), tracer=True, space=TEMPLATE_SPACE,
                           res="2", desc="learning",
                           description="dynamic PET channels on the 2 mm template grid "
                                       "(stat: LEARNING_DYNAMIC_STATS; 0 outside the brain)")
#: The tumour labels of a BraTS-layout collection (`gliopet import-brats`):
#: derivatives/brats/sub-<s>/ses-<t>/anat/.
BRATS = StageFolder("brats", DERIVATIVES_DIR / "brats", "import-brats", "gliopet import-brats")
BRATS_SEG = declare(BRATS, "dseg", datatype="anat", desc="tumour",
                    description="BraTS tumour labels on the grid of the imported MRI (+ JSON "
                                "legend): 1 necrotic/non-enhancing core, 2 oedema, 4 (BraTS "
                                "2023: 3) enhancing tumour")

# ---- foundation model embeddings (issue 12, model side: `gliopet embed`):
# derivatives/gliopet/foundation/sub-<s>/ses-<t>/
FOUNDATION = StageFolder("foundation", PIPELINE_DIR / "foundation", "the foundation-model "
                         "embedding", "gliopet embed")
EMBEDDING_MAP = declare(FOUNDATION, "features", space=TEMPLATE_SPACE, res="patch",
                        desc="embedding",
                        description="4-D map: one fused vector per patch (last axis = feature) "
                                    "on the learning grid at patch resolution (+ JSON)")
EMBEDDING_DENSE = declare(FOUNDATION, "features", space=TEMPLATE_SPACE, res="2",
                          desc="embedding",
                          description="4-D map: the patch vectors interpolated (trilinear) onto "
                                      "the 2 mm learning grid (embed --dense)")
EMBEDDING_ROW = declare(FOUNDATION, "embedding", ".json",
                        description="the session vector and its row of embeddings.tsv (marks "
                                    "the session done)")

# ---- tables and reports
QC_TABLE = Table(PREPROCESS, "qc.tsv", "one row per session: QC metrics and flags")
QUANT_TABLE = Table(QUANT, "quant.tsv", "one row per session (columns: gliopet.quant.outputs)")
COHORT_TABLE = Table(QUANT, "cohort.tsv",
                     "quant.tsv joined with the participant and session labels")
TRUTH_TABLE = Table(TRUTH, "truth.tsv", "the phantom's truth, one row per session")
PHANTOM_REPORT = Table(REPORTS, "phantom-realism.md",
                       "the simulated cohort against published ranges")
EMBEDDING_TABLE = Table(FOUNDATION, "embeddings.tsv",
                        "one row per session: subject, session, site, modalities, session "
                        "vector (e000 ...)")


# ---- radiomics (gliopet.radiomics): derivatives/gliopet/radiomics/
RADIOMICS = StageFolder("radiomics", PIPELINE_DIR / "radiomics", "radiomics",
                        "gliopet radiomics")
RADIOMICS_ROW = declare(RADIOMICS, "radiomics", ".json",
                        description="the session's row of radiomics.tsv: IBSI features of each "
                                    "image inside each VOI (marks the session done)")
RADIOMICS_TABLE = Table(RADIOMICS, "radiomics.tsv",
                        "one row per session: IBSI features (MIRP) of each image inside each "
                        "VOI; the JSON sidecar describes every column and the settings")

# ---- predictions of a saved WP3 model (gliopet.classify.predict): derivatives/gliopet/predict/
PREDICT = StageFolder("predict", PIPELINE_DIR / "predict", "prediction", "gliopet predict")
PREDICTIONS_TABLE = Table(PREDICT, "predictions.tsv",
                          "one row per session and model of `gliopet predict`: probability, "
                          "operating threshold, predicted class, explanation (+ JSON sidecar)")
#: Saliency of an image model's prediction (`gliopet.classify.saliency`), learning grid; desc is
#: the model and method run together (``cnnGradcam``); the PNG overlay has the same stem.
PREDICT_SALIENCY = declare(PREDICT, "saliency", variable=("desc",), space=TEMPLATE_SPACE,
                           res="2", description="saliency map of an image model's prediction "
                                                "on the learning grid (0 outside the tumour "
                                                "crop; unitless; desc: model and method)")
PREDICT_SALIENCY_FIGURE = declare(PREDICT, "saliency", ".png", variable=("desc",),
                                  space=TEMPLATE_SPACE, res="2",
                                  description="axial overlay of PREDICT_SALIENCY on the crop")


# ---- WP2 signature (gliopet.signature, `gliopet signature`): derivatives/gliopet/signature/
SIGNATURE = StageFolder("signature", PIPELINE_DIR / "signature", "the image signature",
                        "gliopet signature")
SIGNATURE_HABITATS = declare(SIGNATURE, "dseg", space="pet", desc="signature",
                             description="habitat of each tumour voxel in the signature's "
                                         "feature space (0 outside the tumour; + JSON legend)")
AGGRESSIVENESS_MAP = declare(SIGNATURE, "map", space="pet", desc="aggressiveness",
                             description="aggressiveness of each tumour voxel (habitat "
                                         "membership weighted by the association model's "
                                         "attributions; 0 outside the tumour; unitless)")
AGGRESSIVE_MASK = declare(SIGNATURE, "mask", space="pet", desc="aggressive",
                          description="the aggressive subregion: top region of the "
                                      "aggressiveness map under volume and connectivity rules")
SIGNATURE_ROW = declare(SIGNATURE, "signature", ".json",
                        description="the session's row of signature.tsv (marks the session "
                                    "done)")
SIGNATURE_TABLE = Table(SIGNATURE, "signature.tsv",
                        "one row per session: habitat volume fractions and per-habitat "
                        "summary features (+ JSON sidecar)")

# ---- WP2 biopsy target and its DICOM export (`gliopet biopsy`): derivatives/gliopet/biopsy/
BIOPSY = StageFolder("biopsy", PIPELINE_DIR / "biopsy", "the biopsy target", "gliopet biopsy")
BIOPSY_TARGET = declare(BIOPSY, "target", ".json", desc="biopsy",
                        description="target_ras_mm, target_lps_mm, target_voxel_mri and the "
                                    "alternatives (suvmax, ttp_hotspot), with the rule used "
                                    "(marks the session done)")
BIOPSY_SPHERE = declare(BIOPSY, "mask", space=REFERENCE_SPACE, desc="target",
                        description="target sphere on the reference MRI grid")
BIOPSY_SUBREGION = declare(BIOPSY, "mask", space=REFERENCE_SPACE, desc="aggressive",
                           description="the aggressive subregion on the reference MRI grid")
BIOPSY_SEG = declare(BIOPSY, "seg", ".dcm", desc="biopsy",
                     description="DICOM SEG: aggressive subregion (1) and target (2), "
                                 "referencing the MR series")
BIOPSY_RTSTRUCT = declare(BIOPSY, "rtstruct", ".dcm", desc="biopsy",
                          description="DICOM RTSTRUCT: contours of the aggressive subregion "
                                      "and the target, referencing the MR series")
BIOPSY_MRI_DICOM = declare(BIOPSY, "dicom", "", space=REFERENCE_SPACE, desc="reference",
                           description="folder: the reference MRI as a de-identified MR Image "
                                       "Storage series (the SEG and RTSTRUCT refer to it when "
                                       "the session did not come with an id-map)")
BIOPSY_PMAP = declare(BIOPSY, "pmap", ".dcm", desc="aggressiveness",
                      description="DICOM Parametric Map (float, Real World Value Mapping "
                                  "unitless 0-1): the aggressiveness map on the MR series")
BIOPSY_MAP_DICOM = declare(BIOPSY, "dicom", "", desc="aggressiveness",
                           description="folder: the aggressiveness map as a derived MR Image "
                                       "Storage series (16-bit, one file per slice of the MR "
                                       "series, rescale slope to 0-1; research map)")
BIOPSY_TABLE = Table(BIOPSY, "targets.tsv", "one row per session: the target and its "
                     "alternatives (RAS mm) and the rule")


def declared() -> dict[str, Derivative | Table]:
    """Every declared derivative and table of this module, by constant name."""
    return {name: value for name, value in globals().items()
            if isinstance(value, (Derivative, Table)) and name.isupper()}
