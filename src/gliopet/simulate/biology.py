"""The phantom's label model: latent biology generates both the labels and the image parameters.

Generative chain (one patient):

1. **Molecular configuration** ``c = (IDH, 1p/19q, CDKN2A/B, grade, MGMT, outcome at recurrence)``
   drawn from a prior that is consistent with WHO CNS 2021 (docs/literature.md):
   oligodendroglioma = IDH-mutant + 1p/19q-codeleted, grade 2-3 (CDKN2A/B deletion makes it 3);
   astrocytoma = IDH-mutant, not codeleted, grade 2-4 (CDKN2A/B homozygous deletion makes it 4);
   glioblastoma = IDH-wildtype, grade 4; codeletion only in IDH-mutant tumours. MGMT promoter
   methylation is more frequent in IDH-mutant tumours, and treatment-related change is more
   frequent than progression when MGMT is methylated (Galldiks 2015).
2. **Aggressiveness** ``a ~ N(m(c), SD_A^2)``, a latent continuous variable (grade-driven).
3. **Latent image parameters** of each session ``z = mu_kind(c) + beta_kind a + eps``,
   ``eps ~ N(0, diag(sd_kind^2))`` (`LATENT_NAMES`): tumour distribution volume, washout rate k2,
   trapping k3, MRI enhancement and necrosis. The tumour kinetic parameters and the MRI effects
   are deterministic functions of z (`tumour_params`), so given z the labels carry no further
   information into the images; everything else (healthy tissue, input function, tumour volume,
   voxel texture, the aggressive subregion's extra variation) is drawn independently of the labels.
4. Hence ``z | c ~ N(mu(c) + beta m(c), SD_A^2 beta beta' + diag(sd^2))`` and the **true
   posterior** ``P(label | z) = sum_c P(c) N(z; c) [label in c] / sum_c P(c) N(z; c)`` is exact
   (enumeration of the finite set of configurations). It is stored per session, so the Bayes-
   optimal AUC of every task is known (`bayes_auc`).

Tumour kinetics (Ginet 2020; Schiepers 2007; docs/literature.md): IDH-wildtype tumours have
high K1 and k2 and low k3 (early peak then decrease, TTP mostly < 5.4 min); IDH-mutant tumours low
k2 and higher k3 (increasing to the end); higher grade (aggressiveness) raises K1 and the
distribution volume. The class overlap is set so that the Bayes AUC for IDH is about 0.9 and the
TTP alone reaches about 0.8 (Ginet 2020: 0.789); for progression vs treatment-related change the
Bayes AUC is about 0.9 and TBRmax about 0.85 (Cui 2021 pooled FDOPA AUC 0.85).

The null marker is drawn from its own random stream (spawned from the caller's generator before
anything else), by systematic sampling, so it is independent of every label and image parameter
by construction; its posterior is its prevalence.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from gliopet.errors import ParameterError
from gliopet.simulate.kinetics import CALIBRATION_GREY, KineticParams
from gliopet.simulate.sites import SiteProfile

#: Median tumour distribution volume at diagnosis (mL/cm3, before the codeletion and
#: aggressiveness terms) and the influx of the non-enhancing infiltration relative to the
#: enhancing part. Calibrated (docs/literature.md, "Phantom calibration at diagnosis") so that
#: through the pipeline TBRmax, T/S and the PET-avid volume by IDH group match a real FDOPA
#: cohort at diagnosis: amino-acid transport does not need a broken blood-brain barrier, so
#: non-enhancing glioma takes up FDOPA almost as much as the enhancing part, and almost every
#: glioma is PET-avid at diagnosis.
DIAGNOSIS_DV = 1.35
INFILTRATION_UPTAKE = 0.85
#: Slowest tumour washout rate k2 (1/min) the images use (see `tumour_params`).
TUMOUR_K2_FLOOR = 0.06

#: Names of the latent image parameters (the vector z of the module docstring).
LATENT_NAMES = ("log_DV", "log_k2", "log_k3", "log_enhancement", "logit_necrosis")

#: Prior of the molecular configuration (see `_configs`).
P_IDH_MUTANT = 0.45
P_CODELETED_GIVEN_MUTANT = 0.40
P_CDKN_DELETED = {"oligodendroglioma": 0.10, "astrocytoma": 0.15, "glioblastoma": 0.55}
P_GRADE_OLIGO_INTACT = {2: 0.6, 3: 0.4}             # CDKN2A/B intact oligodendroglioma
P_GRADE_ASTRO_INTACT = {2: 0.5, 3: 0.4, 4: 0.1}     # CDKN2A/B intact astrocytoma
P_MGMT_METHYLATED = {"mutant": 0.85, "wildtype": 0.45}
#: P(progression | MGMT): pseudoprogression is more frequent with MGMT methylation (Galldiks 2015).
P_PROGRESSION = {"methylated": 0.55, "unmethylated": 0.80}
#: Prevalence of the null marker.
NULL_PREVALENCE = 0.5
#: Aggressiveness: mean by grade (IDH-wildtype glioblastoma a little higher), common SD.
#: Calibrated with `DIAGNOSIS_DV` (log DV loads on it) to the high- and low-grade SUVmax of
#: Fueger 2010 and the real IDH-wildtype TBRmax (docs/literature.md).
AGGRESSIVENESS_MEAN = {2: -1.2, 3: 0.0, 4: 0.75}
AGGRESSIVENESS_WT_SHIFT = 0.1
SD_A = 0.5
#: Default fraction of tumour sessions with an aggressive subregion (Thon 2015: hot spots in
#: about 19 % of suspected low-grade gliomas; higher here so that WP2 has material).
AGGRESSIVE_FRACTION = 0.4

LABEL_DESCRIPTIONS: dict[str, dict] = {
    "IDH": {
        "Description": "IDH1/2 mutation status (WHO CNS 2021).",
        "Levels": {"mutant": "IDH-mutant", "wildtype": "IDH-wildtype", "n/a": "healthy volunteer"},
    },
    "codeletion_1p19q": {
        "Description": "1p/19q whole-arm codeletion (only in IDH-mutant tumours).",
        "Levels": {
            "codeleted": "1p/19q codeleted",
            "intact": "not codeleted",
            "n/a": "healthy volunteer",
        },
    },
    "CDKN2AB": {
        "Description": "CDKN2A/B homozygous deletion (makes an IDH-mutant astrocytoma grade 4).",
        "Levels": {
            "deleted": "homozygous deletion",
            "intact": "no homozygous deletion",
            "n/a": "healthy volunteer",
        },
    },
    "MGMT": {
        "Description": "MGMT promoter methylation.",
        "Levels": {
            "methylated": "methylated",
            "unmethylated": "unmethylated",
            "n/a": "healthy volunteer",
        },
    },
    "who_type": {
        "Description": "Integrated diagnosis, WHO CNS 2021.",
        "Levels": {
            "astrocytoma": "astrocytoma, IDH-mutant",
            "oligodendroglioma": "oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
            "glioblastoma": "glioblastoma, IDH-wildtype",
            "healthy": "healthy volunteer",
        },
    },
    "grade": {
        "Description": "WHO CNS grade (2021).",
        "Levels": {"2": "grade 2", "3": "grade 3", "4": "grade 4", "n/a": "healthy volunteer"},
    },
    "outcome": {
        "Description": "Nature of the lesion at a recurrence session.",
        "Levels": {
            "progression": "tumour progression",
            "treatment_change": "treatment-related change",
            "n/a": "not a recurrence session",
        },
    },
    "null_marker": {
        "Description": "Negative-control marker drawn independently of everything; no method "
        "should predict it better than chance.",
        "Levels": {"positive": "positive", "negative": "negative"},
    },
}


# ------------------------------------------------------------------------------------------
# data classes


@dataclass
class SubjectBiology:
    """Labels and latent biology of one subject (see the module docstring)."""

    subject: str
    healthy: bool
    sex: str
    age: float
    weight_kg: float
    idh: str = "n/a"                 # "mutant" | "wildtype" | "n/a" (healthy)
    codeletion_1p19q: str = "n/a"    # "codeleted" | "intact" | "n/a"
    cdkn2ab: str = "n/a"             # "deleted" | "intact" | "n/a"
    mgmt: str = "n/a"  # "methylated" | "unmethylated" | "n/a"
    who_type: str = "healthy"  # "astrocytoma" | "oligodendroglioma" | "glioblastoma" | "healthy"
    grade: int | None = None         # WHO CNS grade 2-4, None for healthy
    aggressiveness: float = 0.0      # latent (dimensionless)
    null_marker: str = "negative"  # independent of everything
    recurrence_outcome: str = (
        "n/a"  # outcome of a recurrence session: "progression" | "treatment_change"
    )


@dataclass
class SessionBiology:
    """Kinetic class means, MRI effects, latent image parameters, true posteriors of one session."""

    kind: str                                   # "diagnosis" | "recurrence" | "healthy"
    outcome: str                                # "progression" | "treatment_change" | "n/a"
    tissue_params: dict[str, KineticParams]
    voxel_cv: dict[str, float]
    has_aggressive: bool
    aggressive_params: KineticParams | None
    tumour_volume_ml: float
    latent_image: dict[str, float]
    posteriors: dict[str, float]
    mri_effects: dict[str, float]
    dose_bq: float
    injection_to_scan_s: float = 0.0
    tumour_kinetics: dict[str, float] = field(
        default_factory=dict
    )  # K1, k2, k3, k4, vB, DV of "enhancing"
    #: Kinetic parameters that vary voxel to voxel (smooth field with the class cv); the others are
    #: uniform within each tissue class.
    varied_params: tuple[str, ...] = ("K1", "k2", "k3", "k4", "vB")


# ------------------------------------------------------------------------------------------
# configurations and their prior


@dataclass(frozen=True)
class _Config:
    idh: str
    codel: str
    cdkn: str
    grade: int
    mgmt: str
    outcome: str
    prior: float

    @property
    def who_type(self) -> str:
        if self.idh == "wildtype":
            return "glioblastoma"
        return "oligodendroglioma" if self.codel == "codeleted" else "astrocytoma"


@lru_cache(maxsize=1)
def _configs() -> tuple[_Config, ...]:
    """Every WHO-2021-consistent configuration with its prior probability (sum 1), sorted so that
    rare label levels form contiguous blocks (systematic sampling then guarantees them)."""
    out = []
    for idh, codel in (("mutant", "codeleted"), ("mutant", "intact"), ("wildtype", "intact")):
        p_idh = P_IDH_MUTANT if idh == "mutant" else 1.0 - P_IDH_MUTANT
        p_codel = 1.0 if idh == "wildtype" else (
            P_CODELETED_GIVEN_MUTANT if codel == "codeleted" else 1.0 - P_CODELETED_GIVEN_MUTANT)
        who = (
            "glioblastoma"
            if idh == "wildtype"
            else ("oligodendroglioma" if codel == "codeleted" else "astrocytoma")
        )
        for cdkn in ("intact", "deleted"):
            p_cdkn = P_CDKN_DELETED[who] if cdkn == "deleted" else 1.0 - P_CDKN_DELETED[who]
            if who == "glioblastoma":
                grades = {4: 1.0}
            elif cdkn == "deleted":
                grades = {3: 1.0} if who == "oligodendroglioma" else {4: 1.0}
            else:
                grades = (
                    P_GRADE_OLIGO_INTACT if who == "oligodendroglioma" else P_GRADE_ASTRO_INTACT
                )
            for grade, p_grade in grades.items():
                for mgmt, outcome in itertools.product(("methylated", "unmethylated"),
                                                       ("progression", "treatment_change")):
                    p_mgmt = (
                        P_MGMT_METHYLATED[idh]
                        if mgmt == "methylated"
                        else 1.0 - P_MGMT_METHYLATED[idh]
                    )
                    p_out = (
                        P_PROGRESSION[mgmt]
                        if outcome == "progression"
                        else 1.0 - P_PROGRESSION[mgmt]
                    )
                    prior = p_idh * p_codel * p_cdkn * p_grade * p_mgmt * p_out
                    out.append(_Config(idh, codel, cdkn, grade, mgmt, outcome, prior))
    total = sum(c.prior for c in out)
    assert abs(total - 1.0) < 1e-12, total
    return tuple(out)


def _aggressiveness_mean(c: _Config) -> float:
    return AGGRESSIVENESS_MEAN[c.grade] + (AGGRESSIVENESS_WT_SHIFT if c.idh == "wildtype" else 0.0)


def _latent_model(kind: str, c: _Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, loading on aggressiveness, noise SD) of z given configuration `c`, per `LATENT_NAMES`.

    Values tuned (Monte Carlo, see tests/unit/simulate/test_sim_biology.py) so that SUVmax and
    TTP fall in the ranges of docs/literature.md ("Phantom parameters") and the AUCs are near
    their published values.
    """
    mut = c.idh == "mutant"
    codel = c.codel == "codeleted"
    if kind == "diagnosis":
        mean = np.array(
            [
                np.log(DIAGNOSIS_DV) + (0.12 if codel else 0.0),  # log DV: oligos take up more
                np.log(0.15) if mut else np.log(0.45),  # log k2: IDH-wt fast washout
                np.log(0.010) + (0.30 if mut else 0.0) + (0.25 if codel else 0.0),  # log k3
                -0.3 + (0.10 if c.grade == 4 else 0.0),  # log enhancement
                -3.0 + (0.30 if c.grade == 4 else 0.0),  # logit necrosis
            ]
        )
        beta = np.array([0.28, 0.0, 0.0, 0.12, 0.3])
        sd = np.array([0.25, 0.95, 0.40, 0.50, 1.0])
        return mean, beta, sd
    if kind == "recurrence":
        prog = c.outcome == "progression"
        if prog:
            mean = np.array([np.log(1.15), np.log(0.15) if mut else np.log(0.35), np.log(0.012),
                             -0.2, -2.0])
            beta = np.array([0.15, 0.0, 0.0, 0.1, 0.3])
        else:
            # treatment-related change: lower uptake, slowly increasing; enhances and necroses too
            mean = np.array([np.log(0.80), np.log(0.12), np.log(0.009), -0.3, -1.8])
            beta = np.zeros(5)
        sd = np.array([0.30, 0.80, 0.40, 0.50, 1.0])
        return mean, beta, sd
    raise ValueError(f"no latent model for session kind {kind!r}")


@lru_cache(maxsize=4)
def _marginals(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per configuration: log prior, marginal mean, inverse covariance and log-determinant of z."""
    configs = _configs()
    d = len(LATENT_NAMES)
    means, precisions, logdets = (
        np.empty((len(configs), d)),
        np.empty((len(configs), d, d)),
        np.empty(len(configs)),
    )
    for i, c in enumerate(configs):
        mean, beta, sd = _latent_model(kind, c)
        means[i] = mean + beta * _aggressiveness_mean(c)
        cov = SD_A**2 * np.outer(beta, beta) + np.diag(sd**2)
        precisions[i] = np.linalg.inv(cov)
        logdets[i] = np.linalg.slogdet(cov)[1]
    log_prior = np.log([c.prior for c in configs])
    return log_prior, means, precisions, logdets


#: Labels whose posterior is stored: name -> predicate on a configuration.
POSTERIOR_LABELS = {
    "IDH_mutant": lambda c: c.idh == "mutant",
    "codeleted_1p19q": lambda c: c.codel == "codeleted",
    "CDKN2AB_deleted": lambda c: c.cdkn == "deleted",
    "MGMT_methylated": lambda c: c.mgmt == "methylated",
    "grade_4": lambda c: c.grade == 4,
    "glioblastoma": lambda c: c.who_type == "glioblastoma",
    "progression": lambda c: c.outcome == "progression",
}


def latent_posteriors(kind: str, z: np.ndarray) -> dict[str, float]:
    """Exact P(label | z) for a diagnosis or recurrence session (Bayes' rule over configurations).

    ``progression`` is included for recurrence sessions only; ``null_positive`` is the prevalence.
    """
    z = np.asarray(z, dtype=float)
    log_prior, means, precisions, logdets = _marginals(kind)
    diff = z[None, :] - means
    maha = np.einsum("ci,cij,cj->c", diff, precisions, diff)
    log_w = log_prior - 0.5 * (maha + logdets)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    configs = _configs()
    out = {}
    for name, predicate in POSTERIOR_LABELS.items():
        if name == "progression" and kind != "recurrence":
            continue
        mask = np.array([predicate(c) for c in configs])
        out[name] = float(w[mask].sum())
    out["null_positive"] = NULL_PREVALENCE
    return out


def bayes_auc(posteriors: np.ndarray, labels: np.ndarray) -> float:
    """AUC of the true posterior (Bayes-optimal ranking) against binary labels (Mann-Whitney)."""
    from scipy.stats import rankdata

    posteriors = np.asarray(posteriors, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(posteriors)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ------------------------------------------------------------------------------------------
# sampling subjects


def _systematic(probabilities: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n category indices by systematic sampling, in random order.

    Each draw, taken alone, has exactly the distribution `probabilities` (one uniform offset,
    then a random permutation), while the counts are within one of ``n p`` for every contiguous
    block of categories: a block of prior mass >= 1/n is always represented.
    """
    cdf = np.cumsum(probabilities)
    cdf[-1] = 1.0
    u = (np.arange(n) + rng.random()) / n
    return rng.permutation(np.searchsorted(cdf, u, side="right"))


def sample_subjects(n: int, rng: np.random.Generator, *, scenario: str = "both",
                    healthy_fraction: float = 0.0) -> list[SubjectBiology]:
    """Draw `n` subjects: round(n x healthy_fraction) healthy volunteers and patients.

    Patients' configurations come from the WHO-consistent prior by systematic sampling (each
    subject's configuration has exactly the prior distribution; every label level appears in a
    cohort of 40); `scenario` ``"healthy"`` makes everyone healthy. Subjects are named
    ``"001"``, ``"002"``, ... (callers may rename them).
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise ParameterError("subjects", n, "a positive number of subjects")
    if not (0.0 <= healthy_fraction <= 1.0):
        raise ParameterError("healthy_fraction", healthy_fraction, "a fraction between 0 and 1")
    if scenario not in ("diagnosis", "recurrence", "both", "healthy"):
        raise ParameterError("scenario", scenario, "one of diagnosis, recurrence, both, healthy")
    null_rng = rng.spawn(1)[
        0
    ]  # own stream: the null marker is independent of everything by construction
    n_healthy = n if scenario == "healthy" else int(round(n * healthy_fraction))
    healthy = np.zeros(n, dtype=bool)
    healthy[rng.permutation(n)[:n_healthy]] = True
    configs = _configs()
    picks = (
        iter(_systematic(np.array([c.prior for c in configs]), n - n_healthy, rng))
        if n > n_healthy
        else iter(())
    )
    null_positive = (
        _systematic(np.array([1.0 - NULL_PREVALENCE, NULL_PREVALENCE]), n, null_rng) == 1
    )
    width = max(3, len(str(n)))
    subjects = []
    for i in range(n):
        sex = "F" if rng.random() < 0.5 else "M"
        weight = float(np.clip(rng.normal(68.0 if sex == "F" else 82.0, 12.0), 45.0, 140.0))
        sub = SubjectBiology(
            subject=f"{i + 1:0{width}d}",
            healthy=bool(healthy[i]),
            sex=sex,
            age=0.0,
            weight_kg=round(weight, 1),
            null_marker="positive" if null_positive[i] else "negative",
        )
        if healthy[i]:
            sub.age = float(np.clip(rng.normal(50.0, 15.0), 18.0, 85.0))
        else:
            c = configs[next(picks)]
            sub.idh, sub.codeletion_1p19q, sub.cdkn2ab, sub.mgmt = c.idh, c.codel, c.cdkn, c.mgmt
            sub.who_type, sub.grade, sub.recurrence_outcome = c.who_type, c.grade, c.outcome
            sub.aggressiveness = float(rng.normal(_aggressiveness_mean(c), SD_A))
            sub.age = float(
                np.clip(rng.normal(40.0 if c.idh == "mutant" else 62.0, 11.0), 18.0, 90.0)
            )
        sub.age = round(sub.age, 1)
        subjects.append(sub)
    return subjects


def _config_of(subject: SubjectBiology) -> _Config:
    for c in _configs():
        if (c.idh, c.codel, c.cdkn, c.grade, c.mgmt, c.outcome) == (
                subject.idh, subject.codeletion_1p19q, subject.cdkn2ab, subject.grade, subject.mgmt,
                subject.recurrence_outcome):
            return c
    raise ParameterError("subject", subject.subject,
                         "a subject whose labels form a WHO 2021-consistent configuration")


# ------------------------------------------------------------------------------------------
# kinetic parameters


#: Influx of the deep structures relative to grey matter (see `HEALTHY_PARAMS`).
THALAMUS_K1, BRAINSTEM_K1, CEREBELLUM_K1 = 1.2, 1.25, 0.88

#: Healthy tissue class means (standard variant). Grey matter is the input calibration tissue
#: (kinetics.CALIBRATION_GREY, SUV 1.3 at 10-30 min); white matter about 0.85; striatum about
#: 2.2 (rising to a plateau, trapping k3 with small k4: Schiepers 2007), i.e. about 2 x the
#: grey/white background (Verger 2017, docs/literature.md). Rates in 1/min, K1 in mL/cm3/min.
HEALTHY_PARAMS: dict[str, KineticParams] = {
    "grey": CALIBRATION_GREY,
    # White matter: FDOPA grey/white contrast is low late; the real healthy group mean has white
    # matter about 1.1 x cortex at 3 mm (cortex lowered there by partial volume with CSF), so
    # white matter takes up about as much as grey matter at 10-30 min (1.03 x before the PSF).
    # Its influx stays lower (less blood flow) and its exchange slower: 0.6-0.85 x grey matter
    # in the first 5 min, which is also what gives the early frames their anatomy.
    "white": KineticParams(0.035, 0.038, 0.002, 0.0, 0.02),
    # Striatum (AADC trapping, Schiepers 2007): pre-PSF about 2.9 x grey matter so that at
    # clinical resolution (PSF 4-7 mm on a structure about 10 mm thick), measured with the same
    # template masks, striatum/cortex is about 2.1 as in the real healthy group mean at 3 mm.
    "striatum": KineticParams(0.104, 0.065, 0.11, 0.003, 0.045),
    "csf": KineticParams(0.002, 0.05, 0.0, 0.0, 0.0),
    "scalp": KineticParams(0.03, 0.06, 0.0, 0.0, 0.05),
    # Deep grey and cerebellum: grey matter with its influx scaled to the regional ratios of the
    # real healthy FDOPA group mean at 3 mm (thalamus and brainstem about 1.1 and
    # cerebellar cortex about 0.9 x cortex, measured once with `gliopet.templates` masks; see
    # docs/validation.md "Healthy uptake"; the image itself is never copied or read at run time).
    "thalamus": CALIBRATION_GREY.scaled(K1=THALAMUS_K1),
    "brainstem": CALIBRATION_GREY.scaled(K1=BRAINSTEM_K1),
    "cerebellum": CALIBRATION_GREY.scaled(K1=CEREBELLUM_K1),
}
VOXEL_CV = {
    "grey": 0.08,
    "white": 0.08,
    "striatum": 0.08,
    "csf": 0.10,
    "scalp": 0.15,
    "thalamus": 0.08,
    "brainstem": 0.08,
    "cerebellum": 0.08,
    "necrosis": 0.20,
    "enhancing": 0.15,
    "infiltration": 0.15,
    "oedema": 0.10,
    "aggressive": 0.10,
}

#: Held-out kinetic variant: other parameter ranges (multiplicative changes of the class means).
HELDOUT_HEALTHY_FACTORS = {"grey": dict(K1=1.1, k2=1.15), "white": dict(K1=1.15, k2=1.1),
                           "striatum": dict(k3=0.8, k4=2.0), "csf": {}, "scalp": dict(K1=1.3),
                           "thalamus": dict(K1=1.1, k2=1.15), "brainstem": dict(K1=1.1, k2=1.15),
                           "cerebellum": dict(K1=1.1, k2=1.15)}
HELDOUT_TUMOUR_FACTORS = dict(DV=1.15, k2=0.75, k3=1.4)


def tumour_params(z: np.ndarray, variant: str = "standard") -> dict[str, KineticParams]:
    """Kinetic class means of the lesion compartments from the latent image parameters z.

    enhancing: K1 = DV x k2, k2 (at least `TUMOUR_K2_FLOOR`), k3, k4 = 0.002 /min, vB = 0.06;
    infiltration: K1 x `INFILTRATION_UPTAKE`, vB 0.04;
    necrosis: almost no uptake; oedema: white matter with a mildly leaky barrier (K1 x 1.15).
    """
    # The floor keeps the influx K1 = DV x k2 of the slowest tumours above white matter's (real
    # FDOPA gliomas at diagnosis are PET-avid); the floored tumours are late-peaking already, so
    # TTP keeps its IDH information (AUC 0.77 on the truth, published 0.79: docs/literature.md).
    # Images stay a deterministic function of z, so the stored posteriors remain the Bayes
    # ceiling.
    dv, k2, k3 = np.exp(z[0]), max(float(np.exp(z[1])), TUMOUR_K2_FLOOR), np.exp(z[2])
    if variant == "heldout":
        dv, k2, k3 = (
            dv * HELDOUT_TUMOUR_FACTORS["DV"],
            k2 * HELDOUT_TUMOUR_FACTORS["k2"],
            k3 * HELDOUT_TUMOUR_FACTORS["k3"],
        )
    white = HEALTHY_PARAMS["white"]
    return {
        "enhancing": KineticParams(float(dv * k2), float(k2), float(k3), 0.002, 0.06),
        "infiltration": KineticParams(float(INFILTRATION_UPTAKE * dv * k2), float(k2), float(k3),
                                      0.002, 0.04),
        "necrosis": KineticParams(0.004, 0.05, 0.0, 0.0, 0.01),
        "oedema": white.scaled(K1=1.15, vB=1.2),
    }


#: Kinetic models of the phantom: "fdopa" (default: two tissues with trapping, blood volume) or
#: "one-tissue" (verification phantom for the reference-region methods, see `as_one_tissue`).
KINETIC_MODELS = ("fdopa", "one-tissue")
#: Healthy and non-enhancing classes that share grey matter's k2 in the one-tissue phantom.
_SHARED_K2_CLASSES = ("grey", "white", "striatum", "csf", "scalp", "thalamus", "brainstem",
                      "cerebellum", "necrosis", "oedema")


def as_one_tissue(bio: SessionBiology) -> SessionBiology:
    """The one-tissue verification variant of a session's kinetics (a new object).

    Every class becomes one-tissue without blood volume (k3 = k4 = vB = 0); healthy tissue,
    necrosis and oedema share grey matter's k2, and only K1 varies voxel to voxel. So any mix
    of healthy voxels (a reference region, partial volume between healthy classes) is itself
    exactly a one-tissue curve, which is what SRTM and Logan-ref assume of the reference; the
    tumour compartments keep their own k2 (enhancing and infiltration share one). Not realistic
    FDOPA kinetics: it exists so that the reference-region methods can be checked on images
    against parameters they are meant to recover (R1 = K1 / K1_ref, DVR = (K1/k2) / (K1/k2)_ref).
    """
    k2_shared = float(bio.tissue_params["grey"].k2)

    def one(params: KineticParams, k2: float | None = None) -> KineticParams:
        return KineticParams(
            K1=float(params.K1), k2=float(params.k2) if k2 is None else k2, k3=0.0, k4=0.0, vB=0.0
        )

    tissue = {key: one(value, k2_shared if key in _SHARED_K2_CLASSES else None)
              for key, value in bio.tissue_params.items()}
    aggressive = None if bio.aggressive_params is None else one(bio.aggressive_params)
    tumour_kinetics = dict(bio.tumour_kinetics)
    if tumour_kinetics:
        tumour_kinetics.update(k3=0.0, k4=0.0, vB=0.0)
    return dataclasses.replace(bio, tissue_params=tissue, aggressive_params=aggressive,
                               tumour_kinetics=tumour_kinetics, varied_params=("K1",))


def _healthy_params(rng: np.random.Generator, variant: str) -> dict[str, KineticParams]:
    """Per-subject healthy class means: the standard values x log-normal factors (SD 6 %).

    Thalamus, brainstem and cerebellum take grey matter's factors (grey-matter tissue of the same
    subject), which also leaves the random stream, and so every other draw, as it was before
    they were added.
    """
    out, drawn = {}, {}
    for key, base in HEALTHY_PARAMS.items():
        params = base
        if variant == "heldout":
            params = params.scaled(**HELDOUT_HEALTHY_FACTORS[key])
        if key in _GREY_LIKE:
            factors = drawn["grey"]
        else:
            factors = drawn[key] = np.exp(rng.normal(0.0, 0.06, 3))
        out[key] = params.scaled(K1=float(factors[0]), k2=float(factors[1]), k3=float(factors[2]))
    return out


#: Healthy classes that share grey matter's per-subject variation (see `_healthy_params`).
_GREY_LIKE = ("thalamus", "brainstem", "cerebellum")


def _aggressive_params(tumour: KineticParams, rng: np.random.Generator) -> KineticParams:
    """Kinetics of the aggressive subregion: early peak then washout, higher early uptake.

    k2 >= 2.5 x the tumour's and about >= 0.6 /min; distribution volume 1.15-1.5 x the tumour's,
    reached faster, so K1 is 2.9-3.8 x the tumour's; its late (10-30 min) uptake is lower than
    the tumour's where the tumour is still rising.
    """
    K1, k2, _, _, _ = (float(v) for v in tumour.arrays())
    k2_agg = max(2.5 * k2, 0.6) * float(np.exp(rng.normal(0.0, 0.1)))
    K1_agg = k2_agg * (K1 / k2) * float(rng.uniform(1.15, 1.5))
    return KineticParams(K1_agg, k2_agg, 0.004, 0.002, 0.08)


def session_biology(subject: SubjectBiology, kind: str, rng: np.random.Generator,
                    site: SiteProfile) -> SessionBiology:
    """Session-level biology: kinetic class means, MRI effects, latent z and true posteriors.

    `kind` is ``"diagnosis"``, ``"recurrence"`` or ``"healthy"``; the site's `kinetic_variant`
    picks the parameter ranges. Everything not driven by z is drawn independently of the labels.
    """
    if kind not in ("diagnosis", "recurrence", "healthy"):
        raise ParameterError("kind", kind, "one of diagnosis, recurrence, healthy")
    if (kind == "healthy") != subject.healthy:
        raise ParameterError(
            "kind", kind, "'healthy' for healthy subjects and diagnosis/recurrence for patients"
        )
    variant = site.kinetic_variant
    dose_bq = float(
        np.clip(rng.normal(190e6, 20e6), 120e6, 260e6)
    )  # EANM FDOPA adult activity ~185-200 MBq
    tissue = _healthy_params(rng, variant)
    cv = dict(VOXEL_CV)
    if variant == "heldout":
        cv = {k: v * 1.3 for k, v in cv.items()}
    if kind == "healthy":
        return _healthy_session(tissue, cv, dose_bq)
    c = _config_of(subject)
    mean, beta, sd = _latent_model(kind, c)
    z = mean + beta * subject.aggressiveness + sd * rng.standard_normal(len(LATENT_NAMES))
    lesion = tumour_params(z, variant)
    # oedema inherits the subject's white matter variation
    lesion["oedema"] = tissue["white"].scaled(K1=1.15, vB=1.2)
    tissue.update(lesion)
    mri_effects = _mri_effects(z, rng)
    # Volume independent of the labels (5-80 mL, log-uniform); recurrences smaller.
    lo, hi = (8.0, 70.0) if kind == "diagnosis" else (5.0, 40.0)
    volume = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    aggressive = _aggressive_params(tissue["enhancing"], rng)
    enh = tissue["enhancing"]
    return SessionBiology(
        kind=kind,
        outcome=c.outcome if kind == "recurrence" else "n/a",
        tissue_params=tissue,
        voxel_cv=cv,
        has_aggressive=bool(rng.random() < AGGRESSIVE_FRACTION),
        aggressive_params=aggressive,
        tumour_volume_ml=round(volume, 2),
        latent_image={n: float(v) for n, v in zip(LATENT_NAMES, z, strict=True)},
        posteriors=latent_posteriors(kind, z),
        mri_effects=mri_effects,
        dose_bq=round(dose_bq, -3),
        tumour_kinetics={
            "K1": float(enh.K1),
            "k2": float(enh.k2),
            "k3": float(enh.k3),
            "k4": float(enh.k4),
            "vB": float(enh.vB),
            "DV": float(np.exp(z[0])),
        },
    )


def _healthy_session(tissue: dict[str, KineticParams], cv: dict[str, float],
                     dose_bq: float) -> SessionBiology:
    """A session without lesion; the lesion keys get white-matter values (lookups stay valid)."""
    for key in ("necrosis", "enhancing", "infiltration", "oedema"):
        tissue[key] = tissue["white"]
    return SessionBiology(
        kind="healthy",
        outcome="n/a",
        tissue_params=tissue,
        voxel_cv=cv,
        has_aggressive=False,
        aggressive_params=None,
        tumour_volume_ml=0.0,
        latent_image={},
        posteriors={},
        mri_effects={
            "enhancement": 0.0,
            "oedema": 0.0,
            "necrosis_fraction": 0.0,
            "enhancing_fraction": 0.0,
        },
        dose_bq=dose_bq,
    )


def _mri_effects(z: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """MRI effects of a tumour session (contrast gain, compartment fractions, oedema factor).

    The gain and fractions follow z; the oedema factor is drawn independently of the labels.
    """
    necrosis_fraction = 0.3 / (1.0 + np.exp(-z[4]))
    enhancement = float(np.exp(z[3]))
    return {
        "enhancement": enhancement,  # contrast-T1w gain of the enhancing part
        "enhancing_fraction": float(0.05 + 0.3 * enhancement / (1.0 + enhancement)),
        "necrosis_fraction": float(necrosis_fraction),
        "oedema": float(np.exp(rng.normal(0.0, 0.25))),  # not label-driven
    }


def who_consistency_problems(subject: SubjectBiology) -> list[str]:
    """WHO CNS 2021 rules the subject's labels break (empty when consistent)."""
    s = subject
    found = []
    if s.healthy:
        if (s.idh, s.codeletion_1p19q, s.cdkn2ab, s.mgmt, s.who_type, s.grade) != (
                "n/a", "n/a", "n/a", "n/a", "healthy", None):
            found.append("a healthy subject carries tumour labels")
        return found
    if s.codeletion_1p19q == "codeleted" and s.idh != "mutant":
        found.append("1p/19q codeletion without IDH mutation")
    if s.who_type == "oligodendroglioma" and not (
        s.idh == "mutant" and s.codeletion_1p19q == "codeleted"
    ):
        found.append("oligodendroglioma must be IDH-mutant and 1p/19q-codeleted")
    if s.who_type == "oligodendroglioma" and s.grade not in (2, 3):
        found.append("oligodendroglioma must be grade 2 or 3")
    if s.who_type == "glioblastoma" and (s.idh != "wildtype" or s.grade != 4):
        found.append("glioblastoma must be IDH-wildtype grade 4")
    if s.who_type == "astrocytoma" and (s.idh != "mutant" or s.codeletion_1p19q != "intact"):
        found.append("astrocytoma must be IDH-mutant without codeletion")
    if s.who_type == "astrocytoma" and s.grade not in (2, 3, 4):
        found.append("astrocytoma must be grade 2-4")
    if s.who_type == "astrocytoma" and s.cdkn2ab == "deleted" and s.grade != 4:
        found.append("CDKN2A/B-deleted astrocytoma must be grade 4")
    if s.idh == "wildtype" and s.who_type != "glioblastoma":
        found.append("IDH-wildtype diffuse glioma must be glioblastoma")
    if s.recurrence_outcome not in ("progression", "treatment_change"):
        found.append("recurrence outcome missing")
    return found
