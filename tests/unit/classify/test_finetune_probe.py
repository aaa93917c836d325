"""The foundation-model family on a tiny randomly initialised checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from gliopet.classify.finetune import FoundationModel
from gliopet.classify.saliency import mass_inside, randomisation_check
from gliopet.errors import InputError
from support.image_crops import blob_crops, tiny_checkpoint

#: A random encoder's pooled tokens still carry the blob's brightness: the probe separates it.
MIN_AUC = 0.9


def _table(crops: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"crop": list(crops[:, :1]), "origin": [(0, 0, 0)] * len(crops),
                         "present": [("pet",)] * len(crops)})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    ckpt = tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")
    crops, y, masks = blob_crops(48, seed=2)
    yield str(ckpt), _table(crops), y, masks
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["probe", "finetune"])
def test_foundation_family_separates_the_blob(data, mode):
    ckpt, X, y, _ = data
    model = FoundationModel(ckpt, channels=("pet",), mode=mode, epochs=5, seed=0).fit(
        X.iloc[:32], y[:32], groups=np.arange(32))
    p = model.predict_proba(X.iloc[32:])[:, 1]
    assert roc_auc_score(y[32:], p) > MIN_AUC
    assert ((p >= model.threshold_).astype(int) == model.predict(X.iloc[32:])).all()
    assert len(model.checkpoint_sha256_) == 64


def _patch_masks(masks: np.ndarray, p: int = 4) -> np.ndarray:
    """The patches (p^3 voxels) touching each blob, on the voxels."""
    n, s = len(masks), masks.shape[1] // p
    touched = masks.reshape(n, s, p, s, p, s, p).any(axis=(2, 4, 6))
    return touched.repeat(p, 1).repeat(p, 2).repeat(p, 3)


#: The encoder is random (never pretrained): its maps can only point at the blob's patches,
#: and only loosely. Median share of positive saliency in the blob's patches, as a multiple of
#: their volume share (1: a random map); integrated gradients through a random encoder sit at
#: chance and are only checked for shape and finiteness.
MIN_PATCH_ENRICHMENT = {"gradcam": 1.3, "occlusion": 1.3}


@pytest.mark.slow
def test_foundation_saliency_and_randomisation(data):
    ckpt, X, y, masks = data
    model = FoundationModel(ckpt, channels=("pet",), seed=0).fit(X.iloc[:32], y[:32])
    pos = 32 + np.flatnonzero(y[32:] == 1)[:4]
    patches = _patch_masks(masks[pos])
    for method in ("gradcam", "occlusion", "ig"):
        maps = model.explain(X.iloc[pos], method=method)
        assert maps.shape == (4, 16, 16, 16) and np.isfinite(maps).all()
        if method in MIN_PATCH_ENRICHMENT:
            share = np.nanmedian(mass_inside(maps, patches))
            assert share > MIN_PATCH_ENRICHMENT[method] * patches.mean(), method
    check = randomisation_check(model, X.iloc[pos], "gradcam", seed=5)
    assert check.passed, check.spearman


def test_foundation_refuses_crops_of_no_known_modality(data):
    ckpt, X, y, _ = data
    with pytest.raises(InputError, match=r"no crop channel \(adc\) is a modality of the model"):
        FoundationModel(ckpt, channels=("adc",)).fit(X.iloc[:12], y[:12])


def test_foundation_refuses_a_missing_checkpoint(tmp_path, data):
    _, X, y, _ = data
    with pytest.raises(InputError, match="model checkpoint not found"):
        FoundationModel(str(tmp_path / "none.ckpt")).fit(X.iloc[:12], y[:12])
