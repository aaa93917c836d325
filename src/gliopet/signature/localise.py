"""Localisation by explanation: the aggressiveness map and the aggressive subregion.

**Supervised** (`Attribution`, when a label of aggressiveness is known for enough training
sessions: `gliopet.signature.labels.aggressive_label`): an L2 logistic regression of the label
on the standardised signature elements (median imputation and standardisation fitted on the
training sessions). Its explanation is carried back to the voxels feature by feature. The
model's attribution to feature f has two parts:

    A_f = sum_k b_mean(k, f)  +  sum_k (b_frac(k) + b_vol(k)) * (mu(k, f) - mean_j mu(j, f)) / s_f

The first is the sum over habitats of the standardised coefficients of the habitat means of f:
the change of the session's logit when every habitat mean of f rises by one training SD. The
second carries the habitat-composition elements (fraction and volume of habitat k) into the
feature space: a habitat whose share pushes towards aggressiveness pulls the direction towards
its centre mu(k, f) (the training mean of its mean element), away from the average habitat
centre, in units of the voxel-level scale s_f of the feature (the habitat model's robust scale;
for the embedding's principal components their standard deviation). Each tumour voxel then gets
the attribution-weighted mean of its tumour-internal robust z-scores

    a_v = sum_f A_f * z_f(v) / sum_f |A_f|,   z_f(v) = 1.349 * (f_v - median_T(f)) / IQR_T(f)

(median and IQR over the session's own tumour voxels T), so the map ranks the voxels of one
tumour by how far each departs from the rest of that tumour in the direction the model found
aggressive. The map is the logistic function of a_v: in (0, 1), above 0.5 where the voxel is
more aggressive than the tumour's median voxel; 0 outside the tumour.

Why per feature and not per habitat: the first rule carried each habitat's own coefficients
(fraction, volume and mean elements, weighted by the voxel's habitat posterior) back to the
voxels as constants per habitat plus feature deviations. With a few dozen training sessions
those habitat-specific coefficients are noisy and jump from habitat to habitat, so the constant
per-habitat terms decided the map: on the phantom cohorts on which this rule was chosen
(signature validation, seeds 411-413) the first rule put its maximum inside the planted
aggressive subregion in 8 of 29 sessions, this rule in 28 of 29; fresh cohorts measure it
(docs/validation.md, section "WP2").

**Unsupervised fallback** (`kinetic_score`, no model or no usable label): the early-peak-then-
washout pattern (docs/conventions.md, dynamic hot spots): the mean of the tumour-internal
robust z-scores of -TTP, -slope and the latest-window TBR (those present), through the
logistic function.

**Subregion** (`aggressive_subregion`): tumour voxels at or above max(Otsu's threshold of the
map in the tumour, its (1 - max_fraction) quantile); the connected component (26-neighbour)
with the largest summed map value; grown by lowering the threshold while it is below
``min_volume_ml``; the whole tumour when the tumour itself is smaller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

#: Defaults of the subregion rule.
MIN_VOLUME_ML = 0.5
MAX_FRACTION = 0.25
#: Fewest sessions of each class for the supervised map.
MIN_PER_CLASS = 3
SUPERVISED = "supervised"
UNSUPERVISED = "unsupervised-kinetic"
_ELEMENT = re.compile(r"^hab(\d+)_(fraction|volume_mL|mean_(.+))$")


@dataclass
class Attribution:
    """Standardised L2-logistic coefficients of the signature elements (module docstring)."""

    columns: list[str]
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    intercept: float = 0.0
    n_train: int = 0
    label: str = ""
    voxel_scale: dict[str, float] = field(default_factory=dict)

    def fit(self, signatures: pd.DataFrame, y: np.ndarray, *, seed: int,
            voxel_scale: dict[str, float] | None = None) -> Attribution:
        """Fit on the training sessions' signature elements `columns` and labels `y` (0/1);
        `voxel_scale` is s_f of every summary feature (module docstring; 1 when absent)."""
        from sklearn.linear_model import LogisticRegression

        x = signatures[self.columns].to_numpy(float)
        median = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
        median = np.where(np.isfinite(median), median, 0.0)
        x = np.where(np.isfinite(x), x, median)
        self.mean = x.mean(axis=0)
        self.scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        model.fit((x - self.mean) / self.scale, y.astype(int))
        self.coef = model.coef_[0].astype(float)
        self.intercept = float(model.intercept_[0])
        self.n_train = len(y)
        self.voxel_scale = dict(voxel_scale or {})
        return self

    def feature_weights(self) -> dict[str, float]:
        """A_f of every summary feature (module docstring): habitat-mean coefficients plus the
        habitat-composition direction."""
        mean_part: dict[str, float] = {}
        centres: dict[str, dict[int, float]] = {}
        composition: dict[int, float] = {}
        for column, coef, mean in zip(self.columns, self.coef, self.mean, strict=True):
            match = _ELEMENT.match(column)
            if match is None:
                continue
            k, feature = int(match.group(1)), match.group(3)
            if feature is None:
                composition[k] = composition.get(k, 0.0) + float(coef)
            else:
                mean_part[feature] = mean_part.get(feature, 0.0) + float(coef)
                centres.setdefault(feature, {})[k] = float(mean)
        scale = getattr(self, "voxel_scale", {}) or {}
        weights = {}
        for feature, part in mean_part.items():
            mu = centres[feature]
            centre = float(np.mean(list(mu.values())))
            pull = sum(composition.get(k, 0.0) * (m - centre) for k, m in mu.items())
            weights[feature] = part + pull / (scale.get(feature) or 1.0)
        return weights

    def voxel_logit(self, summary: dict[str, np.ndarray]) -> np.ndarray:
        """a_v of each tumour voxel (module docstring); `summary` holds each voxel's value of
        every summary feature (the names after ``hab<k>_mean_``)."""
        weights = {f: w for f, w in self.feature_weights().items() if f in summary and w != 0}
        total = sum(abs(w) for w in weights.values())
        n = len(next(iter(summary.values()))) if summary else 0
        if total == 0:
            return np.zeros(n)
        return sum(w * _robust_z(np.asarray(summary[f], dtype=float))
                   for f, w in weights.items()) / total

    def describe(self) -> dict[str, object]:
        """JSON-ready record of the model."""
        return {"method": "L2 logistic regression (C=1) of the aggressiveness label on the "
                          "standardised signature elements; per-feature attribution A_f = sum "
                          "over habitats of the standardised coefficients of the feature's "
                          "habitat means; voxel map = logistic(sum_f A_f x tumour-internal "
                          "robust z of f / sum_f |A_f|)",
                "label": self.label, "n_train": self.n_train,
                "feature_attribution": {f: round(w, 6)
                                        for f, w in self.feature_weights().items()},
                "coefficients": {c: round(float(b), 6)
                                 for c, b in zip(self.columns, self.coef, strict=True)}}


def _robust_z(x: np.ndarray) -> np.ndarray:
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.zeros_like(x)
    q1, q2, q3 = np.percentile(finite, [25, 50, 75])
    scale = (q3 - q1) / 1.349 if q3 > q1 else (np.std(finite) or 1.0)
    return np.nan_to_num((x - q2) / scale, nan=0.0)


def latest_tbr(names: list[str]) -> str | None:
    """The TBR feature of the window that ends last (``TBR10to30min`` before ``TBR1to10min``)."""
    windows = []
    for name in names:
        match = re.match(r"^TBR(\d+(?:p\d+)?)to(\d+(?:p\d+)?)min$", name)
        if match:
            windows.append((float(match.group(2).replace("p", ".")), name))
    return max(windows)[1] if windows else None


def kinetic_score(features: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Unsupervised voxel score (logit scale) and the terms used (module docstring)."""
    terms: list[tuple[str, np.ndarray]] = []
    for name, sign in (("TTP", -1.0), ("slope", -1.0)):
        if name in features:
            terms.append((f"{'-' if sign < 0 else ''}{name}", sign * features[name]))
    tbr = latest_tbr(list(features)) or ("SUV" if "SUV" in features else None)
    if tbr is not None:
        terms.append((tbr, features[tbr]))
    if not terms:
        n = len(next(iter(features.values()))) if features else 0
        return np.zeros(n), []
    score = np.mean([_robust_z(np.asarray(v, dtype=float)) for _, v in terms], axis=0)
    return score, [t for t, _ in terms]


def to_map(values: np.ndarray, tumour: np.ndarray) -> np.ndarray:
    """Voxel logits of the tumour voxels -> float32 map: logistic inside, 0 outside."""
    out = np.zeros(tumour.shape, dtype=np.float32)
    out[tumour] = expit(values).astype(np.float32)
    return out


def _otsu(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(values)) if np.ptp(values) > 0 else float(values.max())


def _best_component(candidate: np.ndarray, amap: np.ndarray) -> np.ndarray:
    from gliopet.spatial import label_components

    labels, sizes = label_components(candidate, connectivity=26)
    if sizes.size == 0:
        return candidate
    mass = np.bincount(labels.ravel(), weights=amap.ravel(), minlength=sizes.size + 1)[1:]
    return labels == (1 + int(np.argmax(mass)))


def aggressive_subregion(amap: np.ndarray, tumour: np.ndarray, voxel_ml: float, *,
                         min_volume_ml: float = MIN_VOLUME_ML,
                         max_fraction: float = MAX_FRACTION) -> tuple[np.ndarray, str]:
    """The aggressive subregion (bool, PET grid) and a note (module docstring for the rule).

    Parameters
    ----------
    amap : ndarray (x, y, z)
        Aggressiveness map (0 outside the tumour).
    tumour : ndarray of bool
        Tumour VOI.
    voxel_ml : float
        Volume of a voxel (mL).
    """
    values = amap[tumour]
    if values.size == 0:
        return np.zeros(tumour.shape, dtype=bool), "empty tumour"
    if values.size * voxel_ml <= min_volume_ml:
        return tumour.copy(), (f"tumour ({values.size * voxel_ml:.2f} mL) not larger than the "
                               f"minimum subregion volume ({min_volume_ml} mL): whole tumour")
    threshold = max(_otsu(values), float(np.quantile(values, 1.0 - max_fraction)))
    region = _best_component(tumour & (amap >= threshold), amap)
    for level in np.quantile(values, np.linspace(1.0 - max_fraction, 0.0, 41)):
        if region.sum() * voxel_ml >= min_volume_ml:
            break
        region = _best_component(tumour & (amap >= min(level, threshold)), amap)
    note = (f"threshold max(Otsu, {1 - max_fraction:g} quantile) = {threshold:.4g}; largest-mass "
            f"26-connected component, at least {min_volume_ml} mL")
    return region, note
