"""Tumour candidates next to the striatum (issue 11, item 5).

Noise-free analytic phantoms (`support.striatum_phantom`, striatum 0.6 x the template's linear
size as on the independent phantom of issue 11) with a 12 mm tumour at a given gap from the
putamen. Truth BTV: the true tumour voxels above 1.6 x the true background SUVmean on the
PSF-blurred image (the rule the pipeline applies to its own VOI and background).
"""

from __future__ import annotations

import pytest

from gliopet.quant.voi import tumour_voi
from gliopet.spatial import dilate_mm
from support.striatum_phantom import phantom_regions, striatum_phantom


def _btv_ml(phantom, exclusion, keep=None) -> tuple[float, object]:
    voi = tumour_voi(phantom.image, phantom.brain, phantom.affine, exclusion, keep=keep)
    return float(voi.tumour.sum()) * phantom.voxel_ml, voi


@pytest.mark.parametrize("gap_mm", [0.0, 5.0])
def test_btv_within_10_percent_next_to_the_putamen(gap_mm):
    phantom = striatum_phantom(scale=0.6, tumour_gap_mm=gap_mm)
    regions = phantom_regions(phantom)
    btv, voi = _btv_ml(phantom, regions.exclusion.mask, keep=phantom.abnormal)
    assert btv == pytest.approx(phantom.true_btv_ml(), rel=0.10)
    if gap_mm > 0:  # a striatum apart from the tumour: none of its voxels enters the VOI
        assert not (voi.tumour & phantom.striatum).any()


def test_refined_striatum_without_mri_keeps_the_5_mm_tumour():
    """Without an MRI abnormality the refined (uptake-defined) striatum alone, much tighter than
    the registered template of the 0.6 striatum, keeps the tumour 5 mm away."""
    phantom = striatum_phantom(scale=0.6, tumour_gap_mm=5.0)
    btv, voi = _btv_ml(phantom, phantom_regions(phantom).exclusion.mask)
    assert btv == pytest.approx(phantom.true_btv_ml(), rel=0.10)
    assert not (voi.tumour & phantom.striatum).any()


def test_template_striatum_with_margin_cuts_the_tumour_at_the_putamen():
    """Control: the previous rule (registered template + margin) loses > 15 % at 0 mm."""
    phantom = striatum_phantom(scale=0.6, tumour_gap_mm=0.0)
    registered = phantom.registered["left"] | phantom.registered["right"]
    btv, _ = _btv_ml(phantom, registered)
    assert btv < 0.85 * phantom.true_btv_ml()


def test_striatal_uptake_stays_out_when_the_tumour_is_far():
    """Tumour 20 mm away: no voxel of the striatum or within 6 mm of it in the tumour VOI."""
    phantom = striatum_phantom(scale=1.3, tumour_gap_mm=20.0)
    regions = phantom_regions(phantom)
    _, voi = _btv_ml(phantom, regions.exclusion.mask, keep=phantom.abnormal)
    near = dilate_mm(phantom.striatum, 6.0, (3.0, 3.0, 3.0))
    assert not (voi.tumour & near).any()
    assert voi.tumour.sum() * phantom.voxel_ml == pytest.approx(phantom.true_btv_ml(), rel=0.10)
