"""Validation section ``preprocess``: registration, motion, brain mask and reference regions
against the phantom truth (signal recovery, not clinical evidence).

Runs ``gliopet preprocess`` on the ``tiny-both`` cohort (every session of three sites) and on the
``standard-diagnosis`` cohort (MRI 1 mm, PET at the site voxel size), then compares each session
with its truth: PET-MRI registration error (mean displacement over the true brain between the
estimated and the true ``from-pet_to-T1w`` transforms, mm), motion-correction error (relative
motion of each frame to the last frame, frames from 2 min), brain-mask Dice, and the overlap of
the reference regions with the true tumour grown by 5 mm. Targets (issue 4): PET-MRI <= 1.0 mm
median and <= 2.0 mm worst; motion <= 1 mm; Dice >= 0.95; zero overlap.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_preprocess import evaluate_session  # noqa: E402  (the per-session truth comparison)

COHORTS = ("tiny-both", "standard-diagnosis")
TARGETS = (
    "PET-MRI <= 1.0 mm median and <= 2.0 mm worst; motion <= 1 mm; Dice >= 0.95; overlap 0 voxels"
)


def _evaluate(root: Path) -> pd.DataFrame:
    rows = []
    for session_dir in sorted(root.glob("sub-*/ses-*")):
        sub, ses = session_dir.parent.name[4:], session_dir.name[4:]
        row = evaluate_session(root, sub, ses)
        sessions = pd.read_csv(root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv", sep="\t")
        row["site"] = sessions.set_index("session_id").loc[f"ses-{ses}", "site"]
        rows.append(row)
    return pd.DataFrame(rows)


def _summary(table: pd.DataFrame, cohort: str) -> list[str]:
    lines = [
        f"### `{cohort}` ({len(table)} sessions)",
        "",
        "| site | n | PET-MRI error median / worst (mm) | true PET-MRI offset median (mm) | "
        "motion error worst (mm) | brain Dice min / median | "
        "reference regions in tumour + 5 mm (voxels) |",
        "|---|---|---|---|---|---|---|",
    ]
    groups = [(site, part) for site, part in table.groupby("site")] + [("all", table)]
    for site, part in groups:
        overlap = int(
            part["healthy_overlap_tumour5mm_voxels"].sum()
            + part["striatum_overlap_tumour5mm_voxels"].sum()
        )
        motion = (
            part["motion_error_max_mm"].max() if "motion_error_max_mm" in part else float("nan")
        )
        lines.append(
            f"| {site} | {len(part)} | {part['pet_mri_error_mm'].median():.2f} / "
            f"{part['pet_mri_error_mm'].max():.2f} | "
            f"{part['pet_mri_true_offset_mm'].median():.1f} | {motion:.2f} | "
            f"{part['brain_dice'].min():.3f} / {part['brain_dice'].median():.3f} | {overlap} |"
        )
    return lines


def run(cohorts) -> str:
    parts = ["## Preprocessing (`gliopet preprocess`) against the phantom truth", "",
             f"Targets: {TARGETS}. Transforms follow docs/conventions.md; errors are mean "
             "displacements over the true brain. Phantom signal-recovery results, not clinical "
             "evidence.", ""]
    for cohort in COHORTS:
        root = cohorts.preprocessed(cohort)
        parts += _summary(_evaluate(root), cohort) + [""]
    parts += [
        "Real MRI (TCGA-LGG FG-6692, 5.5 mm slices, not skull-stripped) is checked by "
        "`tests/realdata/test_preprocess_real.py`: co-registration raises the normalised mutual "
        "information of every sequence, the brain mask is 1.0-1.8 L and the FLAIR lesion maps to "
        "the right frontal lobe in MNI space."
    ]
    return "\n".join(parts)
