"""Column documentation of ``quant.tsv`` / ``cohort.tsv`` (written to their JSON sidecars).

Every column the per-session runner (`gliopet.quant.pipeline`) writes is described here with
its units, so the sidecar and the code cannot drift apart (a test checks that every column of
the table has an entry). Columns that the phantom's truth table reports as well take their name
and description from `gliopet.io.columns`, with one sentence on the regions used here.
"""

from __future__ import annotations

from gliopet.io.columns import describe
from gliopet.io.session import SUV_UNITS

_VOI = "Tumour: the tumour VOI (docs/conventions.md, \"Tumour VOI\", or the user's mask)."

#: Columns of quant.tsv, in order, with BIDS-style descriptions and units.
QUANT_COLUMNS: dict[str, dict[str, str]] = {
    "participant_id": describe("participant_id"),
    "session_id": describe("session_id"),
    "tracer": {"Description": "PET tracer (TracerName of the PET sidecar)."},
    "n_frames": {"Description": "Number of PET frames (1: static acquisition)."},
    "static_window_min": {"Description": "Static window (start-end, min from injection): "
                                         "frame-duration-weighted mean of the frames whose "
                                         "mid-time lies inside it.",
                          "Units": "min"},
    "SUVmax": describe("SUVmax", _VOI),
    "SUVmean": describe("SUVmean", _VOI),
    "SUVpeak": {"Description": "Highest mean SUV in a 1 mL sphere centred on a tumour-VOI voxel.",
                "Units": SUV_UNITS},
    "TBRmax": describe("TBRmax"),
    "TBRmean": describe("TBRmean"),
    "TBRpeak": {"Description": "SUVpeak / background SUVmean.", "Units": "ratio"},
    "TSRmax": describe("TSRmax"),
    "TSRmean": describe("TSRmean"),
    "BTV_mL": describe("BTV_mL", "Volume of the tumour VOI."),
    "background_SUVmean": describe("background_SUVmean",
                                   "Here the contralateral crescent, or the user's background "
                                   "mask; the healthy-brain region of preprocessing when no "
                                   "tumour is found."),
    "healthy_SUVmean": {"Description": "Mean SUV of the healthy-brain region of preprocessing "
                                       "(desc-healthy_mask).", "Units": SUV_UNITS},
    "striatum_SUVmean": describe("striatum_SUVmean", "Preprocessing's striatum mask."),
    "striatum_brain_ratio": {"Description": "striatum SUVmean / healthy-brain SUVmean.",
                             "Units": "ratio"},
    "rano_measurable": {"Description": "PET RANO 1.0 measurable disease: BTV > 0.5 mL "
                                       "(Albert 2024)."},
    "lesion_side": describe("lesion_side", "Tumour VOI; hemispheres from preprocessing's "
                                           "template midline."),
    "TTP_min": describe("TTP_min", _VOI),
    "slope_SUV_per_h": {"Description": "Late slope of the tumour TAC: least-squares line over the "
                                       "slope window (default 10-30 min).", "Units": "SUV/h"},
    "striatum_TTP_min": {"Description": "Time to peak of the striatum TAC.", "Units": "min"},
    "striatum_slope_SUV_per_h": {"Description": "Late slope of the striatum TAC.",
                                 "Units": "SUV/h"},
    "TTP_ratio": {"Description": "Tumour TTP / striatum TTP.", "Units": "ratio"},
    "slope_ratio": {"Description": "Tumour late slope / striatum late slope.", "Units": "ratio"},
    "frac_early_peak": {"Description": "Fraction of tumour voxels whose TTP is below the "
                                       "early-peak threshold (quant.early_peak_min).",
                        "Units": "fraction"},
    "frac_negative_slope": {"Description": "Fraction of tumour voxels with a negative late slope.",
                            "Units": "fraction"},
    "frac_TBR_gt_2": {"Description": "Fraction of tumour voxels with static-window TBR > 2 "
                                     "(Vomacka 2018).",
                      "Units": "fraction"},
    "n_hotspots": {"Description": "Number of dynamic hot spots (connected early-peak, decreasing "
                                  "regions of at least quant.hotspot_min_volume_ml; Kunz 2011)."},
    "hotspot_volume_mL": {"Description": "Total volume of the dynamic hot spots.", "Units": "mL"},
    "n_habitats": {"Description": "Number of TAC habitats (k-means on normalised voxel TACs, k by "
                                  "the highest silhouette)."},
    "loganref_DVR": {"Description": "Reference-region Logan DVR of the tumour TAC (reference: the "
                                    "background region; t* = 10 min, with the k2' of "
                                    "k2ref_per_min).",
                     "Units": "ratio"},
    "k2ref_per_min": {"Description": "Reference-region efflux k2' used in the Logan reference "
                                     "plot: the median of voxelwise SRTM k2 / R1 over the tumour "
                                     "voxels whose kinetics differ from the reference (at least "
                                     "10), else k2 / R1 of the SRTM fit of the tumour TAC.",
                      "Units": "1/min"},
    "patlakref_Ki_per_min": {"Description": "Reference-region Patlak slope Ki' of the tumour TAC "
                                            "(reference: the background; t* = 10 min). Assumes "
                                            "the reference is in equilibrium with plasma: "
                                            "strongly biased on 30-min FDOPA scans "
                                            "(docs/validation.md, curves section).",
                             "Units": "1/min"},
    "srtm_BPnd": {"Description": "SRTM (basis functions) BPnd of the tumour TAC, background as "
                                 "reference region.", "Units": "ratio"},
    "srtm_R1": {"Description": "SRTM relative delivery R1 = K1 / K1' of the tumour TAC.",
                "Units": "ratio"},
    "srtm_at_bound": {"Description": "Whether the SRTM fit of the tumour TAC chose theta3 = "
                                     "k2/(1 + BPnd) at an end of the basis grid (0.005-6 /min): "
                                     "R1 and BPnd are then limited by the grid (e.g. tumour "
                                     "efflux faster than the frame schedule resolves)."},
    "plasma_input": {"Description": "Whether a metabolite-corrected arterial plasma input "
                                    "(_blood.tsv) was given; no image-derived input is used for "
                                    "FDOPA."},
    "K1_1TCM": {"Description": "1TCM K1 of the tumour TAC (plasma input, WNLS).",
                "Units": "mL/cm3/min"},
    "VT_1TCM": {"Description": "1TCM VT = K1/k2 of the tumour TAC.", "Units": "mL/cm3"},
    "K1_2TCM": {"Description": "2TCM K1 of the tumour TAC (plasma input, WNLS).",
                "Units": "mL/cm3/min"},
    "VT_2TCM": {"Description": "2TCM VT = K1/k2 (1 + k3/k4) of the tumour TAC.",
                "Units": "mL/cm3"},
    "VT_logan_plasma": {"Description": "Plasma-input Logan VT of the tumour TAC (t* = 10 min).",
                        "Units": "mL/cm3"},
    "voi_source": {"Description": "Origin of the tumour VOI: automatic (docs/conventions.md, "
                                  "\"Tumour VOI\"), user (--tumour-mask) or none (no tumour "
                                  "found)."},
    "note": {"Description": "How the VOIs were made and why any column is n/a."},
}


def quant_sidecar(columns: list[str]) -> dict[str, dict[str, str]]:
    """Sidecar entries for the given columns (a column without documentation raises KeyError)."""
    return {name: QUANT_COLUMNS[name] for name in columns}
