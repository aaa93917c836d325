"""Phantom ground truth: file names, the per-session truth table and its column documentation.

Everything here is written under ``derivatives/phantom-truth/`` and is never read by the
analysis stages. The truth table is computed on the noise-free, motion-free PET on the PET grid,
before and after the PSF (columns ``*_nopsf`` / ``*_psf``), with the conventions of
``docs/conventions.md`` ("Static image", "Decay correction and SUV", "Ratios and volumes",
"Dynamic features"): static image = frame-duration-weighted mean of the frames whose mid-time
lies in 10-30 min; SUV = Bq/mL x weight (g) / injected activity (Bq) (images decay-corrected
to injection); TBR = tumour / background SUVmean, background = healthy grey + white matter
(labels 3, 4) of the hemisphere without the tumour (both hemispheres for healthy subjects); TSR
uses the mean over both striata (caudate + putamen, labels 5, 6); TTP = mid-time (min) of the
frame where the tumour's mean TAC peaks; BTV = tumour voxels above 1.6 x background SUVmean.
Columns that quantification reports as well carry its name and description
(`gliopet.io.columns`).

Layout of ``derivatives/phantom-truth/`` (``<p>`` = ``sub-<s>_ses-<t>``; every file is declared
in the derivatives contract `gliopet.io.derivatives`, TRUTH_*)::

    dataset_description.json, provenance.json, truth.tsv, truth.json (every column documented)
    sub-<s>/ses-<t>/anat/<p>_space-T1w_desc-tissue_dseg.nii.gz (+ .json legend)   MRI grid
                         <p>_space-T1w_desc-aggressive_mask.nii.gz
                         <p>_space-T1w_desc-hemisphere_dseg.nii.gz (+ .json)
                    pet/ <p>_space-pet_desc-{tissue,hemisphere}_dseg, _desc-aggressive_mask
                             (PET grid)
                         <p>_trc-FDOPA_space-pet_desc-noisefree{nopsf,psf}_pet.nii.gz (+ .json)
                             (4-D, Bq/mL)
                         <p>_trc-FDOPA_space-pet_stat-{K1,k2}_pet.nii.gz
                             (true K1, k2 resampled to the PET grid)
                         <p>_space-pet_desc-uniformkinetics_mask
                             (PET voxels whose support has one k2, k3, k4, vB)
                         <p>_space-T1w_res-sim_desc-tissue_dseg, _desc-aggressive_mask
                             (simulation grid)
                         <p>_trc-FDOPA_space-T1w_res-sim_stat-{K1,k2,k3,k4,vB}_pet.nii.gz
                             (true parameters)
                         <p>_trc-FDOPA_space-T1w_res-sim_desc-noisefree_pet.nii.gz
                             (tiny profile only)
                    xfm/ <p>_from-pet_to-T1w_mode-image_xfm.txt (+ .json: RAS and LPS matrices)
                         <p>_trc-FDOPA_motion.json (one rigid matrix per frame)
                    beh/ <p>_latent.json (labels, latent image parameters, posteriors, tumour plan,
                         warp, input function, site)

The simulation grid (``res-sim``) is the MRI grid itself in the tiny profile and every second
MRI voxel (2 mm) in the standard profile.
"""

from __future__ import annotations

import numpy as np

from gliopet.config import package_defaults
from gliopet.io import derivatives
from gliopet.io.columns import describe
from gliopet.io.session import static_image
from gliopet.io.timing import FrameTiming
from gliopet.simulate.anatomy import TISSUE_LABELS, TUMOUR_LABELS

#: The truth folder relative to the BIDS root (file names: ``gliopet.io.derivatives``, TRUTH_*).
TRUTH_DIR = derivatives.TRUTH.relative
#: Static window (min from injection) and BTV threshold (x background SUVmean) of the truth: the
#: package defaults of quantification (configuration ``quant``), so truth and quant.tsv agree.
STATIC_WINDOW_MIN = package_defaults().quant.static_window_min
BTV_THRESHOLD = package_defaults().quant.tumour_threshold_x_background

_TUMOUR = "Tumour: phantom labels 10-12 (necrosis, enhancing, infiltration)."

#: Image metrics of the truth table (each with suffix _nopsf and _psf) and their descriptions;
#: names and descriptions shared with quant.tsv (`gliopet.io.columns`).
METRICS: dict[str, dict[str, str]] = {
    "SUVmax": describe("SUVmax", _TUMOUR),
    "SUVmean": describe("SUVmean", _TUMOUR),
    "TBRmax": describe("TBRmax"),
    "TBRmean": describe("TBRmean"),
    "TSRmax": describe("TSRmax"),
    "TSRmean": describe("TSRmean"),
    "TTP_min": describe("TTP_min", _TUMOUR),
    "BTV_mL": describe("BTV_mL", "Tumour voxels (labels 10-12) above 1.6 x background SUVmean in "
                                 "the static image."),
    "background_SUVmean": describe("background_SUVmean",
                                   "Here healthy grey + white matter (labels 3, 4) of that "
                                   "hemisphere (both hemispheres when there is no tumour)."),
    "striatum_SUVmean": describe("striatum_SUVmean", "Phantom labels 5, 6."),
}

#: Columns of truth.tsv that are not image metrics.
BASE_COLUMNS: dict[str, dict[str, str]] = {
    "participant_id": describe("participant_id"),
    "session_id": describe("session_id"),
    "site": {"Description": "Simulated site (gliopet.simulate.sites)."},
    "kind": {"Description": "Session kind: diagnosis, recurrence or healthy."},
    "IDH": {"Description": "IDH status (true label)."},
    "codeletion_1p19q": {"Description": "1p/19q codeletion (true label)."},
    "CDKN2AB": {"Description": "CDKN2A/B homozygous deletion (true label)."},
    "MGMT": {"Description": "MGMT promoter methylation (true label)."},
    "who_type": {"Description": "WHO CNS 2021 tumour type (true label)."},
    "grade": {"Description": "WHO CNS grade 2-4 (true label)."},
    "outcome": {"Description": "Outcome of a recurrence session: progression or treatment_change."},
    "null_marker": {"Description": "Null marker drawn independently of everything (negative "
                                   "control)."},
    "has_aggressive": {"Description": "Whether an aggressive subregion (early peak, washout) was "
                                      "planted."},
    "weight": {"Description": "Body weight.", "Units": "kg"},
    "injected_activity_MBq": {"Description": "Injected activity at injection time.",
                              "Units": "MBq"},
    "tumour_volume_target_ml": {"Description": "Volume asked of the tumour generator.",
                                "Units": "mL"},
    "tumour_volume_ml": {"Description": "Volume of the tumour proper (labels 10-12) on the MRI "
                                        "grid.", "Units": "mL"},
    "tumour_volume_pet_ml": {"Description": "Volume of the tumour proper (labels 10-12) on the PET "
                                            "grid.", "Units": "mL"},
    "aggressive_volume_ml": {"Description": "Volume of the aggressive subregion on the MRI grid.",
                             "Units": "mL"},
    "lesion_side": describe("lesion_side", "Tumour labels 10-12 on the PET grid, hemispheres split "
                                           "at the template midline."),
    "kinetic_model": {"Description": "Kinetic model of the simulation (gliopet simulate "
                                     "--kinetics).",
                      "Levels": {"fdopa": "two-tissue FDOPA kinetics with trapping and blood "
                                          "volume",
                                 "one-tissue": "verification phantom: one tissue, no blood volume, "
                                               "healthy tissue sharing one k2 (reference-region "
                                               "model checks)"}},
}


def truth_columns() -> dict[str, dict[str, str]]:
    """Descriptions of every column of truth.tsv (written to truth.json)."""
    columns = dict(BASE_COLUMNS)
    for name, meta in METRICS.items():
        for suffix, text in (("nopsf", "noise-free PET before the PSF"),
                             ("psf", "noise-free PET after the PSF")):
            text = f"{meta['Description']} On the {text}, PET grid, motion-free."
            columns[f"{name}_{suffix}"] = {**meta, "Description": text}
    return columns


def lesion_side(labels: np.ndarray, hemisphere: np.ndarray) -> int:
    """-1 (left) or +1 (right): the hemisphere holding most tumour voxels; 0 without tumour."""
    tumour = np.isin(labels, TUMOUR_LABELS)
    if not tumour.any():
        return 0
    return -1 if np.sum(hemisphere[tumour] == -1) >= np.sum(hemisphere[tumour] == 1) else 1


def lesion_side_label(labels: np.ndarray, hemisphere: np.ndarray) -> str:
    """``"left"``, ``"right"`` or ``"n/a"`` (no tumour): `lesion_side` as quant.tsv writes it."""
    return {-1: "left", 1: "right", 0: "n/a"}[lesion_side(labels, hemisphere)]


def image_metrics(
    frames: np.ndarray,
    labels: np.ndarray,
    hemisphere: np.ndarray,
    timing: FrameTiming,
    suv_factor: float,
    voxel_ml: float,
) -> dict[str, float]:
    """Truth metrics (see `METRICS`) of one noise-free 4-D PET (Bq/mL) and its label maps.

    `suv_factor` = weight (g) / injected activity (Bq); `voxel_ml` = PET voxel volume (mL).
    Metrics undefined without a tumour are NaN.
    """
    static = static_image(frames, timing, STATIC_WINDOW_MIN, suv_factor=suv_factor,
                          dtype=np.float64).data
    side = lesion_side(labels, hemisphere)
    healthy = np.isin(labels, (3, 4))
    background = healthy & (hemisphere == -side) if side else healthy & (hemisphere != 0)
    striatum = np.isin(labels, (5, 6))
    tumour = np.isin(labels, TUMOUR_LABELS)
    bg = float(static[background].mean()) if background.any() else np.nan
    st = float(static[striatum].mean()) if striatum.any() else np.nan
    out = {"background_SUVmean": bg, "striatum_SUVmean": st}
    if tumour.any():
        suv_max = float(static[tumour].max())
        suv_mean = float(static[tumour].mean())
        tac = frames[tumour].mean(axis=0)
        out.update(
            {
                "SUVmax": suv_max,
                "SUVmean": suv_mean,
                "TBRmax": suv_max / bg,
                "TBRmean": suv_mean / bg,
                "TSRmax": suv_max / st,
                "TSRmean": suv_mean / st,
                "TTP_min": float(timing.mid_min[int(np.argmax(tac))]),
                "BTV_mL": float(np.sum(static[tumour] > BTV_THRESHOLD * bg) * voxel_ml),
            }
        )
    else:
        out.update(
            {
                k: np.nan
                for k in (
                    "SUVmax",
                    "SUVmean",
                    "TBRmax",
                    "TBRmean",
                    "TSRmax",
                    "TSRmean",
                    "TTP_min",
                    "BTV_mL",
                )
            }
        )
    return out


def tissue_legend() -> dict[str, object]:
    """JSON legend of the tissue/tumour label map."""
    return {
        "Labels": {str(k): v for k, v in TISSUE_LABELS.items()},
        "TumourLabels": list(TUMOUR_LABELS),
        "Description": "Phantom tissue classes (gliopet.simulate.anatomy); tumour compartments "
        "10-13 overwrite the healthy tissue they replace. Ground truth: never read by analysis "
        "stages.",
    }


HEMISPHERE_LEGEND = {
    "Labels": {
        "0": "outside head",
        "1": "right hemisphere (template x > 0)",
        "255": "left hemisphere (template x < 0)",
    },
    "Description": "Hemisphere of each voxel from the template midline (stored as uint8; "
    "255 is -1).",
}

