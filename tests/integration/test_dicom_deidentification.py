"""De-identification of `import-dicom` (docs/deidentification.md; issue 10, defect 2).

A PET and three MR series carry a distinct marker in every attribute that the policy table
marks "removed" (names, IDs, birth date, addresses, institution, physicians, operators,
descriptions, comments, accession number, UIDs, dates, a private tag, the free-text
radiopharmaceutical name). After the import, no marker may appear anywhere in what the import
produced: the bytes of every file of the dataset (NIfTI decompressed, so its header fields
``descrip``, ``aux_file`` and ``intent_name`` are covered), every file and folder name, and the
console output. The id-map, outside the dataset, holds original identifiers by design.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gliopet.io.dicom import write_mr_series, write_pet_series
from gliopet.io.timing import FrameTiming

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deidentification.md"
INJECTION = dt.datetime(2025, 6, 1, 9, 30, 0)
STUDY_DAY = "20250601"
UID_ROOT = "1.2.826.0.1.3680043.8.498.4242."
AFFINE = np.diag([2.0, 2.0, 3.0, 1.0])

#: Text attributes (keyword -> marker), each a value valid for its VR.
TEXT_MARKERS = {
    "PatientName": "QZXNAME^QZXGIVEN",
    "PatientID": "QZXPID001",
    "IssuerOfPatientID": "QZXISSUER",
    "OtherPatientIDs": "QZXOTHERID",
    "OtherPatientNames": "QZXOTHERNAME",
    "PatientBirthName": "QZXBIRTHNAME",
    "PatientMotherBirthName": "QZXMOTHER",
    "PatientAddress": "QZXADDRESS 12",
    "PatientTelephoneNumbers": "QZXPHONE",
    "MedicalRecordLocator": "QZXMRL",
    "PatientComments": "QZXPATCOMMENT",
    "AdditionalPatientHistory": "QZXHISTORY",
    "Occupation": "QZXOCCUPATION",
    "EthnicGroup": "QZXETHNIC",
    "InstitutionName": "QZXHOSPITAL",
    "InstitutionAddress": "QZXINSTADDRESS",
    "InstitutionalDepartmentName": "QZXDEPARTMENT",
    "ReferringPhysicianName": "QZXREFERRING",
    "PerformingPhysicianName": "QZXPERFORMING",
    "NameOfPhysiciansReadingStudy": "QZXREADING",
    "PhysiciansOfRecord": "QZXRECORD",
    "RequestingPhysician": "QZXREQUESTING",
    "OperatorsName": "QZXOPERATOR",
    "StationName": "QZXSTATION",
    "DeviceSerialNumber": "QZXSERIAL",
    "AccessionNumber": "QZXACC123",
    "StudyID": "QZXSTUDYID",
    "StudyDescription": "QZXSTUDYDESC",
    "ProtocolName": "QZXPROTOCOL",
    "PerformedProcedureStepDescription": "QZXPPSDESC",
    "RequestedProcedureDescription": "QZXREQPROC",
    "ImageComments": "QZXIMAGECOMMENT",
    "AcquisitionComments": "QZXACQCOMMENT",
    "DerivationDescription": "QZXDERIVATION",
}
#: Patient characteristics that are not kept (PatientSex and PatientWeight are).
CHARACTERISTICS = {"PatientAge": "087Y", "PatientSize": "1.8765"}
#: Per series (its SeriesDescription gets the kind appended: QZXSERIESDESC_pet ...).
SERIES_DESCRIPTION = "QZXSERIESDESC"
#: Attributes set on one kind of series only.
PET_MARKERS = {
    "Radiopharmaceutical": "QZXRADIOPHARM",  # inside RadiopharmaceuticalInformationSequence
    "ReconstructionMethod": "OSEM 3i21s QZXRECON",
    "AttenuationCorrectionMethod": "measured QZXATTEN",
}
MR_MARKERS = {"ContrastBolusAgent": "QZXCONTRAST"}
REQUEST_MARKERS = {"ScheduledProcedureStepDescription": "QZXSPSDESC",
                   "RequestedProcedureID": "QZXREQID"}  # in RequestAttributesSequence
PRIVATE = ("QZXCREATOR", "QZXPRIVATE")  # private creator (0009,0010), value (0009,1001)
#: Dates (keyword -> DA); StudyDate, SeriesDate, AcquisitionDate and
#: RadiopharmaceuticalStartDateTime are the study day, written by the series writers.
DATE_MARKERS = {"PatientBirthDate": "19450312", "ContentDate": "20250602",
                "InstanceCreationDate": "20250603"}
#: Times of day that are not kept (HHMMSS; SeriesTime and AcquisitionTime become intervals).
TIME_MARKERS = {"StudyTime": "071523", "ContentTime": "072634", "InstanceCreationTime": "073745"}
STUDY_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "RadiopharmaceuticalStartDateTime")
UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID",
        "InstanceCreatorUID")


def _plant(ds: Dataset, kind: str) -> None:
    """Put every marker of the policy table into one file's header."""
    for keyword, value in {**TEXT_MARKERS, **CHARACTERISTICS}.items():
        setattr(ds, keyword, value)
    ds.SeriesDescription = f"{SERIES_DESCRIPTION}_{kind}"
    for keyword, value in {**DATE_MARKERS, **TIME_MARKERS}.items():
        setattr(ds, keyword, value)
    ds.InstanceCreatorUID = UID_ROOT + "99"
    request = Dataset()
    for keyword, value in REQUEST_MARKERS.items():
        setattr(request, keyword, value)
    ds.RequestAttributesSequence = Sequence([request])
    ds.private_block(0x0009, PRIVATE[0], create=True).add_new(0x01, "LO", PRIVATE[1])
    if kind == "pet":
        ds.RadiopharmaceuticalInformationSequence[0].Radiopharmaceutical = (
            PET_MARKERS["Radiopharmaceutical"])
        ds.ReconstructionMethod = PET_MARKERS["ReconstructionMethod"]
        ds.AttenuationCorrectionMethod = PET_MARKERS["AttenuationCorrectionMethod"]
    elif kind == "ce":
        ds.ContrastBolusAgent = MR_MARKERS["ContrastBolusAgent"]


def _export(root: Path) -> list[str]:
    """A PET (code sequence for the tracer) and T1w, contrast T1w and FLAIR series of one
    study, every marker planted; returns the UIDs written (all must stay out of the dataset)."""
    common = dict(patient_id="QZXPID001", patient_name="QZXNAME^QZXGIVEN", birth_date="19450312",
                  sex="F", study_uid=UID_ROOT + "1", frame_of_reference_uid=UID_ROOT + "2",
                  study_datetime=INJECTION)
    data = np.random.default_rng(0).uniform(1000.0, 5000.0, size=(5, 4, 3, 2))
    series = {"pet": write_pet_series(
        root / "pet", data, AFFINE, FrameTiming([600.0, 900.0], [300.0, 300.0]), weight_kg=70.0,
        dose_bq=2.0e8, injection_datetime=INJECTION, series_uid=UID_ROOT + "3",
        radiopharmaceutical_code=("C-B1034", "SRT", "Fluoro-L-dopa F^18^"), **common)}
    for n, (kind, sequence) in enumerate((("t1", "T1w"), ("ce", "T1w"), ("flair", "FLAIR"))):
        series[kind] = write_mr_series(root / kind, np.full((5, 4, 3), 100.0 + n), AFFINE,
                                       sequence=sequence, series_uid=UID_ROOT + f"{4 + n}",
                                       series_number=2 + n, **common)
    uids = []
    for kind, paths in series.items():
        for path in paths:
            ds = pydicom.dcmread(path)
            _plant(ds, kind)
            ds.save_as(path)
            uids += [str(ds.get(k)) for k in UIDS]
    return sorted(set(uids))


def _markers(uids: list[str]) -> list[str]:
    """Every marker: the QZX words, the characteristics, the dates (DA and ISO), the UIDs."""
    planted = [*TEXT_MARKERS.values(), SERIES_DESCRIPTION, *PET_MARKERS.values(),
               *MR_MARKERS.values(), *REQUEST_MARKERS.values(), *PRIVATE]
    words = sorted(set(re.findall(r"QZX\w+", " ".join(planted).replace("^", " "))))
    assert len(words) == len(planted) + 1  # PatientName holds two
    dates = [*DATE_MARKERS.values(), STUDY_DAY]
    dates += [f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in dates]
    times = [f"{t[:2]}:{t[2:4]}:{t[4:]}" for t in TIME_MARKERS.values()]
    return words + list(CHARACTERISTICS.values()) + dates + times + [*TIME_MARKERS.values()] \
        + uids


def _outputs(bids: Path) -> dict[str, bytes]:
    """Everything the import wrote: each file's bytes (NIfTI decompressed) and each name."""
    blobs = {}
    for path in sorted(bids.rglob("*")):
        blobs[f"name of {path.relative_to(bids)}"] = path.name.encode()
        if path.is_file():
            blob = path.read_bytes()
            blobs[str(path.relative_to(bids))] = gzip.decompress(blob) if path.suffix == ".gz" \
                else blob
    return blobs


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    from support.cli import run_cli

    tmp = tmp_path_factory.mktemp("deid")
    uids = _export(tmp / "QZXFOLDER_export")
    bids, id_map = tmp / "bids", tmp / "private" / "ids.json"
    code, out, err = run_cli("import-dicom", tmp / "QZXFOLDER_export", bids, "--id-map", id_map)
    assert code == 0, out + err
    return bids, id_map, out + err, uids


def test_no_marker_reaches_any_output(imported):
    bids, _, console, uids = imported
    outputs = _outputs(bids)
    outputs["console"] = console.encode()
    assert len(outputs) > 20
    found = [(marker, where) for marker in _markers(uids) for where, blob in outputs.items()
             if marker.lower().encode() in blob.lower()]
    assert found == []
    # And nothing with the marker prefix at all (catches an attribute the list forgot).
    assert [where for where, blob in outputs.items() if b"qzx" in blob.lower()] == []


def test_the_import_kept_what_the_policy_keeps(imported):
    bids, _, console, _ = imported
    pet = bids / "sub-001/ses-01/pet/sub-001_ses-01_trc-FDOPA_pet.json"
    sidecar = json.loads(pet.read_text())
    assert sidecar["TracerName"] == "FDOPA"  # from the code sequence, not the free text
    assert sidecar["TimeZero"] == "09:30:00" and sidecar["FrameTimesStart"] == [600.0, 900.0]
    assert sidecar["ReconMethodName"] == "OSEM 3i21s"
    assert sidecar["AttenuationCorrection"] == "measured"
    assert (bids / "participants.tsv").read_text().splitlines()[1] == "sub-001\tF"
    assert (bids / "sub-001/sub-001_sessions.tsv").read_text().splitlines()[1] == "ses-01\t70.0"
    anat = sorted(p.name for p in (bids / "sub-001/ses-01/anat").glob("*.nii.gz"))
    assert anat == ["sub-001_ses-01_FLAIR.nii.gz", "sub-001_ses-01_T1w.nii.gz",
                    "sub-001_ses-01_ce-gadolinium_T1w.nii.gz"]
    t1 = json.loads((bids / "sub-001/ses-01/anat/sub-001_ses-01_T1w.json").read_text())
    assert "SeriesDescription" not in t1


def test_nifti_header_text_fields_are_empty(imported):
    bids, *_ = imported
    for path in bids.rglob("*.nii.gz"):
        header = nib.load(path).header
        for field in ("descrip", "aux_file", "intent_name", "db_name"):
            assert bytes(header[field].item()).strip(b"\x00 ") == b"", (path.name, field)


def test_the_id_map_outside_the_dataset_holds_the_identifiers(imported):
    bids, id_map, _, uids = imported
    assert not id_map.resolve().is_relative_to(bids.resolve())
    text = id_map.read_text()
    record = json.loads(text)
    assert record["subjects"] == {"QZXPID001": "001"}
    assert record["sessions"] == {"QZXPID001": {STUDY_DAY: "01"}}
    assert all(uid in text for uid in uids if uid != UID_ROOT + "99")  # InstanceCreatorUID not
    assert f"{SERIES_DESCRIPTION}_pet" in text


def test_verbose_shows_series_descriptions_on_the_console_only(run_cli, tmp_path):
    _export(tmp_path / "src")
    code, out, err = run_cli("--verbose", "import-dicom", tmp_path / "src", tmp_path / "bids",
                             "--id-map", tmp_path / "ids.json")
    assert code == 0, out + err
    assert f"from series #1 '{SERIES_DESCRIPTION}_pet'" in out
    assert not [w for w, blob in _outputs(tmp_path / "bids").items() if b"qzx" in blob.lower()]


def test_every_removed_attribute_of_the_policy_is_planted():
    """The policy table and this test name the same attributes (keywords in backticks of the
    rows whose action starts with "removed")."""
    rows = [line for line in DOCS.read_text().splitlines()
            if line.startswith("| `") and re.search(r"\|\s*removed", line)]
    removed = {re.match(r"\| `(\w+)`", row).group(1) for row in rows}
    planted = {*TEXT_MARKERS, *CHARACTERISTICS, "SeriesDescription", *PET_MARKERS, *MR_MARKERS,
               *REQUEST_MARKERS, "RequestAttributesSequence", "PrivateAttributes", *DATE_MARKERS,
               *TIME_MARKERS, *STUDY_DATES,
               *UIDS}
    assert removed == planted


# --------------------------------------------------------------------------------------------
# The tracer label: a code or a known name, never the free text


def _pet(folder: Path, **kwargs) -> None:
    write_pet_series(folder, np.full((4, 4, 2), 3000.0), AFFINE, FrameTiming([600.0], [600.0]),
                     weight_kg=70.0, dose_bq=2.0e8, injection_datetime=INJECTION,
                     patient_id="P1", patient_name="X^Y", **kwargs)


def test_free_text_radiopharmaceutical_needs_the_tracer_option(run_cli, tmp_path):
    """The audit's case: a free-text name with a patient name became the trc- label."""
    _pet(tmp_path / "src", radiopharmaceutical="QUIMBY^2 fet c")
    code, out, err = run_cli("import-dicom", tmp_path / "src", tmp_path / "bids", "--id-map",
                             tmp_path / "ids.json")
    assert code == 2
    assert err.strip() == (
        f"error: {tmp_path / 'src'}: the PET tracer is not recognised: "
        "RadiopharmaceuticalCodeSequence holds no known code and the Radiopharmaceutical name "
        "is not a known tracer name (free text is never copied into the dataset) (fix: give the "
        "tracer label with --tracer (e.g. --tracer FDOPA))")
    assert not (tmp_path / "bids").exists() and not (tmp_path / "ids.json").exists()
    code, out, err = run_cli("import-dicom", tmp_path / "src", tmp_path / "bids", "--id-map",
                             tmp_path / "ids.json", "--tracer", "FET")
    assert code == 0, err
    (pet,) = (tmp_path / "bids").rglob("*_pet.nii.gz")
    assert pet.name == "sub-001_ses-01_trc-FET_pet.nii.gz"
    assert not [w for w, blob in _outputs(tmp_path / "bids").items()
                if b"quimby" in blob.lower()]


@pytest.mark.parametrize(("name", "code", "label"), [
    ("Fluorodopa F^18^", None, "FDOPA"),  # the writer's default name
    ("[18F]FET", None, "FET"),
    ("FDG -- fluorodeoxyglucose", None, "FDG"),
    ("anything at all", ("35321007", "SCT", "Fluorodeoxyglucose F^18^"), "FDG"),
    ("anything at all", ("C-B07E0", "SRT", "Fluorethyltyrosin F^18^"), "FET"),
    ("anything at all", ("99999", "99LOCAL", "Methionine C^11^"), "MET"),  # meaning matched
])
def test_tracer_from_code_or_known_name(run_cli, tmp_path, name, code, label):
    _pet(tmp_path / "src", radiopharmaceutical=name, radiopharmaceutical_code=code)
    code_, out, err = run_cli("import-dicom", tmp_path / "src", tmp_path / "bids", "--id-map",
                              tmp_path / "ids.json")
    assert code_ == 0, err
    (pet,) = (tmp_path / "bids").rglob("*_pet.json")
    assert pet.name == f"sub-001_ses-01_trc-{label}_pet.json"
    assert json.loads(pet.read_text())["TracerName"] == label


def test_burned_in_annotation_is_skipped(run_cli, tmp_path):
    """A series that says its pixels carry text is not imported (Clean Pixel Data is not done)."""
    _pet(tmp_path / "src" / "pet")
    files = write_mr_series(tmp_path / "src" / "mr", np.ones((4, 4, 2)), AFFINE, sequence="T1w",
                            patient_id="P1", patient_name="X^Y", study_datetime=INJECTION,
                            series_number=7)
    for path in files:
        ds = pydicom.dcmread(path)
        ds.BurnedInAnnotation = "YES"
        ds.save_as(path)
    code, out, err = run_cli("import-dicom", tmp_path / "src", tmp_path / "bids", "--id-map",
                             tmp_path / "ids.json")
    assert code == 0, err
    assert "  #7      MR        2      BurnedInAnnotation YES: the pixels may show identifiers" \
        in out.splitlines()
    assert not list((tmp_path / "bids").rglob("anat"))
