"""Test data of the report tests: one quantified phantom cohort shared by the whole test run,
and the outputs of later stages (WP2 maps and target, predictions) written beside it.

`quantified_cohort` runs simulate (3 subjects, tiny profile, seed 4, both scenarios: 6 sessions,
so preprocessing's cohort-outlier QC flags exist, and sub-003's recurrence session has no
PET-avid tumour), preprocess and quantify once per pytest run (under the run's base temporary
folder, reused by every module that asks).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from gliopet.io import derivatives as d

SUBJECTS, SEED = 3, 4
#: A session with a PET-avid tumour and the one without.
TUMOUR = ("001", "diagnosis")
NO_TUMOUR = ("003", "recurrence")
RECURRENCE = ("002", "recurrence")


def quantified_cohort(base: Path) -> Path:
    """The BIDS root of the shared quantified cohort (built on first use under `base`)."""
    from support.cli import run_cli

    root = base / "report-cohort" / "bids"
    done = root.parent / "done"
    if done.is_file():
        return root
    if root.parent.exists():
        shutil.rmtree(root.parent)
    commands = (("simulate", root, "--subjects", SUBJECTS, "--seed", SEED, "--profile", "tiny",
                 "--scenario", "both"), ("preprocess", root), ("quantify", root))
    for argv in commands:
        code, _, err = run_cli(*argv)
        assert code == 0, err
    done.write_text("ok\n")
    return root


def analysis_copy(root: Path, target: Path) -> Path:
    """A copy of the dataset's analysis derivatives (no raw data, no phantom truth), enough for
    the reports; returns the new BIDS root."""
    shutil.copytree(root / d.PIPELINE_DIR, target / d.PIPELINE_DIR)
    return target


def write_wp2_outputs(root: Path, ids: tuple[str, str]) -> dict:
    """An aggressiveness map (SUV / tumour SUVmax inside the tumour), the aggressive subregion
    (its top half) and a biopsy target at its maximum, written where `gliopet signature` and
    `gliopet biopsy` write them; returns the target record."""
    suv_image = nib.load(d.find(root, ids, d.STATIC_SUV))
    suv = np.asarray(suv_image.dataobj, dtype=np.float32)
    tumour = np.asarray(nib.load(d.find(root, ids, d.TUMOUR_MASK)).dataobj) > 0
    aggressiveness = np.where(tumour, suv / suv[tumour].max(), 0.0).astype(np.float32)
    for derivative, data in ((d.AGGRESSIVENESS_MAP, aggressiveness),
                             (d.AGGRESSIVE_MASK, (aggressiveness > 0.5).astype(np.uint8))):
        path = derivative.path(root, ids)
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, suv_image.affine), path)
    voxel = np.unravel_index(np.argmax(aggressiveness), aggressiveness.shape)
    ras = (suv_image.affine @ np.append(voxel, 1.0))[:3]
    record = {"target_ras_mm": [float(v) for v in ras], "rule": "maximum aggressiveness",
              "voxel": [int(v) for v in voxel]}
    path = d.BIOPSY_TARGET.path(root, ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return record


def write_predictions(root: Path, ids: tuple[str, str], folder: Path,
                      saliency: bool = True) -> Path:
    """predictions.tsv (+ sidecar) of one session in the layout of `gliopet predict`, a model
    folder with results.tsv, and (with `saliency`) a saliency NIfTI on the PET grid; returns
    the table's path."""
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = folder / "model"
    model_dir.mkdir(exist_ok=True)
    pd.DataFrame({"model": ["TBRmax rule"], "evaluation": ["cross-validation"], "n": [40],
                  "auc": [0.81], "auc_ci_low": [0.66], "auc_ci_high": [0.93]}).to_csv(
        model_dir / "results.tsv", sep="\t", index=False)
    row = {"participant_id": f"sub-{ids[0]}", "session_id": f"ses-{ids[1]}", "site": "siteB",
           "model": "TBRmax rule", "family": "rules", "probability": 0.74, "threshold": 0.5,
           "predicted": 1, "predicted_class": "progression",
           "explanation": "TBRmax 3.35 beyond the cut-off 1.81"}
    if saliency:
        suv_image = nib.load(d.find(root, ids, d.STATIC_SUV))
        centre = np.array(suv_image.shape[:3]) / 2
        grid = np.indices(suv_image.shape[:3]).transpose(1, 2, 3, 0)
        blob = np.exp(-((grid - centre) ** 2).sum(-1) / 50.0).astype(np.float32)
        path = folder / "saliency.nii.gz"
        nib.save(nib.Nifti1Image(blob, suv_image.affine), path)
        row["saliency"] = str(path)
    table = folder / d.PREDICTIONS_TABLE.filename
    pd.DataFrame([row]).to_csv(table, sep="\t", index=False)
    table.with_suffix(".json").write_text(json.dumps({"Model": {
        "Folder": str(model_dir), "Target": "outcome", "Positive": "progression"}}))
    return table
