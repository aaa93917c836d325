"""Benchmark and phantom accuracy of `gliopet preprocess`.

Simulates a phantom cohort (`gliopet.simulate`), runs the preprocessing with ``--jobs 1`` and
``--jobs 2`` (fresh outputs each time), and reports:

* time per session and per step (from the QC table), wall time of each run, speed-up of jobs 2;
* peak resident memory of the process (jobs 1, in-process) and of the workers (jobs 2);
* accuracy against the phantom truth: PET-MRI registration error (mean displacement over the
  brain, mm), motion-correction error per frame (mm, relative motion between frames), brain mask
  Dice, and the overlap of the reference regions with the true tumour + 5 mm.

Usage::

    .venv/bin/python benchmarks/bench_preprocess.py --subjects 2 --profile tiny --sites siteA,siteB
    .venv/bin/python benchmarks/bench_preprocess.py --subjects 10 --profile tiny \\
        --sites siteA,siteB --jobs 2 --skip-serial

Prints a Markdown summary (for docs/benchmarks.md) and writes ``summary.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _load_canonical(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(img.dataobj), img.affine


def evaluate_session(root: Path, sub: str, ses: str) -> dict:
    """Accuracy of one preprocessed phantom session against its truth."""
    import SimpleITK as sitk

    from gliopet.io import derivatives as d
    from gliopet.preprocess import registration as reg
    from gliopet.spatial import dilate_mm

    ids = (sub, ses)
    result: dict = {"subject": sub, "session": ses}

    # PET-MRI: mean displacement over the true brain (T1w space) between estimated and true.
    labels_t1, aff_t1 = _load_canonical(d.TRUTH_TISSUE_T1W.path(root, ids))
    brain_t1 = labels_t1 >= 2
    points = reg.mask_points(brain_t1, aff_t1)
    est = reg.read_transform(d.XFM.path(root, ids, from_="pet", to=d.REFERENCE_SPACE))
    true = reg.read_transform(d.TRUTH_XFM.path(root, ids))
    result["pet_mri_error_mm"] = reg.mean_displacement_mm(est, true, points)
    result["pet_mri_true_offset_mm"] = reg.mean_displacement_mm(true, None, points)

    # Brain mask Dice (T1w grid).
    mask, _ = _load_canonical(d.T1W_MASK.path(root, ids, desc="brain"))
    mask = mask > 0
    result["brain_dice"] = float(2 * np.sum(mask & brain_t1) / (mask.sum() + brain_t1.sum()))

    # Reference regions vs true tumour + 5 mm (PET grid).
    labels_pet, aff_pet = _load_canonical(d.TRUTH_TISSUE_PET.path(root, ids))
    legend = json.loads(d.TRUTH_TISSUE_PET.sidecar().path(root, ids).read_text())
    tumour = np.isin(labels_pet, legend.get("TumourLabels", [10, 11, 12]))
    spacing = tuple(float(np.linalg.norm(aff_pet[:3, i])) for i in range(3))
    margin = dilate_mm(tumour, 5.0, spacing) if tumour.any() else tumour
    for desc in ("healthy", "striatum"):
        region, _ = _load_canonical(d.PET_MASK.path(root, ids, desc=desc))
        result[f"{desc}_overlap_tumour5mm_voxels"] = int(np.sum((region > 0) & margin))

    # Motion: relative motion of each frame to the last frame, estimated vs true.
    motion_json = d.TRUTH_MOTION.path(root, ids, tracer="FDOPA")
    table_path = d.MOTION_TABLE.path(root, ids, tracer="FDOPA")
    if motion_json.is_file() and table_path.is_file():
        true_lps = [np.asarray(m) for m in json.loads(motion_json.read_text())["MatrixLPS"]]
        table = pd.read_csv(table_path, sep="\t")
        estimated = []
        for _, row in table.iterrows():
            euler = sitk.Euler3DTransform()
            euler.SetCenter((row.center_x_mm, row.center_y_mm, row.center_z_mm))
            euler.SetParameters((row.rot_x_rad, row.rot_y_rad, row.rot_z_rad,
                                 row.trans_x_mm, row.trans_y_mm, row.trans_z_mm))
            estimated.append(euler)
        pet_brain = reg.mask_points(np.isin(labels_pet, [3, 4, 5, 6]), aff_pet)

        def as_sitk(m: np.ndarray) -> sitk.AffineTransform:
            t = sitk.AffineTransform(3)
            t.SetMatrix(m[:3, :3].ravel().tolist())
            t.SetTranslation(m[:3, 3].tolist())
            return t

        truths = [as_sitk(m) for m in true_lps]
        errors, true_rel = [], []
        for k in range(len(estimated)):
            est_rel = reg.compose(reg.invert(estimated[-1]), estimated[k])
            tru_rel = reg.compose(reg.invert(truths[-1]), truths[k])
            errors.append(reg.mean_displacement_mm(est_rel, tru_rel, pet_brain))
            true_rel.append(reg.mean_displacement_mm(tru_rel, None, pet_brain))
        late = table["start_s"].to_numpy() >= 120.0
        result["motion_error_max_mm"] = float(np.max(np.asarray(errors)[late]))
        result["motion_error_mean_mm"] = float(np.mean(np.asarray(errors)[late]))
        result["motion_true_max_mm"] = float(np.max(true_rel))
    return result


def _run(root: Path, jobs: int) -> tuple[float, pd.DataFrame]:
    from gliopet.preprocess.pipeline import run_preprocess

    start = time.perf_counter()
    table = run_preprocess(root, jobs=jobs, force=True)
    return time.perf_counter() - start, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--profile", default="tiny", choices=["tiny", "standard"])
    parser.add_argument("--sites", default="siteA,siteB")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--out", type=Path, default=None, help="work folder (default: a temporary one)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel run to compare with jobs 1")
    parser.add_argument(
        "--skip-serial", action="store_true", help="only run --jobs (no jobs 1 run)"
    )
    args = parser.parse_args(argv)

    from gliopet.progress import setup_logging
    from gliopet.simulate.cohort import simulate_cohort

    setup_logging()
    work = args.out or Path(tempfile.mkdtemp(prefix="bench-preprocess-"))
    root = work / "bids"
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    simulate_cohort(root, args.subjects, args.seed, profile=args.profile,
                    sites=args.sites.split(","), scenario="both", command="bench_preprocess")
    simulate_s = time.perf_counter() - t0

    runs = {}
    tables = {}
    if not args.skip_serial:
        runs[1], tables[1] = _run(root, 1)
        peak_self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    else:
        peak_self_mb = float("nan")
    if args.jobs > 1 or args.skip_serial:
        runs[args.jobs], tables[args.jobs] = _run(root, args.jobs)
    peak_children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    table = tables[min(tables)]
    accuracy = pd.DataFrame([evaluate_session(root, str(r.subject), str(r.session))
                             for r in table.itertuples()])
    step_cols = [c for c in table.columns if c.startswith("time_")]
    n = len(table)
    summary = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "sessions": n, "profile": args.profile, "simulate_s": round(simulate_s, 1),
        "wall_s": {str(k): round(v, 1) for k, v in runs.items()},
        "per_session_s": {str(k): round(v / n, 2) for k, v in runs.items()},
        "step_mean_s": {c: round(float(table[c].mean()), 2) for c in step_cols},
        "peak_rss_mb_jobs1": round(peak_self_mb, 0),
        "peak_rss_mb_workers": round(peak_children_mb, 0),
        "pet_mri_error_mm": {"median": round(float(accuracy.pet_mri_error_mm.median()), 3),
                             "max": round(float(accuracy.pet_mri_error_mm.max()), 3)},
        "brain_dice": {"min": round(float(accuracy.brain_dice.min()), 4),
                       "median": round(float(accuracy.brain_dice.median()), 4)},
        "reference_overlap_voxels": int(accuracy.filter(like="overlap").to_numpy().sum()),
    }
    if "motion_error_max_mm" in accuracy:
        summary["motion_error_mm"] = {"max": round(float(accuracy.motion_error_max_mm.max()), 3),
                                      "mean": round(float(accuracy.motion_error_mean_mm.mean()), 3)}
    if 1 in runs and len(runs) > 1:
        summary["speedup"] = round(runs[1] / runs[max(runs)], 2)
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    accuracy.to_csv(work / "accuracy.tsv", sep="\t", index=False)
    print(json.dumps(summary, indent=2))
    print(
        accuracy.round(3).to_markdown(index=False)
        if _has_tabulate()
        else accuracy.round(3).to_string(index=False)
    )
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
