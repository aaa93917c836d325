"""Empirical AUCs of reader x modality groups and the covariance of their errors over cases.

The three estimators of the R package MRMCaov (`cov_methods`):

- ``jackknife``: leave one case out, covariance of the leave-one-out AUCs times (K - 1) / K
  (K = all cases of the study; a case a group did not read leaves its AUC unchanged);
- ``delong``: DeLong, DeLong & Clarke-Pearson 1988 structural components (crossed designs only;
  `gliopet.metrics.delong`);
- ``unbiased``: Gallas, Pennello & Myers 2007 (JOSA A 24:B70), the U-statistic estimator, for
  any design (MRMCaov `unbiased_default`).

The AUC is the Wilcoxon (trapezoidal) area, ties counting one half. The leave-one-out AUCs
are computed in closed form from each case's placement (its share of the pair comparisons), not
by refitting: written here because no Python library offers MRMC jackknife covariances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gliopet.errors import InputError
from gliopet.metrics.delong import delong_covariance

COV_METHODS = ("jackknife", "delong", "unbiased")


@dataclass(frozen=True)
class Group:
    """The readings of one reader in one modality: case positions (into the study's case
    list), truth (0/1) and rating, in the same order."""

    modality: object
    reader: object
    cases: NDArray[np.int_]
    truth: NDArray[np.int_]
    rating: NDArray[np.float64]


def psi(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Kernel matrix (positives x negatives): 1 when the positive is rated higher, 1/2 on ties."""
    diff = pos[:, None] - neg[None, :]
    return (diff > 0) + 0.5 * (diff == 0)


def placements(group: Group) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Row sums (per positive) and column sums (per negative) of the group's kernel matrix."""
    pos = group.rating[group.truth == 1]
    neg = np.sort(group.rating[group.truth == 0])
    rows = np.searchsorted(neg, pos, "left") + 0.5 * (
        np.searchsorted(neg, pos, "right") - np.searchsorted(neg, pos, "left"))
    pos_sorted = np.sort(pos)
    negs = group.rating[group.truth == 0]
    below = len(pos) - np.searchsorted(pos_sorted, negs, "right")
    ties = np.searchsorted(pos_sorted, negs, "right") - np.searchsorted(pos_sorted, negs, "left")
    return rows.astype(float), below + 0.5 * ties


def group_auc(group: Group) -> float:
    """Empirical (Wilcoxon) AUC of one group."""
    rows, _ = placements(group)
    return float(rows.sum() / (np.sum(group.truth == 1) * np.sum(group.truth == 0)))


def make_groups(frame: pd.DataFrame, modalities: list, readers: list,
                cases: list) -> list[Group]:
    """The reader x modality groups present in the checked ratings, modality-major."""
    index = {c: i for i, c in enumerate(cases)}
    groups = []
    for modality in modalities:
        for reader in readers:
            part = frame[(frame["modality"] == modality) & (frame["reader"] == reader)]
            if part.empty:
                continue
            m, n = int(part["truth"].sum()), int((part["truth"] == 0).sum())
            if m < 2 or n < 2:
                raise InputError(f"reader {reader} in modality {modality} read {m} case(s) "
                                 f"with and {n} without disease; the analysis needs at least 2 "
                                 "of each", fix="give each reader more cases of both classes")
            groups.append(Group(modality, reader, part["case"].map(index).to_numpy(int),
                                part["truth"].to_numpy(int), part["rating"].to_numpy(float)))
    return groups


def _leave_one_out(group: Group, n_cases: int) -> NDArray[np.float64]:
    """AUC without each case of the study (K,), exact from the placements."""
    rows, cols = placements(group)
    m, n = len(rows), len(cols)
    total = rows.sum()
    out = np.full(n_cases, total / (m * n))
    out[group.cases[group.truth == 1]] = (total - rows) / ((m - 1) * n)
    out[group.cases[group.truth == 0]] = (total - cols) / (m * (n - 1))
    return out


def jackknife_covariance(groups: list[Group], n_cases: int) -> NDArray[np.float64]:
    """Jackknife covariance (G x G) of the group AUCs (MRMCaov `jackknife`)."""
    loo = np.column_stack([_leave_one_out(g, n_cases) for g in groups])
    centred = loo - loo.mean(axis=0)
    return (n_cases - 1) / n_cases * centred.T @ centred


def delong_group_covariance(groups: list[Group], n_cases: int) -> NDArray[np.float64]:
    """DeLong covariance (G x G) of the group AUCs; every group must read every case."""
    if any(len(g.cases) != n_cases for g in groups):
        raise InputError("the DeLong covariance needs every reader to read every case in "
                         "every modality", fix="use --cov jackknife or unbiased")
    scores = np.empty((len(groups), n_cases))
    truth = np.empty(n_cases, dtype=int)
    for k, g in enumerate(groups):
        scores[k, g.cases] = g.rating
        truth[g.cases] = g.truth
    return delong_covariance(truth, scores)[1]


def _unbiased_terms(group: Group) -> dict:
    pos, neg = group.truth == 1, group.truth == 0
    kernel = psi(group.rating[pos], group.rating[neg])
    return {"pos": group.cases[pos], "neg": group.cases[neg], "psi": kernel,
            "rows": kernel.sum(axis=1), "cols": kernel.sum(axis=0), "sum": kernel.sum()}


def _unbiased_pair(x: dict, y: dict) -> float:
    """Gallas' unbiased covariance of two AUCs over their common cases (MRMCaov `get_cov`)."""
    pos, xi, yi = np.intersect1d(x["pos"], y["pos"], return_indices=True)
    neg, xj, yj = np.intersect1d(x["neg"], y["neg"], return_indices=True)
    nxny = x["psi"].size * y["psi"].size
    n_pos, n_neg = len(pos), len(neg)
    delta = nxny / (nxny - x["psi"].shape[0] * n_neg * y["psi"].shape[0]
                    - x["psi"].shape[1] * n_pos * y["psi"].shape[1] + n_pos * n_neg)
    cross = np.sum(x["psi"][np.ix_(xi, xj)] * y["psi"][np.ix_(yi, yj)])
    within = x["rows"][xi] @ y["rows"][yi] + x["cols"][xj] @ y["cols"][yj] - cross
    return float(((1 - delta) * x["sum"] * y["sum"] + delta * within) / nxny)


def unbiased_covariance(groups: list[Group], n_cases: int) -> NDArray[np.float64]:
    """Unbiased (U-statistic) covariance (G x G) of the group AUCs (MRMCaov `unbiased`)."""
    terms = [_unbiased_terms(g) for g in groups]
    out = np.empty((len(groups), len(groups)))
    for i, x in enumerate(terms):
        for j in range(i + 1):
            out[i, j] = out[j, i] = _unbiased_pair(x, terms[j])
    return out


def covariance(groups: list[Group], n_cases: int, method: str) -> NDArray[np.float64]:
    """Covariance matrix of the group AUCs by `method` (one of `COV_METHODS`)."""
    estimators = {"jackknife": jackknife_covariance, "delong": delong_group_covariance,
                  "unbiased": unbiased_covariance}
    if method not in estimators:
        raise InputError(f"unknown covariance method {method!r}",
                         fix="one of " + ", ".join(COV_METHODS))
    return estimators[method](groups, n_cases)
