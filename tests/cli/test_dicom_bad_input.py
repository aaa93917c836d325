"""`import-dicom` on bad input: the exact one-line error, exit status 2, and nothing written.

Policy (see `gliopet.io.dicom.importer`): broken data (a file without pixel data, a PET
without Units, a series mixing patients, a missing slice) stops the import; a series that is
whole but unusable (CNTS units, no injected dose, unknown MR sequence, non-image objects) is
skipped with its reason, and the import fails only when nothing is left to import. A PET
without ``RadionuclideTotalDose`` is skipped rather than written with ``InjectedRadioactivity``
n/a: BIDS requires the field and SUV needs it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom

from gliopet.io.dicom import write_mr_series, write_pet_series
from gliopet.io.timing import FrameTiming
from support.cli import run_cli

INJECTION = dt.datetime(2026, 3, 2, 9, 30, 0)
NO_SERIES_FIX = "(fix: see the reasons; a --series-map can name MR series)"


def _pet(folder: Path, n_frames: int = 1, **kwargs) -> list[Path]:
    timing = FrameTiming.from_durations([300.0] * n_frames, first_start_s=600.0)
    data = np.random.default_rng(0).uniform(100.0, 5000.0, size=(5, 4, 4, n_frames))
    return write_pet_series(
        folder,
        data,
        np.diag([2.0, 2.0, 3.0, 1.0]),
        timing,
        weight_kg=70.0,
        dose_bq=2.0e8,
        injection_datetime=INJECTION,
        patient_id="PAT-1",
        patient_name="Doe^John",
        **kwargs,
    )


def _edit(path: Path, change) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _refused(tmp_path: Path, src: Path, expected: str, *, id_map: Path | None = None) -> str:
    bids = tmp_path / "bids"
    id_map = id_map or tmp_path / "ids.json"
    code, out, err = run_cli("import-dicom", src, bids, "--id-map", id_map)
    assert code == 2, out + err
    assert err.strip() == f"error: {expected}"
    assert not bids.exists()
    assert not id_map.exists()
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(".bids")
    ]  # no staging left behind
    return out


def test_file_without_pixel_data(tmp_path):
    files = _pet(tmp_path / "src")
    _edit(files[1], lambda ds: delattr(ds, "PixelData"))
    _refused(tmp_path, tmp_path / "src",
             f"{files[1]}: no pixel data (7FE0,0010) in this PT image file "
             "(fix: export the series again with its images (not only the headers))")


def test_pet_without_units(tmp_path):
    files = _pet(tmp_path / "src")
    _edit(files[2], lambda ds: delattr(ds, "Units"))
    _refused(tmp_path, tmp_path / "src",
             f"{files[2]}: PET image without Units (0054,1001): the activity unit is unknown "
             "(fix: export the series with its PET image tags (Units BQML))")


def _drop_dose(ds: pydicom.Dataset) -> None:
    del ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose


REASON_DOSE = (
    "no RadionuclideTotalDose: the injected dose is required (BIDS InjectedRadioactivity, SUV); "
    "export the series with its radiopharmaceutical tags"
)


def test_pet_without_dose_is_skipped(tmp_path):
    src = tmp_path / "src"
    for path in _pet(src):
        _edit(path, _drop_dose)
    out = _refused(
        tmp_path,
        src,
        f"{src}: no series could be imported (1 skipped: {REASON_DOSE}) {NO_SERIES_FIX}",
    )
    # The series description (free text) is shown only with --verbose.
    assert "  #1      PT        4      " + REASON_DOSE in out.splitlines()
    assert "PET Brain FDOPA" not in out
    code, out, err = run_cli("--verbose", "import-dicom", src, tmp_path / "bids", "--id-map",
                             tmp_path / "ids.json")
    assert code == 2
    assert "  #1      PET Brain FDOPA     PT        4      " + REASON_DOSE in out.splitlines()


def test_pet_without_dose_next_to_an_mri(run_cli, tmp_path):
    """The MRI is imported; the PET is listed as skipped with the reason."""
    src = tmp_path / "src"
    for path in _pet(src / "pet"):
        _edit(path, _drop_dose)
    write_mr_series(src / "mr", np.ones((5, 4, 4)), np.diag([2.0, 2.0, 3.0, 1.0]), sequence="FLAIR",
                    patient_id="PAT-1", patient_name="Doe^John", study_datetime=INJECTION)
    code, out, err = run_cli(
        "import-dicom", src, tmp_path / "bids", "--id-map", tmp_path / "ids.json"
    )
    assert code == 0, err
    assert REASON_DOSE in out
    assert [p.name for p in (tmp_path / "bids").rglob("*.nii.gz")] == [
        "sub-001_ses-01_FLAIR.nii.gz"
    ]


def test_series_mixing_patients(tmp_path):
    files = _pet(tmp_path / "src")
    uid = pydicom.dcmread(files[0]).SeriesInstanceUID

    def other_patient(ds):
        ds.PatientID = "PAT-2"

    _edit(files[3], other_patient)
    _refused(tmp_path, tmp_path / "src",
             f"{files[3]}: series {uid} mixes 2 patients (PatientID differs between its files) "
             "(fix: export each patient separately or remove the stray files)")


def test_id_map_inside_bids_dir(tmp_path):
    _pet(tmp_path / "src")
    bids = tmp_path / "bids"
    id_map = bids / "ids.json"
    _refused(
        tmp_path,
        tmp_path / "src",
        f"{id_map}: the id-map lies inside the BIDS folder {bids}, which would put patient "
        "identifiers in the shared dataset (fix: give an --id-map path outside BIDS_DIR)",
        id_map=id_map,
    )


def test_empty_source_folder(tmp_path):
    (tmp_path / "src").mkdir()
    _refused(
        tmp_path,
        tmp_path / "src",
        f"{tmp_path / 'src'}: the source folder is empty (fix: give the folder that holds the "
        "exported DICOM files)",
    )


def test_source_without_dicom(tmp_path):
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "notes.txt").write_text("hello")
    (tmp_path / "src" / "sub" / "image.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    _refused(tmp_path, tmp_path / "src",
             f"{tmp_path / 'src'}: the source folder holds no DICOM file (2 other files ignored) "
             "(fix: give the folder that holds the exported DICOM files)")


def test_cnts_units(tmp_path):
    _pet(tmp_path / "src", units="CNTS")
    reason = "CNTS units: counts are not quantitative, export the series in BQML"
    out = _refused(
        tmp_path,
        tmp_path / "src",
        f"{tmp_path / 'src'}: no series could be imported (1 skipped: {reason}) {NO_SERIES_FIX}",
    )
    assert reason in out


def test_missing_slice_in_a_dynamic_series(tmp_path):
    files = _pet(tmp_path / "src", n_frames=3)
    files[6].unlink()  # frame 2, slice 3
    _refused(
        tmp_path,
        tmp_path / "src",
        f"{tmp_path / 'src'}: inconsistent number of slices per frame: frame 2 has 3 slices where "
        "NumberOfSlices = 4 and NumberOfTimeSlices = 3 (11 files) "
        "(fix: export the complete series (a slice or frame is missing))",
    )


def test_missing_slice_in_a_static_series(tmp_path):
    files = _pet(tmp_path / "src")
    files[1].unlink()
    _refused(
        tmp_path,
        tmp_path / "src",
        f"{tmp_path / 'src'}: inconsistent number of slices per frame: frame 1 has 3 slices where "
        "NumberOfSlices = 4 and NumberOfTimeSlices = 1 (3 files) "
        "(fix: export the complete series (a slice or frame is missing))",
    )


def test_missing_slice_without_pet_counts(tmp_path):
    """MR has no NumberOfSlices: a gap in the positions is caught by the spacing check."""
    files = write_mr_series(
        tmp_path / "src",
        np.ones((4, 4, 5)),
        np.diag([1.0, 1.0, 2.0, 1.0]),
        sequence="T1w",
        patient_id="PAT-1",
        patient_name="Doe^John",
    )
    files[2].unlink()
    _refused(
        tmp_path,
        tmp_path / "src",
        f"{tmp_path / 'src'}: slices are not evenly spaced (a slice is 0.67 mm off the regular "
        "grid): a slice is missing or the series mixes stacks (fix: export the complete series)",
    )


def test_only_a_series_with_burned_in_annotation(tmp_path):
    """Pixels that may show identifiers are not imported (docs/deidentification.md)."""
    files = _pet(tmp_path / "src")
    for path in files:
        _edit(path, lambda ds: setattr(ds, "BurnedInAnnotation", "YES"))
    reason = "BurnedInAnnotation YES: the pixels may show identifiers"
    out = _refused(tmp_path, tmp_path / "src",
                   f"{tmp_path / 'src'}: no series could be imported (1 skipped: {reason}) "
                   f"{NO_SERIES_FIX}")
    assert "  #1      PT        4      " + reason in out.splitlines()


def test_unknown_tracer_without_the_option(tmp_path):
    _pet(tmp_path / "src", radiopharmaceutical="Doe^John tracer")
    _refused(tmp_path, tmp_path / "src",
             f"{tmp_path / 'src'}: the PET tracer is not recognised: "
             "RadiopharmaceuticalCodeSequence holds no known code and the Radiopharmaceutical "
             "name is not a known tracer name (free text is never copied into the dataset) "
             "(fix: give the tracer label with --tracer (e.g. --tracer FDOPA))")
