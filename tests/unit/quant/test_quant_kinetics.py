"""Kinetic models recover known parameters (closed-form truth: quant_synth), agree on real data."""

from __future__ import annotations

import numpy as np
import pytest

from gliopet.errors import InputError
from gliopet.io.timing import FrameTiming
from gliopet.quant.plasma_models import (
    PlasmaInput,
    fit_compartment,
    logan_plasma,
    read_blood_tsv,
    read_kinfitr_csv,
)
from gliopet.quant.reference_models import (
    logan_reference,
    patlak_reference,
    reference_efflux,
    srtm_basis,
    srtm_fit,
)
from support.quant_synth import (
    CP_A,
    CP_B,
    TIMING,
    TIMING_LONG,
    frame_means,
    irreversible_2tcm,
    one_tcm,
    reversible_2tcm,
)

K1R, K2R = 0.06, 0.06  # reference region 1TCM (VT' = 1)
K1 = np.array([0.08, 0.05, 0.10, 0.03])
K2 = np.array([0.04, 0.10, 0.08, 0.02])
BP_TRUE = K1 / K2 / (K1R / K2R) - 1.0
R1_TRUE = K1 / K1R


def _targets():
    ref = frame_means(*one_tcm(K1R, K2R))
    tacs = np.stack([frame_means(*one_tcm(a, b)) for a, b in zip(K1, K2, strict=True)])
    return ref, tacs


def test_srtm_basis_recovers_parameters_noise_free():
    ref, tacs = _targets()
    fit = srtm_fit(tacs, srtm_basis(ref, TIMING), TIMING)
    np.testing.assert_allclose(fit["R1"], R1_TRUE, rtol=0.05)
    np.testing.assert_allclose(fit["k2a"], K2, rtol=0.05)  # 1-tissue target: k2a = its k2
    np.testing.assert_allclose(fit["k2"], R1_TRUE * K2R, rtol=0.05)
    np.testing.assert_allclose(fit["BPnd"] + 1.0, BP_TRUE + 1.0, rtol=0.05)  # DVR within 5 %
    np.testing.assert_allclose(fit["BPnd"], BP_TRUE, atol=0.02)
    assert not fit["at_bound"].any()


def test_srtm_on_image_shape_and_noise_bias():
    ref, tacs = _targets()
    rng = np.random.default_rng(1)
    clean = np.repeat(tacs[0][None, :], 400, axis=0).reshape(20, 20, TIMING.n_frames)
    sd = 0.02 * clean * np.sqrt(60.0 / TIMING.duration_s)  # 2 % noise for a 1-min frame
    noisy = clean + rng.normal(size=clean.shape) * sd
    fit = srtm_fit(noisy, srtm_basis(ref, TIMING), TIMING)
    assert fit["BPnd"].shape == (20, 20)
    assert abs(np.median(fit["BPnd"]) - BP_TRUE[0]) < 0.05
    assert np.std(fit["BPnd"]) < 0.3


def test_logan_reference_recovers_dvr():
    ref, tacs = _targets()
    out = logan_reference(tacs, ref, TIMING, t_star_min=10.0, k2_ref_per_min=K2R)
    np.testing.assert_allclose(out["DVR"], BP_TRUE + 1.0, rtol=0.05)


def test_patlak_reference_recovers_ki():
    b = np.array([2.0, 0.01, 6.0])  # slow plasma clearance, target free exchange = reference
    k1r, k2r = 0.1, 0.3
    ref = frame_means(*one_tcm(k1r, k2r, CP_A, b))
    k3s = np.array([0.005, 0.01, 0.03, 0.05])
    tacs = np.stack([frame_means(*irreversible_2tcm(0.1, k2r, k3, CP_A, b)) for k3 in k3s])
    truth = 0.1 * k3s / (k2r + k3s) / (k1r / k2r)
    out = patlak_reference(tacs, ref, TIMING, t_star_min=10.0)
    np.testing.assert_allclose(out["Ki"], truth, rtol=0.05)


def _plasma():
    t = np.linspace(0.0, 100.0, 20001)
    cp = (CP_A[:, None] * np.exp(-CP_B[:, None] * t)).sum(axis=0)
    return PlasmaInput(t * 60.0, cp)


def test_one_and_two_tcm_fits_recover_parameters():
    inp = _plasma()
    cp_frames = frame_means(CP_A, CP_B, TIMING_LONG)
    tac1 = 0.95 * frame_means(*one_tcm(0.1, 0.06), TIMING_LONG) + 0.05 * cp_frames
    f1 = fit_compartment(tac1, TIMING_LONG, inp, "1TCM")
    assert f1["K1"] == pytest.approx(0.1, rel=0.02)
    assert f1["k2"] == pytest.approx(0.06, rel=0.02)
    assert f1["vB"] == pytest.approx(0.05, abs=0.005)
    tac2 = frame_means(*reversible_2tcm(0.1, 0.1, 0.08, 0.06), TIMING_LONG)
    f2 = fit_compartment(tac2, TIMING_LONG, inp, "2TCM", vb=0.0)
    assert f2["VT"] == pytest.approx(0.1 / 0.1 * (1 + 0.08 / 0.06), rel=0.01)
    for name, value in {"K1": 0.1, "k2": 0.1, "k3": 0.08, "k4": 0.06}.items():
        assert f2[name] == pytest.approx(value, rel=0.05)
    lg = logan_plasma(tac2, TIMING_LONG, inp, t_star_min=30.0)
    assert lg["VT"] == pytest.approx(f2["VT"], rel=0.02)


def test_static_pet_refused_by_kinetic_models():
    one = FrameTiming([600.0], [1200.0])
    with pytest.raises(InputError) as err:
        srtm_basis(np.ones(1), one)
    assert str(err.value) == (
        "SRTM needs a dynamic PET with at least 3 frames; this image has 1 frame "
        "(fix: give the dynamic (4-D) PET, or compute only the static columns)")


def test_blood_tsv_reader_applies_parent_fraction(real_data, tmp_path):
    path = (
        real_data
        / "bids-pet-sidecars/pet001/sub-01/ses-01/pet"
        / "sub-01_ses-01_trc-CIMBI36_recording-manual_blood.tsv"
    )
    import pandas as pd

    table = pd.read_csv(path, sep="\t", na_values=["n/a"])
    inp = read_blood_tsv(path)
    expected = (
        table["plasma_radioactivity"] * table["metabolite_parent_fraction"] * 1000.0
    )  # kBq/mL
    np.testing.assert_allclose(inp.plasma, expected.to_numpy(), rtol=1e-12)
    assert inp.whole_blood is not None
    bad = tmp_path / "sub-01_recording-manual_blood.tsv"
    table[["time", "plasma_radioactivity"]].to_csv(bad, sep="\t", index=False)
    with pytest.raises(InputError, match="no metabolite_parent_fraction column"):
        read_blood_tsv(bad)


#: Bound of the real-data check: median |2TCM VT - Logan VT| / Logan VT over the 20 frontal-cortex
#: TACs below 10 %, and at least 17 of 20 within 15 % (2TCM is unidentifiable in a few PBR28 scans,
#: where k4 runs to ~0 and VT diverges; see the report).
def test_kinfitr_pbr28_2tcm_vt_agrees_with_logan(real_data):
    folder = real_data / "kinfitr-pbr28"
    rel = []
    for tacs_csv in sorted(folder.glob("*_tacs.csv")):
        scan = read_kinfitr_csv(tacs_csv, folder / tacs_csv.name.replace("_tacs", "_procblood"))
        tac = scan.tacs["FC"]
        vt2 = fit_compartment(tac, scan.timing, scan.input, "2TCM", weights=scan.weights)["VT"]
        vtl = logan_plasma(tac, scan.timing, scan.input, t_star_min=30.0)["VT"]
        rel.append(abs(vt2 - vtl) / vtl)
    rel = np.array(rel)
    assert rel.size == 20
    assert np.median(rel) < 0.10
    assert np.count_nonzero(rel < 0.15) >= 17


def test_2tcm_and_srtm_recover_phantom_kinetics():
    """Cross-check against the phantom's independent closed-form FDOPA kinetics (with vB and
    labelled metabolites in whole blood), when gliopet.simulate is present."""
    kinetics = pytest.importorskip("gliopet.simulate.kinetics")
    inp = kinetics.input_function(200e6, 70.0)
    t = np.linspace(0.0, TIMING_LONG.end_s.max() / 60.0, 20001)
    plasma = PlasmaInput(t * 60.0, inp.plasma(t), inp.blood(t))
    truth = kinetics.KineticParams(K1=0.08, k2=0.1, k3=0.03, k4=0.02, vB=0.05)
    fit = fit_compartment(
        kinetics.frame_means(truth, TIMING_LONG, inp), TIMING_LONG, plasma, "2TCM"
    )
    for name in ("K1", "k2", "k3", "k4", "vB"):
        assert fit[name] == pytest.approx(getattr(truth, name), rel=0.02)
    assert fit["VT"] == pytest.approx(2.0, rel=0.01)
    ref = kinetics.frame_means(kinetics.KineticParams(K1=0.05, k2=0.08), TIMING, inp)
    target = kinetics.frame_means(kinetics.KineticParams(K1=0.06, k2=0.05), TIMING, inp)
    srtm = srtm_fit(target, srtm_basis(ref, TIMING), TIMING)
    assert float(srtm["BPnd"]) == pytest.approx((0.06 / 0.05) / (0.05 / 0.08) - 1.0, rel=0.05)
    assert float(srtm["R1"]) == pytest.approx(0.06 / 0.05, rel=0.05)


def test_reference_efflux_is_the_median_over_informative_voxels():
    """k2' from voxelwise SRTM: exact on one-tissue targets, robust to a minority of mixed voxels,
    None when the voxels carry no information (targets equal to R1 x the reference)."""
    ref = frame_means(*one_tcm(K1R, K2R))
    pure = np.stack([frame_means(*one_tcm(k1, 0.35)) for k1 in np.linspace(0.3, 0.6, 30)])
    mixed = np.stack(
        [0.5 * frame_means(*one_tcm(0.4, 0.35)) + 0.5 * frame_means(*one_tcm(1.2, 1.5))] * 5
    )
    fit = srtm_fit(np.vstack([pure, mixed]), srtm_basis(ref, TIMING), TIMING)
    assert reference_efflux(fit) == pytest.approx(K2R, rel=0.03)
    same = srtm_fit(np.outer(np.linspace(0.5, 2.0, 20), ref), srtm_basis(ref, TIMING), TIMING)
    assert reference_efflux(same) is None
