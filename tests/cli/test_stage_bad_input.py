"""One set of dataset checks (issue 10, defects 5 and 6): what `gliopet validate` calls an error,
`gliopet preprocess` and `gliopet quantify` refuse with the same one-line message before any work.

Each case breaks a tiny valid dataset (`support.bids_factory`) in one way. `gliopet validate`
reports the exact problem and exits 2; both stages print ``error: <file>: <problem> (fix: ...)``
on one line, exit 2 and write nothing. Then every case of the validate corpus
(tests/cli/test_bad_input.py) goes through the stage runner with a toy stage: it refuses exactly
the datasets validate calls unusable, with validate's first error, and runs the others.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gliopet.errors import InputError
from gliopet.io.bids_write import write_sessions
from gliopet.stage import run_stage
from support.bids_factory import make_bids_dataset, snapshot, truncate
from support.stages import FrameCountStage

SESSION_DIR = "sub-01/ses-diagnosis"
SIDECAR = f"{SESSION_DIR}/pet/sub-01_ses-diagnosis_trc-FDOPA_pet.json"
T1W = f"{SESSION_DIR}/anat/sub-01_ses-diagnosis_T1w.nii.gz"
SESSIONS = "sub-01/sub-01_sessions.tsv"
FRAME_FIX = ("(fix: FrameTimesStart and FrameDuration need one value per image frame; check that "
             "the sidecar belongs to the image)")


def _rename_subject(label: str):
    def build(root: Path) -> None:
        make_bids_dataset(root)
        (root / "sub-01").rename(root / f"sub-{label}")
    return build


def _rename_session(label: str):
    def build(root: Path) -> None:
        make_bids_dataset(root)
        (root / "sub-01" / "ses-diagnosis").rename(root / "sub-01" / f"ses-{label}")
    return build


def _sessions_table(**cells):
    """The factory dataset with these cells in its sessions.tsv row (weight 70 kg unless given)."""
    def build(root: Path) -> None:
        import pandas as pd

        make_bids_dataset(root)
        row = {"session_id": "ses-diagnosis", "site": "siteA", "weight": 70.0, **cells}
        write_sessions(root, "01", pd.DataFrame([row]))
    return build


def _truncated_t1w_stream(root: Path) -> None:
    ds = make_bids_dataset(root)
    truncate(ds.anat["sub-01_ses-diagnosis"]["T1w"], 0.5, cut_compressed=True)


def _tracer_without_trc_entity(root: Path) -> None:
    """TracerName CIMBI-36 and PET files named without a trc- entity."""
    ds = make_bids_dataset(root, sidecar_overrides={"TracerName": "CIMBI-36"})
    for path in (ds.first_pet(), ds.sidecar_path()):
        path.rename(path.with_name(path.name.replace("_trc-FDOPA", "")))


def _folder_problem(prefix: str, entity: str, label: str) -> str:
    example = "sub-001" if prefix == "sub" else "ses-baseline"
    return (f"the {entity} label {label!r} of this folder is not a BIDS label (letters and digits "
            "only), so no file name can be built from it (fix: rename the folder and the "
            f"{prefix}-{label} part of its file names to {prefix}-<letters and digits>, e.g. "
            f"{example})")


#: case -> (build, file of the error relative to the dataset, message with its fix)
CASES = {
    # defect 5: were "internal error" (or a misleading error) in preprocess, usable for validate
    "sidecar_timing_for_fewer_frames_than_the_image": (
        lambda root: make_bids_dataset(root, n_frames=27, shape=(4, 4, 3), sidecar_overrides={
            "FrameTimesStart": [0.0] + list(np.cumsum([60.0] * 24)),
            "FrameDuration": [60.0] * 25}),
        SIDECAR,
        f"the sidecar lists 25 frames but the image has 27 {FRAME_FIX}",
    ),
    "static_3d_pet_with_a_dynamic_sidecar": (
        lambda root: make_bids_dataset(root, pet_data=lambda data: data[..., 0]),
        SIDECAR,
        f"the sidecar lists 6 frames but the image has 1 {FRAME_FIX}",
    ),
    "subject_folder_with_a_space": (
        _rename_subject("00 1"), "sub-00 1", _folder_problem("sub", "subject", "00 1")),
    "subject_folder_with_shell_characters": (
        _rename_subject("a;rm -rf x"), "sub-a;rm -rf x",
        _folder_problem("sub", "subject", "a;rm -rf x")),
    "subject_folder_dot_dot": (_rename_subject(".."), "sub-..", _folder_problem("sub", "subject",
                                                                               "..")),
    "session_folder_with_a_hyphen": (
        _rename_session("pre-op"), "sub-01/ses-pre-op",
        _folder_problem("ses", "session", "pre-op")),
    "truncated_anatomical_gzip_stream": (
        _truncated_t1w_stream,
        T1W,
        "truncated or corrupt compressed file (Compressed file ended before the end-of-stream "
        "marker was reached) (fix: copy or export the file again)",
    ),
    "tracer_name_that_cannot_label_files": (
        _tracer_without_trc_entity,
        f"{SESSION_DIR}/pet/sub-01_ses-diagnosis_pet.json",
        "TracerName 'CIMBI-36' cannot label gliopet's output files (trc-<label>: letters and "
        "digits only) and the PET file name has no trc- entity (fix: add trc-<tracer> to the PET "
        "image and sidecar names (e.g. trc-FDOPA), or write TracerName in letters and digits)",
    ),
    # defect 6: misleading or missing checks
    "negative_weight": (
        lambda root: make_bids_dataset(root, weight_kg=-70.0),
        SESSIONS,
        "body weight -70 kg of sub-01 ses-diagnosis is not a positive number (fix: write the "
        "value in kg (e.g. 70) in the weight column, or n/a when it is unknown)",
    ),
    "weight_in_words": (
        _sessions_table(weight="seventy"),
        SESSIONS,
        "body weight 'seventy' of sub-01 ses-diagnosis is not a positive number (fix: write the "
        "value in kg (e.g. 70) in the weight column, or n/a when it is unknown)",
    ),
    "negative_injected_activity_in_sessions_table": (
        _sessions_table(injected_activity_MBq=-185.0),
        SESSIONS,
        "injected_activity_MBq -185 MBq of sub-01 ses-diagnosis is not a positive number (fix: "
        "write the value in MBq (e.g. 185) in the injected_activity_MBq column, or n/a when it "
        "is unknown)",
    ),
    "implausible_injected_activity_in_sessions_table": (
        _sessions_table(injected_activity_MBq=5000.0),
        SESSIONS,
        "injected_activity_MBq 5000 MBq of sub-01 ses-diagnosis is outside the plausible range "
        "10-1000 MBq (fix: check the injected_activity_MBq column is in MBq, or set "
        "io.injected_activity_MBq_range in the configuration)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_and_the_stages_agree(run_cli, tmp_path, case):
    build, file, message = CASES[case]
    root = tmp_path / "bids"
    build(root)
    before = snapshot(root)

    code, out, err = run_cli("validate", root, "--json")
    assert code == 2, (out, err)
    errors = [(p["file"], p["message"]) for p in json.loads(out)["problems"]
              if p["level"] == "error"]
    assert errors == [(file, message)]

    problem, _, fix = message.partition(" (fix: ")
    expected = f"error: {root / file}: {problem} (fix: {fix}"
    for verb in ("preprocess", "quantify"):
        code, out, err = run_cli(verb, root)
        assert (code, err.strip()) == (2, expected), (verb, out)
        assert snapshot(root) == before, verb  # nothing written, not even derivatives/


def test_the_stage_names_the_number_of_errors(run_cli, tmp_path):
    root = tmp_path / "bids"
    make_bids_dataset(root, weight_kg=-70.0, dose_mbq=5000.0)
    code, out, _ = run_cli("validate", root, "--json")
    assert code == 2 and len(json.loads(out)["problems"]) == 2
    code, _, err = run_cli("preprocess", root)
    assert code == 2
    assert err.strip() == (
        f"error: {root / SESSIONS}: body weight -70 kg of sub-01 ses-diagnosis is not a positive "
        "number (fix: write the value in kg (e.g. 70) in the weight column, or n/a when it is "
        f"unknown; this is the first of 2 errors: gliopet validate {root} lists them all)")


def test_participant_label_checks_only_the_selected_sessions(tmp_path):
    root = tmp_path / "bids"
    make_bids_dataset(root, n_subjects=2)
    truncate(root / SESSION_DIR.replace("01", "02", 1) / "anat"
             / "sub-02_ses-diagnosis_T1w.nii.gz")
    run = run_stage(FrameCountStage(), root, participant_label=["01"])
    assert [o.key for o in run.outcomes] == ["sub-01_ses-diagnosis"]
    with pytest.raises(InputError, match="sub-02_ses-diagnosis_T1w.nii.gz: truncated"):
        run_stage(FrameCountStage(), root, participant_label=["02"])


def test_tracer_name_with_other_characters_takes_the_file_name_label(run_cli, tmp_path):
    """TracerName [18F]FDOPA (not a BIDS label) in ..._trc-FDOPA_pet.nii.gz: the outputs are
    labelled trc-FDOPA (the toy stage ended in a ValueError of bids_name)."""
    root = tmp_path / "bids"
    make_bids_dataset(root, sidecar_overrides={"TracerName": "[18F]FDOPA"})
    assert run_cli("validate", root)[0] == 0
    run_stage(FrameCountStage(), root)
    written = sorted(p.name for p in (root / "derivatives").rglob("*_frames.tsv"))
    assert written == ["sub-01_ses-diagnosis_trc-FDOPA_desc-count_frames.tsv"]


def _validate_corpus():
    from test_bad_input import CASES as VALIDATE_CASES

    return VALIDATE_CASES


@pytest.mark.parametrize("case", sorted(_validate_corpus()))
def test_validate_verdict_predicts_the_stage_runner(run_cli, tmp_path, case):
    """Every case of the validate corpus: usable <=> the stage runner runs it; otherwise it
    refuses with validate's first error and writes nothing."""
    build, expected_code, _ = _validate_corpus()[case]
    root = tmp_path / "bids"
    build(root)
    code, out, _ = run_cli("validate", root, "--json")
    assert code == expected_code
    report = json.loads(out)
    before = snapshot(root)
    if report["usable"]:
        run = run_stage(FrameCountStage(), root)
        assert all(o.ok for o in run.outcomes) and run.outcomes
        return
    first = next(p for p in report["problems"] if p["level"] == "error")
    with pytest.raises(InputError) as refused:
        run_stage(FrameCountStage(), root)
    path = root if first["file"] == "." else root / first["file"]
    # validate's message, with "; this is the first of N errors ..." inside the fix when N > 1
    assert refused.value.one_line().startswith(f"{path}: {first['message'][:-1]}")
    assert snapshot(root) == before


@pytest.mark.parametrize("option", ["--tumour-mask", "--background-mask"])
@pytest.mark.parametrize(("pattern", "detail"), [
    ("{subject.foo}", "{subject.foo} is not {subject} or {session}"),  # was an AttributeError
    ("m/{subject[0]}.nii.gz", "{subject[0]} is not {subject} or {session}"),
    ("m/{session!r}.nii.gz", "{session!r} is not {subject} or {session}"),
    ("m/{subject:>9}.nii.gz", "{subject:>9} is not {subject} or {session}"),
    ("m/{}.nii.gz", "{} is not {subject} or {session}"),
    ("m/{patient}.nii.gz", "{patient} is not {subject} or {session}"),
    ("m/{subject.nii.gz", "expected '}' before end of string"),
])
def test_mask_pattern_with_another_field_is_refused(run_cli, tmp_path, option, pattern, detail):
    root = tmp_path / "bids"
    make_bids_dataset(root)
    before = snapshot(root)
    code, _, err = run_cli("quantify", root, option, pattern)
    assert code == 2
    assert err.strip() == (
        f"error: {pattern}: the {option} pattern has an unknown placeholder or a stray brace "
        f"({detail}) (fix: use only {{subject}} and {{session}}, e.g. "
        "masks/sub-{subject}_ses-{session}_tumour.nii.gz)")
    assert snapshot(root) == before


def test_pet_only_session_is_a_warning_that_names_preprocess(run_cli, tmp_path):
    """A PET-only dataset is valid BIDS, so validate calls it usable, but it says that
    preprocessing (which needs an MRI) will refuse the session, as it does."""
    root = tmp_path / "bids"
    make_bids_dataset(root, anat=())
    code, out, _ = run_cli("validate", root, "--json")
    assert code == 0
    assert json.loads(out)["problems"] == [{
        "level": "warning", "file": SESSION_DIR,
        "message": "no anatomical MRI (ce-gadolinium_T1w, T1w, T2w or FLAIR) in this session: "
                   "gliopet preprocess will refuse it (fix: add at least a T1w image to the "
                   "anat/ folder)"}]
    code, _, err = run_cli("preprocess", root)
    assert (code, err.strip()) == (2, (
        f"error: {root / SESSION_DIR}: no anatomical MRI (ce-gadolinium_T1w, T1w, T2w or FLAIR) "
        "in this session (fix: add at least a T1w image to the anat/ folder)"))
