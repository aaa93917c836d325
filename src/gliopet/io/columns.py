"""One name and one description for each quantity that more than one table reports.

The phantom's truth table (``derivatives/phantom-truth/truth.tsv``, written by
`gliopet.simulate.truth`) and quantification (``quant.tsv`` and ``cohort.tsv``, documented by
`gliopet.quant.outputs`) measure the same quantities: the truth on the phantom's label maps, the
analysis on its tumour VOI and background. Each quantity is spelled and described once here; a
table adds one sentence saying which regions it measures on (`describe`). The definitions behind
the descriptions (static window, ratios, TTP, tumour VOI) are in ``docs/conventions.md``.
"""

from __future__ import annotations

from gliopet.io.session import SUV_UNITS

#: Columns shared by truth.tsv (image metrics carry a ``_nopsf`` / ``_psf`` suffix there) and
#: quant.tsv, with BIDS-style descriptions and units.
SHARED_COLUMNS: dict[str, dict[str, str]] = {
    "participant_id": {"Description": "Subject, sub-<label>."},
    "session_id": {"Description": "Session, ses-<label>."},
    "SUVmax": {"Description": "Highest tumour voxel SUV (body weight) in the static image.",
               "Units": SUV_UNITS},
    "SUVmean": {"Description": "Mean tumour SUV (body weight) in the static image.",
                "Units": SUV_UNITS},
    "TBRmax": {"Description": "Tumour SUVmax / background SUVmean.", "Units": "ratio"},
    "TBRmean": {"Description": "Tumour SUVmean / background SUVmean.", "Units": "ratio"},
    "TSRmax": {"Description": "Tumour SUVmax / striatum SUVmean (caudate + putamen, both sides).",
               "Units": "ratio"},
    "TSRmean": {"Description": "Tumour SUVmean / striatum SUVmean (caudate + putamen, both sides).",
                "Units": "ratio"},
    "BTV_mL": {"Description": "Biological tumour volume.", "Units": "mL"},
    "background_SUVmean": {"Description": "Mean SUV of the background region: healthy brain of the "
                                          "hemisphere without the tumour.", "Units": SUV_UNITS},
    "striatum_SUVmean": {"Description": "Mean SUV over both striata (caudate + putamen).",
                         "Units": SUV_UNITS},
    "TTP_min": {"Description": "Time to peak of the tumour TAC (mean over the tumour voxels): "
                               "mid-time of its highest frame, from injection.", "Units": "min"},
    "lesion_side": {"Description": "Hemisphere holding most of the tumour: left, right or n/a "
                                   "(no tumour)."},
}


def describe(name: str, detail: str = "") -> dict[str, str]:
    """Sidecar entry of the shared column `name`, `detail` (one sentence) appended.

    Parameters
    ----------
    name : str
        A key of `SHARED_COLUMNS` (KeyError otherwise).
    detail : str
        What this table measures on (its tumour, background or striatum region), or empty.

    Returns
    -------
    dict
        A new ``{"Description": ..., "Units": ...}`` entry (no ``Units`` for labels).
    """
    entry = dict(SHARED_COLUMNS[name])
    if detail:
        entry["Description"] = f"{entry['Description']} {detail}"
    return entry
