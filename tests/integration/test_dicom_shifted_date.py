"""A PET whose RadiopharmaceuticalStartDateTime is a whole number of days away from
RadiopharmaceuticalStartTime on SeriesDate (an anonymiser shifted one date and not the other;
issue 10, defect 9). Built like the real series the audit met: GE Discovery ST, static FDG,
Units GML, DecayCorrection ADMIN, a 240 s frame 2711 s after a 10:35 injection.

The importer uses the date/time that puts the injection before the scan by less than a day,
warns, writes the reason in ImportNotes, and the stored SUVs come back unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from gliopet.io.dicom import write_pet_series
from gliopet.io.timing import FrameTiming

INJECTION = dt.datetime(2000, 9, 7, 10, 35, 0)
WEIGHT_KG, DOSE_BQ = 71.0, 3.88777472e8
GML_STEP = 1.0 / 32767  # int16 rescale precision, relative to the slice maximum


def _ge_fdg(folder: Path, start_s: float = 2711.0, decay: str = "ADMIN") -> tuple[list[Path],
                                                                                 np.ndarray]:
    """The series and the SUV it stores (activity decay-corrected to the injection x W / D)."""
    activity = np.random.default_rng(7).uniform(2000.0, 30000.0, size=(6, 5, 4))
    files = write_pet_series(
        folder, activity, np.diag([4.6875, 4.6875, 3.27, 1.0]),
        FrameTiming([start_s], [240.0]), weight_kg=WEIGHT_KG, dose_bq=DOSE_BQ,
        injection_datetime=INJECTION, units="GML", decay_correction=decay,
        patient_id="STS", patient_name="X^Y", manufacturer="GE MEDICAL SYSTEMS",
        model="Discovery ST", radiopharmaceutical="FDG -- fluorodeoxyglucose",
        radiopharmaceutical_code=("Y-X1743", "99SDM", "FDG -- fluorodeoxyglucose"))
    return files, activity * WEIGHT_KG * 1000.0 / DOSE_BQ


def _shift_start_datetime(files: list[Path], days: int) -> None:
    shifted = (INJECTION + dt.timedelta(days=days)).strftime("%Y%m%d%H%M%S.%f")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = shifted
        ds.save_as(path)


def _stored_suv(files: list[Path]) -> np.ndarray:
    """The GML values of the files as the scanner stored them, (x, y, z) in slice order."""
    headers = sorted((pydicom.dcmread(p) for p in files),
                     key=lambda ds: float(ds.ImagePositionPatient[2]))
    planes = [ds.pixel_array * float(ds.RescaleSlope) for ds in headers]
    return np.transpose(np.stack(planes), (2, 1, 0))


@pytest.mark.parametrize(("days", "detail"), [
    (1, "RadiopharmaceuticalStartDateTime is 1 day later than RadiopharmaceuticalStartTime on "
        "SeriesDate and would put the injection 23.2 h after the series start"),
    (-1, "RadiopharmaceuticalStartDateTime is 1 day earlier than RadiopharmaceuticalStartTime "
         "on SeriesDate and would put the injection 24.8 h before the series start"),
    (3, "RadiopharmaceuticalStartDateTime is 3 days later than RadiopharmaceuticalStartTime on "
        "SeriesDate and would put the injection 71.2 h after the series start"),
])
def test_whole_day_shift_uses_the_consistent_date(run_cli, tmp_path, days, detail):
    files, suv = _ge_fdg(tmp_path / "src")
    _shift_start_datetime(files, days)
    bids = tmp_path / "bids"
    code, out, err = run_cli("import-dicom", tmp_path / "src", bids, "--id-map",
                             tmp_path / "ids.json")
    assert code == 0, out + err
    name = "sub-001/ses-01/pet/sub-001_ses-01_trc-FDG_pet"
    assert (f"warning: {name}.nii.gz: {detail}: the injection time is taken from "
            "RadiopharmaceuticalStartTime on SeriesDate") in out.splitlines()
    sidecar = json.loads((bids / f"{name}.json").read_text())
    assert sidecar["ImportNotes"].startswith(
        "Injection time from RadiopharmaceuticalStartTime on SeriesDate, not "
        f"RadiopharmaceuticalStartDateTime: {detail} (one of the dates was shifted, e.g. by "
        "de-identification); frame starts from ")
    assert "2000" not in sidecar["ImportNotes"] and "09-0" not in sidecar["ImportNotes"]
    assert sidecar["TimeZero"] == "10:35:00"
    assert sidecar["ScanStart"] == pytest.approx(2711.0)
    assert sidecar["FrameTimesStart"] == pytest.approx([2711.0])
    # GML: the SUV through the written Bq/mL, dose and weight equals what the scanner stored.
    bq_ml = np.asarray(nib.load(bids / f"{name}.nii.gz").dataobj, dtype=float)
    back = bq_ml * WEIGHT_KG * 1000.0 / (sidecar["InjectedRadioactivity"] * 1e6)
    stored = _stored_suv(files)
    np.testing.assert_allclose(back, stored, rtol=1e-6, atol=1e-9)
    scale = np.max(np.abs(suv), axis=(0, 1), keepdims=True)
    assert np.all(np.abs(back - suv) <= scale * GML_STEP)
    code, vout, verr = run_cli("validate", bids)
    assert code == 0, vout + verr


def test_shift_with_start_decay_correction_keeps_the_suv(tmp_path):
    """START correction: the Bq/mL depend on the injection time, the SUV still comes back."""
    from gliopet.io.bids_read import read_dataset
    from gliopet.io.dicom import import_dicom

    files, suv = _ge_fdg(tmp_path / "src", decay="START")
    _shift_start_datetime(files, 1)
    report = import_dicom(tmp_path / "src", tmp_path / "bids", tmp_path / "ids.json")
    assert len(report.warnings) == 1
    (session,) = read_dataset(tmp_path / "bids")
    got = session.pet.suv_frames()[..., 0]
    scale = np.max(np.abs(suv), axis=(0, 1), keepdims=True)
    assert np.all(np.abs(got - suv) <= scale * GML_STEP)


def test_consistent_dates_give_no_warning(run_cli, tmp_path):
    _ge_fdg(tmp_path / "src")
    code, out, err = run_cli("import-dicom", tmp_path / "src", tmp_path / "bids", "--id-map",
                             tmp_path / "ids.json")
    assert code == 0, err
    assert "warning" not in out
    (pet,) = (tmp_path / "bids").rglob("*_pet.json")
    assert json.loads(pet.read_text())["ImportNotes"].startswith(
        "Injection time from RadiopharmaceuticalStartDateTime; frame starts from ")


def test_a_disagreement_of_hours_is_not_reconciled(run_cli, tmp_path):
    """Only whole days are an anonymiser's shift: a DateTime 2 h after the series start is
    still refused (the frame would start before the injection)."""
    files, _ = _ge_fdg(tmp_path / "src")
    shifted = (INJECTION + dt.timedelta(seconds=2711 + 7200)).strftime("%Y%m%d%H%M%S")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = shifted
        ds.save_as(path)
    code, out, err = run_cli("import-dicom", tmp_path / "src", tmp_path / "bids", "--id-map",
                             tmp_path / "ids.json")
    assert code == 2
    assert "a frame starts before the injection" in err
