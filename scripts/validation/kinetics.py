"""Validation section ``kinetics``: voxelwise reference-region models against known parameters.

Cohort ``tiny-onetissue`` is the one-tissue verification phantom (``gliopet simulate --kinetics
one-tissue``): every tissue is one-tissue without blood volume and healthy tissue shares one k2,
so the assumptions of SRTM and Logan-ref hold exactly and their parameters are known voxel by
voxel: R1 = K1 / K1_ref, DVR = (K1 / k2) / (K1_ref / k2_ref), with K1, k2 the truth maps on the
PET grid and the reference = the background mask that ``gliopet quantify`` chose. Voxels are
those of the quantify maps (tumour + margin) where the truth's ``desc-uniformkinetics_mask``
says the noise-free PET is exactly one parameter set's curve.

Three versions of the cohort go through ``gliopet preprocess`` + ``gliopet quantify``:
noise-free PET before the PSF (the methods' own accuracy), the same with the sites' realistic
reconstruction noise (bias and spread from noise), both motion-free and preprocessed with
``motion_correction: false``, and the phantom's raw PET (PSF, noise, motion, motion correction
on: end to end, partial volume included).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from gliopet.io import derivatives as d
from gliopet.simulate.anatomy import TUMOUR_LABELS
from validation.common import COHORTS, copy_with_pet, process, truth_pet
from validation.common import run as gliopet

COHORT = "tiny-onetissue"
TRACER = "FDOPA"
NOISE_SEED = 2026


def _noisy_no_psf(root: Path, pet: Path, sub: str, ses: str) -> np.ndarray:
    """Noise-free PET before the PSF plus the site's reconstruction noise (own seeded stream)."""
    from gliopet.io.timing import FrameTiming
    from gliopet.simulate.scanner import add_reconstruction_noise
    from gliopet.simulate.sites import get_site

    clean = truth_pet(root, pet, sub, ses, "noisefreenopsf")
    truth = pd.read_csv(d.TRUTH_TABLE.path(root), sep="\t")
    site = get_site(
        str(
            truth.loc[(truth["participant_id"] == sub) & (truth["session_id"] == ses), "site"].iloc[
                0
            ]
        )
    )
    side = json.loads(pet.with_name(pet.name.replace(".nii.gz", ".json")).read_text())
    timing = FrameTiming.from_bids(side["FrameTimesStart"], side["FrameDuration"], 0.0)
    rng = np.random.default_rng([NOISE_SEED, int(sub[4:]), len(ses)])
    noisy = add_reconstruction_noise(clean, timing, nib.load(pet).header.get_zooms()[:3], site, rng)
    return np.maximum(noisy, 0.0) if site.noise_model == "poisson_like" else noisy


def _truth_masks(root: Path, folder: Path) -> tuple[str, str]:
    """Truth tumour (labels 10-12) and background masks on the PET grid for ``--tumour-mask`` and
    ``--background-mask``; background = healthy grey + white matter (labels 3, 4) of the hemisphere
    without the tumour, inside the uniform-kinetics mask (so the reference TAC is one-tissue)."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = pd.read_csv(d.TRUTH_TABLE.path(root), sep="\t")
    for row in truth.to_dict("records"):
        sub, ses = row["participant_id"], row["session_id"]
        img = nib.load(d.TRUTH_TISSUE_PET.path(root, (sub, ses)))
        tissue = np.asarray(img.dataobj)
        hemi = _load(d.TRUTH_HEMISPHERE_PET.path(root, (sub, ses))).astype(np.int16)
        hemi[hemi == 255] = -1
        uniform = _load(d.TRUTH_UNIFORM_KINETICS.path(root, (sub, ses))) > 0
        tumour = np.isin(tissue, TUMOUR_LABELS)
        side = -1 if np.sum(hemi[tumour] == -1) >= np.sum(hemi[tumour] == 1) else 1
        background = np.isin(tissue, (3, 4)) & (hemi == -side) & uniform
        for name, mask in (("tumour", tumour), ("background", background)):
            nib.save(
                nib.Nifti1Image(mask.astype(np.uint8), img.affine),
                folder / f"{sub}_{ses}_{name}.nii.gz",
            )
    return (str(folder / "sub-{subject}_ses-{session}_tumour.nii.gz"),
            str(folder / "sub-{subject}_ses-{session}_background.nii.gz"))


def _load(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def _session_errors(root: Path, sub: str, ses: str) -> tuple[pd.DataFrame, dict]:
    """Per-voxel relative errors of one session's quantify maps against the truth."""
    ids = (sub, ses)
    maps = {
        "srtm_R1": d.KINETIC_MAP.path(root, ids, tracer=TRACER, desc="srtm", stat="R1"),
        "srtm_BPnd": d.KINETIC_MAP.path(root, ids, tracer=TRACER, desc="srtm", stat="BPnd"),
        "loganref_DVR": d.KINETIC_MAP.path(root, ids, tracer=TRACER, desc="loganref", stat="DVR"),
    }
    if not all(path.is_file() for path in maps.values()):
        return pd.DataFrame(), {}
    est = {k: _load(v).astype(float) for k, v in maps.items()}
    k1 = _load(d.TRUTH_PARAMS_PET.path(root, ids, tracer=TRACER, stat="K1")).astype(float)
    k2 = _load(d.TRUTH_PARAMS_PET.path(root, ids, tracer=TRACER, stat="k2")).astype(float)
    uniform = _load(d.TRUTH_UNIFORM_KINETICS.path(root, ids)) > 0
    tissue = _load(d.TRUTH_TISSUE_PET.path(root, ids))
    background = _load(d.BACKGROUND_MASK.path(root, ids)) > 0
    k1_ref = float(k1[background].mean())
    k2_ref = float(np.median(k2[background & uniform]))
    fitted = np.isfinite(est["srtm_R1"]) & uniform & (k2 > 0)
    r1_true = k1[fitted] / k1_ref
    dvr_true = (k1[fitted] / k2[fitted]) / (k1_ref / k2_ref)
    frame = pd.DataFrame({
        "tumour": np.isin(tissue[fitted], TUMOUR_LABELS),
        "SRTM R1": est["srtm_R1"][fitted] / r1_true - 1.0,
        "SRTM DVR": (est["srtm_BPnd"][fitted] + 1.0) / dvr_true - 1.0,
        "Logan-ref DVR": est["loganref_DVR"][fitted] / dvr_true - 1.0,
        "R1_true": r1_true, "DVR_true": dvr_true})
    frame["session"] = f"{sub}/{ses}"
    info = {
        "background_uniform": float(uniform[background].mean()),
        "n_fitted": int(np.isfinite(est["srtm_R1"]).sum()),
    }
    return frame, info


PARAMS = ("SRTM R1", "SRTM DVR", "Logan-ref DVR")


def _summary(frame: pd.DataFrame) -> list[str]:
    cells = []
    for name in PARAMS:
        err = frame[name].to_numpy(float)
        err = err[np.isfinite(err)]
        if err.size == 0:
            cells += ["n/a", "n/a"]
            continue
        q1, med, q3 = np.percentile(100 * err, [25, 50, 75])
        cells += [
            f"{med:+.1f} % [{q1:+.1f}, {q3:+.1f}]",
            f"{100 * np.mean(np.abs(err) <= 0.05):.0f} %",
        ]
    return cells


def run(cohorts) -> str:
    """The section's Markdown."""
    raw = cohorts.quantified(COHORT)
    work = cohorts.work
    # The no-PSF versions have no motion: preprocess them without motion correction (a user's
    # option for frames already corrected), so that frame registration on a motion-free series
    # cannot mix neighbouring voxels with different kinetics before the models see them.
    no_motion = work / "no-motion-correction.yaml"
    no_motion.write_text("preprocess:\n  motion_correction: false\n")
    nopsf = lambda pet, sub, ses: truth_pet(raw, pet, sub, ses, "noisefreenopsf")  # noqa: E731
    truth_voi = copy_with_pet(raw, work / f"{COHORT}-nopsf-truthvoi", nopsf)
    tumour_pattern, background_pattern = _truth_masks(raw, work / f"{COHORT}-truthmasks")
    gliopet("preprocess", truth_voi, "--jobs", 2, "--config", no_motion)
    gliopet(
        "quantify",
        truth_voi,
        "--jobs",
        2,
        "--config",
        no_motion,
        "--tumour-mask",
        tumour_pattern,
        "--background-mask",
        background_pattern,
    )
    versions = {
        "noise-free, no PSF, truth VOIs": truth_voi,
        "noise-free, no PSF": process(
            copy_with_pet(raw, work / f"{COHORT}-nopsf", nopsf), no_motion
        ),
        "realistic noise, no PSF": process(
            copy_with_pet(
                raw,
                work / f"{COHORT}-nopsf-noisy",
                lambda pet, sub, ses: _noisy_no_psf(raw, pet, sub, ses),
            ),
            no_motion,
        ),
        "phantom PET (PSF, noise, motion)": raw,
    }
    spec = COHORTS[COHORT]
    lines = [
        "## Reference-region models on the one-tissue verification phantom",
        "",
        f"Cohort `{COHORT}`: `gliopet simulate OUT {' '.join(spec.simulate_args())}`, then "
        "`gliopet preprocess` and `gliopet quantify` on three versions of its PET. Truth per "
        "voxel: R1 = K1 / K1_ref, DVR = (K1 / k2) / (K1_ref / k2_ref) from the true K1, k2 on the "
        "PET grid, reference = the background mask `gliopet quantify` used. Voxels: the quantify "
        "maps (tumour + margin) inside the truth's uniform-kinetics mask, where the noise-free PET "
        "is exactly one parameter set's curve. Cells: median relative error [quartiles] over "
        "voxels, and the share of voxels within 5 %. Logan-ref: t* = 10 min, k2' = the median "
        "voxelwise SRTM k2/R1 of the tumour voxels. `truth VOIs`: tumour = the true tumour labels, "
        "background = true healthy grey + white matter of the other hemisphere where the kinetics "
        "are uniform (given as `--tumour-mask` and `--background-mask`): the methods alone. The "
        "other rows use the automatic VOI and background, whose partial volume with tumour can "
        "make the reference TAC not one-tissue.",
        "",
        "| PET | voxels | sessions | "
        + " | ".join(f"{p} error | {p} within 5 %" for p in PARAMS)
        + " |",
        "|---|---|---|" + "---|---|" * len(PARAMS),
    ]
    notes = []
    for condition, root in versions.items():
        frames, infos = [], []
        truth_table = pd.read_csv(d.TRUTH_TABLE.path(root), sep="\t")
        for _, row in truth_table.iterrows():
            frame, info = _session_errors(root, row["participant_id"], row["session_id"])
            if not frame.empty:
                frames.append(frame)
                infos.append(info)
        if not frames:
            lines.append(f"| {condition} | none | 0 |" + " n/a |" * (2 * len(PARAMS)))
            continue
        frame = pd.concat(frames, ignore_index=True)
        for group, part in (
            ("tumour", frame[frame["tumour"]]),
            ("margin (healthy)", frame[~frame["tumour"]]),
        ):
            lines.append(f"| {condition}: {group} | {len(part)} | {part['session'].nunique()} | "
                         + " | ".join(_summary(part)) + " |")
        if condition == "noise-free, no PSF, truth VOIs":
            per_session = frame[frame["tumour"]].groupby("session")[list(PARAMS)].apply(
                lambda g: (g.abs() <= 0.05).all(axis=0).all())
            notes.append(
                f"Noise-free with the truth VOIs: {int(per_session.sum())} of {len(per_session)} "
                "sessions have every tumour voxel within 5 % for all three estimates; background "
                "voxels in the uniform-kinetics mask: "
                f"{100 * np.mean([i['background_uniform'] for i in infos]):.1f} % (mean over "
                f"sessions); true tumour R1 {frame.loc[frame['tumour'], 'R1_true'].median():.2g} "
                f"and DVR {frame.loc[frame['tumour'], 'DVR_true'].median():.2g} (medians over "
                "voxels)."
            )
    lines += [
        "",
        *notes,
        "",
        "Patlak with a reference region is checked on curves only (CI test "
        "`test_patlak_reference_recovers_ki`): the one-tissue phantom has no irreversible tissue, "
        "and on the FDOPA phantom the reference does not reach equilibrium with plasma within "
        "30 min, which Patlak-ref assumes. The realistic FDOPA phantom's model error for SRTM and "
        "Logan-ref (trapping, blood volume) is in the quantification section.",
    ]
    return "\n".join(lines)
