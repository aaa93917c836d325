"""The one-tissue verification phantom (``gliopet simulate --kinetics one-tissue``).

Its kinetics satisfy the reference-region models' assumptions exactly, and the truth gives K1,
k2 on the PET grid with the mask of voxels whose noise-free PET is exactly one parameter set's
curve. So on the noise-free PET before the PSF, SRTM (basis functions) and Logan-ref must
recover R1 = K1 / K1_ref and DVR = (K1 / k2) / (K1_ref / k2_ref) voxel by voxel (issue 5:
within 5 %).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet.io.timing import FrameTiming
from gliopet.quant import reference_models as rm
from gliopet.simulate.cohort import simulate_cohort
from gliopet.simulate.kinetics import InputFunction, KineticParams, frame_means
from gliopet.simulate.truth import TRUTH_DIR

TUMOUR = (10, 11, 12)
HEALTHY = (1, 2, 3, 4, 5, 6, 7)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onetissue") / "bids"
    simulate_cohort(
        out,
        3,
        3,
        "tiny",
        ("siteA", "siteB", "siteC"),
        "diagnosis",
        aggressive_fraction=0.5,
        kinetics="one-tissue",
    )
    return out


def _sessions(root: Path):
    truth = pd.read_csv(root / TRUTH_DIR / "truth.tsv", sep="\t")
    for row in truth.to_dict("records"):
        yield row["participant_id"], row["session_id"], row


def _load(root: Path, sub: str, ses: str, suffix: str) -> np.ndarray:
    return np.asarray(
        nib.load(root / TRUTH_DIR / sub / ses / "pet" / f"{sub}_{ses}_{suffix}").dataobj
    )


def _timing(root: Path, sub: str, ses: str) -> FrameTiming:
    side = json.loads((root / sub / ses / "pet" / f"{sub}_{ses}_trc-FDOPA_pet.json").read_text())
    return FrameTiming.from_bids(side["FrameTimesStart"], side["FrameDuration"])


def test_one_tissue_parameter_maps(cohort):
    for sub, ses, row in _sessions(cohort):
        assert row["kinetic_model"] == "one-tissue"
        maps = {
            k: _load(cohort, sub, ses, f"trc-FDOPA_space-T1w_res-sim_stat-{k}_pet.nii.gz")
            for k in ("K1", "k2", "k3", "k4", "vB")
        }
        labels = _load(cohort, sub, ses, "space-T1w_res-sim_desc-tissue_dseg.nii.gz")
        for k in ("k3", "k4", "vB"):
            assert np.all(maps[k] == 0), k
        healthy = np.isin(labels, HEALTHY)
        assert np.unique(maps["k2"][healthy]).size == 1  # one k2 for all healthy tissue
        assert maps["K1"][labels == 3].std() > 0  # K1 still varies voxel to voxel
    provenance = json.loads((cohort / TRUTH_DIR / "provenance.json").read_text())
    assert "one-tissue" in json.dumps(provenance)


def test_uniform_voxels_are_exactly_one_parameter_sets_curve(cohort):
    checked = 0
    for sub, ses, _ in _sessions(cohort):
        latent = json.loads(
            (cohort / TRUTH_DIR / sub / ses / "beh" / f"{sub}_{ses}_latent.json").read_text()
        )
        info = latent["input_function"]
        inp = InputFunction(scale=info["scale"], A=tuple(info["A"]), L=tuple(info["L_per_min"]),
                            metabolite_amplitude=info["metabolite_amplitude"],
                            metabolite_rates=tuple(info["metabolite_rates_per_min"]))
        pet = _load(cohort, sub, ses, "trc-FDOPA_space-pet_desc-noisefreenopsf_pet.nii.gz")
        k1 = _load(cohort, sub, ses, "trc-FDOPA_space-pet_stat-K1_pet.nii.gz")
        k2 = _load(cohort, sub, ses, "trc-FDOPA_space-pet_stat-k2_pet.nii.gz")
        uniform = _load(cohort, sub, ses, "space-pet_desc-uniformkinetics_mask.nii.gz") > 0
        inside = uniform & (k1 > 0)
        assert inside.sum() > 1000
        model = frame_means(
            KineticParams(K1=k1[inside], k2=k2[inside]), _timing(cohort, sub, ses), inp
        )
        np.testing.assert_allclose(
            pet[inside], model, rtol=1e-4, atol=1e-3 * float(pet.max()) * 1e-3
        )
        checked += int(inside.sum())
    assert checked > 5000


def test_srtm_and_logan_reference_recover_r1_and_dvr_on_phantom_images(cohort):
    """Every uniform tumour voxel within 5 % (noise-free PET before the PSF, truth background)."""
    n_tumour = 0
    for sub, ses, _ in _sessions(cohort):
        pet = _load(cohort, sub, ses, "trc-FDOPA_space-pet_desc-noisefreenopsf_pet.nii.gz").astype(
            float
        )
        k1 = _load(cohort, sub, ses, "trc-FDOPA_space-pet_stat-K1_pet.nii.gz").astype(float)
        k2 = _load(cohort, sub, ses, "trc-FDOPA_space-pet_stat-k2_pet.nii.gz").astype(float)
        uniform = _load(cohort, sub, ses, "space-pet_desc-uniformkinetics_mask.nii.gz") > 0
        tissue = _load(cohort, sub, ses, "space-pet_desc-tissue_dseg.nii.gz")
        reference = np.isin(tissue, (3, 4)) & uniform
        target = np.isin(tissue, TUMOUR) & uniform
        if not target.any():
            continue
        n_tumour += int(target.sum())
        timing = _timing(cohort, sub, ses)
        ref_tac = pet[reference].mean(axis=0)
        k1_ref, k2_ref = k1[reference].mean(), float(np.median(k2[reference]))
        r1_true = k1[target] / k1_ref
        dvr_true = (k1[target] / k2[target]) / (k1_ref / k2_ref)
        fit = rm.srtm_fit(pet[target], rm.srtm_basis(ref_tac, timing), timing)
        np.testing.assert_allclose(fit["R1"], r1_true, rtol=0.05)
        np.testing.assert_allclose(fit["BPnd"] + 1.0, dvr_true, rtol=0.05)
        # theta3 = the target's own k2; undefined where the target has the reference's k2 (necrosis:
        # then theta2 = 0 and the target is R1 x the reference, whatever theta3)
        distinct = np.abs(k2[target] / k2_ref - 1.0) > 0.1
        np.testing.assert_allclose(fit["k2a"][distinct], k2[target][distinct], rtol=0.05)
        k2_prime = (fit["k2"] / fit["R1"])[distinct]
        np.testing.assert_allclose(k2_prime, k2_ref, rtol=0.05)  # SRTM's k2' = the reference's k2
        logan = rm.logan_reference(
            pet[target], ref_tac, timing, 10.0, k2_ref_per_min=float(np.median(k2_prime))
        )
        np.testing.assert_allclose(logan["DVR"], dvr_true, rtol=0.05)
    assert n_tumour >= 50


def test_fdopa_kinetics_break_the_reference_model_assumptions(tmp_path):
    """Control: the realistic phantom has (almost) no uniform voxels, since every rate varies."""
    out = tmp_path / "fdopa"
    simulate_cohort(out, 1, 3, "tiny", ("siteA",), "diagnosis")
    sub, ses, row = next(_sessions(out))
    assert row["kinetic_model"] == "fdopa"
    uniform = _load(out, sub, ses, "space-pet_desc-uniformkinetics_mask.nii.gz") > 0
    k1 = _load(out, sub, ses, "trc-FDOPA_space-pet_stat-K1_pet.nii.gz")
    assert uniform[k1 > 0].mean() < 0.01
