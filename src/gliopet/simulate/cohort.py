"""Simulate a cohort: plan subjects and sessions, generate images, write BIDS + ground truth.

One session: the subject's warped anatomy (MRI grid), a tumour grown for the session, kinetic
parameter maps (tissue class means x (1 + cv x smooth random field)) on the PET simulation grid
(the MRI grid, subsampled to <= the PET voxel size), the exact noise-free frame averages
(`kinetics.frame_means`), the PSF (`scanner.psf_blur`), resampling to the site's PET grid placed
in another head position (a known rigid transform), per-frame motion, reconstruction noise
(`scanner.add_reconstruction_noise`). MRI contrasts come from `mri.simulate_mri` on the MRI grid.

Randomness: one generator per purpose from ``SeedSequence([seed, subject, session, purpose])``,
so the same seed gives the same files whatever the order of work, and adding a subject does not
change the others. Files hold no time stamps (gzip header mtime 0 in nibabel), so the same seed
gives byte-identical NIfTI, TSV and JSON files (the provenance record has the run time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from gliopet.errors import InputError, ParameterError
from gliopet.io import derivatives as d
from gliopet.io.bids_write import injection_fields
from gliopet.io.timing import FrameTiming
from gliopet.radionuclides import HALF_LIFE_S, frame_decay_factors
from gliopet.simulate import anatomy as anat
from gliopet.simulate import geometry as geo
from gliopet.simulate import truth as tr
from gliopet.simulate.kinetics import KineticParams, frame_means, input_function
from gliopet.simulate.sites import SITES, SiteProfile, get_site
from gliopet.simulate.tumour import Tumour, apply_tumour, grow_tumour, plan_tumour
from gliopet.spatial import apply_affine, ras_to_lps_matrix, rigid_matrix

SCENARIOS = ("diagnosis", "recurrence", "both", "healthy")
TRACER = "FDOPA"
#: Field of view of the PET grid (mm), placed around the brain centre in PET space.
PET_EXTENT_MM = (200.0, 224.0, 200.0)
#: Largest head-position difference between the PET and MRI sessions.
PET_MRI_ROTATION_DEG = 8.0
PET_MRI_SHIFT_MM = 12.0
#: Spatial correlation (mm) of the per-voxel kinetic parameter variation.
PARAM_FIELD_SIGMA_MM = 4.0
#: Tumour volume (mL) for which the subject's lesion site is chosen (deep enough for it).
SEED_REFERENCE_ML = 30.0
#: Fixed injection time of every simulated session (no real date; DICOM only).
INJECTION_DATETIME = dt.datetime(2026, 1, 5, 9, 0, 0)


@dataclass(frozen=True)
class Profile:
    """Image sizes of a simulation profile."""

    name: str
    mri_voxel_mm: float          # isotropic MRI voxel (mm)
    pet_voxel_factor: float      # PET voxel = site voxel x factor
    sim_factor: int              # PET simulation grid = MRI grid subsampled by this factor
    template_mm: int             # MNI template resolution used (1 or 2 mm)
    max_size: int | None  # largest number of voxels per axis
    sim_frames_truth: bool = (
        True  # write the 4-D noise-free PET of the simulation grid to the truth
    )


PROFILES: dict[str, Profile] = {
    # tests: volumes <= 48^3 (MRI 4.5 mm, PET 2.5 x the site voxel)
    "tiny": Profile("tiny", 4.5, 2.5, 1, 2, 48),
    # benchmarks and demos: MRI 1 mm, PET at the site voxel size, kinetics on a 2 mm grid
    # (the 4-D noise-free PET of the 2 mm simulation grid, ~100 MB, is not written: it is
    # frame_means of the truth's parameter maps with the input function of latent.json)
    "standard": Profile("standard", 1.0, 1.0, 2, 1, None, sim_frames_truth=False),
}


@dataclass(frozen=True)
class SessionPlan:
    subject: str
    session: str
    kind: str
    site: SiteProfile
    subject_index: int
    session_index: int


@dataclass
class SimulatedSession:
    """Everything one simulated session produced (arrays in memory; `write_session` saves them)."""

    plan: SessionPlan
    profile: Profile
    subject_bio: Any
    session_bio: Any
    mri_grid: geo.Grid
    sim_grid: geo.Grid
    pet_grid: geo.Grid
    timing: FrameTiming
    labels_mri: np.ndarray
    aggressive_mri: np.ndarray
    hemisphere_mri: np.ndarray
    labels_sim: np.ndarray
    aggressive_sim: np.ndarray
    params_sim: dict[str, np.ndarray]
    noisefree_sim: np.ndarray          # 4-D Bq/mL, before PSF, sim grid
    labels_pet: np.ndarray
    aggressive_pet: np.ndarray
    hemisphere_pet: np.ndarray
    noisefree_pet_nopsf: np.ndarray    # 4-D Bq/mL, PET grid, motion-free
    noisefree_pet_psf: np.ndarray
    params_pet: dict[str, np.ndarray]  # K1, k2 on the PET grid, resampled as the noise-free PET
    uniform_kinetics_pet: (
        np.ndarray
    )  # PET voxels whose interpolation support has one k2, k3, k4, vB
    pet: np.ndarray                    # 4-D Bq/mL with motion and noise (the raw data)
    mri: dict[str, np.ndarray]
    pet_from_mri: np.ndarray           # 4x4 RAS: MRI-space point -> PET-space point
    motion: list[np.ndarray]           # per frame 4x4 RAS: reference PET point -> frame point
    tumour: Tumour | None
    warp_info: dict
    input_info: dict
    truth_row: dict[str, Any]


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]))


def validate_parameters(
    *,
    n_subjects: Any,
    seed: Any,
    profile: str,
    sites: list[str] | tuple[str, ...],
    scenario: str,
    aggressive_fraction: float,
    healthy_fraction: float,
    psf_fwhm_mm: float | None = None,
    pet_voxel_mm: float | None = None,
    jobs: Any = 1,
    kinetics: str = "fdopa",
) -> list[SiteProfile]:
    """Check every parameter before anything is written; return the site profiles to use."""
    from gliopet.simulate.biology import KINETIC_MODELS

    if kinetics not in KINETIC_MODELS:
        raise ParameterError("kinetics", kinetics, f"one of {', '.join(KINETIC_MODELS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int | np.integer) or jobs < 1:
        raise ParameterError("jobs", jobs, "a whole number of parallel workers >= 1")
    if (
        isinstance(n_subjects, bool)
        or not isinstance(n_subjects, int | np.integer)
        or n_subjects < 1
    ):
        raise ParameterError("subjects", n_subjects, "a whole number of subjects >= 1",
                             fix="give --subjects 1 or more")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError("seed", seed, "a whole number >= 0")
    if profile not in PROFILES:
        raise ParameterError("profile", profile, f"one of {', '.join(PROFILES)}")
    if scenario not in SCENARIOS:
        raise ParameterError("scenario", scenario, f"one of {', '.join(SCENARIOS)}")
    for name, value in (
        ("aggressive-fraction", aggressive_fraction),
        ("healthy-fraction", healthy_fraction),
    ):
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            raise ParameterError(name, value, "a fraction between 0 and 1")
    if not sites:
        raise ParameterError("sites", list(sites), f"one or more of {', '.join(SITES)}")
    profiles = [get_site(name) for name in sites]
    if psf_fwhm_mm is not None and not (np.isfinite(psf_fwhm_mm) and 0.0 < psf_fwhm_mm <= 12.0):
        raise ParameterError("psf-fwhm", psf_fwhm_mm, "a PSF FWHM in mm, > 0 and <= 12",
                             fix="give the scanner resolution, e.g. --psf-fwhm 5")
    if pet_voxel_mm is not None and not (np.isfinite(pet_voxel_mm) and 0.5 <= pet_voxel_mm <= 6.0):
        raise ParameterError("pet-voxel", pet_voxel_mm, "a PET voxel size in mm between 0.5 and 6",
                             fix="give e.g. --pet-voxel 2")
    changes = {}
    if psf_fwhm_mm is not None:
        changes["psf_fwhm_mm"] = float(psf_fwhm_mm)
    if pet_voxel_mm is not None:
        changes["pet_voxel_mm"] = float(pet_voxel_mm)
    return [dataclasses.replace(site, **changes) if changes else site for site in profiles]


def plan_cohort(n_subjects: int, seed: int, sites: list[SiteProfile], scenario: str,
                healthy_fraction: float = 0.0) -> tuple[list[Any], list[SessionPlan]]:
    """Subjects (biology) and their sessions; sites assigned round-robin in subject order."""
    from gliopet.simulate.biology import sample_subjects

    subjects = sample_subjects(n_subjects, _rng(seed, 0), scenario=scenario,
                               healthy_fraction=1.0 if scenario == "healthy" else healthy_fraction)
    plans = []
    width = max(3, len(str(n_subjects)))
    for i, subject in enumerate(subjects):
        label = f"{i + 1:0{width}d}"
        subject.subject = label
        if subject.healthy:
            kinds = ["healthy"]
        elif scenario == "both":
            kinds = ["diagnosis", "recurrence"]
        elif scenario == "healthy":
            kinds = ["healthy"]
        else:
            kinds = [scenario]
        for j, kind in enumerate(kinds):
            session = "baseline" if kind == "healthy" else kind
            plans.append(SessionPlan(label, session, kind, sites[i % len(sites)], i + 1, j + 1))
    return subjects, plans


# ------------------------------------------------------------------------------------------
# images of one session


def _smooth_unit_field(rng: np.random.Generator, grid: geo.Grid, sigma_mm: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(grid.shape, dtype=np.float32),
                                    sigma=sigma_mm / np.asarray(grid.voxel_mm), mode="reflect")
    return field / max(float(field.std()), 1e-6)


def parameter_maps(labels: np.ndarray, aggressive: np.ndarray, session_bio: Any, grid: geo.Grid,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """K1, k2, k3, k4, vB maps: class mean x (1 + cv x smooth unit-variance field), 0 outside head.

    Only the parameters in ``session_bio.varied_params`` get the field; the others are uniform
    within each class.

    The aggressive subregion takes `aggressive_params` (with the enhancing compartment's cv).
    Factors are clipped to >= 0.3 so that no rate becomes negative.
    """
    names = ("K1", "k2", "k3", "k4", "vB")
    mean = {n: np.zeros(256, dtype=np.float32) for n in names}
    cv = np.zeros(256, dtype=np.float32)
    for code, key in anat.KINETIC_KEY.items():
        params = session_bio.tissue_params.get(key)
        if params is None:
            continue
        for n in names:
            mean[n][code] = float(getattr(params, n))
        cv[code] = float(session_bio.voxel_cv.get(key, 0.0))
    agg = aggressive & (labels > 0)
    out = {}
    for n in names:
        value = mean[n][labels]
        spread = cv[labels]
        if session_bio.has_aggressive and session_bio.aggressive_params is not None:
            value[agg] = float(getattr(session_bio.aggressive_params, n))
            spread[agg] = float(
                session_bio.voxel_cv.get("aggressive", session_bio.voxel_cv.get("enhancing", 0.0))
            )
        if n in session_bio.varied_params:
            value = value * np.maximum(
                1.0 + spread * _smooth_unit_field(rng, grid, PARAM_FIELD_SIGMA_MM), 0.3
            )
        out[n] = value.astype(np.float32)
    out["vB"] = np.clip(out["vB"], 0.0, 1.0)
    return out


def oedema_width_mm(mri_effects: dict[str, float]) -> float | None:
    """Oedema shell width (mm) from the label-free oedema strength of the latent biology.

    5 mm at the median strength, clipped to 2-10 mm; None (grade-based default) when the
    biology gives no strength.
    """
    strength = mri_effects.get("oedema")
    return None if strength is None else float(np.clip(5.0 * strength, 2.0, 10.0))


def _motion(rng: np.random.Generator, timing: FrameTiming, max_mm: float) -> list[np.ndarray]:
    """Per-frame rigid head motion (RAS, about the brain centre): a smooth random drift.

    Its largest translation is <= `max_mm` (mm) and rotation <= 0.4 x max_mm degrees; frame 0 is
    the reference.
    """
    n = timing.n_frames
    if max_mm <= 0:
        return [np.eye(4) for _ in range(n)]
    steps = rng.normal(size=(n, 6)) * np.sqrt(timing.duration_s / timing.duration_s.mean())[:, None]
    walk = np.cumsum(steps, axis=0)
    walk -= walk[0]
    shift = walk[:, :3]
    norm = np.linalg.norm(shift, axis=1).max()
    shift = shift * (rng.uniform(0.5, 1.0) * max_mm / max(norm, 1e-9))
    angles = walk[:, 3:]
    angles = angles * (rng.uniform(0.0, 0.4) * max_mm / max(np.abs(angles).max(), 1e-9))
    return [rigid_matrix(angles[k], shift[k], anat.BRAIN_CENTRE_MM) for k in range(n)]


def decay_correction_factors(timing: FrameTiming) -> np.ndarray:
    """Factor applied to each frame's mean activity to correct decay to the injection:
    ``lambda d e^{lambda t_start} / (1 - e^{-lambda d})`` (F-18; `gliopet.radionuclides`)."""
    return frame_decay_factors(timing.start_s, timing.duration_s, HALF_LIFE_S["F18"])


def pet_sidecar(
    site: SiteProfile, timing: FrameTiming, dose_bq: float, pet_voxel_mm: float
) -> dict[str, Any]:
    """BIDS-PET sidecar of a simulated dynamic FDOPA PET (times in s from injection = TimeZero)."""
    return {
        "Manufacturer": site.manufacturer,
        "ManufacturersModelName": site.scanner,
        "Modality": "PT",
        "Units": "Bq/mL",
        **injection_fields(
            TRACER, "F18", round(dose_bq / 1e6, 6), INJECTION_DATETIME.strftime("%H:%M:%S")
        ),
        "ScanStart": 0,
        "FrameTimesStart": [round(float(v), 3) for v in timing.start_s],
        "FrameDuration": [round(float(v), 3) for v in timing.duration_s],
        "AcquisitionMode": "list mode",
        "ImageDecayCorrected": True,
        "ImageDecayCorrectionTime": 0,
        "DecayCorrectionFactor": [round(float(v), 8) for v in decay_correction_factors(timing)],
        "ReconMethodName": "OSEM (simulated: Gaussian PSF and correlated noise)",
        "ReconMethodParameterLabels": ["resolution_fwhm", "voxel_size"],
        "ReconMethodParameterUnits": ["mm", "mm"],
        "ReconMethodParameterValues": [site.psf_fwhm_mm, round(pet_voxel_mm, 4)],
        "ReconFilterType": "Gaussian",
        "ReconFilterSize": site.noise_corr_fwhm_mm,
        "AttenuationCorrection": "simulated (none needed)",
        "BodyPart": "Brain",
        "InstitutionName": f"gliopet phantom {site.name}",
    }


def simulate_session(plan: SessionPlan, subject_bio: Any, profile: Profile, seed: int, *,
                     aggressive_fraction: float | None = None,
                     kinetics: str = "fdopa") -> SimulatedSession:
    """Generate every image and the truth of one session (nothing is written).

    ``kinetics``: "fdopa" (realistic) or "one-tissue" (verification phantom,
    `biology.as_one_tissue`).
    """
    site = plan.site
    s_idx, k_idx = plan.subject_index, plan.session_index
    # --- subject anatomy (same for every session of the subject)
    subject_rng = _rng(seed, s_idx, 0, 1)
    warp = anat.random_warp(subject_rng, site.deformation_model)
    mri_grid = anat.mri_grid(profile.mri_voxel_mm, max_size=profile.max_size)
    anatomy = anat.sample_anatomy(warp, mri_grid, profile.template_mm)
    session_bio = _session_biology(plan, subject_bio, seed, aggressive_fraction, kinetics)
    tumour, labels, aggressive = _session_tumour(plan, anatomy, subject_bio, session_bio, seed)
    # --- MRI: independent of the PET (own random stream), computed in a second thread meanwhile
    mri_future = _start_mri(anatomy, labels, site, session_bio.mri_effects,
                            _rng(seed, s_idx, k_idx, 11))
    # --- PET simulation grid (MRI grid subsampled) and kinetics
    f = profile.sim_factor
    sim_grid = mri_grid.subsample(f)
    labels_sim = labels[::f, ::f, ::f]
    aggressive_sim = aggressive[::f, ::f, ::f]
    params = parameter_maps(labels_sim, aggressive_sim, session_bio, sim_grid,
                            _rng(seed, s_idx, k_idx, 6))
    timing = site.frame_timing()
    inp = input_function(session_bio.dose_bq, subject_bio.weight_kg, _rng(seed, s_idx, k_idx, 7),
                         variant=site.kinetic_variant)
    noisefree_sim, blurred_sim = _noisefree_frames(labels_sim > 0, params, timing, inp, sim_grid,
                                                   site.psf_fwhm_mm)
    # --- PET grid in its own head position
    pet_from_mri, pet_grid = _place_pet_grid(_rng(seed, s_idx, k_idx, 8), site, profile)
    mri_from_pet = np.linalg.inv(pet_from_mri)
    nopsf_pet = geo.resample(noisefree_sim, sim_grid, pet_grid, dst_to_src=mri_from_pet, order=1)
    psf_pet = geo.resample(blurred_sim, sim_grid, pet_grid, dst_to_src=mri_from_pet, order=1)
    labels_pet = geo.resample_labels(labels_sim, sim_grid, pet_grid, dst_to_src=mri_from_pet)
    params_pet = {n: geo.resample(params[n], sim_grid, pet_grid, dst_to_src=mri_from_pet, order=1)
                  for n in PET_GRID_PARAMS}
    uniform_pet = _uniform_kinetics(params, sim_grid, pet_grid, mri_from_pet)
    aggressive_pet = geo.resample_labels(aggressive_sim.astype(np.uint8), sim_grid, pet_grid,
                                         dst_to_src=mri_from_pet).astype(bool)
    hemisphere_pet = geo.resample_labels(anatomy.hemisphere[::f, ::f, ::f], sim_grid, pet_grid,
                                         dst_to_src=mri_from_pet)
    motion = _motion(_rng(seed, s_idx, k_idx, 9), timing, site.motion_max_mm)
    pet = _acquire(psf_pet, blurred_sim, motion, sim_grid, pet_grid, mri_from_pet, timing, site,
                   _rng(seed, s_idx, k_idx, 10))
    mri = mri_future.result()
    # --- truth table row
    suv_factor = subject_bio.weight_kg * 1000.0 / session_bio.dose_bq
    row = _truth_row(plan, subject_bio, session_bio, tumour, labels_pet, pet_grid)
    row["kinetic_model"] = kinetics
    row["lesion_side"] = tr.lesion_side_label(labels_pet, hemisphere_pet)
    for suffix, frames in (("nopsf", nopsf_pet), ("psf", psf_pet)):
        metrics = tr.image_metrics(frames, labels_pet, hemisphere_pet, timing, suv_factor,
                                   pet_grid.voxel_ml)
        row.update({f"{k}_{suffix}": _round(v) for k, v in metrics.items()})
    return SimulatedSession(
        plan=plan, profile=profile, subject_bio=subject_bio, session_bio=session_bio,
        mri_grid=mri_grid, sim_grid=sim_grid, pet_grid=pet_grid, timing=timing,
        labels_mri=labels, aggressive_mri=aggressive, hemisphere_mri=anatomy.hemisphere,
        labels_sim=labels_sim, aggressive_sim=aggressive_sim, params_sim=params,
        noisefree_sim=noisefree_sim, labels_pet=labels_pet.astype(np.uint8),
        aggressive_pet=aggressive_pet, hemisphere_pet=hemisphere_pet,
        noisefree_pet_nopsf=nopsf_pet, noisefree_pet_psf=psf_pet, params_pet=params_pet,
        uniform_kinetics_pet=uniform_pet, pet=pet, mri=mri, pet_from_mri=pet_from_mri,
        motion=motion, tumour=tumour, warp_info=warp.info, input_info=_input_info(inp, site),
        truth_row=row,
    )


def _session_biology(plan: SessionPlan, subject_bio: Any, seed: int,
                     aggressive_fraction: float | None, kinetics: str) -> Any:
    """The session's latent biology; aggressive subregion drawn with `aggressive_fraction`."""
    from gliopet.simulate.biology import as_one_tissue, session_biology

    s_idx, k_idx = plan.subject_index, plan.session_index
    session_bio = session_biology(subject_bio, plan.kind, _rng(seed, s_idx, k_idx, 2), plan.site)
    if aggressive_fraction is not None and plan.kind != "healthy":
        wanted = bool(_rng(seed, s_idx, k_idx, 3).random() < aggressive_fraction)
        if wanted and session_bio.aggressive_params is None:
            wanted = False  # biology gave no aggressive kinetics for this session
        session_bio.has_aggressive = wanted
    if kinetics == "one-tissue":
        session_bio = as_one_tissue(session_bio)
    return session_bio


def _session_tumour(plan: SessionPlan, anatomy: Any, subject_bio: Any, session_bio: Any,
                    seed: int) -> tuple[Tumour | None, np.ndarray, np.ndarray]:
    """Grow the session's tumour: (tumour or None, MRI-grid labels, aggressive mask)."""
    s_idx, k_idx = plan.subject_index, plan.session_index
    labels = anatomy.labels
    aggressive = np.zeros(labels.shape, dtype=bool)
    if plan.kind == "healthy" or session_bio.tumour_volume_ml <= 0:
        return None, labels, aggressive
    # same site of the lesion in every session of the subject (drawn for a reference volume)
    seed_rng = _rng(seed, s_idx, 0, 4)
    seed_plan = plan_tumour(anatomy, seed_rng, volume_ml=SEED_REFERENCE_ML,
                            grade=subject_bio.grade, kind=plan.kind, outcome=session_bio.outcome,
                            aggressive=False)
    tumour_rng = _rng(seed, s_idx, k_idx, 5)
    effects = session_bio.mri_effects
    tplan = plan_tumour(anatomy, tumour_rng, volume_ml=session_bio.tumour_volume_ml,
                        grade=subject_bio.grade, kind=plan.kind, outcome=session_bio.outcome,
                        aggressive=session_bio.has_aggressive, seed_mm=seed_plan.seed_mm,
                        near_striatum=seed_plan.near_striatum,
                        necrosis_fraction=effects.get("necrosis_fraction"),
                        enhancing_fraction=effects.get("enhancing_fraction"),
                        oedema_mm=oedema_width_mm(effects))
    tumour = grow_tumour(anatomy, tplan, tumour_rng)
    return tumour, apply_tumour(labels, tumour), tumour.aggressive


def _start_mri(anatomy: Any, labels: np.ndarray, site: SiteProfile, effects: dict[str, float],
               rng: np.random.Generator) -> Future[dict[str, np.ndarray]]:
    """Start `mri.simulate_mri` in a worker thread; the future gives the MRI contrasts."""
    from gliopet.simulate.mri import simulate_mri

    mri_pool = ThreadPoolExecutor(max_workers=1)
    mri_future = mri_pool.submit(
        simulate_mri, anatomy, labels, rng, site_scale=site.mri_scale,
        noise_sd=site.mri_noise_sd, bias_strength=site.bias_field_strength,
        enhancement=float(effects.get("enhancement", 1.0)),
        oedema_strength=float(effects.get("oedema", effects.get("oedema_t2", 1.0))))
    mri_pool.shutdown(wait=False)
    return mri_future


def _noisefree_frames(head: np.ndarray, params: dict[str, np.ndarray], timing: FrameTiming,
                      inp: Any, sim_grid: geo.Grid,
                      psf_fwhm_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free frame means (Bq/mL) inside `head`, simulation grid, before and after the PSF."""
    from gliopet.simulate.scanner import psf_blur

    noisefree_sim = np.zeros((*sim_grid.shape, timing.n_frames), dtype=np.float32)
    voxel_params = KineticParams(**{n: params[n][head] for n in ("K1", "k2", "k3", "k4", "vB")})
    noisefree_sim[head] = frame_means(voxel_params, timing, inp).astype(np.float32)
    blurred_sim = psf_blur(noisefree_sim, sim_grid.voxel_mm, psf_fwhm_mm).astype(np.float32)
    return noisefree_sim, blurred_sim


def _place_pet_grid(geo_rng: np.random.Generator, site: SiteProfile,
                    profile: Profile) -> tuple[np.ndarray, geo.Grid]:
    """A random PET head position (4x4 RAS, MRI point -> PET point) and the PET grid around it."""
    pet_from_mri = geo.random_rigid(geo_rng, PET_MRI_ROTATION_DEG, PET_MRI_SHIFT_MM,
                                    anat.BRAIN_CENTRE_MM)
    pet_voxel = site.pet_voxel_mm * profile.pet_voxel_factor
    pet_centre = (apply_affine(pet_from_mri, anat.BRAIN_CENTRE_MM[None, :])[0]
                  + geo_rng.uniform(-4, 4, 3))
    pet_grid = geo.Grid.box(pet_voxel, pet_centre, PET_EXTENT_MM, max_size=profile.max_size)
    return pet_from_mri, pet_grid


def _acquire(psf_pet: np.ndarray, blurred_sim: np.ndarray, motion: list[np.ndarray],
             sim_grid: geo.Grid, pet_grid: geo.Grid, mri_from_pet: np.ndarray,
             timing: FrameTiming, site: SiteProfile, rng: np.random.Generator) -> np.ndarray:
    """The raw PET (4-D Bq/mL): each frame at its head position, with reconstruction noise."""
    from gliopet.simulate.scanner import add_reconstruction_noise

    moved = np.empty_like(psf_pet)
    for k in range(timing.n_frames):
        if np.allclose(motion[k], np.eye(4)):
            moved[..., k] = psf_pet[..., k]
        else:
            moved[..., k] = geo.resample(blurred_sim[..., k], sim_grid, pet_grid,
                                         dst_to_src=mri_from_pet @ np.linalg.inv(motion[k]),
                                         order=1)
    pet = add_reconstruction_noise(moved, timing, pet_grid.voxel_mm, site, rng)
    if site.noise_model == "poisson_like":
        return np.maximum(np.asarray(pet, dtype=np.float32), 0.0)
    return np.asarray(pet, dtype=np.float32)


def _input_info(inp: Any, site: SiteProfile) -> dict[str, Any]:
    """The plasma input function's parameters, for the truth's latent.json."""
    return {"scale": inp.scale, "A": list(inp.A), "L_per_min": list(inp.L),
            "metabolite_amplitude": inp.metabolite_amplitude,
            "metabolite_rates_per_min": list(inp.metabolite_rates),
            "variant": site.kinetic_variant}


#: True parameters also written on the PET grid (the image is linear in K1 for fixed rates, so the
#: linearly resampled K1 is exactly the K1 of a PET voxel whose support has uniform rates).
PET_GRID_PARAMS = ("K1", "k2")


def _uniform_kinetics(params: dict[str, np.ndarray], sim_grid: geo.Grid, pet_grid: geo.Grid,
                      mri_from_pet: np.ndarray) -> np.ndarray:
    """PET voxels whose linear-interpolation support (simulation grid) has a single k2, k3, k4, vB.

    Their noise-free, PSF-free TAC is then exactly the model curve of one parameter set (K1 =
    the resampled K1). The support of a PET voxel centre is the 2x2x2 block of simulation voxels
    around its position (vectorised over voxels); centres outside the simulation grid do not
    qualify.
    """
    matrix = np.linalg.inv(sim_grid.affine) @ mri_from_pet @ pet_grid.affine
    ijk = np.indices(pet_grid.shape, dtype=np.float64).reshape(3, -1)
    src = matrix[:3, :3] @ ijk + matrix[:3, 3:4]
    base = np.floor(src).astype(np.int64)
    shape = np.array(sim_grid.shape)[:, None]
    inside = np.all((base >= 0) & (base + 1 < shape), axis=0)
    base = base[:, inside]
    uniform = np.ones(base.shape[1], dtype=bool)
    for n in ("k2", "k3", "k4", "vB"):
        values = params[n]
        first = values[base[0], base[1], base[2]]
        for corner in np.ndindex(2, 2, 2):
            if corner == (0, 0, 0):
                continue
            uniform &= (
                values[base[0] + corner[0], base[1] + corner[1], base[2] + corner[2]] == first
            )
    out = np.zeros(int(np.prod(pet_grid.shape)), dtype=bool)
    out[np.flatnonzero(inside)[uniform]] = True
    return out.reshape(pet_grid.shape)


def _round(value: float, digits: int = 6) -> float:
    """Round to `digits` significant digits (keeps the truth table readable and stable)."""
    return float(f"{value:.{digits}g}") if np.isfinite(value) else float("nan")


def _label_value(value: Any) -> Any:
    return "n/a" if value is None else value


def _truth_row(plan: SessionPlan, subject_bio: Any, session_bio: Any, tumour: Tumour | None,
               labels_pet: np.ndarray, pet_grid: geo.Grid) -> dict[str, Any]:
    volumes = tumour.volumes_ml if tumour is not None else {}
    return {
        "participant_id": f"sub-{plan.subject}",
        "session_id": f"ses-{plan.session}",
        "site": plan.site.name,
        "kind": plan.kind,
        "IDH": subject_bio.idh,
        "codeletion_1p19q": subject_bio.codeletion_1p19q,
        "CDKN2AB": subject_bio.cdkn2ab,
        "MGMT": subject_bio.mgmt,
        "who_type": subject_bio.who_type,
        "grade": _label_value(subject_bio.grade),
        "outcome": session_bio.outcome,
        "null_marker": subject_bio.null_marker,
        "has_aggressive": bool(session_bio.has_aggressive),
        "weight": round(float(subject_bio.weight_kg), 3),
        "injected_activity_MBq": round(float(session_bio.dose_bq) / 1e6, 6),
        "tumour_volume_target_ml": round(float(session_bio.tumour_volume_ml), 4),
        "tumour_volume_ml": volumes.get("tumour", 0.0),
        "tumour_volume_pet_ml": round(
            float(np.isin(labels_pet, anat.TUMOUR_LABELS).sum() * pet_grid.voxel_ml), 4
        ),
        "aggressive_volume_ml": volumes.get("aggressive", 0.0),
    }


# ------------------------------------------------------------------------------------------
# writing


def _nifti(
    data: np.ndarray, grid: geo.Grid, dtype=np.float32, xyzt=("mm", "sec")
) -> nib.Nifti1Image:
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), grid.affine)
    img.header.set_xyzt_units(*xyzt)
    img.set_qform(grid.affine, code=1)
    img.set_sform(grid.affine, code=1)
    return img


def write_session(root: Path, sim: SimulatedSession, *, dicom: bool = False) -> dict[str, Any]:
    """Write the raw BIDS images of `sim` and its truth files under `root`.

    Returns the row of the subject's sessions table.
    """
    # The images are compressed and written by two threads (zlib releases the GIL); each file's
    # bytes do not depend on the order, so the output stays byte-identical.
    pool = ThreadPoolExecutor(max_workers=2)
    pending: list[Future[Any]] = []

    def submit(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        pending.append(pool.submit(function, *args, **kwargs))

    try:
        return _write_session_files(root, sim, submit, dicom=dicom)
    finally:
        pool.shutdown(wait=True)
        for future in pending:
            future.result()  # re-raise the first failure of a writer thread


def _write_session_files(root: Path, sim: SimulatedSession, submit: Callable[..., None], *,
                         dicom: bool) -> dict[str, Any]:
    sidecar = _write_raw(root, sim, submit)
    _write_truth_labels(root, sim, submit)
    _write_truth_params(root, sim, submit)
    _write_truth_frames(root, sim, submit, sidecar)
    _write_truth_transforms(root, sim)
    _write_latent(root, sim)
    if dicom:
        _write_dicom(root, sim)
    return _sessions_row(sim)


def _json_beside(image: Path) -> Path:
    """The JSON sidecar path of a ``.nii.gz`` file."""
    return image.with_name(image.name.replace(".nii.gz", ".json"))


def _write_raw(root: Path, sim: SimulatedSession, submit: Callable[..., None]) -> dict[str, Any]:
    """The raw BIDS data: dynamic PET (Bq/mL) and the MRI contrasts; return the PET sidecar."""
    from gliopet.io.bids_write import write_anat, write_pet

    p = sim.plan
    sub, ses = p.subject, p.session
    site = p.site
    sidecar = pet_sidecar(site, sim.timing, sim.session_bio.dose_bq,
                          float(np.mean(sim.pet_grid.voxel_mm)))
    submit(write_pet, root, sub, ses, sim.pet, sim.pet_grid.affine, sidecar, tracer=TRACER)
    mri_sidecar = {"Manufacturer": site.manufacturer,
                   "ManufacturersModelName": f"{site.scanner} MR",
                   "MagneticFieldStrength": 3, "Modality": "MR", "BodyPart": "Brain",
                   "InstitutionName": f"gliopet phantom {site.name}"}
    for key, volume in sim.mri.items():
        extra = {"ContrastBolusIngredient": "GADOLINIUM"} if key.startswith("ce-") else {}
        # scanner-like integer intensities (MRI DICOM pixel data are integers)
        integer = np.clip(np.rint(volume), 0, np.iinfo(np.int16).max).astype(np.int16)
        submit(write_anat, root, sub, ses, key, integer, sim.mri_grid.affine,
               {**mri_sidecar, **extra}, dtype=np.int16)
    return sidecar


def _write_truth_labels(root: Path, sim: SimulatedSession, submit: Callable[..., None]) -> None:
    """Tissue, aggressive and hemisphere labels in MRI (T1w), PET and simulation-grid space."""
    from gliopet.atomic import write_json, write_nifti

    ids = (sim.plan.subject, sim.plan.session)
    legend = tr.tissue_legend()
    for grid, labels, aggressive, hemisphere, (tissue_file, aggressive_file, hemisphere_file) in (
        (sim.mri_grid, sim.labels_mri, sim.aggressive_mri, sim.hemisphere_mri,
         (d.TRUTH_TISSUE_T1W, d.TRUTH_AGGRESSIVE_T1W, d.TRUTH_HEMISPHERE_T1W)),
        (sim.pet_grid, sim.labels_pet, sim.aggressive_pet, sim.hemisphere_pet,
         (d.TRUTH_TISSUE_PET, d.TRUTH_AGGRESSIVE_PET, d.TRUTH_HEMISPHERE_PET)),
    ):
        submit(write_nifti, tissue_file.path(root, ids), _nifti(labels, grid, np.uint8))
        write_json(tissue_file.sidecar().path(root, ids), legend)
        submit(write_nifti, aggressive_file.path(root, ids), _nifti(aggressive, grid, np.uint8))
        submit(write_nifti, hemisphere_file.path(root, ids),
               _nifti(hemisphere.astype(np.int8).view(np.uint8), grid, np.uint8))
        write_json(hemisphere_file.sidecar().path(root, ids), tr.HEMISPHERE_LEGEND)
    submit(write_nifti, d.TRUTH_TISSUE_SIM.path(root, ids),
           _nifti(sim.labels_sim, sim.sim_grid, np.uint8))
    submit(write_nifti, d.TRUTH_AGGRESSIVE_SIM.path(root, ids),
           _nifti(sim.aggressive_sim, sim.sim_grid, np.uint8))


def _write_truth_params(root: Path, sim: SimulatedSession, submit: Callable[..., None]) -> None:
    """True kinetic parameter maps (simulation grid; K1, k2 also on the PET grid) and the mask
    of PET voxels with uniform kinetics."""
    from gliopet.atomic import write_json, write_nifti

    ids = (sim.plan.subject, sim.plan.session)
    units = {"K1": "mL/cm3/min", "k2": "1/min", "k3": "1/min", "k4": "1/min", "vB": "fraction"}
    for name, volume in sim.params_sim.items():
        target = d.TRUTH_PARAMS_SIM.path(root, ids, tracer=TRACER, stat=name)
        submit(write_nifti, target, _nifti(volume, sim.sim_grid))
        write_json(_json_beside(target),
                   {"Description": f"True {name} of the 2-tissue compartment model "
                                   "(gliopet.simulate.kinetics).",
                    "Units": units[name]})
    for name in PET_GRID_PARAMS:
        target = d.TRUTH_PARAMS_PET.path(root, ids, tracer=TRACER, stat=name)
        submit(write_nifti, target, _nifti(sim.params_pet[name], sim.pet_grid))
        write_json(_json_beside(target),
                   {"Description": f"True {name} resampled linearly onto the PET grid "
                                   "(motion-free), as the noise-free PET; exact where "
                                   "desc-uniformkinetics_mask is 1.",
                    "Units": units[name]})
    target = d.TRUTH_UNIFORM_KINETICS.path(root, ids)
    submit(write_nifti, target, _nifti(sim.uniform_kinetics_pet, sim.pet_grid, np.uint8))
    write_json(_json_beside(target),
               {"Description": "PET voxels whose linear-interpolation support on the simulation "
                               "grid has one value of k2, k3, k4 and vB: their noise-free PET "
                               "before the PSF is exactly the model curve of (space-pet K1, k2, "
                               "k3, k4, vB). Mostly empty for the fdopa kinetics (every rate "
                               "varies voxel to voxel), large for --kinetics one-tissue."})


def _write_truth_frames(root: Path, sim: SimulatedSession, submit: Callable[..., None],
                        sidecar: dict[str, Any]) -> None:
    """Noise-free 4-D PET (Bq/mL): simulation grid (if the profile keeps it), PET grid without
    and with the PSF."""
    from gliopet.atomic import write_json, write_nifti

    ids = (sim.plan.subject, sim.plan.session)
    frame_json = {"FrameTimesStart": sidecar["FrameTimesStart"],
                  "FrameDuration": sidecar["FrameDuration"],
                  "Units": "Bq/mL", "ImageDecayCorrected": True, "ImageDecayCorrectionTime": 0}
    frames_truth = [
        (d.TRUTH_NOISEFREE_SIM, {}, sim.noisefree_sim, sim.sim_grid,
         "Noise-free PET before the PSF on the simulation grid (MRI space), exact frame averages "
         "of the true parameters."),
        (d.TRUTH_NOISEFREE_PET, {"desc": "noisefreenopsf"}, sim.noisefree_pet_nopsf, sim.pet_grid,
         "Noise-free PET before the PSF, PET grid, no motion."),
        (d.TRUTH_NOISEFREE_PET, {"desc": "noisefreepsf"}, sim.noisefree_pet_psf, sim.pet_grid,
         "Noise-free PET after the PSF, PET grid, no motion."),
    ]
    kept = frames_truth if sim.profile.sim_frames_truth else frames_truth[1:]
    for truth_file, fill, data, grid, text in kept:
        target = truth_file.path(root, ids, tracer=TRACER, **fill)
        submit(write_nifti, target, _nifti(data, grid))
        write_json(_json_beside(target), {**frame_json, "Description": text})


def _write_truth_transforms(root: Path, sim: SimulatedSession) -> None:
    """The true PET-MRI rigid transform and the per-frame head motion (RAS and LPS, mm)."""
    from gliopet.atomic import write_json

    ids = (sim.plan.subject, sim.plan.session)
    xfm = d.TRUTH_XFM.path(root, ids)
    geo.write_transform(xfm, sim.pet_from_mri, from_space="pet", to_space="T1w",
                        description="True PET-MRI rigid transform (head position differs between "
                                    "the scans).")
    motion_path = d.TRUTH_MOTION.path(root, ids, tracer=TRACER)
    write_json(motion_path, {
        "Convention": "One rigid map per frame: it maps points of the reference (frame 1, "
                      "motion-free) PET space to the same anatomical point in frame k, so it "
                      "resamples frame k onto the reference grid (from-frame_to-reference in the "
                      "sense of docs/conventions.md, \"Transforms and coordinates\").",
        "Units": "mm", "MaxTranslationSetting_mm": sim.plan.site.motion_max_mm,
        "MatrixRAS": [np.round(m, 10).tolist() for m in sim.motion],
        "MatrixLPS": [np.round(ras_to_lps_matrix(m), 10).tolist() for m in sim.motion],
    })


def _write_latent(root: Path, sim: SimulatedSession) -> None:
    """The latent biology, tumour plan, warp, input function and site of the session (JSON)."""
    from gliopet.atomic import write_json

    bio = sim.session_bio
    path = d.TRUTH_LATENT.path(root, (sim.plan.subject, sim.plan.session))
    write_json(path, {
        "subject": dataclasses.asdict(sim.subject_bio),
        "session": {"kind": bio.kind, "outcome": bio.outcome, "has_aggressive": bio.has_aggressive,
                    "tumour_volume_ml": bio.tumour_volume_ml, "dose_bq": bio.dose_bq,
                    "latent_image": bio.latent_image, "posteriors": bio.posteriors,
                    "mri_effects": bio.mri_effects, "voxel_cv": bio.voxel_cv,
                    "tissue_params": {k: _params_dict(v) for k, v in bio.tissue_params.items()},
                    "aggressive_params": _params_dict(bio.aggressive_params)},
        "tumour": None if sim.tumour is None else {"volumes_ml": sim.tumour.volumes_ml,
                                                   "plan": dataclasses.asdict(sim.tumour.plan)},
        "warp": sim.warp_info, "input_function": sim.input_info,
        "site": dataclasses.asdict(sim.plan.site),
        "kinetic_model": sim.truth_row.get("kinetic_model", "fdopa"),
    })


def _params_dict(params: KineticParams | None) -> dict[str, float] | None:
    if params is None:
        return None
    return {f.name: float(np.asarray(getattr(params, f.name))) for f in dataclasses.fields(params)}


def _sessions_row(sim: SimulatedSession) -> dict[str, Any]:
    s, b, site = sim.subject_bio, sim.session_bio, sim.plan.site
    return {
        "session_id": f"ses-{sim.plan.session}", "site": site.name, "scanner": site.scanner,
        "manufacturer": site.manufacturer, "weight": round(float(s.weight_kg), 3),
        "injected_activity_MBq": round(float(b.dose_bq) / 1e6, 6), "age": round(float(s.age), 1),
        "IDH": s.idh, "codeletion_1p19q": s.codeletion_1p19q, "MGMT": s.mgmt, "CDKN2AB": s.cdkn2ab,
        "who_type": s.who_type, "grade": _label_value(s.grade), "outcome": b.outcome,
        "null_marker": s.null_marker,
    }


def _write_dicom(root: Path, sim: SimulatedSession) -> None:
    from pydicom.uid import generate_uid

    from gliopet.io.dicom.write import write_mr_series, write_pet_series

    p = sim.plan
    base = root / "sourcedata" / "dicom" / f"sub-{p.subject}" / f"ses-{p.session}"
    key = [p.subject_index, p.session_index]
    study_uid = generate_uid(entropy_srcs=["gliopet-phantom", *map(str, key), "study"])
    common = {"patient_id": f"sub-{p.subject}", "patient_name": f"Phantom^{p.subject}",
              "sex": {"M": "M", "F": "F"}.get(str(sim.subject_bio.sex)[:1].upper(), "O"),
              "study_uid": study_uid, "manufacturer": p.site.manufacturer}
    write_pet_series(
        base / "pet",
        sim.pet,
        sim.pet_grid.affine,
        sim.timing,
        weight_kg=float(sim.subject_bio.weight_kg),
        dose_bq=float(sim.session_bio.dose_bq),
        injection_datetime=INJECTION_DATETIME,
        model=p.site.scanner,
        series_uid=generate_uid(entropy_srcs=["gliopet-phantom", *map(str, key), "pet"]),
        study_datetime=INJECTION_DATETIME,
        **common,
    )
    frame_uid = generate_uid(entropy_srcs=["gliopet-phantom", *map(str, key), "mri-frame"])
    for number, (contrast, volume) in enumerate(sim.mri.items(), start=2):
        write_mr_series(
            base / contrast.replace("-", "").replace("_", ""),
            volume,
            sim.mri_grid.affine,
            sequence=contrast,
            series_number=number,
            frame_of_reference_uid=frame_uid,
            series_uid=generate_uid(entropy_srcs=["gliopet-phantom", *map(str, key), contrast]),
            study_datetime=INJECTION_DATETIME,
            model=f"{p.site.scanner} MR",
            **common,
        )


# ------------------------------------------------------------------------------------------
# cohort


def simulate_cohort(
    out_dir: str | Path,
    n_subjects: int,
    seed: int,
    profile: str = "tiny",
    sites: list[str] | tuple[str, ...] = ("siteA", "siteB", "siteC"),
    scenario: str = "both",
    dicom: bool = False,
    *,
    aggressive_fraction: float = 0.4,
    healthy_fraction: float = 0.0,
    overwrite: bool = False,
    psf_fwhm_mm: float | None = None,
    pet_voxel_mm: float | None = None,
    jobs: int = 1,
    kinetics: str = "fdopa",
    command: str = "gliopet simulate",
) -> Path:
    """Simulate `n_subjects` subjects and write a BIDS-PET dataset with ground truth to `out_dir`.

    ``kinetics``: "fdopa" (realistic two-tissue FDOPA kinetics) or "one-tissue" (verification
    phantom for reference-region models, `biology.as_one_tissue`).

    Sessions are independent (own random streams), so `jobs` > 1 simulates and writes them in
    parallel threads (joblib); the files are the same whatever `jobs` is.

    Every parameter is checked before anything is written (`InputError`); the dataset is built
    in a temporary folder beside `out_dir` and moved into place when complete. A non-empty
    `out_dir` is refused unless `overwrite`. Returns `out_dir`.
    """
    from gliopet.atomic import staged_directory
    from gliopet.io.bids_write import (
        write_dataset_description,
        write_participants,
        write_sessions,
    )
    from gliopet.provenance import write_provenance

    site_profiles = validate_parameters(
        n_subjects=n_subjects, seed=seed, profile=profile, sites=list(sites), scenario=scenario,
        aggressive_fraction=aggressive_fraction, healthy_fraction=healthy_fraction,
        psf_fwhm_mm=psf_fwhm_mm, pet_voxel_mm=pet_voxel_mm, jobs=jobs, kinetics=kinetics)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    from gliopet.simulate.biology import LABEL_DESCRIPTIONS

    prof = PROFILES[profile]
    subjects, plans = plan_cohort(n_subjects, seed, site_profiles, scenario, healthy_fraction)
    by_subject = {s.subject: s for s in subjects}
    sessions_rows: dict[str, list[dict[str, Any]]] = {}
    truth_rows = []
    with staged_directory(out_dir, overwrite=overwrite) as root:
        write_dataset_description(root, "gliopet digital phantom (simulated FDOPA PET + MRI)",
                                  extra={"License": "CC0", "Authors": ["gliopet simulate"]})
        tasks = [(plan, by_subject[plan.subject]) for plan in plans]
        results = _run_sessions(root, tasks, prof, seed, aggressive_fraction, dicom, kinetics, jobs)
        for (plan, _), (sessions_row, truth_row) in zip(tasks, results, strict=True):
            sessions_rows.setdefault(plan.subject, []).append(sessions_row)
            truth_rows.append(truth_row)
        descriptions = _column_descriptions(LABEL_DESCRIPTIONS)
        participants = pd.DataFrame([_participant_row(s, plans) for s in subjects])
        write_participants(root, participants, descriptions)
        for subject, rows in sessions_rows.items():
            write_sessions(root, subject, pd.DataFrame(rows), descriptions)
        truth_root = d.TRUTH.root(root)
        _write_truth_table(root, truth_rows)
        config = {"n_subjects": n_subjects, "seed": seed, "profile": profile, "sites": list(sites),
                  "scenario": scenario, "dicom": dicom, "aggressive_fraction": aggressive_fraction,
                  "healthy_fraction": healthy_fraction, "psf_fwhm_mm": psf_fwhm_mm,
                  "pet_voxel_mm": pet_voxel_mm, "jobs": jobs, "kinetics": kinetics}
        write_provenance(truth_root, command=command, config=config)
    return out_dir


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse a file, or a non-empty folder unless `overwrite`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("exists and is not a folder", path=out_dir,
                         fix="give a new or empty folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise InputError("output folder exists and is not empty", path=out_dir,
                         fix="give a new folder, or add --overwrite to replace it")


def _run_sessions(root: Path, tasks: list[tuple[SessionPlan, Any]], profile: Profile, seed: int,
                  aggressive_fraction: float, dicom: bool, kinetics: str,
                  jobs: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Simulate and write every (plan, subject biology); (sessions row, truth row) in task order."""
    from gliopet.progress import track

    if jobs > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        # threads: numpy, scipy, SimpleITK and zlib release the GIL; the template cache is shared
        run = Parallel(n_jobs=min(jobs, len(tasks)), prefer="threads", return_as="generator")(
            delayed(_simulate_and_write)(root, plan, subject, profile, seed, aggressive_fraction,
                                         dicom, kinetics)
            for plan, subject in tasks)
        return list(track(run, "simulating sessions", total=len(tasks)))
    return [_simulate_and_write(root, plan, subject, profile, seed, aggressive_fraction, dicom,
                                kinetics)
            for plan, subject in track(tasks, "simulating sessions")]


def _write_truth_table(root: Path, truth_rows: list[dict[str, Any]]) -> None:
    """The truth derivative's dataset description, truth.tsv and its column descriptions."""
    from gliopet.atomic import write_json
    from gliopet.io.bids_write import write_dataset_description, write_table
    from gliopet.provenance import generated_by

    write_dataset_description(d.TRUTH.root(root), "gliopet phantom ground truth",
                              dataset_type="derivative",
                              generated_by=generated_by("Ground truth of the gliopet digital "
                                                        "phantom; never read by analysis stages."))
    table = pd.DataFrame(truth_rows)
    write_table(d.TRUTH_TABLE.path(root), table, None)
    write_json(d.TRUTH_TABLE.sidecar(root),
               {k: v for k, v in tr.truth_columns().items() if k in table.columns})


def _simulate_and_write(
    root: Path,
    plan: SessionPlan,
    subject_bio: Any,
    profile: Profile,
    seed: int,
    aggressive_fraction: float,
    dicom: bool,
    kinetics: str = "fdopa",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Simulate one session and write it; return (sessions-table row, truth-table row)."""
    sim = simulate_session(
        plan, subject_bio, profile, seed, aggressive_fraction=aggressive_fraction, kinetics=kinetics
    )
    return write_session(root, sim, dicom=dicom), sim.truth_row


def _participant_row(subject: Any, plans: list[SessionPlan]) -> dict[str, Any]:
    site = next(p.site.name for p in plans if p.subject == subject.subject)
    return {
        "participant_id": f"sub-{subject.subject}",
        "site": site,
        "sex": subject.sex,
        "age": round(float(subject.age), 1),
        "weight": round(float(subject.weight_kg), 3),
        "group": "healthy" if subject.healthy else "patient",
        "IDH": subject.idh,
        "codeletion_1p19q": subject.codeletion_1p19q,
        "MGMT": subject.mgmt,
        "CDKN2AB": subject.cdkn2ab,
        "who_type": subject.who_type,
        "grade": _label_value(subject.grade),
        "null_marker": subject.null_marker,
    }


_OWN_DESCRIPTIONS: dict[str, dict[str, Any]] = {
    "participant_id": {"Description": "Subject identifier, sub-<label>."},
    "session_id": {
        "Description": "Session identifier, ses-<label> (diagnosis, recurrence or baseline for "
        "healthy subjects)."
    },
    "site": {
        "Description": "Simulated site (scanner and protocol preset, gliopet.simulate.sites)."
    },
    "scanner": {"Description": "PET scanner model of the site."},
    "manufacturer": {"Description": "PET scanner manufacturer of the site."},
    "weight": {"Description": "Body weight at the PET scan (for SUV).", "Units": "kg"},
    "injected_activity_MBq": {
        "Description": "Injected 18F-FDOPA activity (also in the PET sidecar).",
        "Units": "MBq",
    },
    "age": {"Description": "Age at the scan.", "Units": "years"},
    "sex": {"Description": "Sex.", "Levels": {"M": "male", "F": "female"}},
    "group": {
        "Description": "patient or healthy volunteer.",
        "Levels": {"patient": "glioma patient", "healthy": "healthy volunteer"},
    },
}


def _column_descriptions(label_descriptions: dict[str, dict]) -> dict[str, dict[str, Any]]:
    merged = {k: dict(v) for k, v in _OWN_DESCRIPTIONS.items()}
    for key, value in label_descriptions.items():
        merged[key] = {**merged.get(key, {}), **dict(value)}
    return merged
