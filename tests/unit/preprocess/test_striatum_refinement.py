"""The T/S reference: the registered striatum refined with the patient's PET (issue 11, item 4).

Noise-free analytic phantoms (`support.striatum_phantom`) whose striatum departs from the
template: linear size x 0.6 and x 1.3, shifted by 3 mm. Truth: tumour SUVmax (SUVmean) over the
true tumour voxels (above the BTV threshold) / striatum SUVmean over the true striatum, all on
the PSF-blurred image.
"""

from __future__ import annotations

import numpy as np
import pytest

from gliopet.preprocess.regions import refine_striatum, striatum_flags
from gliopet.quant.static import static_metrics
from gliopet.quant.voi import tumour_voi
from support.striatum_phantom import phantom_regions, striatum_phantom

CASES = {"scale 0.6": {"scale": 0.6}, "scale 1.3": {"scale": 1.3},
         "shift 3 mm x": {"shift_mm": (3.0, 0.0, 0.0)},
         "shift 3 mm oblique": {"shift_mm": (1.8, -1.8, 1.5)}}


def _true_ratios(phantom) -> tuple[float, float]:
    x = phantom.image
    striatum = float(x[phantom.striatum].mean())
    above = phantom.tumour & (x > phantom.true_threshold())
    return float(x[phantom.tumour].max()) / striatum, float(x[above].mean()) / striatum


def _pipeline_ratios(phantom, striatum: np.ndarray, exclusion: np.ndarray) -> dict[str, float]:
    voi = tumour_voi(phantom.image, phantom.brain, phantom.affine, exclusion,
                     keep=phantom.abnormal)
    return static_metrics(phantom.image, voi.tumour, voi.background, (3.0, 3.0, 3.0), striatum)


@pytest.mark.parametrize("case", list(CASES))
def test_tsr_within_5_percent_of_truth(case):
    phantom = striatum_phantom(**CASES[case])
    regions = phantom_regions(phantom)
    assert regions.striatum.refined
    true_max, true_mean = _true_ratios(phantom)
    metrics = _pipeline_ratios(phantom, regions.striatum.mask, regions.exclusion.mask)
    assert metrics["TSRmax"] == pytest.approx(true_max, rel=0.05), case
    assert metrics["TSRmean"] == pytest.approx(true_mean, rel=0.05), case
    # the refined volume follows the true striatum, not the template
    true_ml = float(phantom.striatum.sum()) * phantom.voxel_ml
    assert regions.striatum.refined_ml == pytest.approx(true_ml, rel=0.15), case


def test_registered_template_alone_misses_the_small_striatum():
    """Control: the template mask as T/S reference is far off on the 0.6 phantom (+50 %)."""
    phantom = striatum_phantom(scale=0.6)
    regions = phantom_regions(phantom)
    registered = (phantom.registered["left"] | phantom.registered["right"]) & ~phantom.abnormal
    metrics = _pipeline_ratios(phantom, registered, regions.exclusion.mask)
    assert metrics["TSRmax"] > 1.3 * _true_ratios(phantom)[0]


def test_qc_flags_volume_departure_and_fallback():
    small = phantom_regions(striatum_phantom(scale=0.6)).striatum
    assert small.volume_ratio < 0.5 and striatum_flags(small) == ["striatum_volume"]
    assert striatum_flags(phantom_regions(striatum_phantom()).striatum) == []
    # a tracer or patient without striatal uptake: the registered striatum is kept, flagged
    phantom = striatum_phantom()
    flat = np.where(phantom.brain, 1.0, 0.0).astype(np.float32)
    result = refine_striatum(flat, phantom.registered, 1.0, (3.0, 3.0, 3.0),
                             allowed=phantom.brain)
    registered = phantom.registered["left"] | phantom.registered["right"]
    assert not result.refined and np.array_equal(result.mask, registered)
    assert striatum_flags(result) == ["striatum_not_refined"]


def test_refinement_never_leaves_the_search_region_or_enters_the_excluded_region():
    phantom = striatum_phantom(scale=1.3, tumour_gap_mm=0.0)
    regions = phantom_regions(phantom)
    assert not (regions.striatum.mask & phantom.abnormal).any()
    assert not (regions.exclusion.mask & phantom.abnormal).any()
    assert not (regions.striatum.mask & phantom.tumour).any()
