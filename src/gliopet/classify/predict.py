"""`gliopet predict`: a model saved by `gliopet classify cohort` applied to new sessions.

The sessions are those of the model's session kind in the dataset's ``cohort.tsv``; each model
reads its family's columns (rules: cohort.tsv; radiomics: radiomics.tsv) through the
derivatives contract. Per session and model: the probability of the positive class, the
operating threshold chosen on the training data (carried unchanged), the predicted class and
the explanation: for a rule, its quantity, the value and the cut-off; for a radiomics model,
the SHAP values of its features (largest first). The SHAP background is the training rows
saved with the model plus the new rows (`TabularModel.explain` uses the rows it is given as
background; the training rows dominate it).

Image models (``cnn``, ``foundation``) read each session's learning-grid crop around the tumour
(`gliopet.classify.images`, the channels and crop size saved with the model) and explain it by
Grad-CAM (`gliopet.classify.saliency`): the map on the learning grid is written as NIfTI
(``PREDICT_SALIENCY``, ``desc`` = model + ``Gradcam``) with its PNG overlay, and the column
``saliency`` gives the NIfTI's path relative to the folder of predictions.tsv (``n/a`` for the
tabular families).

Output: ``predictions.tsv``, its JSON sidecar and ``provenance.json``, in ``--out`` or in
``derivatives/gliopet/predict/`` (PREDICTIONS_TABLE; the maps then go to the session folders of
the predict stage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from gliopet.classify import petrano
from gliopet.classify.cohort import read_radiomics, session_key, session_kind
from gliopet.classify.cohort_report import BUNDLE_KIND
from gliopet.classify.rules import ThresholdRule
from gliopet.classify.tables import read_table
from gliopet.errors import InputError
from gliopet.io import derivatives as d

COLUMNS = {
    "participant_id": "subject (sub-<label>)",
    "session_id": "session (ses-<label>)",
    "site": "site of the session (n/a: unknown)",
    "model": "model name (as in the training folder's results.tsv)",
    "family": "model family: rules, radiomics, cnn or foundation",
    "probability": "probability of the positive class",
    "threshold": "operating threshold chosen on the training data, carried unchanged",
    "predicted": "1: positive (probability >= threshold), 0: negative",
    "predicted_class": "the positive value of the target, or 'not <positive>'",
    "explanation": "rule: quantity, value and cut-off; radiomics: SHAP per feature, largest |SHAP| "
                   "first (scale in brackets); image models: where the crop was centred and the "
                   "saliency method",
    "saliency": "image models: Grad-CAM saliency map on the learning grid (NIfTI; PNG overlay "
                "with the same stem), path relative to this table's folder; n/a otherwise",
}
SALIENCY_METHOD = "gradcam"
N_SHAP_SHOWN = 8


def load_bundle(model_dir: Path) -> dict[str, Any]:
    """The contents of ``models.joblib`` written by `gliopet classify cohort`."""
    path = Path(model_dir) / "models.joblib"
    if not path.is_file():
        raise InputError("no models.joblib in the model folder", path=model_dir,
                         fix="give the --out folder of `gliopet classify cohort`")
    content = joblib.load(path)
    if not isinstance(content, dict) or content.get("kind") != BUNDLE_KIND:
        raise InputError("this model was not saved by `gliopet classify cohort` (a `classify "
                         "tabular` model does not say where its features come from)", path=path,
                         fix="train with `gliopet classify cohort BIDS_DIR ... --out DIR`")
    return content


def _sessions(bids_dir: Path, kind: str) -> pd.DataFrame:
    path = d.COHORT_TABLE.path(bids_dir)
    if not path.is_file():
        raise InputError("quantification's cohort table is missing", path=path,
                         fix=f"run `{d.QUANT.command}` on the dataset first")
    cohort = read_table(path)
    rows = cohort[cohort["session_id"].map(session_kind) == kind].copy()
    if rows.empty:
        raise InputError(f"no {kind} session in cohort.tsv (the model was trained on {kind} "
                         "sessions)", path=path, fix=f"quantify the {kind} sessions first")
    rows["id"] = [session_key(p, s) for p, s in zip(rows.participant_id, rows.session_id,
                                                    strict=True)]
    if kind == "recurrence":  # PET RANO 1.0's score against the diagnosis session
        rows = petrano.add_baseline(rows, cohort, session_kind)
    return rows.set_index("id")


def _family_table(bids_dir: Path, rows: pd.DataFrame, family: str,
                  needed: list[str]) -> pd.DataFrame:
    """The columns `needed` for every session of `rows` (InputError naming the command)."""
    if family == "rules":
        table, command = rows, d.QUANT.command
    else:
        table, _ = read_radiomics(bids_dir, rows.reset_index())
        command = d.RADIOMICS.command
        missing_rows = [i for i in rows.index if i not in table.index]
        if missing_rows:
            raise InputError(f"{len(missing_rows)} sessions have no row in radiomics.tsv "
                             f"({', '.join(missing_rows[:3])})",
                             path=d.RADIOMICS_TABLE.path(bids_dir),
                             fix=f"run `{command}` on the dataset")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(f"the model needs {len(missing)} {family} feature(s) the dataset lacks "
                         f"({', '.join(missing[:5])})",
                         path=d.COHORT_TABLE.path(bids_dir) if family == "rules"
                         else d.RADIOMICS_TABLE.path(bids_dir),
                         fix=f"run `{command}` with the settings of the training dataset")
    return table.loc[rows.index, needed].apply(pd.to_numeric, errors="coerce")


def _explain(model: BaseEstimator, X: pd.DataFrame, background: pd.DataFrame | None,
             sites: np.ndarray | None, background_sites: np.ndarray | None) -> list[str]:
    """One explanation string per row of `X` (module docstring)."""
    if isinstance(model, ThresholdRule) and model.column == petrano.SCORE:
        return [petrano.explain(v) for v in X[model.column].to_numpy(float)]
    if isinstance(model, ThresholdRule):
        sign = ">=" if getattr(model, "direction_", model.direction) == "greater" else "<="
        rule = f"positive when {model.column} {sign} {model.cutoff_:.4g}"
        return [f"{model.column} = {v:.4g}; {rule}" if np.isfinite(v) else
                f"{model.column} not available for this session (e.g. no PET-avid tumour): the "
                f"probability rests on the training median instead; {rule}"
                for v in X[model.column].to_numpy(float)]
    joined = X if background is None else pd.concat([background[X.columns], X],
                                                    ignore_index=True)
    all_sites = None
    if sites is not None and background is not None and background_sites is not None:
        all_sites = np.concatenate([background_sites, sites])
    frame = model.explain(joined, sites=all_sites).iloc[-len(X):]
    scale = frame.attrs.get("scale", "")
    out = []
    for _, row in frame.iterrows():
        top = row.abs().sort_values(ascending=False).index[:N_SHAP_SHOWN]
        out.append("; ".join(f"{f} {row[f]:+.3g}" for f in top) + f" [SHAP, {scale}]")
    return out


def _image_rows(bids_dir: Path, rows: pd.DataFrame, family: str, name: str, model: Any,
                content: dict[str, Any], folder: Path | None) -> tuple[np.ndarray, list[str],
                                                                         list[str]]:
    """(probabilities, explanations, saliency paths) of an image model on `rows`."""
    from gliopet.classify.cohort_report import saliency_desc
    from gliopet.classify.image_cohort import background_channel
    from gliopet.classify.images import read_crops
    from gliopet.classify.saliency import write_overlay, write_saliency
    from gliopet.foundation.data import learning_grid_geometry

    channels = content["channels"][family]
    frame, _ = read_crops(bids_dir, list(zip(rows["participant_id"], rows["session_id"],
                                             strict=True)),
                          size=content["crop_voxels"], channels=channels)
    proba = model.predict_proba(frame)[:, 1]
    maps = model.explain(frame, method=SALIENCY_METHOD)
    shape, affine = learning_grid_geometry()
    desc = saliency_desc(name, SALIENCY_METHOD)
    table_dir = folder if folder is not None else d.PREDICTIONS_TABLE.path(bids_dir).parent
    paths = []
    for (sub, ses), crop, values, origin in zip(zip(rows["participant_id"], rows["session_id"],
                                                    strict=True), frame["crop"], maps,
                                                frame["origin"], strict=True):
        ids = (sub, ses)
        if folder is None:
            nifti = d.PREDICT_SALIENCY.path(bids_dir, ids, desc=desc)
            png = d.PREDICT_SALIENCY_FIGURE.path(bids_dir, ids, desc=desc)
        else:
            nifti = d.PREDICT_SALIENCY.in_dir(folder / "saliency", ids, desc=desc)
            png = d.PREDICT_SALIENCY_FIGURE.in_dir(folder / "saliency", ids, desc=desc)
        write_saliency(nifti, values, tuple(origin), shape, affine,
                       {"Model": name, "Method": SALIENCY_METHOD, "CropOrigin": list(origin)})
        write_overlay(png, background_channel(crop, channels), values, f"{name}: {sub}_{ses}")
        paths.append(str(nifti.relative_to(table_dir)))
    explanation = [f"crop centred on the {m}; saliency: Grad-CAM" for m in frame["centre_method"]]
    return proba, explanation, paths


def predict_dataset(bids_dir: Path, content: dict[str, Any],
                    folder: Path | None = None) -> pd.DataFrame:
    """predictions.tsv rows: one per session of the model's kind and model.

    Image models write their saliency maps under `folder` (``saliency/``), or in the predict
    stage's session folders when `folder` is None.
    """
    rows = _sessions(Path(bids_dir), content["session"])
    sites = rows["site"].astype(str).to_numpy() if "site" in rows.columns else None
    positive = content["positive"]
    parts = []
    for name, model in content["models"].items():
        family = content["family"][name]
        if family in content.get("channels", {}):
            proba, explanation, paths = _image_rows(Path(bids_dir), rows, family, name, model,
                                                    content, folder)
            parts.append(_rows(rows, sites, name, family, proba, model.threshold_, positive,
                               explanation, paths))
            continue
        X = _family_table(Path(bids_dir), rows, family, content["features"][name])
        use_sites = sites if content.get("harmonize") else None
        proba = model.predict_proba(X, sites=use_sites)[:, 1]
        background = content["background"].get(family)
        background_sites = content.get("background_sites", {}).get(family)
        parts.append(_rows(rows, sites, name, family, proba, model.threshold_, positive,
                           _explain(model, X, background, use_sites, background_sites),
                           ["n/a"] * len(rows)))
    return pd.concat(parts, ignore_index=True)[list(COLUMNS)]


def _rows(rows: pd.DataFrame, sites: np.ndarray | None, name: str, family: str,
          proba: np.ndarray, threshold: float, positive: str, explanation: list[str],
          saliency: list[str]) -> pd.DataFrame:
    predicted = (proba >= threshold).astype(int)
    return pd.DataFrame({
        "participant_id": rows["participant_id"].to_numpy(),
        "session_id": rows["session_id"].to_numpy(),
        "site": sites if sites is not None else "n/a", "model": name, "family": family,
        "probability": proba, "threshold": threshold, "predicted": predicted,
        "predicted_class": np.where(predicted == 1, positive, f"not {positive}"),
        "explanation": explanation, "saliency": saliency})


def write_predictions(bids_dir: Path, model_dir: Path, out: Path | None) -> Path:
    """Predict every session and write predictions.tsv + sidecar; returns the table's path."""
    from gliopet.atomic import write_json, write_tsv
    from gliopet.provenance import write_provenance

    content = load_bundle(model_dir)
    table = predict_dataset(bids_dir, content, None if out is None else Path(out))
    path = (Path(out) / d.PREDICTIONS_TABLE.filename if out is not None
            else d.PREDICTIONS_TABLE.path(bids_dir))
    write_tsv(path, table)
    sidecar = (d.PREDICTIONS_TABLE.sidecar(bids_dir) if out is None
               else Path(out) / d.PREDICTIONS_TABLE.sidecar(bids_dir).name)
    write_json(sidecar, {
        **{c: {"Description": v} for c, v in COLUMNS.items()},
        "Model": {"Folder": str(Path(model_dir).resolve()), "Target": content["target"],
                  "Positive": content["positive"], "SessionKind": content["session"],
                  "Harmonize": bool(content.get("harmonize"))}})
    inputs = [Path(model_dir) / "models.joblib", d.COHORT_TABLE.path(bids_dir)]
    write_provenance(path.parent, command="gliopet predict",
                     config={"model": str(Path(model_dir).resolve()),
                             "saliency": SALIENCY_METHOD},
                     inputs=[p for p in inputs if p.is_file()])
    return path
