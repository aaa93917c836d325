"""Validation section ``curves``: reference-region models on synthetic TACs, noise-free and noisy.

Curves come from the phantom's own kinetics (`gliopet.simulate.kinetics`: closed-form compartment
models on the FDOPA input function) on site A's frame schedule (30 min) and on a 90-min schedule
(site A's frames then 12 x 5 min). Reference: one tissue, K1' = 0.045 mL/cm3/min, k2' = 0.06 /min
(healthy grey matter). Targets: a reversible one-tissue tumour (K1 = 0.18, k2 = 0.12 /min: DVR 2,
BPnd 1, R1 4) for SRTM and Logan-ref, and an irreversible two-tissue tumour (K1 = 0.12, k2 = 0.2,
k3 = 0.02 /min: Ki = 0.0109 /min, Ki' = Ki / VT' = 0.0145 /min) for Patlak-ref. Noise: Gaussian,
SD = level x curve value x sqrt(60 s / frame duration), on the target only (a reference region
averages thousands of voxels); 2000 curves per level, seeded.
"""

from __future__ import annotations

import numpy as np

from gliopet.config import load_config
from gliopet.io.timing import FrameTiming

N_CURVES = 2000
LEVELS = (0.05, 0.10)
SEED = load_config().seed  # the project seed (configuration), as every other section
REFERENCE = dict(K1=0.045, k2=0.06)
REVERSIBLE = dict(K1=0.18, k2=0.12)
IRREVERSIBLE = dict(K1=0.12, k2=0.2, k3=0.02)


def _timings() -> dict[str, FrameTiming]:
    from gliopet.simulate.sites import SITES

    site = SITES["siteA"].frame_timing()
    return {"30 min (site A)": site,
            "90 min": FrameTiming.from_durations(list(site.duration_s) + [300.0] * 12)}


def _estimates(
    targets: np.ndarray, irreversible: np.ndarray, ref: np.ndarray, timing: FrameTiming
) -> dict:
    from gliopet.quant import reference_models as rm

    fit = rm.srtm_fit(targets, rm.srtm_basis(ref, timing), timing)
    k2_ref = REFERENCE["k2"]
    logan = rm.logan_reference(targets, ref, timing, 10.0, k2_ref_per_min=k2_ref)
    patlak = rm.patlak_reference(irreversible, ref, timing, 10.0)
    return {
        "SRTM BPnd": fit["BPnd"],
        "SRTM R1": fit["R1"],
        "Logan-ref DVR": logan["DVR"],
        "Patlak-ref Ki'": patlak["Ki"],
    }


def run(cohorts=None) -> str:
    """The section's Markdown (no cohort needed)."""
    from gliopet.simulate.kinetics import KineticParams, frame_means, input_function

    inp = input_function(190e6, 70.0)
    vt_ref = REFERENCE["K1"] / REFERENCE["k2"]
    truth = {
        "SRTM BPnd": (REVERSIBLE["K1"] / REVERSIBLE["k2"]) / vt_ref - 1.0,
        "SRTM R1": REVERSIBLE["K1"] / REFERENCE["K1"],
        "Logan-ref DVR": (REVERSIBLE["K1"] / REVERSIBLE["k2"]) / vt_ref,
        "Patlak-ref Ki'": IRREVERSIBLE["K1"]
        * IRREVERSIBLE["k3"]
        / (IRREVERSIBLE["k2"] + IRREVERSIBLE["k3"])
        / vt_ref,
    }
    rng = np.random.default_rng(SEED)
    lines = [
        "## Reference-region models on synthetic curves",
        "",
        __doc__.split("\n\n", 1)[1].strip().replace("\n", " "),
        "",
        "Cells: median relative error to the true value [quartiles] over the curves "
        "(noise-free: the one curve). "
        "Logan-ref uses the true k2'; t* = 10 min for Logan-ref and Patlak-ref.",
        "",
        "| schedule | noise | " + " | ".join(truth) + " |",
        "|---|---|" + "---|" * len(truth),
    ]
    for label, timing in _timings().items():
        ref = frame_means(KineticParams(**REFERENCE), timing, inp)
        target = frame_means(KineticParams(**REVERSIBLE), timing, inp)
        trapped = frame_means(KineticParams(**IRREVERSIBLE), timing, inp)
        clean = _estimates(target[None, :], trapped[None, :], ref, timing)
        lines.append(f"| {label} | none | " + " | ".join(
            f"{100 * (float(clean[k][0]) / v - 1):+.1f} %" for k, v in truth.items()) + " |")
        scale = np.sqrt(60.0 / timing.duration_s)
        for level in LEVELS:
            noisy_t = target * (
                1.0 + level * scale * rng.standard_normal((N_CURVES, timing.n_frames))
            )
            noisy_i = trapped * (
                1.0 + level * scale * rng.standard_normal((N_CURVES, timing.n_frames))
            )
            est = _estimates(noisy_t, noisy_i, ref, timing)
            cells = []
            for key, true in truth.items():
                q1, med, q3 = np.nanpercentile(
                    100 * (np.asarray(est[key], float) / true - 1.0), [25, 50, 75]
                )
                cells.append(f"{med:+.1f} % [{q1:+.1f}, {q3:+.1f}]")
            lines.append(f"| {label} | {100 * level:g} % | " + " | ".join(cells) + " |")
    return "\n".join(lines)
