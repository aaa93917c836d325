"""Reference-region kinetic models, vectorised over voxels.

TACs are arrays with frames on the last axis (any leading shape, e.g. ``frames[mask]`` of shape
(n_voxels, n_frames)); the reference TAC has shape (n_frames,); both in the same units (SUV or
Bq/mL). Times come from `FrameTiming` (s) and are used in min: rate constants are per min.

- Logan with a reference region (Logan 1996, J Cereb Blood Flow Metab 16:834): for T >= t*,
  int(Ct)/Ct = DVR (int(Cr) + Cr/k2')/Ct + b. Without k2' the Cr/k2' term is dropped.
- Patlak with a reference region (Patlak & Blasberg 1985): for T >= t*,
  Ct/Cr = Ki' int(Cr)/Cr + V; Ki' (per min) = Ki / VT(reference) for an irreversible target.
- SRTM by basis functions (Lammertsma & Hume 1996; Gunn 1997, NeuroImage 6:279):
  Ct = theta1 Cr + theta2 (Cr conv exp(-theta3 t)), theta1 = R1, theta2 = k2 - R1 k2 / (1 + BPnd),
  theta3 = k2 / (1 + BPnd). For each theta3 of a grid the two linear parameters of every voxel
  are solved at once by weighted least squares (QR of the 2-column design); the theta3 with the
  smallest residual is kept per voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gliopet.io.timing import FrameTiming
from gliopet.quant._curves import (
    convolve_exp,
    cumulative_integral,
    fine_grid,
    frame_average,
    interpolate_frames,
    require_dynamic,
)


def _as_2d(tacs: np.ndarray, n_frames: int) -> tuple[np.ndarray, tuple[int, ...]]:
    tacs = np.asarray(tacs, dtype=float)
    if tacs.shape[-1] != n_frames:
        raise ValueError(f"TACs have {tacs.shape[-1]} frames, timing has {n_frames}")
    return tacs.reshape(-1, n_frames), tacs.shape[:-1]


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary least-squares slope and intercept of y on x along the last axis (vectorised)."""
    n = x.shape[-1]
    sx, sy = x.sum(-1), y.sum(-1)
    sxx, sxy = (x * x).sum(-1), (x * y).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * sxy - sx * sy) / (n * sxx - sx**2)
    return slope, (sy - slope * sx) / n


def _late_frames(timing: FrameTiming, t_star_min: float) -> np.ndarray:
    late = timing.mid_min >= t_star_min
    if np.count_nonzero(late) < 3:
        raise ValueError(f"fewer than 3 frames after t* = {t_star_min:g} min")
    return late


def logan_reference(
    tacs: np.ndarray,
    reference: np.ndarray,
    timing: FrameTiming,
    t_star_min: float = 10.0,
    k2_ref_per_min: float | None = None,
) -> dict[str, np.ndarray]:
    """Logan graphical analysis with a reference region: DVR (and BPnd = DVR - 1) per TAC.

    ``t_star_min``: start of the linear part (min from injection); ``k2_ref_per_min``: reference
    efflux rate (per min), or None to drop the Cr/k2' term.
    """
    require_dynamic(timing, "Logan reference analysis")
    y2d, lead = _as_2d(tacs, timing.n_frames)
    late = _late_frames(timing, t_star_min)
    ref = np.asarray(reference, dtype=float)
    int_ref = cumulative_integral(ref, timing)
    if k2_ref_per_min:
        int_ref = int_ref + ref / k2_ref_per_min
    int_t = cumulative_integral(y2d, timing)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = int_ref[late] / y2d[:, late]
        y = int_t[:, late] / y2d[:, late]
    dvr, intercept = _line_fit(x, y)
    return {"DVR": dvr.reshape(lead), "BPnd": (dvr - 1.0).reshape(lead),
            "intercept": intercept.reshape(lead)}


def patlak_reference(tacs: np.ndarray, reference: np.ndarray, timing: FrameTiming,
                     t_star_min: float = 10.0) -> dict[str, np.ndarray]:
    """Patlak plot with a reference region: Ki' (per min, the slope) and intercept V per TAC.

    The abscissa int(Cr)/Cr is shared by all voxels, so the fit is one matrix product.
    """
    require_dynamic(timing, "Patlak reference analysis")
    y2d, lead = _as_2d(tacs, timing.n_frames)
    late = _late_frames(timing, t_star_min)
    ref = np.asarray(reference, dtype=float)
    x = cumulative_integral(ref, timing)[late] / ref[late]
    xc = x - x.mean()
    y = y2d[:, late] / ref[late]
    slope = y @ (xc / np.sum(xc**2))
    intercept = y.mean(axis=1) - slope * x.mean()
    return {"Ki": slope.reshape(lead), "intercept": intercept.reshape(lead)}


@dataclass
class SRTMBasis:
    """Frame-averaged SRTM basis functions for one reference TAC.

    Attributes
    ----------
    theta3 : ndarray (n_basis,)
        Rates (per min) of the basis functions.
    reference : ndarray (n_frames,)
        Reference TAC (frame means).
    basis : ndarray (n_basis, n_frames)
        Frame means of reference conv exp(-theta3 t) (value x min).
    """

    theta3: np.ndarray
    reference: np.ndarray
    basis: np.ndarray

    def describe(self) -> str:
        """One line for sidecars: the theta3 grid."""
        return (
            f"{self.theta3.size} log-spaced theta3 in {self.theta3[0]:g}-{self.theta3[-1]:g} /min"
        )


#: Default theta3 grid (per min) of the SRTM basis functions: from slow, trapping-like tumours
#: (0.005 /min) to fast early-peaking ones (6 /min, a time constant of 10 s, the shortest frames
#: of FDOPA protocols); 150 log-spaced values, a step of 4.9 %.
THETA3_RANGE_PER_MIN = (0.005, 6.0)
N_BASIS = 150


def srtm_basis(
    reference: np.ndarray,
    timing: FrameTiming,
    theta3_range: tuple[float, float] = THETA3_RANGE_PER_MIN,
    n_basis: int = N_BASIS,
) -> SRTMBasis:
    """Basis functions on a log-spaced theta3 grid (per min) for a reference TAC.

    The reference is interpolated linearly through (0, 0) and the frame mid-points on a fine
    grid, convolved exactly with each exponential and averaged over each frame.
    """
    require_dynamic(timing, "SRTM")
    ref = np.asarray(reference, dtype=float)
    theta3 = np.geomspace(theta3_range[0], theta3_range[1], n_basis)
    grid = fine_grid(timing)
    curve = interpolate_frames(ref, timing, grid)
    conv = convolve_exp(curve, theta3, grid[1] - grid[0])
    return SRTMBasis(theta3, ref, frame_average(conv, grid, timing))


def srtm_model(reference: np.ndarray, timing: FrameTiming, r1: float, k2_per_min: float,
               bp_nd: float) -> np.ndarray:
    """SRTM prediction (frame means) of a target TAC for R1, k2 (per min) and BPnd."""
    theta3 = k2_per_min / (1.0 + bp_nd)
    theta2 = k2_per_min - r1 * theta3
    grid = fine_grid(timing)
    curve = interpolate_frames(reference, timing, grid)
    conv = frame_average(convolve_exp(curve, theta3, grid[1] - grid[0]), grid, timing)
    return r1 * np.asarray(reference, dtype=float) + theta2 * conv


def srtm_fit(tacs: np.ndarray, basis: SRTMBasis, timing: FrameTiming,
             weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """SRTM basis-function fit of every TAC at once: R1, k2, k2a (per min), BPnd, RSS.

    ``k2`` is SRTM's target efflux rate (= R1 x k2' of the reference), ``k2a`` = theta3 =
    k2 / (1 + BPnd) the apparent efflux rate of the (one-tissue) target.

    ``weights``: per-frame weights (default: frame duration). ``at_bound`` marks TACs whose best
    theta3 lies at an end of the grid (the estimate is then limited by the grid).
    """
    y2d, lead = _as_2d(tacs, timing.n_frames)
    w = (
        timing.duration_s / timing.duration_s.max()
        if weights is None
        else np.asarray(weights, float)
    )
    sw = np.sqrt(w)
    yw = (y2d * sw).T  # (n_frames, n_tacs)
    total = np.einsum("ij,ij->j", yw, yw)
    best_rss = np.full(yw.shape[1], np.inf)
    best_k = np.zeros(yw.shape[1], dtype=int)
    best_coef = np.zeros((2, yw.shape[1]))
    for k in range(basis.theta3.size):  # loop over basis functions, all voxels at once
        design = np.stack([basis.reference, basis.basis[k]], axis=1) * sw[:, None]
        q, r = np.linalg.qr(design)
        proj = q.T @ yw  # (2, n_tacs)
        rss = total - np.einsum("ij,ij->j", proj, proj)
        better = rss < best_rss
        if better.any():
            best_rss[better] = rss[better]
            best_k[better] = k
            best_coef[:, better] = np.linalg.solve(r, proj[:, better])
    theta3 = basis.theta3[best_k]
    r1, theta2 = best_coef
    k2 = r1 * theta3 + theta2
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = k2 / theta3 - 1.0
    at_bound = (best_k == 0) | (best_k == basis.theta3.size - 1)
    return {name: value.reshape(lead) for name, value in
            {"R1": r1, "k2": k2, "k2a": theta3, "BPnd": bp, "RSS": best_rss,
             "at_bound": at_bound}.items()}


def reference_efflux(fit: dict[str, np.ndarray], *, min_contrast: float = 0.1,
                     min_voxels: int = 10) -> float | None:
    """Reference efflux rate k2' (per min): the median of SRTM's k2 / R1 over informative voxels.

    Every one-tissue target gives k2 / R1 = k2' exactly, but only where its kinetics differ from
    the reference's: where the target is R1 x the reference (theta2 = 0) theta3 is arbitrary. So
    voxels count when |theta2| >= `min_contrast` x R1 theta3, R1 > 0 and theta3 is not at a grid
    bound; the median resists mixed voxels (fixing k2' from voxelwise SRTM as in SRTM2, Wu & Carson
    2002, J Cereb Blood Flow Metab 22:1440). None with fewer than `min_voxels` such voxels.
    """
    r1 = np.asarray(fit["R1"], float).ravel()
    k2 = np.asarray(fit["k2"], float).ravel()
    theta3 = np.asarray(fit["k2a"], float).ravel()
    theta2 = k2 - r1 * theta3
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = k2 / r1
        informative = (
            (r1 > 0)
            & ~np.asarray(fit["at_bound"], bool).ravel()
            & np.isfinite(ratio)
            & (ratio > 0)
            & (np.abs(theta2) >= min_contrast * r1 * theta3)
        )
    if np.count_nonzero(informative) < min_voxels:
        return None
    return float(np.median(ratio[informative]))


def to_image(values: np.ndarray, mask: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Per-voxel values (in ``mask`` order) back on the image grid (float32, `fill` elsewhere)."""
    out = np.full(mask.shape, fill, dtype=np.float32)
    out[mask] = values
    return out
