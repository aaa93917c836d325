"""Roe-Metz simulation of multi-reader multi-case confidence ratings (two modalities, crossed).

Model (Roe & Metz, Acad Radiol 1997;4:298-303 and 587-600): the latent rating of case k by
reader j in modality i is

    X_ijk = t_k (mu_i + R_j + TR_ij) + C_k + TC_ik + RC_jk + E_ijk

with t_k = 1 for a diseased case and 0 otherwise, independent zero-mean normal effects of
variances var_r, var_tr (reader, modality x reader: they act on the diseased cases, i.e. on the
reader's separation), var_c, var_tc, var_rc, var_e (case, modality x case, reader x case,
error), drawn afresh for every case. With var_c + var_tc + var_rc + var_e = 1 a reader's AUC is
about Phi((mu_i + R_j + TR_ij) / sqrt(2)), so mu = 0.75, 1.5, 2.5 give AUC 0.702, 0.856, 0.962.
Null hypothesis: mu_1 = mu_0. Alternative: mu_1 = mu_0 + delta.

`STRUCTURES` holds the four variance structures of Roe & Metz 1997 used by Hillis (2007,
Stat Med 26:596) in the naming reader variability / case-correlation (H = high, L = low), as
we read them from those papers (not re-checked against the printed tables in this session).
Hand-written here because no Python library simulates MRMC ROC data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from gliopet.errors import InputError
from gliopet.reader.mrmc import analyse


@dataclass(frozen=True)
class Structure:
    """Variances of the Roe-Metz effects (latent rating units; the case terms sum to 1)."""

    var_r: float
    var_tr: float
    var_c: float
    var_tc: float
    var_rc: float
    var_e: float


STRUCTURES = {
    "HH": Structure(0.011, 0.011, 0.3, 0.3, 0.2, 0.2),
    "HL": Structure(0.011, 0.011, 0.1, 0.1, 0.2, 0.6),
    "LH": Structure(0.0055, 0.0055, 0.3, 0.3, 0.2, 0.2),
    "LL": Structure(0.0055, 0.0055, 0.1, 0.1, 0.2, 0.6),
}


def expected_auc(mu: float, structure: Structure) -> float:
    """AUC of a reader with R = TR = 0: Phi(mu / sqrt(2 x the case-level variance))."""
    case_var = structure.var_c + structure.var_tc + structure.var_rc + structure.var_e
    return float(norm.cdf(mu / np.sqrt(2 * case_var)))


def simulate(*, readers: int = 5, normal: int = 50, abnormal: int = 50, mu: float = 1.5,
             delta: float = 0.0, structure: str | Structure = "HH",
             rng: np.random.Generator | int | None = None, scale: int | None = None
             ) -> pd.DataFrame:
    """One simulated crossed study in long form (reader, modality, case, truth, rating).

    Parameters
    ----------
    readers, normal, abnormal : int
        Numbers of readers and of cases without / with disease.
    mu : float
        Separation of modality 0 (latent units); modality 1 has ``mu + delta``.
    delta : float
        Effect under the alternative (0: null hypothesis of equal AUCs).
    structure : str or Structure
        A key of `STRUCTURES` or the variances themselves.
    rng : Generator or int, optional
        Random generator or seed.
    scale : int, optional
        Discretise ratings to a 1..scale confidence scale (Roe & Metz use continuous ratings
        and 5-point scales); None: continuous.
    """
    if readers < 2 or normal < 2 or abnormal < 2:
        raise InputError("the simulation needs at least 2 readers and 2 cases of each class",
                         fix="raise readers, normal and abnormal")
    var = STRUCTURES[structure] if isinstance(structure, str) else structure
    gen = np.random.default_rng(rng)
    cases = normal + abnormal
    truth = np.r_[np.zeros(normal, int), np.ones(abnormal, int)]
    sd = {k: np.sqrt(v) for k, v in var.__dict__.items()}
    sep = np.array([mu, mu + delta])[:, None] + gen.normal(0, sd["var_r"], readers)[None, :] \
        + gen.normal(0, sd["var_tr"], (2, readers))
    x = (truth[None, None, :] * sep[:, :, None]
         + gen.normal(0, sd["var_c"], cases)[None, None, :]
         + gen.normal(0, sd["var_tc"], (2, cases))[:, None, :]
         + gen.normal(0, sd["var_rc"], (readers, cases))[None, :, :]
         + gen.normal(0, sd["var_e"], (2, readers, cases)))
    if scale is not None:
        edges = norm.ppf(np.linspace(0, 1, scale + 1)[1:-1], loc=mu / 2, scale=1.2)
        x = np.digitize(x, edges) + 1.0
    modality, reader, case = np.meshgrid(np.arange(2), np.arange(readers), np.arange(cases),
                                         indexing="ij")
    return pd.DataFrame({"reader": reader.ravel(), "modality": modality.ravel(),
                         "case": case.ravel(), "truth": truth[case.ravel()],
                         "rating": x.ravel()})


def rejections(replicates: int, *, alpha: float = 0.05, cov: str = "jackknife",
               seed: int | None = None, **design: object) -> dict[str, int]:
    """How many of `replicates` simulated studies reject equal AUCs, per analysis.

    `design` goes to `simulate` (readers, normal, abnormal, mu, delta, structure, scale).
    Returns the counts for the keys of `gliopet.reader.mrmc.ANALYSES`.
    """
    gen = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for _ in range(replicates):
        result = analyse(simulate(rng=gen, **design), cov=cov, alpha=alpha)
        for name, analysis in result.analyses.items():
            counts[name] = counts.get(name, 0) + int(analysis.test.p_value < alpha)
    return counts
