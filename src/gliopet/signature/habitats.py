"""Habitats: a Gaussian mixture of the pooled tumour voxels of the training sessions.

Fitting (`HabitatModel.fit`), on the training sessions only:

1. up to ``max_voxels_per_session`` voxels per session, drawn at random (seeded), so that large
   tumours do not dominate the pool;
2. per feature: median imputation of non-finite values and robust standardisation (median,
   interquartile range; scikit-learn's RobustScaler), both learned on that pool;
3. embedding features (``emb*``) are reduced to their first ``embedding_components`` principal
   components (PCA fitted on the pool) before clustering, so that the mixture's covariances
   stay estimable;
4. model selection: a full-covariance Gaussian mixture (scikit-learn) for each k in
   ``k_range``; the chosen k has the lowest Bayesian information criterion (BIC, Schwarz 1978)
   on the pool;
5. habitats are numbered 1..k by increasing mean of the first kinetic feature listed in
   `ORDER_FEATURES` that the model has (TTP: habitat 1 peaks earliest), else by decreasing
   size, so that numbering is stable across refits.

Applying it to any session (`posteriors`, `labels`) uses only the fitted parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import RobustScaler

from gliopet.errors import InputError
from gliopet.signature.features import EMBEDDING_PREFIX, SessionVoxels

#: Kinetic features that set the habitat order (first present wins), and the sign of the order.
ORDER_FEATURES = (("TTP", 1.0), ("slope", 1.0), ("SUV", -1.0))
#: Selection criterion recorded in the outputs.
CRITERION = ("lowest BIC of a full-covariance Gaussian mixture over k in k_range, on the "
             "pooled tumour voxels of the training sessions (robust-standardised features)")


@dataclass
class HabitatModel:
    """Gaussian-mixture habitats of tumour voxels (module docstring).

    Parameters
    ----------
    features : list of str
        Feature names (`gliopet.signature.features`), in column order.
    k_range : tuple of int
        Candidate numbers of habitats.
    seed : int
        Seed of the voxel draw and of the mixtures.
    max_voxels_per_session : int
        Voxels drawn per session for the fit.
    embedding_components : int
        Principal components kept of the embedding features.
    """

    features: list[str]
    k_range: tuple[int, ...] = (2, 3, 4, 5, 6)
    seed: int = 0
    max_voxels_per_session: int = 2000
    embedding_components: int = 8
    bic_: dict[int, float] = field(default_factory=dict)

    def fit(self, sessions: list[SessionVoxels]) -> HabitatModel:
        """Fit on the pooled tumour voxels of `sessions` (training sessions only).

        Raises
        ------
        InputError
            Fewer pooled voxels than the smallest mixture can be fitted on.
        """
        rng = np.random.default_rng(self.seed)
        pool = np.vstack([_draw(s.matrix(self.features), self.max_voxels_per_session, rng)
                          for s in sessions if s.n_voxels]) if sessions else np.empty((0, 0))
        if len(pool) < 10 * max(2, min(self.k_range)):
            raise InputError(f"{len(pool)} tumour voxels in the training sessions: too few to "
                             "fit habitats", fix="give more sessions with a tumour VOI")
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(
            np.where(np.isfinite(pool), pool, np.nan))
        self.scaler_ = RobustScaler(unit_variance=True).fit(self.imputer_.transform(
            np.where(np.isfinite(pool), pool, np.nan)))
        self._fit_pca(self.standardised(pool))
        space = self._space(pool)
        self.mixture_ = self._select(space)
        self.order_ = self._order(space)
        return self

    @property
    def k(self) -> int:
        """Number of habitats chosen."""
        return int(self.mixture_.n_components)

    def standardised(self, x: np.ndarray) -> np.ndarray:
        """Raw features (n, n_features) -> imputed, robust-standardised (fitted values)."""
        x = np.where(np.isfinite(x), x, np.nan)
        return self.scaler_.transform(self.imputer_.transform(x))

    def embedding_columns(self) -> np.ndarray:
        """Boolean mask of the embedding features among `features`."""
        return np.array([f.startswith(EMBEDDING_PREFIX) for f in self.features], dtype=bool)

    def _fit_pca(self, z: np.ndarray) -> None:
        emb = self.embedding_columns()
        self.pca_ = None
        if emb.any():
            n = int(min(self.embedding_components, emb.sum(), len(z)))
            self.pca_ = PCA(n_components=n, random_state=self.seed).fit(z[:, emb])

    def _space(self, x: np.ndarray) -> np.ndarray:
        """Raw features -> the clustering space (standardised; embedding as PCs)."""
        z = self.standardised(x)
        if self.pca_ is None:
            return z
        emb = self.embedding_columns()
        return np.hstack([z[:, ~emb], self.pca_.transform(z[:, emb])])

    def _select(self, space: np.ndarray) -> GaussianMixture:
        best = None
        for k in self.k_range:
            if len(space) < 10 * k:
                continue
            gmm = GaussianMixture(k, covariance_type="full", random_state=self.seed,
                                  n_init=2, reg_covar=1e-4).fit(space)
            self.bic_[k] = float(gmm.bic(space))
            if best is None or self.bic_[k] < self.bic_[best.n_components]:
                best = gmm
        if best is None:  # unreachable after the size check of `fit`
            raise InputError("no candidate number of habitats fits the pooled voxels")
        return best

    def _order(self, space: np.ndarray) -> np.ndarray:
        """Mixture component of habitat 1, 2, ... (module docstring, step 5)."""
        for name, sign in ORDER_FEATURES:
            if name in self.features:
                kinetic = [f for f in self.features if not f.startswith(EMBEDDING_PREFIX)]
                column = kinetic.index(name)
                return np.argsort(sign * self.mixture_.means_[:, column], kind="stable")
        return np.argsort(-self.mixture_.weights_, kind="stable")

    def posteriors(self, x: np.ndarray) -> np.ndarray:
        """Habitat membership probabilities (n, k), columns in habitat order."""
        if len(x) == 0:
            return np.zeros((0, self.k))
        return self.mixture_.predict_proba(self._space(x))[:, self.order_]

    def labels(self, x: np.ndarray) -> np.ndarray:
        """Hard habitat (1..k) of each row: the most probable one."""
        return np.argmax(self.posteriors(x), axis=1) + 1 if len(x) else np.zeros(0, int)

    def describe(self) -> dict[str, object]:
        """Model selection record (JSON-ready)."""
        return {"criterion": CRITERION, "k": self.k,
                "bic": {str(k): round(v, 3) for k, v in self.bic_.items()},
                "features": list(self.features),
                "order": "habitat 1..k by increasing mean TTP (else slope, else decreasing "
                         "SUV; else decreasing weight)",
                "embedding_pcs": 0 if self.pca_ is None else int(self.pca_.n_components_)}


def _draw(x: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most `limit` rows of `x`, drawn without replacement."""
    if len(x) <= limit:
        return x
    return x[rng.choice(len(x), size=limit, replace=False)]
