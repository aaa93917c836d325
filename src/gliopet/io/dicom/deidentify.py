"""What may leave a DICOM header for the BIDS dataset: coded or tabled values, never free text.

The policy is `docs/deidentification.md`. Free-text attributes (descriptions, comments, names,
the ``Radiopharmaceutical`` (0018,0031) text) are never copied. Three values that BIDS needs
come from vendor text and are therefore rebuilt here from tables:

- the tracer label (``trc-`` entity, ``TracerName``): from the
  ``RadiopharmaceuticalCodeSequence`` (0054,0304) code (CID 4021 PET Radiopharmaceutical, old
  SNOMED-RT and SNOMED CT codes, GE's legacy 99SDM code), else from the code meaning or the
  ``Radiopharmaceutical`` name matched exactly, after `normalise_name`, against `TRACER_NAMES`;
  else None (the importer then asks for ``--tracer``);
- ``ReconMethodName`` from ``ReconstructionMethod`` (0054,1103) and ``AttenuationCorrection``
  from ``AttenuationCorrectionMethod`` (0054,1101): only the words of `RECON_TERMS` /
  `ATTENUATION_TERMS` and iteration/subset tokens such as ``3i21s`` are kept, in their order.
"""

from __future__ import annotations

import re

from pydicom.dataset import Dataset

#: (coding scheme designator, code value) -> tracer label. Sources: DICOM PS3.16 CID 4021
#: "PET Radiopharmaceutical" (SNOMED CT codes of the current edition, SNOMED-RT codes ``SRT`` of
#: the editions before 2019) and the 99SDM code GE scanners write for FDG (IBSI STS_001).
TRACER_CODES: dict[tuple[str, str], str] = {
    ("SCT", "5811000122108"): "FDOPA",  # Fluoro-L-dopa F^18^
    ("SRT", "C-B1034"): "FDOPA",
    ("SCT", "424708001"): "FET",  # Fluorethyltyrosin F^18^
    ("SRT", "C-B07E0"): "FET",
    ("SCT", "35321007"): "FDG",  # Fluorodeoxyglucose F^18^
    ("SRT", "C-B1031"): "FDG",
    ("99SDM", "Y-X1743"): "FDG",  # GE: "FDG -- fluorodeoxyglucose"
    ("SCT", "129510001"): "MET",  # Methionine C^11^
    ("SRT", "C-B103E"): "MET",
}

#: Tracer label -> the names accepted for it (matched exactly after `normalise_name`).
TRACER_NAMES: dict[str, tuple[str, ...]] = {
    "FDOPA": ("FDOPA", "F-DOPA", "18F-FDOPA", "[18F]FDOPA", "[18F]F-DOPA", "18F-DOPA",
              "F18-DOPA", "Fluorodopa", "Fluorodopa F^18^", "Fluoro-L-dopa",
              "Fluoro-L-dopa F^18^", "6-fluoro-L-dopa", "6-[18F]fluoro-L-dopa",
              "6-[18F]fluoro-L-DOPA", "18F-fluoro-L-dopa"),
    "FET": ("FET", "18F-FET", "[18F]FET", "Fluorethyltyrosin", "Fluorethyltyrosin F^18^",
            "Fluoroethyltyrosine", "Fluoroethyl-L-tyrosine", "O-(2-[18F]fluoroethyl)-L-tyrosine",
            "O-(2-fluoroethyl)-L-tyrosine"),
    "FDG": ("FDG", "18F-FDG", "[18F]FDG", "Fluorodeoxyglucose", "Fluorodeoxyglucose F^18^",
            "Fludeoxyglucose", "Fludeoxyglucose F^18^", "FDG -- fluorodeoxyglucose"),
    "MET": ("MET", "11C-MET", "[11C]MET", "Methionine", "Methionine C^11^", "11C-methionine",
            "[11C]methionine", "L-[methyl-11C]methionine"),
}

#: Words kept from ReconstructionMethod (upper case; anything else is dropped).
RECON_TERMS = frozenset({
    "OSEM", "OP-OSEM", "2D-OSEM", "3D-OSEM", "MLEM", "FBP", "3D-FBP", "2D-FBP", "RAMLA",
    "3D-RAMLA", "LOR-RAMLA", "BSREM", "Q.CLEAR", "QCLEAR", "VPFX", "VPFXS", "VPHD", "VPHDS",
    "TRUEX", "TOF", "PSF", "HD", "HD.PET", "ULTRAHD", "ITERATIVE", "IR", "2D", "3D",
})

#: Words kept from AttenuationCorrectionMethod (upper case; anything else is dropped).
ATTENUATION_TERMS = frozenset({
    "MEASURED", "CALCULATED", "CT", "CTAC", "CT-BASED", "MRAC", "MR-BASED", "DIXON", "UTE", "ZTE",
    "ATLAS", "SEGMENTED", "TRANSMISSION", "GE-68", "GE68", "CS-137", "NONE",
})

_ISOTOPES = ("18F", "F18", "11C", "C11")
_ITERATIONS = re.compile(r"\d{1,3}I\d{1,3}S?|\d{1,3}[IS]")


def normalise_name(name: str) -> str:
    """Upper case, letters and digits only, one leading and one trailing isotope tag removed.

    ``"[18F]F-DOPA"``, ``"18F-FDOPA"`` and ``"F-DOPA"`` all give ``"FDOPA"``;
    ``"Fluorodopa F^18^"`` gives ``"FLUORODOPA"``.
    """
    text = re.sub(r"[^A-Z0-9]", "", name.upper())
    for tag in _ISOTOPES:
        if text.startswith(tag) and len(text) > len(tag):
            text = text[len(tag):]
            break
    for tag in _ISOTOPES:
        if text.endswith(tag) and len(text) > len(tag):
            text = text[: -len(tag)]
            break
    return text


_NAME_TABLE: dict[str, str] = {
    normalise_name(name): label for label, names in TRACER_NAMES.items() for name in names
}


def tracer_from_name(name: str) -> str | None:
    """Tracer label of a name in `TRACER_NAMES` (exact match after `normalise_name`), or None."""
    key = normalise_name(name)
    return _NAME_TABLE.get(key) if key else None


def tracer_from_dicom(radio: Dataset) -> str | None:
    """Tracer label of a RadiopharmaceuticalInformationSequence item, or None when unknown.

    The code of ``RadiopharmaceuticalCodeSequence`` first (`TRACER_CODES`), then its code
    meaning, then the ``Radiopharmaceutical`` name, each against `TRACER_NAMES`.
    """
    codes = radio.get("RadiopharmaceuticalCodeSequence") or []
    for item in codes:
        key = (str(item.get("CodingSchemeDesignator", "") or "").strip().upper(),
               str(item.get("CodeValue", "") or "").strip())
        if key in TRACER_CODES:
            return TRACER_CODES[key]
    for item in codes:
        label = tracer_from_name(str(item.get("CodeMeaning", "") or ""))
        if label:
            return label
    return tracer_from_name(str(radio.get("Radiopharmaceutical", "") or ""))


def _known_words(text: str, terms: frozenset[str], iterations: bool) -> str:
    kept = []
    for word in re.split(r"[\s,;/+]+", text):
        if word.upper() in terms or (iterations and _ITERATIONS.fullmatch(word.upper())):
            kept.append(word)
    return " ".join(kept) or "n/a"


def recon_method_name(text: str) -> str:
    """``ReconMethodName`` from ReconstructionMethod: the known words and ``3i21s``-like tokens
    (``"OSEM 3i21s Dr Who"`` -> ``"OSEM 3i21s"``), ``n/a`` when none."""
    return _known_words(text, RECON_TERMS, iterations=True)


def attenuation_correction(text: str) -> str:
    """``AttenuationCorrection`` from AttenuationCorrectionMethod: the known words only
    (``"measured,, 0.096000 cm-1,"`` -> ``"measured"``), ``n/a`` when none."""
    return _known_words(text, ATTENUATION_TERMS, iterations=False)
