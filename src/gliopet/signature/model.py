"""`SignatureModel`: habitats, the patient signature and the aggressiveness attribution as one
estimator, saved with joblib so that a new patient is processed with a saved model.

``fit(sessions)`` fits the habitats (`gliopet.signature.habitats`) on the training sessions'
tumour voxels; ``fit_attribution(signatures, labels)`` fits the supervised attribution
(`gliopet.signature.localise.Attribution`); ``transform(sessions)`` gives one signature row per
session; ``apply(session)`` gives a session's habitats, aggressiveness map and subregion.

The signature of a session (columns): ``tumour_volume_mL``; per habitat k = 1..K:
``hab<k>_fraction`` (fraction of tumour voxels whose most probable habitat is k),
``hab<k>_volume_mL`` and ``hab<k>_mean_<feature>`` (mean over those voxels of each summary
feature: the kinetic features in their units, and the embedding's principal components
``embpc<i>``); NaN (written ``n/a``) for the means of a habitat absent from the session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.errors import InputError
from gliopet.signature import localise
from gliopet.signature.features import EMBEDDING_PREFIX, SessionVoxels
from gliopet.signature.habitats import HabitatModel

#: Files of a saved model folder.
MODEL_FILE = "signature-model.joblib"
CARD_FILE = "signature-model.json"


@dataclass
class SessionMaps:
    """One session's habitats (int, 0 outside), aggressiveness map (float32), subregion (bool)
    on the PET grid, and how the map was made."""

    habitats: np.ndarray
    aggressiveness: np.ndarray
    subregion: np.ndarray
    source: str
    detail: str
    note: str


@dataclass
class SignatureModel:
    """Habitats + signature + attribution (module docstring)."""

    space: str
    features: list[str]
    seed: int = 0
    k_range: tuple[int, ...] = (2, 3, 4, 5, 6)
    min_volume_ml: float = localise.MIN_VOLUME_ML
    max_fraction: float = localise.MAX_FRACTION
    attribution: localise.Attribution | None = None
    training_sessions: list[str] = field(default_factory=list)

    def fit(self, sessions: list[SessionVoxels]) -> SignatureModel:
        """Fit the habitats on the training sessions' pooled tumour voxels."""
        self.habitats_ = HabitatModel(list(self.features), self.k_range, self.seed).fit(sessions)
        self.training_sessions = [_key(s) for s in sessions]
        return self

    @property
    def k(self) -> int:
        """Number of habitats."""
        return self.habitats_.k

    def summary_names(self) -> list[str]:
        """Per-habitat summary features: kinetic features, then embedding PCs."""
        kinetic = [f for f in self.features if not f.startswith(EMBEDDING_PREFIX)]
        pca = self.habitats_.pca_
        return kinetic + ([f"embpc{i + 1}" for i in range(pca.n_components_)] if pca else [])

    def summary(self, voxels: SessionVoxels) -> dict[str, np.ndarray]:
        """Each tumour voxel's value of every summary feature."""
        x = voxels.matrix(self.features)
        out = {f: x[:, i] for i, f in enumerate(self.features)
               if not f.startswith(EMBEDDING_PREFIX)}
        pca = self.habitats_.pca_
        if pca is not None:
            emb = self.habitats_.embedding_columns()
            pcs = pca.transform(self.habitats_.standardised(x)[:, emb])
            out.update({f"embpc{i + 1}": pcs[:, i] for i in range(pcs.shape[1])})
        return out

    def voxel_scale(self) -> dict[str, float]:
        """Voxel-level scale of every summary feature (robust scale; PC standard deviation)."""
        scale = dict(zip(self.features, self.habitats_.scaler_.scale_.tolist(), strict=True))
        out = {f: float(v) or 1.0 for f, v in scale.items() if not f.startswith(EMBEDDING_PREFIX)}
        pca = self.habitats_.pca_
        if pca is not None:
            sd = np.sqrt(np.maximum(pca.explained_variance_, 1e-12))
            out.update({f"embpc{i + 1}": float(v) for i, v in enumerate(sd)})
        return out

    def signature_columns(self) -> list[str]:
        """Columns of a signature row, in order."""
        cols = ["tumour_volume_mL"]
        for k in range(1, self.k + 1):
            cols += [f"hab{k}_fraction", f"hab{k}_volume_mL"]
            cols += [f"hab{k}_mean_{f}" for f in self.summary_names()]
        return cols

    def signature(self, voxels: SessionVoxels) -> dict[str, float]:
        """The session's signature row (module docstring)."""
        labels = self.habitats_.labels(voxels.matrix(self.features))
        summary = self.summary(voxels)
        n = max(len(labels), 1)
        row = {"tumour_volume_mL": len(labels) * voxels.voxel_ml}
        for k in range(1, self.k + 1):
            inside = labels == k
            row[f"hab{k}_fraction"] = float(inside.sum()) / n
            row[f"hab{k}_volume_mL"] = float(inside.sum()) * voxels.voxel_ml
            for name, values in summary.items():
                kept = values[inside & np.isfinite(values)]
                row[f"hab{k}_mean_{name}"] = float(kept.mean()) if kept.size else float("nan")
        return row

    def transform(self, sessions: list[SessionVoxels]) -> pd.DataFrame:
        """One signature row per session (index ``sub-<s>_ses-<t>``)."""
        rows = [self.signature(s) for s in sessions]
        return pd.DataFrame(rows, index=[_key(s) for s in sessions],
                            columns=self.signature_columns())

    def fit_attribution(self, signatures: pd.DataFrame, labels: pd.Series,
                        label_text: str) -> bool:
        """Fit the supervised attribution on the sessions with a known label; False (no
        attribution, the map falls back) when a class has fewer than `localise.MIN_PER_CLASS`
        sessions."""
        known = labels.notna()
        y = labels[known].to_numpy(int)
        if min(int((y == 1).sum()), int((y == 0).sum())) < localise.MIN_PER_CLASS:
            self.attribution = None
            return False
        columns = self.signature_columns()
        self.attribution = localise.Attribution(columns, label=label_text).fit(
            signatures.loc[known[known].index, columns], y, seed=self.seed,
            voxel_scale=self.voxel_scale())
        return True

    def apply(self, voxels: SessionVoxels) -> SessionMaps:
        """Habitats, aggressiveness map and aggressive subregion of one session."""
        x = voxels.matrix(self.features)
        post = self.habitats_.posteriors(x)
        habitats = np.zeros(voxels.tumour.shape, dtype=np.uint8)
        habitats[voxels.tumour] = np.argmax(post, axis=1) + 1
        if self.attribution is not None:
            logit = self.attribution.voxel_logit(self.summary(voxels))
            source, detail = localise.SUPERVISED, self.attribution.label
        else:
            logit, terms = localise.kinetic_score(voxels.features)
            source = localise.UNSUPERVISED
            detail = ("mean tumour-internal robust z of " + ", ".join(terms)) if terms else \
                "no kinetic feature: flat map"
        amap = localise.to_map(logit, voxels.tumour)
        region, note = localise.aggressive_subregion(amap, voxels.tumour, voxels.voxel_ml,
                                                     min_volume_ml=self.min_volume_ml,
                                                     max_fraction=self.max_fraction)
        return SessionMaps(habitats, amap, region, source, detail, note)

    def describe(self) -> dict[str, Any]:
        """The model card (JSON-ready)."""
        return {"space": self.space, "features": list(self.features), "seed": self.seed,
                "habitats": self.habitats_.describe(),
                "signature_columns": self.signature_columns(),
                "subregion": {"min_volume_ml": self.min_volume_ml,
                              "max_fraction": self.max_fraction},
                "attribution": (self.attribution.describe() if self.attribution else
                                f"none: {localise.UNSUPERVISED} fallback"),
                "training_sessions": list(self.training_sessions)}

    def save(self, folder: str | Path) -> Path:
        """Write the model (joblib) and its card (JSON) into `folder`; return the folder."""
        import joblib

        from gliopet.atomic import atomic_path, write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / MODEL_FILE) as tmp:
            joblib.dump(self, tmp)
        write_json(folder / CARD_FILE, self.describe())
        return folder


def load_model(folder: str | Path) -> SignatureModel:
    """A model saved by `SignatureModel.save` (only load folders you trust: joblib unpickles).

    Raises
    ------
    InputError
        No model file in the folder, or not a signature model.
    """
    import joblib

    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise InputError(f"no saved signature model ({MODEL_FILE}) in this folder", path=folder,
                         fix="give the --model folder written by `gliopet signature ... "
                             "--save-model DIR`")
    model = joblib.load(path)
    if not isinstance(model, SignatureModel):
        raise InputError("not a gliopet signature model", path=path,
                         fix="give a folder written by `gliopet signature --save-model`")
    return model


def _key(voxels: SessionVoxels) -> str:
    return f"sub-{voxels.subject}" + (f"_ses-{voxels.session}" if voxels.session else "")


def card_text(model: SignatureModel) -> str:
    """The model card as indented JSON."""
    return json.dumps(model.describe(), indent=2)
