"""Site presets of the phantom: scanner resolution, voxel size, noise, frame schedule, MRI scaling.

Three "development" sites (A-C) differ in every acquisition property that a multi-centre study
varies, so that external validation on the phantom is meaningful; the fourth, ``heldout``, is a
generator configuration reserved for testing that a claim holds outside the settings it was
developed on: it changes the *generator* itself (deformation model, noise model, kinetic
parameter ranges), not only the acquisition.

Sources (docs/literature.md, "Phantom parameters"): PSF FWHM 4-7 mm (NEMA 4.0-4.8 mm at 1 cm,
4.5-6.6 mm at 10 cm, clinical reconstructions 5-7 mm effective); PET voxels 1-2.7 mm; frame
schedules with 10-60 s frames early then 1-5 min, adapted from the KMAP-M example (4x20 s,
4x40 s, 4x60 s, 4x180 s, 14x300 s over 0-90 min) to the FDOPA span of 0-30 min with at least
26 frames; noise level ``Pc`` of the Turku tpcclib formula (fvar4tac).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gliopet.errors import InputError

if TYPE_CHECKING:
    from gliopet.io.timing import FrameTiming

#: Contrast keys used in `SiteProfile.mri_scale` (same as gliopet.io.session.ANAT_SUFFIXES).
MRI_CONTRASTS = ("T1w", "ce-gadolinium_T1w", "T2w", "FLAIR")

#: Noise models known to gliopet.simulate.scanner.
NOISE_MODELS = ("correlated_gaussian", "poisson_like")
#: Deformation models known to gliopet.simulate.anatomy.
DEFORMATION_MODELS = ("smooth_field", "radial_bumps")
#: Kinetic parameter sets known to gliopet.simulate.kinetics / biology.
KINETIC_VARIANTS = ("standard", "heldout")


@dataclass(frozen=True)
class SiteProfile:
    """Acquisition and generator settings of one simulated site.

    Attributes
    ----------
    name, manufacturer, scanner : str
        Identification written to the sidecars and the sessions table.
    psf_fwhm_mm : float
        Effective isotropic PET resolution (Gaussian FWHM, mm), 4-7 mm.
    pet_voxel_mm : float
        Isotropic PET voxel size (mm) of the standard profile.
    frame_durations_s : tuple of float
        Contiguous frame durations (s) from injection, covering 0-30 min (FDOPA), >= 26 frames.
    noise_level : float
        ``Pc`` of the Turku noise formula, in Bq/mL x s, for a voxel of `pet_voxel_mm`:
        SD(t) = TAC x sqrt(Pc / (TAC x exp(-lambda t) x dt)), TAC in Bq/mL, dt in s.
    noise_corr_fwhm_mm : float
        FWHM (mm) of the Gaussian that correlates the reconstruction noise (OSEM-like).
    mri_scale : dict
        Multiplicative MRI intensity scaling per contrast key (`MRI_CONTRASTS`).
    mri_noise_sd : float
        Rician sigma as a fraction of the white-matter intensity.
    bias_field_strength : float
        Peak relative amplitude of the smooth MRI bias field.
    motion_max_mm : float
        Largest inter-frame translation (mm); 0 disables motion.
    deformation_model, noise_model, kinetic_variant : str
        Generator choices; the held-out configuration uses other ones than sites A-C.
    held_out : bool
        True for the configuration reserved for final tests.
    """

    name: str
    manufacturer: str
    scanner: str
    psf_fwhm_mm: float
    pet_voxel_mm: float
    frame_durations_s: tuple[float, ...]
    noise_level: float
    noise_corr_fwhm_mm: float
    mri_scale: dict[str, float] = field(default_factory=dict)
    mri_noise_sd: float = 0.02
    bias_field_strength: float = 0.1
    motion_max_mm: float = 0.0
    deformation_model: str = "smooth_field"
    noise_model: str = "correlated_gaussian"
    kinetic_variant: str = "standard"
    held_out: bool = False

    @property
    def n_frames(self) -> int:
        return len(self.frame_durations_s)

    @property
    def scan_duration_s(self) -> float:
        """End of the last frame (s from injection)."""
        return float(sum(self.frame_durations_s))

    def frame_timing(self) -> FrameTiming:
        """The site's frame schedule as a `FrameTiming` (s from injection)."""
        from gliopet.io.timing import FrameTiming

        return FrameTiming.from_durations(list(self.frame_durations_s))

    def problems(self) -> list[str]:
        """Inconsistencies of the profile (empty when valid)."""
        found = []
        if not 0 < self.psf_fwhm_mm <= 12:
            found.append(f"psf_fwhm_mm must be in (0, 12] mm; got {self.psf_fwhm_mm}")
        if not 0 < self.pet_voxel_mm <= 6:
            found.append(f"pet_voxel_mm must be in (0, 6] mm; got {self.pet_voxel_mm}")
        if any(d <= 0 for d in self.frame_durations_s) or not self.frame_durations_s:
            found.append("frame durations must be positive")
        if self.noise_level < 0 or self.noise_corr_fwhm_mm < 0:
            found.append("noise_level and noise_corr_fwhm_mm must be >= 0")
        if self.noise_model not in NOISE_MODELS:
            found.append(f"noise_model must be one of {NOISE_MODELS}; got {self.noise_model!r}")
        if self.deformation_model not in DEFORMATION_MODELS:
            found.append(
                f"deformation_model must be one of {DEFORMATION_MODELS}; "
                f"got {self.deformation_model!r}"
            )
        if self.kinetic_variant not in KINETIC_VARIANTS:
            found.append(
                f"kinetic_variant must be one of {KINETIC_VARIANTS}; got {self.kinetic_variant!r}"
            )
        if set(self.mri_scale) != set(MRI_CONTRASTS):
            found.append(f"mri_scale must have the keys {MRI_CONTRASTS}")
        return found


def _schedule(*blocks: tuple[int, float]) -> tuple[float, ...]:
    """Frame durations (s) from (count, duration_s) blocks."""
    return tuple(float(d) for n, d in blocks for _ in range(n))


#: Site presets. Frame schedules all end at 1800 s (30 min) and have >= 26 frames.
#: Pc values are set so that a 2 mm voxel of healthy grey matter (SUV about 1.3, 185 MBq, 70 kg,
#: about 3.4 kBq/mL) has a coefficient of variation of about 15-25 % in a 2-3 min frame at 20 min,
#: the order of per-frame voxel noise of clinical OSEM brain reconstructions (reasoned, not a
#: published figure); spatial correlation FWHM of 1-1.5 voxels is typical of OSEM with a
#: post-filter.
SITES: dict[str, SiteProfile] = {
    "siteA": SiteProfile(
        name="siteA",
        manufacturer="Siemens",
        scanner="Biograph mCT",
        psf_fwhm_mm=5.0,
        pet_voxel_mm=2.0,
        # KMAP-M style (4x20, 4x40, 4x60, 4x180 s ...) cut to 0-30 min, 10 s frames added at the
        # bolus.
        frame_durations_s=_schedule((6, 10), (4, 20), (4, 40), (4, 60), (6, 120), (3, 180)),
        noise_level=12000.0,
        noise_corr_fwhm_mm=3.0,
        mri_scale={"T1w": 1.0, "ce-gadolinium_T1w": 1.0, "T2w": 1.0, "FLAIR": 1.0},
        mri_noise_sd=0.02,
        bias_field_strength=0.10,
        motion_max_mm=1.0,
    ),
    "siteB": SiteProfile(
        name="siteB",
        manufacturer="GE",
        scanner="Discovery 690",
        psf_fwhm_mm=6.5,
        pet_voxel_mm=2.5,
        frame_durations_s=_schedule((10, 12), (8, 30), (4, 60), (12, 100)),
        noise_level=20000.0,
        noise_corr_fwhm_mm=4.0,
        mri_scale={"T1w": 1.35, "ce-gadolinium_T1w": 1.25, "T2w": 0.8, "FLAIR": 1.15},
        mri_noise_sd=0.03,
        bias_field_strength=0.20,
        motion_max_mm=2.0,
    ),
    "siteC": SiteProfile(
        name="siteC",
        manufacturer="GE",
        scanner="Discovery MI",
        psf_fwhm_mm=4.2,
        pet_voxel_mm=1.8,
        frame_durations_s=_schedule((8, 15), (6, 30), (6, 60), (4, 120), (4, 165)),
        noise_level=8000.0,
        noise_corr_fwhm_mm=2.5,
        mri_scale={"T1w": 0.75, "ce-gadolinium_T1w": 0.85, "T2w": 1.3, "FLAIR": 0.9},
        mri_noise_sd=0.015,
        bias_field_strength=0.05,
        motion_max_mm=0.5,
    ),
    "heldout": SiteProfile(
        name="heldout",
        manufacturer="Philips",
        scanner="Vereos",
        psf_fwhm_mm=5.6,
        pet_voxel_mm=2.2,
        frame_durations_s=_schedule((6, 20), (6, 30), (10, 60), (6, 150)),
        noise_level=15000.0,
        noise_corr_fwhm_mm=3.5,
        mri_scale={"T1w": 1.1, "ce-gadolinium_T1w": 1.4, "T2w": 1.1, "FLAIR": 0.8},
        mri_noise_sd=0.025,
        bias_field_strength=0.15,
        motion_max_mm=1.5,
        deformation_model="radial_bumps",
        noise_model="poisson_like",
        kinetic_variant="heldout",
        held_out=True,
    ),
}


def get_site(name: str) -> SiteProfile:
    """The preset called `name`; `InputError` naming the unknown site and the valid ones."""
    try:
        return SITES[name]
    except KeyError:
        raise InputError(
            f"unknown site {name!r}; valid sites are {', '.join(SITES)}",
            path="--sites",
            fix=f"use one or more of {', '.join(SITES)}",
        ) from None
