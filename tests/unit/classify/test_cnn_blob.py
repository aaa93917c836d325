"""The 3D CNN family learns a planted blob and its saliency maps point at it."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gliopet.classify.cnn import CNNModel
from gliopet.classify.saliency import mass_inside, randomisation_check
from support.foundation_samples import one_torch_thread  # noqa: F401 (fixture)
from support.image_crops import blob_crops, crop_table

#: Held-out AUC the CNN must reach on the blob task.
MIN_AUC = 0.9
#: Fraction of positive saliency inside the blob a map must reach; the blob is ~3 % of the crop
#: (a random map's expected fraction), and Grad-CAM (4^3 feature map) and occlusion (4^3
#: window) are coarser than the blob.
MIN_MASS = {"gradcam": 0.08, "occlusion": 0.15, "ig": 0.3}


@pytest.fixture(scope="module")
def fitted():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    crops, y, masks = blob_crops(72, seed=1)
    start = time.perf_counter()
    model = CNNModel(seed=0).fit(
        crop_table(crops[:48]), y[:48], groups=np.arange(48))
    seconds = time.perf_counter() - start
    yield model, crop_table(crops[48:]), y[48:], masks[48:], seconds
    torch.set_num_threads(before)


@pytest.mark.slow
def test_cnn_learns_the_planted_blob_on_held_out_cases(fitted):
    model, X, y, _, seconds = fitted
    p = model.predict_proba(X)[:, 1]
    assert roc_auc_score(y, p) > MIN_AUC
    assert seconds < 30
    assert 0 < model.threshold_ < 1
    assert ((p >= model.threshold_).astype(int) == model.predict(X)).all()
    assert model.selected_features_ == []


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "occlusion", "ig"])
def test_cnn_saliency_peaks_inside_the_blob(fitted, method):
    model, X, y, masks, _ = fitted
    positives = np.flatnonzero(y == 1)[:8]
    maps = model.explain(X.iloc[positives], method=method)
    assert maps.shape == (len(positives), 16, 16, 16)
    inside = mass_inside(maps, masks[positives])
    baseline = masks[positives].mean()  # a random map's expected fraction
    assert np.nanmedian(inside) > MIN_MASS[method] > 2.5 * baseline


@pytest.mark.slow
def test_cnn_maps_change_when_the_parameters_are_randomised(fitted):
    model, X, y, _, _ = fitted
    check = randomisation_check(model, X.iloc[np.flatnonzero(y == 1)[:6]], "gradcam", seed=3)
    assert check.passed, check.spearman
    assert check.median < 0.5
