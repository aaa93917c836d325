"""DICOM import and writer: vendor variants with hand-computed SUVs, round trips, de-identification.

Every PET series is written by `gliopet.io.dicom.write_pet_series` from activity
decay-corrected to injection (`A0`, Bq/mL); the SUV expected everywhere is ``A0 * W(g) / D(Bq)``,
computed here by hand. Rescale precision: int16 with a per-slice slope = max|slice| / 32767,
so a voxel is exact to half a slope, i.e. 1 / 65534 of the slice maximum.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import stat
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from gliopet.io.dicom import (
    decay_weighted_offset_s,
    import_dicom,
    write_mr_series,
    write_pet_series,
)
from gliopet.io.timing import FrameTiming
from support.cli import run_cli

T_HALF = 6586.2  # F-18 half-life written by the writer (s)
LAM = np.log(2.0) / T_HALF
WEIGHT_KG = 72.5
DOSE_BQ = 185.0e6
INJECTION = dt.datetime(2026, 3, 2, 9, 30, 0)
REL_PRECISION = 1.0 / 32767  # of the slice maximum (generous: half a step is 1/65534)


def _affine(spacing=(2.0, 2.5, 3.0), angle_deg=10.0, origin=(-20.0, -30.0, 15.0)) -> np.ndarray:
    """RAS affine with an in-plane rotation (its closest canonical orientation is itself)."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


def _activity(shape, n_frames, seed=0) -> np.ndarray:
    """Positive, varied activity decay-corrected to injection (Bq/mL), one blob rising over time."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(2000.0, 8000.0, size=shape)
    ramp = np.linspace(0.5, 1.5, n_frames)
    return base[..., np.newaxis] * ramp


def _within_precision(got: np.ndarray, expected: np.ndarray) -> None:
    """Each slice of each frame matches within its own rescale step."""
    expected = expected.reshape(expected.shape[:3] + (-1,))
    got = got.reshape(expected.shape)
    scale = np.max(np.abs(expected), axis=(0, 1), keepdims=True)
    assert np.all(np.abs(got - expected) <= scale * REL_PRECISION)


def _import(tmp_path: Path, src: Path, *extra: str) -> tuple[Path, str]:
    bids = tmp_path / "bids"
    code, out, err = run_cli("import-dicom", src, bids, "--id-map", tmp_path / "ids.json", *extra)
    assert code == 0, err
    return bids, out


def _pet_sidecar(bids: Path) -> tuple[Path, dict]:
    (nifti,) = sorted(bids.glob("sub-*/ses-*/pet/*_pet.nii.gz"))
    return nifti, json.loads(nifti.with_name(nifti.name.replace(".nii.gz", ".json")).read_text())


def _suv_by_hand(values_bq_ml: np.ndarray, sidecar: dict, weight_kg: float) -> np.ndarray:
    """SUV = C * W(g) / dose decayed to the image's decay-correction time."""
    assert sidecar["ImageDecayCorrected"] is True
    dose = sidecar["InjectedRadioactivity"] * 1e6
    t_dc = sidecar["ImageDecayCorrectionTime"] - sidecar["InjectionStart"]
    return values_bq_ml * weight_kg * 1000.0 / (dose * np.exp(-LAM * t_dc))


# --------------------------------------------------------------------------------------------
# Round trips


def test_mr_writer_round_trip_geometry_and_values(tmp_path):
    """MR written with an oblique LPS-flipped affine comes back with the same affine (1e-3 mm)."""
    affine = _affine(spacing=(1.2, 0.9, 2.0), angle_deg=25.0)
    affine[:3, 1] *= -1  # j axis pointing posterior: not canonical, exercises the RAS<->LPS signs
    rng = np.random.default_rng(3)
    volume = rng.uniform(0.0, 1000.0, size=(16, 14, 6))
    write_mr_series(
        tmp_path / "src", volume, affine, sequence="T2w", patient_id="P1", patient_name="Doe^Jane"
    )
    bids, _ = _import(tmp_path, tmp_path / "src")
    (path,) = list(bids.glob("sub-001/ses-01/anat/sub-001_ses-01_T2w.nii.gz"))
    # The importer stacks slices along the slice normal (row x column cosine), which here runs
    # against the writer's k axis: compare both in RAS+ canonical orientation (same world grid).
    img = nib.as_closest_canonical(nib.load(path))
    truth = nib.as_closest_canonical(nib.Nifti1Image(volume, affine))
    np.testing.assert_allclose(img.affine, truth.affine, atol=1e-3)
    _within_precision(np.asarray(img.dataobj), np.asarray(truth.dataobj))
    raw = nib.load(path).affine  # and the stored affine is the writer's up to the k-axis direction
    np.testing.assert_allclose(raw[:3, :2], affine[:3, :2], atol=1e-3)
    np.testing.assert_allclose(raw[:3, 3], affine[:3, 3] + 5 * affine[:3, 2], atol=1e-3)
    sidecar = json.loads(path.with_name("sub-001_ses-01_T2w.json").read_text())
    assert sidecar["EchoTime"] == pytest.approx(0.095) and sidecar[
        "RepetitionTime"
    ] == pytest.approx(5.0)


def test_dynamic_pet_round_trip_validate_and_read(run_cli, tmp_path):
    """8 frames of varied durations, START correction: validate exits 0; read_dataset gives back
    the voxels (rescale precision), the frame timing (s) and the SUV factor (1e-6 relative)."""
    from gliopet.io.bids_read import read_dataset

    durations = [10.0, 10.0, 30.0, 30.0, 60.0, 120.0, 300.0, 600.0]
    timing = FrameTiming.from_durations(durations, first_start_s=15.0)
    a0 = _activity((20, 20, 12), 8, seed=1)
    affine = _affine()
    files = write_pet_series(
        tmp_path / "src" / "pet",
        a0,
        affine,
        timing,
        weight_kg=WEIGHT_KG,
        dose_bq=DOSE_BQ,
        injection_datetime=INJECTION,
        decay_correction="START",
        frame_reference="decay_weighted",
        patient_id="P1",
        patient_name="Doe^Jane",
    )
    assert len(files) == 8 * 12
    bids, out = _import(tmp_path, tmp_path / "src")
    assert "sub-001/ses-01/pet/sub-001_ses-01_trc-FDOPA_pet.nii.gz" in out
    code, vout, verr = run_cli("validate", bids)
    assert code == 0, vout + verr

    (session,) = read_dataset(bids)
    pet = session.pet
    np.testing.assert_allclose(pet.timing.start_s, timing.start_s, atol=1e-3)
    np.testing.assert_allclose(pet.timing.duration_s, timing.duration_s, atol=1e-3)
    assert session.weight_kg == pytest.approx(WEIGHT_KG)
    assert pet.suv_factor == pytest.approx(WEIGHT_KG * 1000.0 / DOSE_BQ, rel=1e-6)
    np.testing.assert_allclose(pet.load().affine, affine, atol=1e-3)
    stored = a0 * np.exp(
        -LAM * 15.0
    )  # START: decay-corrected to the scan start, 15 s after injection
    _within_precision(pet.frames(), stored)
    # SUV through the reader's decay handling equals A0 W / D (hand formula).
    _within_precision(pet.suv_frames(), a0 * WEIGHT_KG * 1000.0 / DOSE_BQ)


# --------------------------------------------------------------------------------------------
# Vendor variants (static or two-frame series, small)


@pytest.mark.parametrize("frame_reference", ["start", "mid", "decay_weighted"])
def test_frame_reference_time_is_not_the_frame_start(tmp_path, frame_reference):
    """Whatever FrameReferenceTime points at, frame starts come from AcquisitionTime."""
    timing = FrameTiming([600.0, 1200.0], [600.0, 1200.0])
    files = write_pet_series(
        tmp_path / "src",
        _activity((6, 5, 3), 2),
        _affine(),
        timing,
        weight_kg=WEIGHT_KG,
        dose_bq=DOSE_BQ,
        injection_datetime=INJECTION,
        frame_reference=frame_reference,
        patient_id="P1",
        patient_name="Doe^Jane",
    )
    second = pydicom.dcmread(files[3], stop_before_pixels=True)  # frame 2, slice 1
    offset = {
        "start": 0.0,
        "mid": 600.0,
        "decay_weighted": float(decay_weighted_offset_s(1200.0, T_HALF)),
    }
    assert float(second.FrameReferenceTime) == pytest.approx(
        (600.0 + offset[frame_reference]) * 1000.0, abs=0.5
    )
    bids, _ = _import(tmp_path, tmp_path / "src")
    _, sidecar = _pet_sidecar(bids)
    assert sidecar["FrameTimesStart"] == pytest.approx([600.0, 1200.0], abs=1e-3)
    assert sidecar["FrameDuration"] == pytest.approx([600.0, 1200.0], abs=1e-3)
    assert sidecar["ScanStart"] == pytest.approx(600.0, abs=1e-3)
    assert sidecar["TimeZero"] == "09:30:00" and sidecar["InjectionStart"] == 0


def test_decay_weighted_offset_by_hand():
    # 1200 s frame: offset = -ln((1 - exp(-l d)) / (l d)) / l, a little under d / 2.
    lam_d = LAM * 1200.0
    expected = -np.log((1 - np.exp(-lam_d)) / lam_d) / LAM
    assert float(decay_weighted_offset_s(1200.0, T_HALF)) == pytest.approx(expected, rel=1e-12)
    assert 590.0 < expected < 600.0


@pytest.mark.parametrize("decay_correction", ["START", "ADMIN"])
@pytest.mark.parametrize("units", ["BQML", "GML"])
def test_decay_correction_and_units(tmp_path, decay_correction, units):
    """START vs ADMIN and BQML vs GML all give SUV = A0 W / D; Bq/mL follow the decay reference."""
    scan_start = 1800.0
    timing = FrameTiming([scan_start], [1200.0])
    a0 = _activity((6, 5, 4), 1, seed=2)[..., 0]
    write_pet_series(tmp_path / "src", a0, _affine(), timing, weight_kg=WEIGHT_KG, dose_bq=DOSE_BQ,
                     injection_datetime=INJECTION, units=units, decay_correction=decay_correction,
                     patient_id="P1", patient_name="Doe^Jane")
    bids, _ = _import(tmp_path, tmp_path / "src")
    nifti, sidecar = _pet_sidecar(bids)
    assert sidecar["Units"] == "Bq/mL" and sidecar["DICOMUnits"] == units
    assert sidecar["DICOMDecayCorrection"] == decay_correction
    assert (
        sidecar["InjectedRadioactivity"] == pytest.approx(DOSE_BQ / 1e6)
        and sidecar["InjectedRadioactivityUnits"] == "MBq"
    )
    t_dc = scan_start if decay_correction == "START" else 0.0
    assert sidecar["ImageDecayCorrectionTime"] == pytest.approx(t_dc)
    bq_ml = np.asarray(nib.load(nifti).dataobj)
    _within_precision(bq_ml, a0 * np.exp(-LAM * t_dc))  # hand: decayed from injection to t_dc
    expected_suv = a0 * WEIGHT_KG * 1000.0 / DOSE_BQ
    _within_precision(_suv_by_hand(bq_ml, sidecar, WEIGHT_KG), expected_suv)
    sessions = (bids / "sub-001" / "sub-001_sessions.tsv").read_text().splitlines()
    assert sessions == ["session_id\tweight", "ses-01\t72.5"]


def test_decay_correction_none(tmp_path):
    """NONE: ImageDecayCorrected false and the stored frame average of the decaying activity."""
    timing = FrameTiming([600.0], [600.0])
    a0 = _activity((5, 5, 3), 1, seed=4)[..., 0]
    write_pet_series(
        tmp_path / "src",
        a0,
        _affine(),
        timing,
        weight_kg=WEIGHT_KG,
        dose_bq=DOSE_BQ,
        injection_datetime=INJECTION,
        decay_correction="NONE",
        patient_id="P1",
        patient_name="X^Y",
    )
    bids, _ = _import(tmp_path, tmp_path / "src")
    nifti, sidecar = _pet_sidecar(bids)
    assert sidecar["ImageDecayCorrected"] is False
    mean_decay = np.exp(-LAM * 600.0) * (1 - np.exp(-LAM * 600.0)) / (LAM * 600.0)
    _within_precision(np.asarray(nib.load(nifti).dataobj), a0 * mean_decay)


def test_injection_on_previous_day(tmp_path):
    """Series at 00:10 with only RadiopharmaceuticalStartTime 23:50: injection the day before."""
    injection = dt.datetime(2026, 3, 1, 23, 50, 0)
    timing = FrameTiming([1200.0], [600.0])  # series at 00:10:00 on 2 March
    a0 = _activity((5, 4, 3), 1, seed=5)[..., 0]
    files = write_pet_series(
        tmp_path / "src",
        a0,
        _affine(),
        timing,
        weight_kg=WEIGHT_KG,
        dose_bq=DOSE_BQ,
        injection_datetime=injection,
        decay_correction="START",
        write_start_datetime=False,
        patient_id="P1",
        patient_name="X^Y",
    )
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert header.SeriesDate == "20260302" and header.SeriesTime.startswith("001000")
    assert (
        "RadiopharmaceuticalStartDateTime" not in header.RadiopharmaceuticalInformationSequence[0]
    )
    bids, _ = _import(tmp_path, tmp_path / "src")
    nifti, sidecar = _pet_sidecar(bids)
    assert sidecar["TimeZero"] == "23:50:00"
    assert sidecar["ScanStart"] == pytest.approx(1200.0) and sidecar[
        "FrameTimesStart"
    ] == pytest.approx([1200.0])
    assert sidecar["ImageDecayCorrectionTime"] == pytest.approx(1200.0)
    bq_ml = np.asarray(nib.load(nifti).dataobj)
    _within_precision(_suv_by_hand(bq_ml, sidecar, WEIGHT_KG), a0 * WEIGHT_KG * 1000.0 / DOSE_BQ)


def test_cnts_is_refused_with_reason(tmp_path):
    write_pet_series(
        tmp_path / "src",
        _activity((4, 4, 2), 1)[..., 0],
        _affine(),
        FrameTiming([0.0], [60.0]),
        weight_kg=WEIGHT_KG,
        dose_bq=DOSE_BQ,
        injection_datetime=INJECTION,
        units="CNTS",
        patient_id="P1",
        patient_name="X^Y",
    )
    write_mr_series(
        tmp_path / "src" / "mr",
        np.ones((4, 4, 2)),
        _affine(),
        sequence="T1w",
        patient_id="P1",
        patient_name="X^Y",
        study_datetime=INJECTION,
    )
    bids, out = _import(tmp_path, tmp_path / "src")
    assert "CNTS units: counts are not quantitative, export the series in BQML" in out
    assert not list(bids.glob("**/pet/*"))
    assert (bids / "sub-001/ses-01/anat/sub-001_ses-01_T1w.nii.gz").is_file()


# --------------------------------------------------------------------------------------------
# A PACS export: several patients, studies and series; de-identification and the id-map


def _pacs_export(root: Path, patients: dict[str, list[dt.date]]) -> None:
    """PET, four MR contrasts, a localizer, an unknown MR series per study, junk files, nesting."""
    shape, affine = (6, 6, 3), _affine()
    for pid, dates in patients.items():
        for n, date in enumerate(dates):
            when = dt.datetime.combine(date, dt.time(9, 30))
            study = pydicom.uid.generate_uid()
            common = dict(
                patient_id=pid,
                patient_name=f"Name^{pid}",
                birth_date="19580423",
                study_uid=study,
                study_datetime=when,
            )
            folder = root / f"export_{pid}" / f"study{n}"
            write_pet_series(
                folder / "a",
                _activity(shape, 1)[..., 0],
                affine,
                FrameTiming([1200.0], [1200.0]),
                weight_kg=WEIGHT_KG + n,
                dose_bq=DOSE_BQ,
                injection_datetime=when,
                **common,
            )
            for k, seq in enumerate(("T1w", "ce-gadolinium_T1w", "T2w", "FLAIR")):
                write_mr_series(folder / "b" / seq, np.full(shape, 100.0 + k), affine, sequence=seq,
                                series_number=10 + k, **common)
            write_mr_series(folder / "c", np.ones(shape), affine, sequence="T1w", series_number=20,
                            series_description="3-plane localizer", **common)
            write_mr_series(
                folder / "d",
                np.ones(shape),
                affine,
                sequence="T2w",
                series_number=21,
                series_description="mystery_seq",
                **{**common},
                extra=[
                    ("ScanningSequence", ["GR"]),
                    ("SequenceName", "*fl2d1"),
                    ("EchoTime", "15"),
                    ("RepetitionTime", "3000"),
                ],
            )
            (folder / "README.txt").write_text("exported by PACS\n")
            (folder / "b" / "thumbs.db").write_bytes(b"\x00\x01junk")


def _all_bytes(folder: Path) -> bytes:
    blobs = []
    for path in folder.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            blobs.append(gzip.decompress(blob) if path.name.endswith(".gz") else blob)
            blobs.append(path.name.encode())
    return b"\n".join(blobs)


def test_pacs_export_labels_deidentification_and_id_map(run_cli, tmp_path):
    src = tmp_path / "export"
    _pacs_export(
        src, {"PAT-B": [dt.date(2025, 6, 1), dt.date(2025, 1, 15)], "PAT-A": [dt.date(2025, 3, 3)]}
    )
    bids, out = _import(tmp_path, src)
    # PAT-A sorts first -> 001; PAT-B's January study is ses-01.
    kinds = (
        "pet/{k}_trc-FDOPA_pet",
        "anat/{k}_T1w",
        "anat/{k}_ce-gadolinium_T1w",
        "anat/{k}_T2w",
        "anat/{k}_FLAIR",
    )
    expected = {f"sub-{s}/ses-{t}/" + kind.format(k=f"sub-{s}_ses-{t}") + ".nii.gz"
                for s, t in (("001", "01"), ("002", "01"), ("002", "02")) for kind in kinds}
    found = {p.relative_to(bids).as_posix() for p in bids.glob("sub-*/ses-*/*/*.nii.gz")}
    assert found == expected
    assert "Read 69 files: 63 DICOM, 6 ignored (not DICOM)." in out
    lines = out.splitlines()
    # Skipped series are named by SeriesNumber; descriptions only with --verbose.
    assert sum(line.startswith("  #20 ") and line.endswith("  localizer") for line in lines) == 3
    unknown = "MR sequence not recognised: give it in --series-map"
    assert sum(line.startswith("  #21 ") and line.endswith(unknown) for line in lines) == 3
    assert "3-plane localizer" not in out and "mystery_seq" not in out
    sessions = (bids / "sub-002" / "sub-002_sessions.tsv").read_text().splitlines()
    assert sessions == [
        "session_id\tweight",
        "ses-01\t73.5",
        "ses-02\t72.5",
    ]  # Jan study written second (n=1)

    text = _all_bytes(bids)
    for secret in (b"PAT-A", b"PAT-B", b"Name^", b"19580423", b"20250601", b"2025-06-01"):
        assert secret not in text, secret

    id_map = tmp_path / "ids.json"
    assert stat.S_IMODE(id_map.stat().st_mode) == 0o600
    ids = json.loads(id_map.read_text())
    assert ids["subjects"] == {"PAT-A": "001", "PAT-B": "002"}
    assert ids["sessions"]["PAT-B"] == {"20250115": "01", "20250601": "02"}
    (entry,) = [
        f
        for f in ids["imports"][0]["files"]
        if f["bids_path"].endswith("sub-002_ses-02_FLAIR.nii.gz")
    ]
    first = pydicom.dcmread(src / entry["source_files"][0], stop_before_pixels=True)
    assert entry["PatientID"] == "PAT-B" and entry["SeriesInstanceUID"] == first.SeriesInstanceUID
    assert (
        entry["SOPInstanceUIDs"][0] == first.SOPInstanceUID and len(entry["SOPInstanceUIDs"]) == 3
    )
    assert entry["FrameOfReferenceUID"] == first.FrameOfReferenceUID

    # A later import with the same id-map keeps the labels and numbers a new patient next.
    src2 = tmp_path / "export2"
    _pacs_export(src2, {"PAT-B": [dt.date(2025, 1, 15)], "PAT-C": [dt.date(2025, 2, 2)]})
    code, out2, err2 = run_cli("import-dicom", src2, tmp_path / "bids2", "--id-map", id_map)
    assert code == 0, err2
    assert (tmp_path / "bids2/sub-002/ses-01/pet/sub-002_ses-01_trc-FDOPA_pet.nii.gz").is_file()
    assert (tmp_path / "bids2/sub-003/ses-01/anat/sub-003_ses-01_T1w.nii.gz").is_file()
    assert len(json.loads(id_map.read_text())["imports"]) == 2


def test_series_map_names_an_unrecognised_series(run_cli, tmp_path):
    src = tmp_path / "src"
    write_mr_series(
        src,
        np.full((4, 4, 2), 7.0),
        _affine(),
        sequence="T2w",
        patient_id="P1",
        patient_name="X^Y",
        series_description="mystery_seq",
        extra=[
            ("ScanningSequence", ["GR"]),
            ("SequenceName", "*fl2d1"),
            ("EchoTime", "15"),
            ("RepetitionTime", "3000"),
        ],
    )
    code, out, err = run_cli(
        "import-dicom", src, tmp_path / "bids", "--id-map", tmp_path / "ids.json"
    )
    assert code == 2 and "MR sequence not recognised: give it in --series-map" in out
    mapping = tmp_path / "map.yaml"
    mapping.write_text("'MYSTERY*': FLAIR\n")
    bids, out = _import(tmp_path, src, "--series-map", mapping)
    assert (bids / "sub-001/ses-01/anat/sub-001_ses-01_FLAIR.nii.gz").is_file()


def test_existing_bids_dir_needs_overwrite(run_cli, tmp_path):
    src = tmp_path / "src"
    write_mr_series(
        src, np.ones((4, 4, 2)), _affine(), sequence="T1w", patient_id="P1", patient_name="X^Y"
    )
    bids, _ = _import(tmp_path, src)
    code, out, err = run_cli("import-dicom", src, bids, "--id-map", tmp_path / "ids.json")
    assert code == 2
    assert err.strip() == (
        f"error: {bids}: the BIDS folder exists and is not empty (fix: give a new folder, or add "
        "--overwrite to replace it)"
    )
    report = import_dicom(src, bids, tmp_path / "ids.json", overwrite=True)
    assert [w.bids_path for w in report.written] == [
        "sub-001/ses-01/anat/sub-001_ses-01_T1w.nii.gz"
    ]


def test_vendor_without_image_index_and_with_one_acquisition_time(tmp_path):
    """No ImageIndex and every frame stamped with the series start: frames are grouped by
    FrameReferenceTime and laid end to end from SeriesTime with ActualFrameDuration."""
    timing = FrameTiming.from_durations([60.0, 120.0, 300.0], first_start_s=30.0)
    files = write_pet_series(
        tmp_path / "src",
        _activity((5, 4, 3), 3),
        _affine(),
        timing,
        weight_kg=WEIGHT_KG,
        dose_bq=DOSE_BQ,
        injection_datetime=INJECTION,
        frame_reference="mid",
        patient_id="P1",
        patient_name="X^Y",
    )
    for path in files:
        ds = pydicom.dcmread(path)
        del ds.ImageIndex
        ds.AcquisitionTime = ds.SeriesTime
        ds.save_as(path)
    bids, out = _import(tmp_path, tmp_path / "src")
    assert (
        "frames share one AcquisitionTime: frame starts derived from SeriesTime and "
        "ActualFrameDuration"
        in out
    )
    _, sidecar = _pet_sidecar(bids)
    assert sidecar["FrameTimesStart"] == pytest.approx([30.0, 90.0, 210.0], abs=1e-3)
    assert sidecar["FrameDuration"] == pytest.approx([60.0, 120.0, 300.0], abs=1e-3)


def test_series_map_tsv_by_uid(tmp_path):
    """A TSV map entry naming a SeriesInstanceUID overrides the classifier ('skip' here)."""
    src = tmp_path / "src"
    t1 = write_mr_series(src / "t1", np.ones((4, 4, 2)), _affine(), sequence="T1w", patient_id="P1",
                         patient_name="X^Y", series_number=3)
    write_mr_series(src / "t2", np.ones((4, 4, 2)), _affine(), sequence="T2w", patient_id="P1",
                    patient_name="X^Y", series_number=4)
    uid = pydicom.dcmread(t1[0], stop_before_pixels=True).SeriesInstanceUID
    mapping = tmp_path / "map.tsv"
    mapping.write_text(f"match\tsuffix\n{uid}\tskip\n")
    bids, out = _import(tmp_path, src, "--series-map", mapping)
    assert "skipped by --series-map" in out
    assert [p.name for p in bids.rglob("*.nii.gz")] == ["sub-001_ses-01_T2w.nii.gz"]
