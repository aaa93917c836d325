"""Rigid and affine registration (SimpleITK), resampling, and transform files.

Conventions (docs/conventions.md, "Transforms and coordinates", as fMRIPrep/ITK):

* Internally images are nibabel arrays in RAS+ canonical orientation; SimpleITK works in LPS mm.
  `to_sitk` / `from_sitk` convert between the two (the voxel array is the same, only the
  world frame is flipped in x and y).
* `register(fixed, moving)` returns the transform that maps points of the *fixed* space to the
  *moving* space. That transform resamples the moving image onto the fixed grid, so it is
  saved as ``..._from-<moving>_to-<fixed>_mode-image_xfm.txt``.

Registration uses Mattes mutual information with RegularStepGradientDescent over a
multi-resolution pyramid, random sampling with a fixed seed (plain GradientDescent stops early:
a 2 mm error was seen).

Reproducibility: ITK's Mattes MI adds the joint histograms of its threads in whatever order they
finish, so with more than one thread the same inputs give transforms that differ at about 1e-7
(and masks that differ by a voxel). `register` therefore always runs on one ITK thread
(`single_threaded`; parallelism comes from running sessions side by side), and the seed given
to SimpleITK is never 0 (SimpleITK reads 0 as "seed from the wall clock"; `itk_seed`). With the
same seed the transforms are bit-identical run to run, whatever the thread count of the other
filters.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from numpy.typing import DTypeLike

from gliopet.errors import InputError
from gliopet.io.nifti import read_voxels
from gliopet.io.transforms import CONVENTION, affine_parameters, write_transform  # noqa: F401  (re-exported)
from gliopet.spatial import (
    affine_matrix,
    box_overlap_fraction,
    fwhm_to_sigma_mm,
    lps_to_ras_affine,
    ras_to_lps_affine,
    ras_to_lps_points,
)

#: Largest seed SimpleITK takes (unsigned 32-bit); seeds are folded into 1..this.
_MAX_SEED = 2**32 - 1
#: Guards SimpleITK's process-wide default thread count (Dask workers run sessions in threads).
_THREADS_LOCK = threading.RLock()


def itk_seed(seed: int) -> int:
    """The metric sampling seed SimpleITK gets for `seed`: `seed` itself for 1 .. 2**32 - 2,
    never 0 (SimpleITK's "seed from the wall clock", which would make every run different)."""
    return int(seed) % _MAX_SEED or _MAX_SEED


def set_default_threads(threads: int) -> None:
    """Set SimpleITK's default thread count for the filters this process creates next
    (waits while a `single_threaded` block of another thread runs)."""
    with _THREADS_LOCK:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, int(threads)))


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the ITK filters created inside on one thread (module docstring, reproducibility);
    the previous default comes back after. Also a decorator. One such block runs at a time per
    process, so threads of a Dask worker cannot change the count in the middle of it."""
    with _THREADS_LOCK:
        previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        try:
            yield
        finally:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


# --------------------------------------------------------------------------- conversions
def to_sitk(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A SimpleITK image (float32, LPS) from a 3-D array and its RAS voxel-to-world affine.

    Shears are not representable in ITK; the direction is the column-normalised linear part.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError(f"to_sitk expects a 3-D array, got shape {data.shape}")
    linear = np.asarray(affine, dtype=float)[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    affine_lps = ras_to_lps_affine(affine)
    direction = affine_lps[:3, :3] / spacing
    origin = affine_lps[:3, 3]
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(d) for d in direction.ravel()])
    image.SetOrigin([float(o) for o in origin])
    return image


def sitk_affine(image: sitk.Image) -> np.ndarray:
    """RAS voxel-to-world affine (4 x 4) of a SimpleITK image."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return lps_to_ras_affine(affine_matrix(direction @ np.diag(image.GetSpacing()),
                                           image.GetOrigin()))


def from_sitk(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(array indexed i, j, k; RAS affine) of a SimpleITK image."""
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0), sitk_affine(image)


def nifti_to_sitk(img: nib.spatialimages.SpatialImage) -> sitk.Image:
    """A SimpleITK image from a 3-D nibabel image (voxels read as float32).

    Voxels are read through `gliopet.io.nifti.read_voxels`, so a file that is truncated on disk
    gives a one-line `InputError` naming it.
    """
    path = img.get_filename() or "<in-memory image>"
    return to_sitk(read_voxels(img, path), img.affine)


def sitk_to_nifti(image: sitk.Image, dtype: DTypeLike = np.float32) -> nib.Nifti1Image:
    """A nibabel image (qform and sform set, mm units) from a SimpleITK image."""
    data, affine = from_sitk(image)
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    return img


# --------------------------------------------------------------------------- geometry
def physical_bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounding box (LPS mm, min and max corners) of an image's field of view."""
    size = np.asarray(image.GetSize())
    corners = np.array([[i, j, k] for i in (-0.5, size[0] - 0.5) for j in (-0.5, size[1] - 0.5)
                        for k in (-0.5, size[2] - 0.5)])
    world = np.array([image.TransformContinuousIndexToPhysicalPoint(c.tolist()) for c in corners])
    return world.min(axis=0), world.max(axis=0)


def fov_overlap_fraction(fixed: sitk.Image, moving: sitk.Image) -> float:
    """Fraction of the smaller field of view (bounding boxes, mm^3) shared by both images."""
    return box_overlap_fraction(physical_bounds(fixed), physical_bounds(moving))


def mask_points(mask: sitk.Image | np.ndarray, affine: np.ndarray | None = None,
                max_points: int = 20000, seed: int = 0) -> np.ndarray:
    """LPS mm coordinates of (at most `max_points`, evenly subsampled) voxels inside a mask."""
    if isinstance(mask, sitk.Image):
        data, affine = from_sitk(mask)
    else:
        data = mask
    ijk = np.argwhere(np.asarray(data) > 0)
    if ijk.shape[0] > max_points:
        ijk = ijk[np.random.default_rng(seed).choice(ijk.shape[0], max_points, replace=False)]
    ras = ijk @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
    return ras_to_lps_points(ras)


def transform_points(transform: sitk.Transform, points_lps: np.ndarray) -> np.ndarray:
    """Apply a SimpleITK transform to points (N, 3) in LPS mm.

    Affine (and rigid) transforms are applied as one matrix product; others point by point.
    """
    points_lps = np.asarray(points_lps, dtype=float)
    matrix, offset = affine_parameters(transform)
    if matrix is not None:
        return points_lps @ matrix.T + offset
    return np.array([transform.TransformPoint(p.tolist()) for p in points_lps])  # non-linear only


def mean_displacement_mm(transform_a: sitk.Transform, transform_b: sitk.Transform | None,
                         points_lps: np.ndarray) -> float:
    """Mean distance (mm) between where two transforms send the same points.

    With `transform_b` None, the identity is used: the mean displacement of `transform_a`.
    """
    moved_a = transform_points(transform_a, points_lps)
    moved_b = points_lps if transform_b is None else transform_points(transform_b, points_lps)
    return float(np.linalg.norm(moved_a - moved_b, axis=1).mean())


def to_affine_transform(transform: sitk.Transform) -> sitk.AffineTransform:
    """An AffineTransform equal to a linear transform (for composition and inversion)."""
    matrix, offset = affine_parameters(transform)
    if matrix is None:
        raise ValueError("transform is not linear")
    out = sitk.AffineTransform(3)
    out.SetMatrix(matrix.ravel().tolist())
    out.SetTranslation(offset.tolist())
    return out


def compose(*transforms: sitk.Transform) -> sitk.Transform:
    """One transform equal to applying `transforms` in the order given (first argument first).

    For resampling chains: to resample A onto C through B, with ``t_ab`` (from-A_to-B, maps B
    points to A) and ``t_bc`` (from-B_to-C, maps C points to B), use ``compose(t_bc, t_ab)``.
    Linear transforms are folded into a single AffineTransform.
    """
    linear = [affine_parameters(t) for t in transforms]
    if all(m is not None for m, _ in linear):
        matrix, offset = np.eye(3), np.zeros(3)
        for m, o in linear:
            matrix, offset = m @ matrix, m @ offset + o
        out = sitk.AffineTransform(3)
        out.SetMatrix(matrix.ravel().tolist())
        out.SetTranslation(offset.tolist())
        return out
    # SimpleITK's CompositeTransform applies the last added transform first.
    return sitk.CompositeTransform(list(reversed([sitk.Transform(t) for t in transforms])))


def invert(transform: sitk.Transform) -> sitk.Transform:
    """The inverse of a linear transform (from-A_to-B becomes from-B_to-A)."""
    return to_affine_transform(transform).GetInverse()


# --------------------------------------------------------------------------- resampling
def resample(moving: sitk.Image, reference: sitk.Image, transform: sitk.Transform | None = None,
             interpolation: Literal["linear", "nearest", "bspline"] = "linear",
             default: float = 0.0) -> sitk.Image:
    """Resample `moving` onto the grid of `reference` (transform maps reference points to moving).

    Label maps must use ``interpolation="nearest"``.
    """
    interpolators = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor,
                     "bspline": sitk.sitkBSpline}
    return sitk.Resample(moving, reference, transform or sitk.Transform(3, sitk.sitkIdentity),
                         interpolators[interpolation], default, moving.GetPixelID())


def resample_mask(mask: sitk.Image, reference: sitk.Image, transform: sitk.Transform | None = None,
                  threshold: float = 0.5) -> np.ndarray:
    """Carry a binary (or probability) mask onto `reference`'s grid; boolean (i, j, k) array.

    Linear interpolation then a threshold: smoother than nearest neighbour when the target grid
    is coarser or rotated, and the volume is preserved at ``threshold=0.5``.
    """
    moved = resample(sitk.Cast(mask, sitk.sitkFloat32), reference, transform, "linear")
    return from_sitk(moved)[0] >= threshold


def smooth(image: sitk.Image, fwhm_mm: float) -> sitk.Image:
    """Gaussian smoothing with the given FWHM (mm)."""
    if fwhm_mm <= 0:
        return image
    return sitk.SmoothingRecursiveGaussian(image, fwhm_to_sigma_mm(fwhm_mm))


def resample_isotropic(image: sitk.Image, spacing_mm: float,
                       interpolation: Literal["linear", "nearest"] = "linear") -> sitk.Image:
    """Resample onto an isotropic grid of `spacing_mm` covering the same field of view."""
    size = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing()) / spacing_mm
    ref = sitk.Image([max(1, int(round(s))) for s in size], sitk.sitkFloat32)
    ref.SetSpacing([spacing_mm] * 3)
    ref.SetDirection(image.GetDirection())
    # First voxel centre half a new voxel inside the original field-of-view corner.
    first = -0.5 + 0.5 * spacing_mm / np.asarray(image.GetSpacing())
    ref.SetOrigin(image.TransformContinuousIndexToPhysicalPoint(first.tolist()))
    return resample(image, ref, None, interpolation)


# --------------------------------------------------------------------------- metrics
def mutual_information(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None,
                       bins: int = 32, normalised: bool = True) -> float:
    """Mutual information of two images on the same grid (joint histogram, vectorised).

    With ``normalised=True`` returns Studholme's NMI = (H(A) + H(B)) / H(A, B): 1 for
    independent images, 2 for identical ones. Otherwise MI in nats.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    if keep.sum() < 100:
        return float("nan")
    a, b = a[keep], b[keep]
    joint, _, _ = np.histogram2d(a, b, bins=bins)
    p = joint / joint.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)

    def entropy(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    h_a, h_b, h_ab = entropy(pa), entropy(pb), entropy(p.ravel())
    return (h_a + h_b) / h_ab if normalised else h_a + h_b - h_ab


# --------------------------------------------------------------------------- registration
@dataclass
class RegistrationResult:
    """Outcome of `register`.

    Attributes
    ----------
    transform : sitk.Transform
        Maps fixed-space points to moving-space points (LPS mm): resamples moving onto fixed.
    metric_initial, metric_final : float
        Mattes MI metric (negative; lower is better) at the start and at the end.
    nmi_initial, nmi_final : float
        Normalised mutual information (1 to 2, higher is better) over the fixed mask (or the
        overlapping field of view) before and after registration.
    stop_condition : str
        The optimizer's stop condition at the finest level.
    iterations : int
        Iterations run at the finest level.
    """

    transform: sitk.Transform
    metric_initial: float
    metric_final: float
    nmi_initial: float
    nmi_final: float
    stop_condition: str = ""
    iterations: int = 0
    history: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | str | int]:
        return {"metric_initial": self.metric_initial, "metric_final": self.metric_final,
                "nmi_initial": self.nmi_initial, "nmi_final": self.nmi_final,
                "stop_condition": self.stop_condition, "iterations": self.iterations}


def _initial_transform(fixed: sitk.Image, moving: sitk.Image, kind: str,
                       initializer: str) -> sitk.Transform:
    base = sitk.Euler3DTransform() if kind == "rigid" else sitk.AffineTransform(3)
    mode = (sitk.CenteredTransformInitializerFilter.MOMENTS if initializer == "moments"
            else sitk.CenteredTransformInitializerFilter.GEOMETRY)
    return sitk.CenteredTransformInitializer(fixed, moving, base, mode)


@single_threaded()
def register(
    fixed: sitk.Image,
    moving: sitk.Image,
    *,
    kind: Literal["rigid", "affine"] = "rigid",
    initial: sitk.Transform | None = None,
    initializer: Literal["moments", "geometry", "none"] = "moments",
    fixed_mask: sitk.Image | None = None,
    moving_mask: sitk.Image | None = None,
    shrink_factors: Sequence[int] = (4, 2, 1),
    smoothing_sigmas_mm: Sequence[float] = (4.0, 2.0, 0.0),
    iterations: int = 200,
    sampling_percentage: float = 0.2,
    bins: int = 32,
    seed: int,
    learning_rate: float = 2.0,
    min_step: float = 1e-4,
) -> RegistrationResult:
    """Register `moving` to `fixed` (Mattes MI, RegularStepGradientDescent, multi-resolution).

    Parameters
    ----------
    fixed, moving : sitk.Image
        Float images (LPS physical space).
    kind : {"rigid", "affine"}
        Euler 3-D (6 parameters) or full affine (12).
    initial : sitk.Transform, optional
        Starting transform (fixed to moving points); otherwise centred by `initializer`
        (image moments or geometric centres; "none" starts from the identity).
    fixed_mask, moving_mask : sitk.Image, optional
        Metric masks (nonzero = used).
    shrink_factors, smoothing_sigmas_mm : sequences
        Pyramid levels (coarse to fine); sigmas in mm.
    iterations : int
        Maximum optimizer iterations per level.
    sampling_percentage : float
        Fraction of fixed voxels sampled at random (seeded) for the metric.
    seed : int
        Sampling seed (`itk_seed`): the same seed gives the same transform, bit for bit (ITK
        runs on one thread here, module docstring).

    Raises
    ------
    InputError
        When the fields of view of the two images do not overlap at all.
    """
    fixed = sitk.Cast(fixed, sitk.sitkFloat32)
    moving = sitk.Cast(moving, sitk.sitkFloat32)
    if fov_overlap_fraction(fixed, moving) <= 0.0 and initializer != "moments" and initial is None:
        raise InputError("the two images do not overlap in world space",
                         fix="check the image headers (origin, orientation)")
    start = _start_transform(fixed, moving, kind, initial, initializer)

    method = _mattes_method(bins, sampling_percentage, seed, fixed_mask, moving_mask)
    _set_pyramid_optimizer(method, iterations, learning_rate, min_step, shrink_factors,
                           smoothing_sigmas_mm)
    method.SetInitialTransform(start, inPlace=False)
    history: list[float] = []
    method.AddCommand(sitk.sitkIterationEvent, lambda: history.append(method.GetMetricValue()))

    metric_initial = _metric_value(fixed, moving, start, fixed_mask, bins, seed)
    try:
        transform = method.Execute(fixed, moving)
    except RuntimeError as exc:  # e.g. "All samples map outside moving image buffer"
        raise InputError(f"registration failed: {str(exc).strip().splitlines()[-1]}",
                         fix="check that the two images show the same head (headers, "
                             "field of view)") from None
    if isinstance(transform, sitk.CompositeTransform) and transform.GetNumberOfTransforms() == 1:
        transform = transform.GetNthTransform(0)
    transform = transform.Downcast()
    metric_final = _metric_value(fixed, moving, transform, fixed_mask, bins, seed)
    nmi_mask = None if fixed_mask is None else from_sitk(fixed_mask)[0] > 0
    return RegistrationResult(
        transform=transform, metric_initial=metric_initial, metric_final=metric_final,
        nmi_initial=_nmi(fixed, moving, start, nmi_mask),
        nmi_final=_nmi(fixed, moving, transform, nmi_mask),
        stop_condition=method.GetOptimizerStopConditionDescription(),
        iterations=int(method.GetOptimizerIteration()), history=history,
    )


def _start_transform(fixed: sitk.Image, moving: sitk.Image, kind: str,
                     initial: sitk.Transform | None, initializer: str) -> sitk.Transform:
    """The optimisation's starting transform: `initial` (kept centre), identity or centred."""
    if initial is not None:
        start = sitk.Euler3DTransform() if kind == "rigid" else sitk.AffineTransform(3)
        matrix, offset = affine_parameters(initial)
        if matrix is None:
            raise ValueError("the initial transform must be linear")
        # Keep the initial transform's centre of rotation (better conditioned optimisation):
        # y = M (x - c) + c + t, so t = offset - c + M c gives the same mapping.
        centre = np.asarray(initial.GetCenter() if hasattr(initial, "GetCenter") else np.zeros(3),
                            dtype=float)
        start.SetCenter(centre.tolist())
        if kind == "rigid":
            start.SetMatrix(matrix.ravel().tolist(), 1e-3)
        else:
            start.SetMatrix(matrix.ravel().tolist())
        start.SetTranslation((offset - centre + matrix @ centre).tolist())
        return start
    if initializer == "none":
        start = sitk.Euler3DTransform() if kind == "rigid" else sitk.AffineTransform(3)
        lo, hi = physical_bounds(fixed)
        start.SetCenter(((lo + hi) / 2.0).tolist())  # identity, rotating about the FOV centre
        return start
    return _initial_transform(fixed, moving, kind, initializer)


def _mattes_method(bins: int, sampling_percentage: float, seed: int,
                   fixed_mask: sitk.Image | None,
                   moving_mask: sitk.Image | None = None) -> sitk.ImageRegistrationMethod:
    """A registration method with the Mattes MI metric on seeded random samples, linear
    interpolation and the metric masks (nonzero = used)."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(sampling_percentage, itk_seed(seed))
    if fixed_mask is not None:
        method.SetMetricFixedMask(sitk.Cast(fixed_mask > 0, sitk.sitkUInt8))
    if moving_mask is not None:
        method.SetMetricMovingMask(sitk.Cast(moving_mask > 0, sitk.sitkUInt8))
    method.SetInterpolator(sitk.sitkLinear)
    return method


def _set_pyramid_optimizer(method: sitk.ImageRegistrationMethod, iterations: int,
                           learning_rate: float, min_step: float, shrink_factors: Sequence[int],
                           smoothing_sigmas_mm: Sequence[float]) -> None:
    """RegularStepGradientDescent over the multi-resolution pyramid (sigmas in mm)."""
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=learning_rate, minStep=min_step, numberOfIterations=iterations,
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(smoothing_sigmas_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()


def _nmi(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform,
         mask: np.ndarray | None) -> float:
    """Normalised MI of `fixed` and `moving` resampled by `transform`, over `_nmi_mask`."""
    return mutual_information(from_sitk(fixed)[0], from_sitk(resample(moving, fixed, transform))[0],
                              _nmi_mask(mask, moving, fixed, transform))


def _nmi_mask(mask: np.ndarray | None, moving: sitk.Image, fixed: sitk.Image,
              transform: sitk.Transform) -> np.ndarray:
    """Fixed voxels that map inside the moving field of view (and the fixed mask)."""
    inside = sitk.Image(moving.GetSize(), sitk.sitkUInt8) + 1
    inside.CopyInformation(moving)
    covered = from_sitk(resample(inside, fixed, transform, "nearest"))[0] > 0
    return covered if mask is None else covered & mask


@single_threaded()
def _metric_value(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform,
                  fixed_mask: sitk.Image | None, bins: int, seed: int) -> float:
    method = _mattes_method(bins, 0.2, seed, fixed_mask)
    method.SetInitialTransform(transform)
    try:
        return float(method.MetricEvaluate(fixed, moving))
    except RuntimeError:
        return float("nan")


# --------------------------------------------------------------------------- transform files
def xfm_name(subject: str, session: str | None, source: str, target: str) -> str:
    """File name of a transform of preprocessing (`gliopet.io.derivatives.XFM`)."""
    from gliopet.io.derivatives import XFM

    return XFM.name(subject, session, from_=source, to=target)


def read_transform(path: str | Path) -> sitk.Transform:
    """Read a transform file written by `write_transform` (or any ITK transform file)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("transform file not found", path=path,
                         fix="run `gliopet preprocess` for this session first")
    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as exc:
        raise InputError(
            f"not a readable ITK transform ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="rerun `gliopet preprocess --force` for this session",
        ) from None
    if isinstance(transform, sitk.CompositeTransform) and transform.GetNumberOfTransforms() == 1:
        transform = transform.GetNthTransform(0)
    return transform
