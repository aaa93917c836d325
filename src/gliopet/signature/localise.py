"""Localisation by explanation: the aggressiveness map and the aggressive subregion.

**Supervised** (`Attribution`, when a label of aggressiveness is known for enough training
sessions: `gliopet.signature.labels.aggressive_label`): an L2 logistic regression of the label
on the standardised signature elements (median imputation and standardisation fitted on the
training sessions). Its standardised coefficients are carried back to the voxels as
"coefficient x feature deviation" (the exact linear-model SHAP value under feature
independence): each voxel's logit contribution is

    a_v = sum_k p_v(k) * ( b_frac(k) + b_vol(k) + sum_f b_mean(k, f) * (f_v - m(k, f)) / s_f )

with p_v(k) the voxel's habitat posterior, b the standardised coefficients of the habitat's
fraction, volume and mean-feature elements, m(k, f) the training mean of the mean element and
s_f the voxel-level scale of feature f (the habitat model's robust scale; for the embedding's
principal components their standard deviation). The voxel scale, not the scale of the session
means, keeps each term of the order of its coefficient: averaged over a habitat's voxels the
deviation term is the element's deviation up to that change of scale. The map is the logistic
function of a_v: in (0, 1), above 0.5 where the voxel pushes towards aggressiveness; 0 outside
the tumour.

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

    def fit(self, signatures: pd.DataFrame, y: np.ndarray, *, seed: int) -> Attribution:
        """Fit on the training sessions' signature elements `columns` and labels `y` (0/1)."""
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
        return self

    def voxel_logit(self, posteriors: np.ndarray, summary: dict[str, np.ndarray],
                    voxel_scale: dict[str, float]) -> np.ndarray:
        """a_v of each voxel (module docstring); `summary` holds each voxel's value of every
        per-habitat mean feature (the names after ``hab<k>_mean_``), `voxel_scale` its s_f."""
        out = np.zeros(len(posteriors))
        for j, column in enumerate(self.columns):
            match = _ELEMENT.match(column)
            if match is None or int(match.group(1)) > posteriors.shape[1]:
                continue
            weight = posteriors[:, int(match.group(1)) - 1]
            feature = match.group(3)
            if feature is None:
                out += weight * self.coef[j]
            elif feature in summary:
                dev = (np.nan_to_num(summary[feature], nan=self.mean[j]) - self.mean[j])
                out += weight * self.coef[j] * dev / voxel_scale.get(feature, self.scale[j])
        return out

    def describe(self) -> dict[str, object]:
        """JSON-ready record of the model."""
        return {"method": "L2 logistic regression (C=1) of the aggressiveness label on the "
                          "standardised signature elements; voxel map = logistic(sum over "
                          "habitats of posterior x standardised coefficient x feature deviation)",
                "label": self.label, "n_train": self.n_train,
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
