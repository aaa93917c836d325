"""FDOPA tracer kinetics of the phantom: arterial input function and compartment models.

Conventions
-----------
- Time inside the model is in **min from injection**; `FrameTiming` (s) is converted on entry.
- Activities are in **Bq/mL, decay-corrected to injection** (docs/conventions.md): the model
  describes the tracer without physical decay, and decay enters only the noise model
  (gliopet.simulate.scanner), exactly as for a decay-corrected reconstruction.
- Model: reversible 2-tissue compartment model with blood volume,
  ``C_PET(t) = (1 - vB) (K1 h * Cp)(t) + vB Cb(t)`` with the impulse response
  ``h(t) = [(k3 + k4 - a1) e^{-a1 t} + (a2 - k3 - k4) e^{-a2 t}] / (a2 - a1)``,
  ``a1,2 = (k2 + k3 + k4 -/+ sqrt((k2 + k3 + k4)^2 - 4 k2 k4)) / 2``. With k4 = 0 the slow rate is
  0 (irreversible trapping, the striatum; Schiepers 2007, J Nucl Med 48:1651: the striatum needs
  k3, tumour and cerebellum fit a reversible model); with k3 = 0 it reduces to one tissue.

Frame averages are exact: the input is a sum of terms ``c t^p e^{-l t}`` (p = 0, 1; Feng 1993),
so its convolution with each exponential has a closed form, and the frame integral follows from
the mass balance of one exponential compartment ``dF/dt = Cp - b F``:
``integral_{ts}^{te} F dt = ([I(te) - I(ts)] - [F(te) - F(ts)]) / b`` with ``I = integral Cp``
(for b = 0 the double integral of Cp is used). No library provides this closed form, so it is
written here; `solve_reference` checks it against scipy's ODE solver.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from gliopet.config import package_defaults, window_s
from gliopet.errors import ParameterError
from gliopet.io.timing import FrameTiming
from gliopet.radionuclides import HALF_LIFE_S, decay_constant

#: F-18 physical half-life (min), from the one table of `gliopet.radionuclides`.
F18_HALF_LIFE_MIN = HALF_LIFE_S["F18"] / 60.0
#: F-18 decay constant (1/min).
F18_LAMBDA_PER_MIN = decay_constant(F18_HALF_LIFE_MIN)

#: Feng 1993 input-function constants (FDG; docs/literature.md, KMAP-M): arbitrary
#: concentration units, rates per min.
#: ``Cp(t) = (A1 t - A2 - A3) e^{-l1 t} + A2 e^{-l2 t} + A3 e^{-l3 t}``.
FENG_A = (851.1225, 21.8798, 20.8113)
FENG_L = (4.1339, 0.1191, 0.0104)

#: Healthy grey-matter SUV targeted over 10-30 min (the input is rescaled to give it).
#: Reasoning: FDOPA cortex SUV is about 1-1.5 at 10-30 min in adults (the striatum 2-3, striatum
#: to brain about 1.8-2.0, Verger 2017, docs/literature.md); we take 1.3 for grey matter,
#: white matter then lands near 0.9 and the hemisphere background (grey + white) near 1.1.
GREY_SUV_TARGET = 1.3

# Below this rate (1/min) an exponential is treated as constant (relative error < 3e-8 over 30 min).
_SMALL_RATE = 1e-9


@dataclass(frozen=True)
class KineticParams:
    """Rate constants of the 2-tissue model; each field a float or an array (they broadcast).

    Attributes
    ----------
    K1 : mL/cm3/min (plasma to tissue)
    k2 : 1/min (tissue to plasma)
    k3 : 1/min (decarboxylation / trapping; striatum > 0)
    k4 : 1/min (release from the trapped compartment; 0 = irreversible)
    vB : fraction of the voxel volume that is blood (0-1)
    """

    K1: float | np.ndarray
    k2: float | np.ndarray
    k3: float | np.ndarray = 0.0
    k4: float | np.ndarray = 0.0
    vB: float | np.ndarray = 0.0

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(K1, k2, k3, k4, vB) as float64 arrays broadcast to one shape."""
        values = (np.asarray(getattr(self, f.name), dtype=float) for f in fields(self))
        return tuple(np.broadcast_arrays(*values))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.arrays()[0].shape

    def problems(self) -> list[str]:
        """Impossible values, as sentences (empty when valid)."""
        K1, k2, k3, k4, vB = self.arrays()
        found = []
        for name, value in (("K1", K1), ("k2", k2), ("k3", k3), ("k4", k4)):
            if not np.all(np.isfinite(value)) or np.any(value < 0):
                found.append(f"{name} must be finite and >= 0")
        if not np.all((vB >= 0) & (vB <= 1)):
            found.append("vB must be in [0, 1]")
        return found

    def scaled(self, **factors: float | np.ndarray) -> KineticParams:
        """A copy with the named fields multiplied by the given factors."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, factor in factors.items():
            values[name] = np.asarray(values[name]) * factor
        return KineticParams(**values)

    def ki(self) -> np.ndarray:
        """Net influx constant K1 k3 / (k2 + k3) (mL/cm3/min)."""
        K1, k2, k3, _, _ = self.arrays()
        return K1 * k3 / np.maximum(k2 + k3, 1e-12)

    def distribution_volume(self) -> np.ndarray:
        """Total distribution volume K1/k2 (1 + k3/k4) (mL/cm3); inf when k4 = 0 and k3 > 0."""
        K1, k2, k3, k4, _ = self.arrays()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(k3 > 0, K1 / k2 * (1 + k3 / k4), K1 / k2)


def _terms_integral(terms, t: np.ndarray, order: int) -> np.ndarray:
    """Sum of ``c t^p e^{-l t}`` terms (order 0), or its integral from 0 (order 1, 2)."""
    t = np.asarray(t, dtype=float)
    out = np.zeros_like(t)
    for c, p, rate in terms:
        out += c * _monomial_exp_integral(p, rate, t, order)
    return out


def _monomial_exp_integral(p: int, rate: float, t: np.ndarray, order: int) -> np.ndarray:
    """``t^p e^{-l t}`` (order 0) and its repeated integrals from 0 (order 1, 2), closed form."""
    lam = float(rate)
    e = np.exp(-lam * t)
    if order == 0:
        return t**p * e
    if p == 0:
        if order == 1:  # (1 - e^{-lt}) / l
            return -np.expm1(-lam * t) / lam
        return (t - (-np.expm1(-lam * t)) / lam) / lam  # integral of the above
    # p == 1
    if order == 1:  # (1 - (1 + l t) e^{-lt}) / l^2
        return (1.0 - (1.0 + lam * t) * e) / lam**2
    # integral of the above: (t - 2/l + (t + 2/l) e^{-lt}) / l^2
    return (t - 2.0 / lam + (t + 2.0 / lam) * e) / lam**2


@dataclass(frozen=True)
class InputFunction:
    """Metabolite-corrected FDOPA plasma input and whole-blood activity, Feng-model shape.

    ``plasma(t) = scale [(A1 t - A2 - A3) e^{-l1 t} + A2 e^{-l2 t} + A3 e^{-l3 t}]`` (Bq/mL,
    t in min) and ``blood(t) = plasma(t) + scale M (e^{-lm_slow t} - e^{-lm_fast t})`` where the
    second term is
    the radiolabelled metabolites (mostly 3-O-methyl-FDOPA) that are in the blood but not in the
    metabolite-corrected plasma input. Both decay-corrected to injection.
    """

    scale: float
    A: tuple[float, float, float] = FENG_A
    L: tuple[float, float, float] = FENG_L
    metabolite_amplitude: float = 12.0
    metabolite_rates: tuple[float, float] = (0.002, 0.08)

    def _plasma_terms(self) -> list[tuple[float, int, float]]:
        a1, a2, a3 = self.A
        l1, l2, l3 = self.L
        s = self.scale
        return [(s * a1, 1, l1), (-s * (a2 + a3), 0, l1), (s * a2, 0, l2), (s * a3, 0, l3)]

    def _blood_terms(self) -> list[tuple[float, int, float]]:
        m = self.scale * self.metabolite_amplitude
        slow, fast = self.metabolite_rates
        return self._plasma_terms() + [(m, 0, slow), (-m, 0, fast)]

    def plasma(self, t_min: np.ndarray | float) -> np.ndarray:
        """Plasma parent activity (Bq/mL) at `t_min` (min from injection); 0 before injection."""
        t = np.asarray(t_min, dtype=float)
        return np.where(t > 0, _terms_integral(self._plasma_terms(), np.maximum(t, 0), 0), 0.0)

    def blood(self, t_min: np.ndarray | float) -> np.ndarray:
        """Whole-blood activity (Bq/mL) for the vB term, at `t_min` (min)."""
        t = np.asarray(t_min, dtype=float)
        return np.where(t > 0, _terms_integral(self._blood_terms(), np.maximum(t, 0), 0), 0.0)

    def plasma_integral(self, t_min: np.ndarray, order: int = 1) -> np.ndarray:
        """Integral of the plasma curve from 0 to `t_min` (order 1) or its double integral (2)."""
        return _terms_integral(self._plasma_terms(), np.maximum(np.asarray(t_min, float), 0), order)

    def blood_integral(self, t_min: np.ndarray) -> np.ndarray:
        """Integral of the whole-blood curve from 0 to `t_min` (Bq/mL x min)."""
        return _terms_integral(self._blood_terms(), np.maximum(np.asarray(t_min, float), 0), 1)


#: Healthy grey-matter parameters used to calibrate the input scale (must match
#: gliopet.simulate.biology's standard grey matter).
CALIBRATION_GREY = KineticParams(K1=0.045, k2=0.06, k3=0.004, k4=0.0, vB=0.04)


@lru_cache(maxsize=8)
def _suv_scale_per_feng_unit(A: tuple, L: tuple, met_amp: float, met_rates: tuple) -> float:
    """SUV of plasma per Feng unit such that `CALIBRATION_GREY` has SUV `GREY_SUV_TARGET` over the
    static window (package default, 10-30 min)."""
    unit = InputFunction(scale=1.0, A=A, L=L, metabolite_amplitude=met_amp,
                         metabolite_rates=met_rates)
    start_s, end_s = window_s(package_defaults().quant.static_window_min)
    timing = FrameTiming(np.array([start_s]), np.array([end_s - start_s]))
    grey_unit = float(frame_means(CALIBRATION_GREY, timing, unit)[..., 0])
    return GREY_SUV_TARGET / grey_unit


def input_function(dose_bq: float, weight_kg: float, rng: np.random.Generator | None = None,
                   variant: str = "standard") -> InputFunction:
    """The subject's arterial FDOPA input (Bq/mL), Feng shape rescaled to FDOPA uptake.

    The scale converts Feng units to Bq/mL via SUV: plasma SUV per Feng unit is calibrated so
    that healthy grey matter (`CALIBRATION_GREY`) reaches SUV `GREY_SUV_TARGET` over 10-30 min with
    the mean input, and ``Bq/mL = SUV x dose_bq / weight_g``. With `rng`, the subject varies:
    amplitude (log-normal, SD 12 %), the two clearance rates (SD 10 %) and the bolus rate (SD 8 %).
    ``variant="heldout"``: a slower, broader bolus and slower clearance (another injection
    protocol and metabolism), used by the held-out generator configuration.
    """
    if not (np.isfinite(dose_bq) and dose_bq > 0):
        raise ParameterError("dose_bq", dose_bq, "a positive injected activity in Bq")
    if not (np.isfinite(weight_kg) and weight_kg > 0):
        raise ParameterError("weight_kg", weight_kg, "a positive body weight in kg")
    if variant not in ("standard", "heldout"):
        raise ParameterError("variant", variant, "'standard' or 'heldout'")
    a1, a2, a3 = FENG_A
    l1, l2, l3 = FENG_L
    met_amp, met_rates = 12.0, (0.002, 0.08)
    if variant == "heldout":
        # Slow infusion-like bolus (peak later, lower), slower parent clearance, more metabolites.
        l1, l2, l3 = 2.2, 0.09, 0.008
        a1 = a1 * 2.2 / 4.1339
        met_amp = 18.0
    suv_per_unit = _suv_scale_per_feng_unit((a1, a2, a3), (l1, l2, l3), met_amp, met_rates)
    amp = 1.0
    if rng is not None:
        amp = float(np.exp(rng.normal(0.0, 0.12)))
        l1 *= float(np.exp(rng.normal(0.0, 0.08)))
        l2 *= float(np.exp(rng.normal(0.0, 0.10)))
        l3 *= float(np.exp(rng.normal(0.0, 0.10)))
    scale = amp * suv_per_unit * dose_bq / (weight_kg * 1000.0)
    return InputFunction(scale=scale, A=(a1, a2, a3), L=(l1, l2, l3),
                         metabolite_amplitude=met_amp, metabolite_rates=met_rates)


def _eigen(k2: np.ndarray, k3: np.ndarray, k4: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rates (a1 <= a2) and weights (w1, w2) of the 2-tissue impulse response
    h = w1 e^{-a1 t} + w2 e^{-a2 t}.

    K1 is applied by the caller. A tiny floor on the discriminant keeps a2 > a1 when k3 = 0 and
    k2 = k4 (the weights then stay finite; the error is below 1e-5 relative).
    """
    s = k2 + k3 + k4
    disc = np.sqrt(np.maximum(s * s - 4.0 * k2 * k4, 0.0) + 1e-14)
    a1 = np.maximum((s - disc) / 2.0, 0.0)
    a2 = (s + disc) / 2.0
    w1 = (k3 + k4 - a1) / (a2 - a1)
    w2 = (a2 - k3 - k4) / (a2 - a1)
    return a1, a2, w1, w2


def _conv_exp(terms, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``F(t) = integral_0^t e^{-b (t-s)} Cp(s) ds`` for Cp = sum of ``c s^p e^{-l s}``.

    b has shape (n, 1), t shape (1, m); closed form: with d = b - l, the p = 0 term is
    ``(e^{-lt} - e^{-bt}) / d`` and the p = 1 term ``(e^{-bt} - e^{-lt} (1 - d t)) / d^2``.
    Where |d t| is small (cancellation) the entries are replaced by their Taylor series.
    """
    eb = np.exp(-b * t)
    out = np.zeros(np.broadcast_shapes(b.shape, t.shape))
    by_rate: dict[float, dict[int, float]] = {}
    for c, p, lam in terms:
        by_rate.setdefault(float(lam), {}).setdefault(p, 0.0)
        by_rate[float(lam)][p] += c
    for lam, coefs in by_rate.items():
        el = np.exp(-lam * t)
        d = b - lam
        d = np.where(np.abs(d) < 1e-100, 1.0, d)  # such rows are all "small" below (x ~ 0)
        x = d * t
        c0 = coefs.get(0, 0.0)
        c1 = coefs.get(1, 0.0)
        contrib = np.zeros_like(out)
        if c0:
            contrib += (c0 / d) * (el - eb)
        if c1:
            contrib += (c1 / (d * d)) * (eb - el * (1.0 - x))
        small = np.abs(b - lam) * t < 1e-3
        if np.any(small):
            rows, cols = np.nonzero(small)
            xs = ((b - lam) * t)[rows, cols]
            ts = np.broadcast_to(t, small.shape)[rows, cols]
            els = np.broadcast_to(el, small.shape)[rows, cols]
            series = np.zeros_like(xs)
            if c0:
                series += c0 * ts * els * (1.0 - xs / 2.0 + xs * xs / 6.0 - xs**3 / 24.0)
            if c1:
                series += c1 * ts * ts * els * (0.5 - xs / 6.0 + xs * xs / 24.0 - xs**3 / 120.0)
            contrib[rows, cols] = series
        out += contrib
    return out


def _frame_integrals(terms, b: np.ndarray, t: np.ndarray, i_start: np.ndarray, i_end: np.ndarray,
                     dI1: np.ndarray, dI2: np.ndarray) -> np.ndarray:
    """Integral over each frame of ``F_b(t) = integral_0^t e^{-b (t-s)} Cp(s) ds``, shape
    (n, n_frames).

    Uses ``integral F = (delta I1 - delta F) / b`` (mass balance of dF/dt = Cp - b F), or the
    double integral of Cp when b ~ 0. Expanding the closed forms of `_conv_exp`,
    ``F(b, t) = sum_j alpha_j(b) phi_j(t) + beta(b) e^{-bt}`` where the phi_j are the input's own
    time functions (e^{-l t}, t e^{-l t}): the per-voxel work is one exponential per time point
    and a small matrix product. The coefficients have 1/(b - l) factors, so rows with b within
    1e-3 /min of an input rate (cancellation) go through `_conv_exp` (Taylor series there).
    """
    rates = sorted({float(lam) for _, _, lam in terms})
    basis, index = [], {}
    for lam in rates:
        index[(lam, 0)] = len(basis)
        basis.append(np.exp(-lam * t))
        if any(p == 1 and float(la) == lam for _, p, la in terms):
            index[(lam, 1)] = len(basis)
            basis.append(t * np.exp(-lam * t))
    basis = np.stack(basis)  # (n_basis, m)
    d_basis = basis[:, i_end] - basis[:, i_start]
    near = np.zeros(b.shape, dtype=bool)
    for lam in rates:
        near |= np.abs(b - lam) < 1e-3
    bb = np.where(near, -1.0, b)  # placeholder far from every rate; these rows are redone below
    alpha = np.zeros((b.size, basis.shape[0]))
    beta = np.zeros(b.size)
    for c, p, lam in terms:
        d = bb - float(lam)
        if p == 0:
            alpha[:, index[(float(lam), 0)]] += c / d
            beta -= c / d
        else:
            alpha[:, index[(float(lam), 0)]] -= c / (d * d)
            alpha[:, index[(float(lam), 1)]] += c / d
            beta += c / (d * d)
    eb = np.exp(np.multiply.outer(-bb, t))
    contiguous = np.array_equal(i_end, i_start + 1) and i_start.size == t.size - 1
    if contiguous:
        d_eb = np.subtract(eb[:, 1:], eb[:, :-1], out=eb[:, 1:])
    else:
        d_eb = eb[:, i_end] - eb[:, i_start]
    d_eb *= beta[:, None]
    d_eb += alpha @ d_basis  # delta F over each frame
    if np.any(near):
        F_near = _conv_exp(terms, b[near][:, None], t[None, :])
        d_eb[near] = F_near[:, i_end] - F_near[:, i_start]
    integral = np.subtract(dI1[None, :], d_eb, out=d_eb)
    tiny = b < _SMALL_RATE
    integral /= np.where(tiny, 1.0, b)[:, None]
    if np.any(tiny):
        integral[tiny] = dI2
    return integral


def frame_means(params: KineticParams, timing: FrameTiming, inp: InputFunction,
                chunk: int = 4096, dtype: type = np.float64) -> np.ndarray:
    """Noise-free frame-averaged tissue activity (Bq/mL, decay-corrected to injection).

    Returns shape ``(*broadcast shape of params, n_frames)``. Exact (closed form, see the module
    docstring), vectorised over voxels, processed in chunks of `chunk` voxels to bound memory
    (about 1e6 voxels x 30 frames in 1-2 s on one core). `dtype` of the result (float32 halves
    the memory of large volumes; the computation is in float64).
    """
    problems = params.problems()
    if problems:
        raise ParameterError("params", "KineticParams",
                             "valid kinetic parameters: " + "; ".join(problems))
    K1, k2, k3, k4, vB = (a.reshape(-1) for a in params.arrays())
    shape = params.shape
    ts = timing.start_s / 60.0
    te = timing.end_s / 60.0
    dur = te - ts
    if np.any(dur <= 0):
        raise ParameterError("timing", "FrameTiming", "frames of positive duration")
    # Input-only quantities, shared by all voxels; contiguous frames share their boundaries.
    terms = inp._plasma_terms()
    t_all, inverse = np.unique(np.concatenate([ts, te]), return_inverse=True)
    i_start, i_end = inverse[: len(ts)], inverse[len(ts):]
    I1 = inp.plasma_integral(t_all, 1)
    I2 = inp.plasma_integral(t_all, 2)
    dI1 = I1[i_end] - I1[i_start]
    dI2 = I2[i_end] - I2[i_start]
    blood_mean = (inp.blood_integral(te) - inp.blood_integral(ts)) / dur
    n = K1.size
    out = np.empty((n, timing.n_frames), dtype=dtype)
    for lo in range(0, n, chunk):
        sl = slice(lo, min(lo + chunk, n))
        a1, a2, w1, w2 = _eigen(k2[sl], k3[sl], k4[sl])
        tissue = _frame_integrals(terms, a1, t_all, i_start, i_end, dI1, dI2)
        tissue *= w1[:, None]
        slow = _frame_integrals(terms, a2, t_all, i_start, i_end, dI1, dI2)
        slow *= w2[:, None]
        tissue += slow
        tissue *= (K1[sl] * (1.0 - vB[sl]))[:, None] / dur[None, :]
        tissue += vB[sl, None] * blood_mean[None, :]
        out[sl] = tissue
    return out.reshape(*shape, timing.n_frames)


def solve_reference(params: KineticParams, timing: FrameTiming, inp: InputFunction) -> np.ndarray:
    """Independent reference: the 2-tissue ODEs solved by scipy, then averaged over the frames.

    For one parameter set (scalars). Integrates ``dC1 = K1 Cp - (k2 + k3) C1 + k4 C2``,
    ``dC2 = k3 C1 - k4 C2`` and the running integral of the PET signal with a tight tolerance.
    """
    from scipy.integrate import solve_ivp

    K1, k2, k3, k4, vB = (float(np.asarray(v).reshape(-1)[0]) for v in params.arrays())

    def rhs(t: float, y: np.ndarray) -> list[float]:
        cp = float(inp.plasma(t))
        c1, c2, _ = y
        pet = (1.0 - vB) * (c1 + c2) + vB * float(inp.blood(t))
        return [K1 * cp - (k2 + k3) * c1 + k4 * c2, k3 * c1 - k4 * c2, pet]

    ts = timing.start_s / 60.0
    te = timing.end_s / 60.0
    t_eval = np.unique(np.concatenate([[0.0], ts, te]))
    sol = solve_ivp(rhs, (0.0, float(te.max())), [0.0, 0.0, 0.0], t_eval=t_eval, method="LSODA",
                    rtol=1e-10, atol=1e-10, max_step=0.05)
    cumulative = np.interp(np.concatenate([ts, te]), sol.t, sol.y[2])
    return (cumulative[len(ts):] - cumulative[: len(ts)]) / (te - ts)


def time_to_peak_min(tacs: np.ndarray, timing: FrameTiming) -> np.ndarray:
    """TTP (min): mid-time of the frame with the highest value (docs/conventions.md), last axis =
    frames."""
    return timing.mid_min[np.argmax(tacs, axis=-1)]
