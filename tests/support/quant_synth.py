"""Closed-form kinetic truth for the quant tests (independent of gliopet's numerics).

Curves are sums of exponentials sum_j a_j exp(-b_j t) (t in min); frame means are integrated
analytically. Plasma input: Cp = sum a_j exp(-b_j t) with sum a_j = 0 (Cp(0) = 0).
"""

from __future__ import annotations

import numpy as np

from gliopet.io.timing import FrameTiming

#: 26 frames over 40 min: 6x10 s, 6x30 s, 4x60 s, 4x120 s, 6x240 s.
DURATIONS_S = [10] * 6 + [30] * 6 + [60] * 4 + [120] * 4 + [240] * 6
TIMING = FrameTiming.from_durations(DURATIONS_S)
#: 38 frames over 100 min (the same, then 12 x 300 s), for plasma-input models.
TIMING_LONG = FrameTiming.from_durations(DURATIONS_S + [300] * 12)
CP_A = np.array([30.0, 5.0, -35.0])
CP_B = np.array([2.0, 0.05, 6.0])


def frame_means(a, b, timing: FrameTiming = TIMING) -> np.ndarray:
    """Frame means of sum_j a_j exp(-b_j t); b_j = 0 is a constant term."""
    s = timing.start_s[:, None] / 60.0
    e = timing.end_s[:, None] / 60.0
    a = np.asarray(a, float)[None, :]
    b = np.asarray(b, float)[None, :]
    safe = np.where(b == 0, 1.0, b)
    integral = np.where(b == 0, e - s, (np.exp(-safe * s) - np.exp(-safe * e)) / safe)
    return (a * integral).sum(axis=1) / (e - s)[:, 0]


def conv_exp(a, b, k):
    """sum a_j exp(-b_j t) convolved with exp(-k t), as (coefficients, rates)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    coef = a / (k - b)
    return np.r_[coef, -coef.sum()], np.r_[b, k]


def one_tcm(k1, k2, a=CP_A, b=CP_B):
    """1TCM tissue curve K1 exp(-k2 t) conv Cp."""
    c, r = conv_exp(a, b, k2)
    return k1 * c, r


def irreversible_2tcm(k1, k2, k3, a=CP_A, b=CP_B):
    """2TCM with k4 = 0: K1/(k2+k3) [k3 int(Cp) + k2 Cp conv exp(-(k2+k3) t)]."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    # int_0^t Cp = sum a_j (1 - exp(-b_j t)) / b_j
    int_c, int_r = np.r_[-a / b, (a / b).sum()], np.r_[b, 0.0]
    c2, r2 = conv_exp(a, b, k2 + k3)
    f = k1 / (k2 + k3)
    return np.r_[f * k3 * int_c, f * k2 * c2], np.r_[int_r, r2]


def reversible_2tcm(k1, k2, k3, k4, a=CP_A, b=CP_B):
    """Reversible 2TCM tissue curve (sum of free and bound compartments)."""
    s = k2 + k3 + k4
    root = np.sqrt(s * s - 4 * k2 * k4)
    a1, a2 = (s - root) / 2, (s + root) / 2
    c1, r1 = conv_exp(a, b, a1)
    c2, r2 = conv_exp(a, b, a2)
    f = k1 / (a2 - a1)
    return np.r_[f * (k3 + k4 - a1) * c1, f * (a2 - k3 - k4) * c2], np.r_[r1, r2]
