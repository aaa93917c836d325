"""`gliopet.io.dicom.deidentify`: tracer labels from codes and exact names, technical words."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gliopet.io.dicom.deidentify import (
    TRACER_CODES,
    TRACER_NAMES,
    attenuation_correction,
    normalise_name,
    recon_method_name,
    tracer_from_dicom,
    tracer_from_name,
)


@pytest.mark.parametrize(("name", "key"), [
    ("[18F]F-DOPA", "FDOPA"), ("18F-FDOPA", "FDOPA"), ("F-DOPA", "FDOPA"), ("F18-DOPA", "DOPA"),
    ("Fluorodopa F^18^", "FLUORODOPA"), ("FDG -- fluorodeoxyglucose", "FDGFLUORODEOXYGLUCOSE"),
    ("11C-methionine", "METHIONINE"), ("F18", "F18"), ("", ""),
])
def test_normalise_name(name, key):
    assert normalise_name(name) == key


def test_every_table_name_maps_to_its_own_label():
    for label, names in TRACER_NAMES.items():
        assert {tracer_from_name(name) for name in names} == {label}


@pytest.mark.parametrize("name", [
    "QUIMBY^2 fet c", "FET Mueller", "FDOPA study of J. Smith", "L-dopa", "FDG-PET brain",
    "Fluoro", "", "   ", "18F",
])
def test_names_that_are_not_exactly_a_tracer_give_none(name):
    assert tracer_from_name(name) is None


def _radio(name: str = "", code: tuple[str, str, str] | None = None) -> Dataset:
    radio = Dataset()
    if name:
        radio.Radiopharmaceutical = name
    if code is not None:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code
        radio.RadiopharmaceuticalCodeSequence = Sequence([item])
    return radio


def test_code_wins_over_the_name():
    radio = _radio("FET", ("C-B1034", "SRT", "Fluoro-L-dopa F^18^"))
    assert tracer_from_dicom(radio) == "FDOPA"


@pytest.mark.parametrize(("key", "label"), sorted(TRACER_CODES.items()))
def test_every_code(key, label):
    scheme, value = key
    assert tracer_from_dicom(_radio("", (value, scheme.lower(), "whatever"))) == label


def test_unknown_code_falls_back_to_its_meaning_then_the_name():
    assert tracer_from_dicom(_radio("", ("1", "99X", "Methionine C^11^"))) == "MET"
    assert tracer_from_dicom(_radio("18F-FET", ("1", "99X", "local tracer 7"))) == "FET"
    assert tracer_from_dicom(_radio("Dr Who's tracer", ("1", "99X", "local tracer 7"))) is None
    assert tracer_from_dicom(_radio()) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("OSEM", "OSEM"), ("OSEM 3i21s", "OSEM 3i21s"), ("VPFXS", "VPFXS"),
    ("OSEM 2i20s QZX SMITH 123456", "OSEM 2i20s"), ("Q.Clear", "Q.Clear"),
    ("Dr Smith protocol", "n/a"), ("", "n/a"), ("OP-OSEM+TOF+PSF", "OP-OSEM TOF PSF"),
])
def test_recon_method_name(text, expected):
    assert recon_method_name(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("measured,, 0.096000 cm-1,", "measured"), ("CTAC", "CTAC"), ("MRAC Dixon", "MRAC Dixon"),
    ("measured by Smith", "measured"), ("John Smith", "n/a"), ("", "n/a"),
])
def test_attenuation_correction(text, expected):
    assert attenuation_correction(text) == expected
