"""The biopsy target in the patient report: one row per targeting point with its coordinates
and values in units, the rest of the record in words (no Python dict or list printed), and a
session without target said in words."""

from __future__ import annotations

from gliopet.report.patient import TARGET_POINT_HEADER, target_points, target_rows

TARGET = {
    "participant_id": "sub-002", "session_id": "ses-diagnosis", "target_status": "ok",
    "target_ras_mm": [20.439, -42.542, -28.913], "target_lps_mm": [-20.439, 42.542, -28.913],
    "target_voxel_mri": [24, 18, 13], "inside_mri": True, "aggressiveness_sphere_mean": 0.8741,
    "edge_distance_mm": 8.84,
    "alternatives": {
        "suvmax": {"target_ras_mm": [1.0, 2.0, 3.0], "target_lps_mm": [-1.0, -2.0, 3.0],
                   "target_voxel_mri": [1, 2, 3], "inside_mri": True, "SUV": 6.5397,
                   "rule": "tumour voxel of highest static SUV"},
        "ttp_hotspot": {"target_ras_mm": [4.0, 5.0, 6.0], "target_lps_mm": [-4.0, -5.0, 6.0],
                        "target_voxel_mri": [4, 5, 6], "inside_mri": False, "TTP_min": 4.25,
                        "volume_mL": 20.9961, "rule": "centroid of the earliest hot spot"},
    },
    "provenance": {"gliopet": "0.1.0", "inputs": ["a.nii.gz"]},
    "dicom": {"seg": "x_seg.dcm", "map_series_files": 42,
              "segments": {"1": "aggressive subregion", "2": "biopsy target"}},
}


def test_one_row_per_targeting_point_with_units():
    rows = target_points(TARGET)
    assert [len(r) for r in rows] == [len(TARGET_POINT_HEADER)] * 3
    assert rows[0] == ("biopsy target (aggressive subregion)", "20.44, -42.54, -28.91",
                       "-20.44, 42.54, -28.91", "24, 18, 13", "yes", "aggressiveness 0.874")
    assert rows[1][0] == "SUVmax voxel: tumour voxel of highest static SUV"
    assert rows[1][5] == "SUV 6.54 g/mL"
    assert rows[2][4] == "no" and rows[2][5] == "TTP 4.25 min; hot spot 21 mL"


def test_the_rest_in_words_without_python_reprs():
    rows = dict(target_rows(TARGET))
    assert rows["edge distance (mm)"] == "8.84" and rows["target status"] == "ok"
    assert rows["DICOM seg"] == "x_seg.dcm" and rows["DICOM map series files"] == "42"
    assert rows["DICOM segments"] == "1 aggressive subregion, 2 biopsy target"
    assert not any(k in rows for k in ("provenance", "alternatives", "participant id"))
    assert not any("{" in v or "[" in v for v in rows.values())


def test_no_target_gives_no_point_and_says_why():
    record = {"target_status": "no target: no PET-avid tumour", "target_ras_mm": None,
              "target_lps_mm": None, "target_voxel_mri": None, "alternatives": {},
              "dicom": {"written": False, "reason": "no tumour"}}
    assert target_points(record) == []
    assert dict(target_rows(record)) == {"target status": "no target: no PET-avid tumour",
                                         "DICOM written": "no", "DICOM reason": "no tumour"}
