"""A small analytic FDOPA head whose striatum departs from the template (issue 11, items 4-5).

World coordinates are MNI RAS mm (the "registration" is exact), on a 48 x 48 x 40 grid of 3 mm
voxels. Tissues: an ellipsoidal brain (white matter core, 6 mm grey-matter shell), two striata
(caudate and putamen ellipsoids of `gliopet.templates.STRIATUM_MNI`, each scaled about its own
centre by `scale` and shifted by `shift_mm`), a spherical tumour placed `tumour_gap_mm` from the
right putamen's surface (along `tumour_direction`), and an MRI abnormality (the tumour grown by
`oedema_mm`). Uptake (SUV): white 0.8, grey 1.2, striatum 2.6, tumour `tumour_suv`; the static
image is the truth blurred by a Gaussian PSF of `fwhm_mm` (noise-free).

``registered`` is what preprocessing would carry from the template: the unscaled, unshifted
ellipsoids, per side (``"left"``, ``"right"``), inside the brain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gliopet.config import package_defaults
from gliopet.preprocess.regions import StriatumRefinement, refine_striatum
from gliopet.spatial import dilate_mm, world_coordinates
from gliopet.templates import STRIATUM_MNI, Ellipsoid

SHAPE = (48, 48, 40)
VOXEL_MM = 3.0
BRAIN_SEMI_AXES_MM = (66.0, 68.0, 54.0)
SUV = {"white": 0.8, "grey": 1.2, "striatum": 2.6}


@dataclass
class StriatumPhantom:
    """Images and labels of the phantom (all on one grid, bool masks)."""

    image: np.ndarray
    affine: np.ndarray
    brain: np.ndarray
    grey: np.ndarray
    white: np.ndarray
    striatum: np.ndarray
    tumour: np.ndarray
    abnormal: np.ndarray
    registered: dict[str, np.ndarray]

    @property
    def voxel_ml(self) -> float:
        """Voxel volume (mL)."""
        return VOXEL_MM**3 / 1000.0

    def true_tsr_max(self) -> float:
        """Tumour SUVmax / striatum SUVmean on the PSF image over the true labels."""
        return float(self.image[self.tumour].max() / self.image[self.striatum].mean())

    def true_threshold(self, threshold: float = 1.6) -> float:
        """`threshold` x the true background SUVmean (healthy grey + white matter of the other
        hemisphere) on the PSF image (SUV)."""
        x = world_coordinates(self.image.shape, self.affine, dtype=np.float64)[..., 0]
        side = x > 0 if np.mean(x[self.tumour]) < 0 else x < 0
        background = (self.grey | self.white) & side
        return threshold * float(self.image[background].mean())

    def true_btv_ml(self, threshold: float = 1.6) -> float:
        """True tumour voxels above `true_threshold` on the PSF image (mL)."""
        above = self.tumour & (self.image > self.true_threshold(threshold))
        return float(np.count_nonzero(above)) * self.voxel_ml


def _affine() -> np.ndarray:
    affine = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    affine[:3, 3] = -VOXEL_MM * (np.asarray(SHAPE) - 1) / 2.0 + np.array([0.0, 0.0, 8.0])
    return affine


def _scaled(ellipsoid: Ellipsoid, scale: float, shift_mm: tuple[float, float, float]) -> Ellipsoid:
    centre = tuple(c + s for c, s in zip(ellipsoid.centre_mm, shift_mm, strict=True))
    return Ellipsoid(centre, tuple(a * scale for a in ellipsoid.semi_axes_mm))


def _surface_distance_mm(centre: np.ndarray, ellipsoid: Ellipsoid) -> float:
    """Distance (mm) from a point outside to the surface of an ellipsoid (dense sampling)."""
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 181), np.linspace(0, np.pi, 91))
    axes = np.asarray(ellipsoid.semi_axes_mm)
    points = np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], axis=-1) * axes
    points = points.reshape(-1, 3) + np.asarray(ellipsoid.centre_mm)
    return float(np.min(np.linalg.norm(points - centre, axis=1)))


def tumour_centre(putamen: Ellipsoid, gap_mm: float, radius_mm: float,
                  direction: tuple[float, float, float]) -> np.ndarray:
    """Centre (RAS mm) of a ball of `radius_mm` whose surface lies `gap_mm` from the putamen."""
    unit = np.asarray(direction, float) / np.linalg.norm(direction)
    lo, hi = 0.0, 120.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        point = np.asarray(putamen.centre_mm) + mid * unit
        inside = np.sum(((point - putamen.centre_mm) / putamen.semi_axes_mm) ** 2) <= 1.0
        gap = -1.0 if inside else _surface_distance_mm(point, putamen) - radius_mm
        lo, hi = (mid, hi) if gap < gap_mm else (lo, mid)
    return np.asarray(putamen.centre_mm) + hi * unit


def striatum_phantom(scale: float = 1.0, shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
                     *, tumour_gap_mm: float = 20.0, tumour_radius_mm: float = 12.0,
                     tumour_direction: tuple[float, float, float] = (0.0, -1.0, 0.3),
                     tumour_suv: float = 2.2, oedema_mm: float = 3.0,
                     fwhm_mm: float = 6.0) -> StriatumPhantom:
    """The phantom of the module docstring (noise-free)."""
    affine = _affine()
    world = world_coordinates(SHAPE, affine, dtype=np.float64)
    brain = Ellipsoid((0.0, -10.0, 8.0), BRAIN_SEMI_AXES_MM).contains(world)
    inner = Ellipsoid((0.0, -10.0, 8.0),
                      tuple(a - 6.0 for a in BRAIN_SEMI_AXES_MM)).contains(world)
    grey, white = brain & ~inner, inner.copy()
    true = {name: _scaled(e, scale, shift_mm) for name, e in STRIATUM_MNI.items()}
    striatum = np.zeros(SHAPE, bool)
    registered = {"left": np.zeros(SHAPE, bool), "right": np.zeros(SHAPE, bool)}
    for name, ellipsoid in STRIATUM_MNI.items():
        striatum |= true[name].contains(world) & brain
        registered[name.split("_")[1]] |= ellipsoid.contains(world) & brain
    centre = tumour_centre(true["putamen_right"], tumour_gap_mm, tumour_radius_mm,
                           tumour_direction)
    tumour = brain & (np.linalg.norm(world - centre, axis=-1) <= tumour_radius_mm)
    striatum &= ~tumour
    truth = np.zeros(SHAPE, np.float32)
    truth[white], truth[grey] = SUV["white"], SUV["grey"]
    truth[striatum], truth[tumour] = SUV["striatum"], tumour_suv
    sigma = fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / VOXEL_MM
    image = ndimage.gaussian_filter(truth, sigma).astype(np.float32)
    abnormal = dilate_mm(tumour, oedema_mm, (VOXEL_MM,) * 3) & brain
    return StriatumPhantom(image, affine, brain, grey & ~striatum & ~tumour,
                           white & ~striatum & ~tumour, striatum, tumour, abnormal, registered)


@dataclass
class PhantomRegions:
    """The regions preprocessing would make on the phantom (`gliopet.preprocess.regions`)."""

    reference_suv: float
    striatum: StriatumRefinement
    exclusion: StriatumRefinement


def phantom_regions(phantom: StriatumPhantom, *, margin_mm: float = 8.0,
                    **refine: float) -> PhantomRegions:
    """T/S reference and tumour-candidate exclusion as `pet_regions` builds them (exact
    registration): healthy median outside the registered striatum and the grown abnormality;
    the T/S reference without the abnormality grown by `margin_mm`; the exclusion without the
    abnormality itself. `refine`: `refine_striatum` keywords (default: the package
    configuration)."""
    opts = package_defaults().preprocess
    refine = {"search_margin_mm": opts.striatum_search_mm,
              "core_fraction": opts.striatum_core_fraction,
              "min_contrast": opts.striatum_min_contrast, **refine}
    registered = phantom.registered["left"] | phantom.registered["right"]
    grown = dilate_mm(phantom.abnormal, margin_mm, (VOXEL_MM,) * 3)
    healthy = (phantom.grey | phantom.white) & ~registered & ~grown
    reference = float(np.median(phantom.image[healthy]))
    spacing = (VOXEL_MM,) * 3
    striatum = refine_striatum(phantom.image, phantom.registered, reference, spacing,
                               allowed=phantom.brain & ~grown, **refine)
    exclusion = refine_striatum(phantom.image, phantom.registered, reference, spacing,
                                allowed=phantom.brain & ~phantom.abnormal, **refine)
    return PhantomRegions(reference, striatum, exclusion)
