"""`gliopet biopsy evaluate`: the aggressiveness map and the targets against recorded biopsy
samples.

Samples (TSV): ``subject``, ``session``, ``x``, ``y``, ``z`` (RAS mm of the session's reference
MRI, the frame of ``target_ras_mm``) and ``grade`` (WHO CNS grade 1-4; high grade = 3 or 4) or
``histology`` (``high``/``high-grade``/``HGG`` or ``low``/``low-grade``/``LGG``).

Reported, as published FET/FDOPA-guided biopsy studies do:

* per sample, the map's value at the sample (nearest PET voxel through preprocessing's
  transform) and the AUC of that value against high grade (`gliopet.metrics`, DeLong 95 % CI);
* per session and per target (ours, ``suvmax`` = the TBRmax-only target, since TBRmax and
  SUVmax share their voxel, and ``ttp_hotspot``): the sample nearest to the target within
  ``max_distance_mm``; the **hit rate** = the share of sessions whose target's nearest sample
  is high grade, and the **upgrade rate** = the share of sessions whose target's sample is of a
  higher grade than the TBRmax-only target's (same and lower grade reported next to it), with
  Wilson 95 % intervals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet import DISCLAIMER
from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.spatial import apply_affine

#: Histology words read as high grade (1) or low grade (0).
HISTOLOGY = {"high": 1, "high-grade": 1, "hgg": 1, "low": 0, "low-grade": 0, "lgg": 0}
#: Default largest distance (mm) from a target to the sample that stands for its tissue.
MAX_DISTANCE_MM = 5.0
METHODS = ("target", "suvmax", "ttp_hotspot")


def read_samples(path: Path) -> pd.DataFrame:
    """The samples table with ``high_grade`` (0/1) and ``grade_rank`` (grade, or 0/1).

    Raises
    ------
    InputError
        Missing columns, non-numeric coordinates, unknown grades or histology words.
    """
    if not Path(path).is_file():
        raise InputError("samples table not found", path=path, fix="give a TSV of samples")
    table = pd.read_csv(path, sep="\t", dtype={"subject": str, "session": str})
    missing = [c for c in ("subject", "session", "x", "y", "z") if c not in table.columns]
    if missing or not {"grade", "histology"} & set(table.columns):
        need = missing or ["grade or histology"]
        raise InputError(f"the samples table lacks the column(s) {', '.join(need)}", path=path,
                         fix="columns: subject, session, x, y, z (RAS mm of the reference "
                             "MRI) and grade (WHO 1-4) or histology (high/low)")
    if table[["x", "y", "z"]].apply(pd.to_numeric, errors="coerce").isna().any().any():
        raise InputError("x, y, z must be numbers (RAS mm) in every row", path=path,
                         fix="fill in every coordinate")
    table["subject"] = table["subject"].str.removeprefix("sub-")
    table["session"] = table["session"].str.removeprefix("ses-")
    return _grades(table, path)


def _grades(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "grade" in table.columns:
        grade = pd.to_numeric(table["grade"], errors="coerce")
        if grade.isna().any() or not grade.isin([1, 2, 3, 4]).all():
            raise InputError("grade must be a WHO CNS grade 1-4 in every row", path=path,
                             fix="write 1, 2, 3 or 4")
        table["grade_rank"], table["high_grade"] = grade.astype(int), (grade >= 3).astype(int)
        return table
    words = table["histology"].astype(str).str.strip().str.lower()
    unknown = sorted(set(words) - set(HISTOLOGY))
    if unknown:
        raise InputError(f"unknown histology value(s) {unknown}", path=path,
                         fix=f"write one of {sorted(HISTOLOGY)}")
    table["high_grade"] = words.map(HISTOLOGY).astype(int)
    table["grade_rank"] = table["high_grade"]
    return table


def map_values(root: Path, ids: tuple[str, str], points_mri: np.ndarray) -> np.ndarray:
    """The aggressiveness map at reference-MRI RAS points (nearest PET voxel; NaN outside)."""
    from gliopet.io.nifti import load_nifti
    from gliopet.signature.biopsy import pet_to_mri_matrix

    img = load_nifti(d.find(root, ids, d.AGGRESSIVENESS_MAP, what="aggressiveness map"))
    xfm = d.find(root, ids, d.XFM, from_="pet", to=d.REFERENCE_SPACE, what="PET-to-MRI transform")
    to_voxel = np.linalg.inv(img.affine) @ np.linalg.inv(pet_to_mri_matrix(xfm))
    voxels = np.rint(apply_affine(to_voxel, points_mri)).astype(int)
    data = np.asarray(img.dataobj, dtype=float)
    inside = np.all((voxels >= 0) & (voxels < np.asarray(data.shape)), axis=1)
    values = np.full(len(points_mri), np.nan)
    values[inside] = data[tuple(voxels[inside].T)]
    return values


def target_points(root: Path, ids: tuple[str, str]) -> dict[str, np.ndarray] | None:
    """RAS points of our target and of the alternatives (None: no biopsy target yet)."""
    path = d.find_or_none(root, ids, d.BIOPSY_TARGET)
    if path is None:
        return None
    record = json.loads(path.read_text())
    points = {"target": record}
    points.update(record.get("alternatives", {}))
    return {m: np.asarray(points[m]["target_ras_mm"], float) for m in METHODS
            if m in points and points[m].get("target_ras_mm") is not None}


@dataclass
class Evaluation:
    """Per-sample values, per-session target tissue and the summary rows."""

    samples: pd.DataFrame
    targets: pd.DataFrame
    summary: pd.DataFrame


def evaluate(root: Path, samples: pd.DataFrame, *,
             max_distance_mm: float = MAX_DISTANCE_MM) -> Evaluation:
    """Score the map and the targets against the samples (module docstring)."""
    values, targets = [], []
    for (subject, session), group in samples.groupby(["subject", "session"], sort=True):
        ids = (subject, session)
        points = group[["x", "y", "z"]].to_numpy(float)
        values.append(pd.Series(map_values(root, ids, points), index=group.index))
        found = target_points(root, ids)
        if found is not None:
            targets.append(_session_targets(ids, group, points, found, max_distance_mm))
    scored = samples.assign(map_value=pd.concat(values))
    target_table = pd.DataFrame(targets)
    return Evaluation(scored, target_table, summary_rows(scored, target_table))


def _session_targets(ids: tuple[str, str], group: pd.DataFrame, points: np.ndarray,
                     found: dict[str, np.ndarray], max_distance_mm: float) -> dict[str, Any]:
    row: dict[str, Any] = {"participant_id": f"sub-{ids[0]}", "session_id": f"ses-{ids[1]}"}
    for method in METHODS:
        row[f"{method}_distance_mm"] = row[f"{method}_grade"] = row[f"{method}_high"] = np.nan
        if method not in found:
            continue
        distance = np.linalg.norm(points - found[method], axis=1)
        nearest = int(np.argmin(distance))
        row[f"{method}_distance_mm"] = round(float(distance[nearest]), 3)
        if distance[nearest] <= max_distance_mm:
            row[f"{method}_grade"] = int(group["grade_rank"].iloc[nearest])
            row[f"{method}_high"] = int(group["high_grade"].iloc[nearest])
    return row


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a proportion k / n (NaN when n is 0)."""
    if n == 0:
        return float("nan"), float("nan")
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def summary_rows(samples: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """AUC of the map, hit rate of each target, upgrade/same/downgrade against TBRmax-only."""
    rows = [_auc_row(samples)]
    for method in METHODS:
        column = f"{method}_high"
        hits = targets[column].dropna() if column in targets else pd.Series(dtype=float)
        rows.append(_rate_row(f"hit rate: {method}", int(hits.sum()), len(hits)))
    if {"target_grade", "suvmax_grade"} <= set(targets.columns):
        both = targets[["target_grade", "suvmax_grade"]].dropna()
        diff = both["target_grade"] - both["suvmax_grade"]
        for name, k in (("upgrade rate vs TBRmax-only target", int((diff > 0).sum())),
                        ("same grade as TBRmax-only target", int((diff == 0).sum())),
                        ("downgrade rate vs TBRmax-only target", int((diff < 0).sum()))):
            rows.append(_rate_row(name, k, len(both)))
    return pd.DataFrame(rows)


def _rate_row(name: str, k: int, n: int) -> dict[str, Any]:
    low, high = wilson(k, n)
    return {"measure": name, "value": k / n if n else np.nan, "ci_low": low, "ci_high": high,
            "n": n, "count": k}


def _auc_row(samples: pd.DataFrame) -> dict[str, Any]:
    from gliopet.metrics.delong import delong_variance

    valid = samples.dropna(subset=["map_value"])
    y = valid["high_grade"].to_numpy(int)
    row = {"measure": "AUC: map value vs high grade", "value": np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "n": len(valid), "count": int(y.sum())}
    if 0 < y.sum() < len(y):
        auc, var = delong_variance(y, valid["map_value"].to_numpy(float))
        half = 1.96 * float(np.sqrt(max(var, 0.0)))
        row.update(value=auc, ci_low=max(0.0, auc - half), ci_high=min(1.0, auc + half))
    return row


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_markdown(result: Evaluation, max_distance_mm: float) -> str:
    """The summary for people: the disclaimer, the definitions, one table (no "nan")."""
    lines = [f"> {DISCLAIMER}", "", "# Biopsy targets against recorded samples", "",
             f"{len(result.samples)} samples, {len(result.targets)} sessions with a target. "
             f"A target's tissue is the sample nearest to it within {max_distance_mm:g} mm. "
             "The TBRmax-only target is the SUVmax voxel (TBRmax shares it).", "",
             "| measure | value | 95 % CI | n |", "|---|---|---|---|"]
    for row in result.summary.to_dict("records"):
        ci = (f"{_fmt(row['ci_low'])} to {_fmt(row['ci_high'])}"
              if np.isfinite(row["ci_low"]) else "n/a")
        lines.append(f"| {row['measure']} | {_fmt(row['value'])} | {ci} | {row['n']} |")
    return "\n".join(lines) + "\n"


def _na(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as ``n/a`` (BIDS), without pandas' down-casting."""
    return frame.astype(object).where(frame.notna(), "n/a")


def check_out(out: Path) -> None:
    """Refuse an `out` folder that holds anything but an earlier evaluation (it is replaced).

    Raises
    ------
    InputError
        `out` is a file, or a non-empty folder without an earlier ``summary.md``.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / "summary.md").is_file())):
        raise InputError("--out exists and is not an earlier evaluation (it would be replaced)",
                         path=out, fix="give a new folder")


def write_evaluation(out: Path, result: Evaluation, max_distance_mm: float) -> Path:
    """Write samples.tsv, targets.tsv, summary.tsv and summary.md atomically into `out`
    (replacing an earlier evaluation there)."""
    from gliopet.atomic import staged_directory, write_text, write_tsv

    check_out(out)
    with staged_directory(out, overwrite=True) as staging:
        write_tsv(staging / "samples.tsv", _na(result.samples))
        write_tsv(staging / "targets.tsv", _na(result.targets))
        write_tsv(staging / "summary.tsv", _na(result.summary))
        write_text(staging / "summary.md", summary_markdown(result, max_distance_mm))
    return out
