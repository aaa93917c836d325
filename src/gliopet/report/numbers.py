"""The guideline numbers of a session with their units, reference ranges and citations.

Each row is one column of ``quant.tsv`` (units from `gliopet.quant.outputs.QUANT_COLUMNS`), the
published range or cut-off it is read against (docs/literature.md, where each figure is quoted
with its study size and status) and, for a cut-off, on which side of it the value lies. Values
that are not defined (no tumour, static scan) are shown as "n/a", never as "nan".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from gliopet.quant.outputs import QUANT_COLUMNS


@dataclass(frozen=True)
class Reference:
    """A published reference for one quantity.

    Attributes
    ----------
    text : str
        The range or cut-off in words (with the tracer and the clinical question).
    citation : str
        Short citation (full reference in docs/literature.md).
    cutoff : float or None
        A cut-off to place the value against (None: a range to read, not a rule).
    above, below : str
        What a value at or above / below the cut-off suggests.
    session : str or None
        The session kind the cut-off was published for (``diagnosis``, ``recurrence``); the
        value of another kind of session is not read against it.
    """

    text: str
    citation: str
    cutoff: float | None = None
    above: str = ""
    below: str = ""
    session: str | None = None


#: The guideline numbers shown in the patient report, in order, with their references.
GUIDELINE: dict[str, Reference] = {
    "SUVmax": Reference("newly diagnosed: high grade 4.22 +/- 1.30, low grade 2.34 +/- 1.35 "
                        "g/mL (cut-off 2.72)", "Fueger 2010 (FDOPA)", 2.72,
                        "high-grade range", "low-grade range", "diagnosis"),
    "TBRmax": Reference("recurrence: T/N above 1.81 suggests progression", "Herrmann 2014 "
                        "(FDOPA)", 1.81, "progression side", "treatment-change side", "recurrence"),
    "TBRmean": Reference("recurrence: TBRmean >= 2.0 suggests progression (FET, another "
                         "tracer: for orientation only)", "Galldiks 2015 (FET)", 2.0,
                         "progression side (FET rule)", "treatment-change side (FET rule)",
                         "recurrence"),
    "TSRmax": Reference("recurrence: T/S above 1 suggests recurrence", "Zaragori 2020 (FDOPA)",
                        1.0, "recurrence side", "below the striatum", "recurrence"),
    "TSRmean": Reference("no published cut-off; the T/S rule uses TSRmax", "Zaragori 2020"),
    "BTV_mL": Reference("measurable disease when BTV > 0.5 mL", "PET RANO 1.0, Albert 2024",
                        0.5, "measurable", "not measurable"),
    "TTP_min": Reference("diagnosis: TTP >= 5.4 min suggests IDH-mutant, shorter IDH-wildtype",
                         "Ginet 2020 (FDOPA)", 5.4, "IDH-mutant side", "IDH-wildtype side",
                         "diagnosis"),
    "slope_SUV_per_h": Reference("a decreasing late curve (negative slope) goes with "
                                 "aggressive disease; slope alone 76.5 % accuracy at "
                                 "recurrence", "Zaragori 2020 (FDOPA)", 0.0,
                                 "rising or flat curve", "decreasing curve", "recurrence"),
    "background_SUVmean": Reference("reference region (contralateral crescent) of every ratio",
                                    "Law 2019 guideline"),
    "striatum_SUVmean": Reference("reference of the T/S ratios (physiological uptake)",
                                  "Law 2019 guideline"),
}


def fmt(value: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits; "n/a" for a missing or undefined value (and
    for the word "nan" inside a text)."""
    if value is None or isinstance(value, str) and value.strip().lower() in ("", "nan", "n/a"):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):  # text from another stage (an explanation) may hold "nan"
        return re.sub(r"\bnan\b", "n/a", value, flags=re.IGNORECASE)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "n/a"
    if abs(number) >= 10 ** digits:
        return f"{number:.0f}"
    return f"{number:.{digits}g}"


def fixed(value: Any, decimals: int | None) -> str:
    """A number with `decimals` digits after the point, so that a column's values line up;
    "n/a" for a missing or undefined value; `fmt` when `decimals` is None (a column without a
    fixed precision)."""
    if decimals is None:
        return fmt(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return fmt(value)
    return f"{number:.{decimals}f}" if math.isfinite(number) else "n/a"


def units(column: str) -> str:
    """Units of a quant.tsv column ("" for a unitless count or label)."""
    return QUANT_COLUMNS.get(column, {}).get("Units", "")


def reading(column: str, value: Any, session: str | None = None) -> str:
    """Which side of the published cut-off the value lies on ("" without a cut-off or value,
    or when `session` (``ses-diagnosis...``) is not the kind the cut-off was published for)."""
    reference = GUIDELINE.get(column)
    if reference is None or reference.cutoff is None or fmt(value) == "n/a":
        return ""
    kind = str(session or "").removeprefix("ses-")
    if session is not None and reference.session and not kind.startswith(reference.session):
        return "not read (published for " + reference.session + ")"
    return reference.above if float(value) >= reference.cutoff else reference.below


def guideline_rows(row: dict[str, Any]) -> list[dict[str, str]]:
    """One dict per guideline number: quantity, value, units, reading, reference, source."""
    rows = []
    for column, reference in GUIDELINE.items():
        value = row.get(column)
        rows.append({"quantity": column, "value": fmt(value), "units": units(column),
                     "reading": reading(column, value, row.get("session_id")) or "-",
                     "reference": reference.text, "source": reference.citation})
    return rows
