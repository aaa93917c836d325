"""Obuchowski-Rockette analysis of a multi-reader multi-case ROC study, with Hillis' degrees of
freedom, as the R package MRMCaov (v0.3.0, `mrmc`, `summary.mrmc`) computes it.

Model (Obuchowski & Rockette 1995): the AUC of reader j in modality i is
``theta_ij = mu + tau_i + R_j + (tau R)_ij + e_ij``; the errors e (over cases) have variance
Var(error) and covariances Cov1 (same reader, other modality), Cov2 (other reader, same
modality), Cov3 (other reader and modality), estimated from the case-level covariance matrix of
the AUCs (`gliopet.reader.mrmc_cov`) as averages over the pairs of each kind. Three analyses:

- random readers and cases: F = MS(T) / [MS(T:R) + r max(Cov2 - Cov3, 0)] on (t - 1, ddf) with
  Hillis' (2007) ddf = [MS(T:R) + r max(Cov2 - Cov3, 0)]^2 / [MS(T:R)^2 / ((t-1)(r-1))];
- fixed readers, random cases: chi2 = (t-1) MS(T) / [Var(error) - Cov1 + (r-1)(Cov2 - Cov3)]
  on t - 1 df (normal intervals);
- random readers, fixed cases: F = MS(T) / MS(T:R) on (t-1, (t-1)(r-1)).

Designs other than fully crossed zero the covariances that cannot be estimated (MRMCaov
`vcov_comps`). For readers nested within modalities, the effective number of readers is
n0 = (N^2 - sum r_i^2) / (N (t - 1)) (the one-way ANOVA coefficient; MRMCaov 0.3.0 writes
(N - sum r_i^2) / (N (t - 1)), which is negative, and we do not follow it there).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from gliopet.errors import InputError
from gliopet.reader.mrmc_cov import Group, covariance, group_auc, make_groups
from gliopet.reader.mrmc_input import check_ratings, require_design

ANALYSES = ("random_readers_cases", "fixed_readers", "fixed_cases")
TITLES = {"random_readers_cases": "random readers and cases",
          "fixed_readers": "fixed readers, random cases",
          "fixed_cases": "random readers, fixed cases"}


@dataclass(frozen=True)
class Estimate:
    """An estimate (AUC or AUC difference) with its standard error, df (inf: normal),
    confidence interval, test statistic against 0 and two-sided p-value."""

    label: str
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    statistic: float = float("nan")
    p_value: float = float("nan")


@dataclass(frozen=True)
class GlobalTest:
    """Test of equal modality AUCs: statistic ``F`` (or ``chi2``) on (df1, df2; inf for chi2)."""

    statistic: str
    value: float
    df1: float
    df2: float
    p_value: float
    denominator: float


@dataclass(frozen=True)
class Analysis:
    """One of the three analyses: the global test, pairwise differences, modality AUCs."""

    name: str
    test: GlobalTest
    differences: list[Estimate]
    modalities: list[Estimate]


@dataclass(frozen=True)
class Components:
    """OR variance components and the mean squares of the reader x modality AUC table."""

    var_r: float
    var_tr: float
    cov1: float
    cov2: float
    cov3: float
    var_error: float
    ms_t: float
    ms_r: float
    ms_tr: float


@dataclass(frozen=True)
class MRMCResult:
    """The full analysis: design, reader AUCs, components and the three analyses."""

    design: str
    cov_method: str
    alpha: float
    modalities: list[str]
    readers: list[str]
    n_cases: int
    reader_auc: pd.DataFrame
    components: Components
    analyses: dict[str, Analysis]
    reader_differences: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tables as lists of records)."""
        return {
            "design": self.design, "cov_method": self.cov_method, "alpha": self.alpha,
            "modalities": self.modalities, "readers": self.readers, "n_cases": self.n_cases,
            "reader_auc": self.reader_auc.to_dict("records"),
            "components": asdict(self.components),
            "analyses": {k: asdict(v) for k, v in self.analyses.items()},
            "reader_differences": self.reader_differences.to_dict("records"),
        }


@dataclass(frozen=True)
class _Fit:
    """AUCs of the groups with their modality and reader indices and covariance matrix."""

    theta: NDArray[np.float64]
    test: NDArray[np.int_]
    reader: NDArray[np.int_]
    cov: NDArray[np.float64]
    design: str
    n_tests: int
    n_readers: int

    def mask(self, same_test: bool, same_reader: bool,
             keep: NDArray[np.bool_] | None = None) -> NDArray[np.bool_]:
        st = self.test[:, None] == self.test[None, :]
        sr = self.reader[:, None] == self.reader[None, :]
        out = (st == same_test) & (sr == same_reader)
        return out if keep is None else out & np.outer(keep, keep)


def _mean(values: NDArray[np.float64]) -> float:
    return float(values.mean()) if values.size else 0.0


def covariances(fit: _Fit, keep: NDArray[np.bool_] | None = None) -> tuple[float, ...]:
    """(Var(error), Cov1, Cov2, Cov3) averaged over the groups in `keep` (MRMCaov rules)."""
    c = fit.cov
    diag = np.diag(c) if keep is None else np.diag(c)[keep]
    cov1 = _mean(c[fit.mask(False, True, keep)])
    cov2 = _mean(c[fit.mask(True, False, keep)])
    cov3 = _mean(c[fit.mask(False, False, keep)])
    if fit.design == "cases_within_readers" or fit.n_readers == 1:
        cov2 = cov3 = 0.0
    elif fit.design == "cases_within_modalities":
        cov1 = cov3 = 0.0
    elif fit.design == "readers_within_modalities":
        cov1 = 0.0
    return float(diag.mean()), cov1, cov2, cov3


def _nested(fit: _Fit) -> bool:
    return fit.design == "readers_within_modalities"


def mean_squares(fit: _Fit) -> tuple[float, float, float]:
    """MS(T), MS(R) and MS(T:R) of the AUC table; nested: MS(T), MS(R(T)), n/a."""
    t, theta = fit.n_tests, fit.theta
    grand = theta.mean()
    means = np.array([theta[fit.test == i].mean() for i in range(t)])
    sizes = np.bincount(fit.test, minlength=t)
    ms_t = float(np.sum(sizes * (means - grand) ** 2) / (t - 1))
    if _nested(fit):
        ms_r = float(np.sum((theta - means[fit.test]) ** 2) / (len(theta) - t))
        return ms_t, ms_r, float("nan")
    r = fit.n_readers
    table = np.empty((t, r))
    table[fit.test, fit.reader] = theta
    rows, cols = table.mean(axis=1), table.mean(axis=0)
    ms_r = float(t * np.sum((cols - grand) ** 2) / (r - 1))
    resid = table - rows[:, None] - cols[None, :] + grand
    return ms_t, ms_r, float(np.sum(resid ** 2) / ((t - 1) * (r - 1)))


def components(fit: _Fit) -> Components:
    """OR variance components (MRMCaov `summary.vcov_comps`)."""
    var, cov1, cov2, cov3 = covariances(fit)
    ms_t, ms_r, ms_tr = mean_squares(fit)
    if _nested(fit):
        var_r, var_tr = ms_r - var + cov2, float("nan")
    else:
        var_r = (ms_r - ms_tr) / fit.n_tests - cov1 + cov3
        var_tr = ms_tr - var + cov1 + (cov2 - cov3)
    return Components(var_r, var_tr, cov1, cov2, cov3, var, ms_t, ms_r, ms_tr)


def interval(label: str, estimate: float, se: float, df: float, alpha: float,
              clip: bool = False) -> Estimate:
    """Estimate with a t (df finite) or normal (df inf) interval and test against 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = stats.norm if np.isinf(df) else stats.t(df)
        q = float(dist.ppf(1 - alpha / 2))
        low, high = estimate - q * se, estimate + q * se
        if clip:
            low, high = max(low, 0.0), min(high, 1.0)
        z = estimate / se if se > 0 and not clip else float("nan")  # no test of an AUC vs 0
        p = float(2 * dist.sf(abs(z))) if np.isfinite(z) else float("nan")
    return Estimate(label, float(estimate), float(se), float(df), float(low), float(high),
                    float(z), p)


def _modality_stats(fit: _Fit, i: int) -> tuple[float, float, float, float, int]:
    """(mean AUC, MS(R), Var(error), Cov2, readers) of modality `i` (MRMCaov `mrmc_tests`)."""
    keep = fit.test == i
    theta = fit.theta[keep]
    ms_r = float(np.var(theta, ddof=1)) if theta.size > 1 else 0.0
    sub = fit.cov[np.ix_(keep, keep)]
    readers = fit.reader[keep]
    other = readers[:, None] != readers[None, :]
    cov2 = 0.0 if fit.design == "cases_within_readers" else _mean(sub[other])
    return float(theta.mean()), ms_r, float(np.diag(sub).mean()), cov2, int(theta.size)


def hillis_df(ms: float, extra: float, df0: float) -> float:
    """Hillis' ddf: (ms + extra)^2 / (ms^2 / df0); infinite when ms is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((ms + extra) ** 2 / (ms ** 2 / df0)) if ms > 0 else float("inf")


def _modality_estimates(fit: _Fit, labels: list[str], kind: str,
                        alpha: float) -> list[Estimate]:
    out = []
    for i, label in enumerate(labels):
        auc, ms_r, var, cov2, r = _modality_stats(fit, i)
        if kind == "random_readers_cases":
            se = np.sqrt(ms_r / r + max(cov2, 0.0))
            df = hillis_df(ms_r, r * max(cov2, 0.0), r - 1)
        elif kind == "fixed_readers":
            se, df = np.sqrt((var + (r - 1) * max(cov2, 0.0)) / r), float("inf")
        else:
            se, df = np.sqrt(ms_r / r), float(r - 1)
        out.append(interval(label, auc, float(se), df, alpha, clip=True))
    return out


def _effective_readers(fit: _Fit) -> float:
    """r (crossed designs) or n0 = (N^2 - sum r_i^2) / (N (t - 1)) (readers nested)."""
    if not _nested(fit):
        return float(fit.n_readers)
    sizes = np.bincount(fit.test, minlength=fit.n_tests).astype(float)
    total = sizes.sum()
    return float((total ** 2 - np.sum(sizes ** 2)) / (total * (fit.n_tests - 1)))


def _global_test(fit: _Fit, comps: Components, kind: str) -> tuple[GlobalTest, float, float]:
    """The global test, the variance scale of a difference and its df."""
    t, n0 = fit.n_tests, _effective_readers(fit)
    nested = _nested(fit)
    ms_err = comps.ms_r if nested else comps.ms_tr
    df_err = (len(fit.theta) - t) if nested else (t - 1) * (fit.n_readers - 1)
    spread = max(comps.cov2 - comps.cov3, 0.0)
    if kind == "random_readers_cases":
        denom = ms_err + n0 * spread
        df2 = hillis_df(ms_err, n0 * spread, df_err)
        f = comps.ms_t / denom
        return GlobalTest("F", f, t - 1, df2, float(stats.f.sf(f, t - 1, df2)), denom), denom, df2
    if kind == "fixed_readers":
        if nested:
            denom = comps.var_error - comps.cov2 + n0 * spread
        else:
            denom = comps.var_error - comps.cov1 + (n0 - 1) * (comps.cov2 - comps.cov3)
        x2 = (t - 1) * comps.ms_t / denom
        test = GlobalTest("chi2", x2, t - 1, float("inf"), float(stats.chi2.sf(x2, t - 1)), denom)
        return test, denom, float("inf")
    f = comps.ms_t / ms_err
    return (GlobalTest("F", f, t - 1, df_err, float(stats.f.sf(f, t - 1, df_err)), ms_err),
            ms_err, float(df_err))


def _analysis(fit: _Fit, comps: Components, labels: list[str], kind: str,
              alpha: float) -> Analysis:
    test, scale, df = _global_test(fit, comps, kind)
    modalities = _modality_estimates(fit, labels, kind, alpha)
    sizes = np.bincount(fit.test, minlength=fit.n_tests)
    differences = []
    for a, b in combinations(range(fit.n_tests), 2):
        se = float(np.sqrt((1 / sizes[a] + 1 / sizes[b]) * scale))
        estimate = modalities[a].estimate - modalities[b].estimate
        differences.append(interval(f"{labels[a]} - {labels[b]}", estimate, se, df, alpha))
    return Analysis(TITLES[kind], test, differences, modalities)


def reader_differences(fit: _Fit, labels: list[str], readers: list[str],
                       alpha: float) -> pd.DataFrame:
    """Per-reader modality differences with normal intervals (fixed readers; MRMCaov
    `reader_test_diffs`: SE = sqrt(2 (Var(error)_j - Cov1_j)))."""
    if _nested(fit):
        return pd.DataFrame()
    rows = []
    for j, reader in enumerate(readers):
        keep = fit.reader == j
        var, cov1, _, _ = covariances(fit, keep)
        se = float(np.sqrt(max(2 * (var - cov1), 0.0)))
        theta = {int(i): v for i, v in zip(fit.test[keep], fit.theta[keep], strict=True)}
        for a, b in combinations(range(fit.n_tests), 2):
            est = interval(f"{labels[a]} - {labels[b]}", theta[a] - theta[b], se,
                            float("inf"), alpha)
            rows.append({"reader": reader, **asdict(est)})
    return pd.DataFrame(rows)


def modality_order(values: list, order: list | None = None) -> list:
    """Modality levels in analysis order: `order` when given, ``aided`` before ``unaided``
    when those are the two levels (differences then read aided - unaided), else sorted."""
    levels = sorted(set(values), key=lambda v: (str(type(v)), v))
    if order is not None:
        wanted = [v for o in order for v in levels if str(v) == str(o)]
        if sorted(map(str, wanted)) != sorted(map(str, levels)):
            raise InputError(f"the modality order {list(order)} does not name the modalities "
                             f"{[str(v) for v in levels]} each once",
                             fix="list every modality once")
        return wanted
    if {str(v) for v in levels} == {"aided", "unaided"}:
        return sorted(levels, key=lambda v: str(v) != "aided")
    return levels


def _fit(frame: pd.DataFrame, design: str, cov_method: str,
         modalities: list) -> tuple[_Fit, list[Group], list]:
    readers = sorted(frame["reader"].unique(), key=lambda v: (str(type(v)), v))
    cases = sorted(frame["case"].unique(), key=lambda v: (str(type(v)), v))
    groups = make_groups(frame, modalities, readers, cases)
    theta = np.array([group_auc(g) for g in groups])
    test = np.array([modalities.index(g.modality) for g in groups])
    reader = np.array([readers.index(g.reader) for g in groups])
    cov = covariance(groups, len(cases), cov_method)
    return _Fit(theta, test, reader, cov, design, len(modalities), len(readers)), groups, readers


def _check_size(frame: pd.DataFrame) -> None:
    if frame["modality"].nunique() < 2:
        raise InputError(f"the ratings hold one modality ({frame['modality'].iloc[0]}); the "
                         "analysis compares at least two", fix="give the ratings of both arms")
    if frame["reader"].nunique() < 2:
        raise InputError("the ratings hold one reader; random-reader analysis needs at least 2",
                         fix="give the ratings of every reader")


def analyse(ratings: pd.DataFrame, *, cov: str = "jackknife", alpha: float = 0.05,
            design: str | None = None, order: list | None = None) -> MRMCResult:
    """Obuchowski-Rockette-Hillis analysis of long-form ratings (`mrmc_input.COLUMNS`).

    Parameters
    ----------
    ratings : DataFrame
        One row per reading: reader, modality, case, truth (0/1), rating.
    cov : {"jackknife", "delong", "unbiased"}
        Estimator of the AUC error covariances over cases.
    alpha : float
        1 - coverage of the intervals (0.05: 95 % intervals); tests are two-sided.
    design : str, optional
        The design the study should follow (`mrmc_input.DESIGNS`); refused when the ratings
        do not. None: detected.
    order : list, optional
        Modality order; differences are earlier minus later modality.
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must lie between 0 and 1; got {alpha}", fix="e.g. 0.05")
    frame = check_ratings(ratings)
    _check_size(frame)
    found = require_design(frame, design)
    modalities = modality_order(list(frame["modality"].unique()), order)
    fit, groups, readers = _fit(frame, found, cov, modalities)
    labels, reader_labels = [str(m) for m in modalities], [str(r) for r in readers]
    comps = components(fit)
    table = pd.DataFrame({"reader": [str(g.reader) for g in groups],
                          "modality": [str(g.modality) for g in groups],
                          "auc": fit.theta, "n_cases": [len(g.cases) for g in groups],
                          "se": np.sqrt(np.diag(fit.cov))})
    analyses = {k: _analysis(fit, comps, labels, k, alpha) for k in ANALYSES}
    return MRMCResult(found, cov, alpha, labels, reader_labels, int(frame["case"].nunique()),
                      table, comps, analyses,
                      reader_differences(fit, labels, reader_labels, alpha))
