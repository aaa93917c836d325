"""The data model: one imaging session of one subject, and the one PET image API.

A `Session` holds paths and metadata; voxels are read only when asked (`PETImage.load`,
`AnatImage.load`), so a cohort of hundreds of sessions can be listed without loading images.

PET values (docs/conventions.md): `suv_frames` is the one SUV conversion (voxels brought to
"decay-corrected to injection" by the per-frame factors, times weight (g) / injected activity
(Bq)); `static_image` is the one static image (frame-duration-weighted mean of the frames whose
mid-time lies in the window, s from injection). `PETImage.suv_frames` and
`PETImage.static_image` apply them to a session's PET; every stage uses these.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import nibabel as nib
import numpy as np

from gliopet.errors import InputError
from gliopet.io.nifti import load_nifti, read_voxels
from gliopet.io.timing import FrameTiming

#: BIDS suffixes (with entities) of the anatomical images gliopet uses, in order of preference
#: as registration target.
ANAT_SUFFIXES = ("ce-gadolinium_T1w", "T1w", "T2w", "FLAIR")

#: Units label of SUV (body weight) images and columns. SUVbw = activity (Bq/mL) / (injected
#: activity (Bq) / weight (g)) has the dimension g/mL, and BIDS-PET writes ``"Units": "g/mL"``
#: for SUV images; the label says what the number is, "SUV (body weight)" goes in descriptions.
SUV_UNITS = "g/mL"

#: What `static_image` does when no frame's mid-time lies in the window: ``"raise"`` an
#: InputError (quantification) or take the duration-weighted mean of ``"all"`` frames
#: (preprocessing, whose static image only serves registration and QC).
Fallback = Literal["raise", "all"]


@dataclass(frozen=True)
class StaticImage:
    """A static (window) PET image.

    Attributes
    ----------
    data : ndarray (x, y, z)
        The image, float32 (or the dtype asked of `static_image`).
    units : str
        `SUV_UNITS` (``g/mL``) when the SUV factor is known, else the stored units (``Bq/mL``,
        decay-corrected to injection).
    note : str
        How it was made (window, or the all-frames fallback; why SUV is missing).
    window_min : tuple of float
        The window asked for (min from injection).
    """

    data: np.ndarray
    units: str
    note: str
    window_min: tuple[float, float]


def suv_frames(frames: np.ndarray, suv_factor: float,
               frame_decay_factors: np.ndarray | None = None) -> np.ndarray:
    """SUV frames (float32, last axis = frames; a 3-D image is one frame) from stored values.

    ``suv_factor`` is weight (g) / injected activity (Bq) x (Bq/mL per stored unit);
    ``frame_decay_factors`` (one per frame, None = ones) bring each frame to "decay-corrected to
    injection" (`gliopet.io.suv`). InputError when their number differs from the frames'.
    """
    return _scaled(frames, suv_factor, frame_decay_factors, np.float32)


def _scaled(frames: np.ndarray, scale: float, frame_decay_factors: np.ndarray | None,
            dtype: type) -> np.ndarray:
    """``frames x scale x frame factor`` in `dtype` (a new array; 3-D input becomes one frame)."""
    data = np.asarray(frames, dtype=dtype)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    out = data * dtype(scale)
    if frame_decay_factors is not None:
        factors = np.asarray(frame_decay_factors, dtype=dtype)
        _check_factor_count(factors, out.shape[-1])
        out *= factors
    return out


def _check_factor_count(factors: np.ndarray, n_frames: int) -> None:
    if factors.size != n_frames:
        raise InputError(f"{factors.size} frame decay factors for an image with {n_frames} frames",
                         fix="check FrameDuration / FrameTimesStart in the PET sidecar")


def static_image(frames: np.ndarray, timing: FrameTiming, window_min: tuple[float, float], *,
                 suv_factor: float | None = None, frame_decay_factors: np.ndarray | None = None,
                 units: str = "Bq/mL", fallback: Fallback = "raise", dtype: type = np.float32,
                 path: str | Path | None = None) -> StaticImage:
    """The static image of a window: frame-duration-weighted mean of the frames whose mid-time
    lies in `window_min` (min from injection), decay-corrected to injection, in SUV when
    `suv_factor` is given, else in `units`.

    ``sum_f (w_f x decay factor_f) x frame_f``, times `suv_factor`: the same quantity as the
    weighted mean of `suv_frames` (to float rounding), computed in one pass over the stored
    `frames` (last axis = frames, a 3-D image is one frame) with weights in `dtype`. When no frame
    lies in the window, `fallback` decides (`Fallback`). InputError for a frame count that
    differs from `timing`, an empty window, or (``fallback="raise"``) a window outside the
    acquired frames.
    """
    data = np.asarray(frames)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    if data.shape[-1] != timing.n_frames:
        raise InputError(f"the image has {data.shape[-1]} frames but the timing lists "
                         f"{timing.n_frames}", path=path,
                         fix="check FrameTimesStart and FrameDuration in the sidecar")
    weights, note = _window_weights(timing, window_min, fallback, path)
    factors = np.ones(timing.n_frames)
    if frame_decay_factors is not None:
        factors = np.asarray(frame_decay_factors, dtype=float)
        _check_factor_count(factors, data.shape[-1])
    mean = np.tensordot(data, (weights * factors).astype(dtype), axes=([-1], [0]))
    if suv_factor is not None:
        mean, units = mean * dtype(suv_factor), SUV_UNITS
    return StaticImage(mean.astype(dtype, copy=False), units, note,
                       (float(window_min[0]), float(window_min[1])))


def _window_weights(timing: FrameTiming, window_min: tuple[float, float], fallback: Fallback,
                    path: str | Path | None) -> tuple[np.ndarray, str]:
    """(frame weights summing to 1, note) of the window, or of all frames (`fallback`)."""
    start_min, end_min = float(window_min[0]), float(window_min[1])
    if not end_min > start_min:
        raise InputError(f"static window {start_min * 60:g}-{end_min * 60:g} s is empty",
                         path=path, fix="give the window as start < end in s from injection")
    try:
        weights = timing.window_weights(start_min * 60.0, end_min * 60.0)
    except ValueError:
        if fallback == "all":
            return (timing.duration_s / timing.duration_s.sum(),
                    f"no frame inside {start_min:g}-{end_min:g} min: duration-weighted mean of "
                    f"all frames ({timing.start_s[0]:g}-{timing.end_s[-1]:g} s)")
        raise InputError(
            f"static window {start_min:g}-{end_min:g} min lies outside the acquired frames "
            f"(frames span {timing.start_s.min() / 60:g}-{timing.end_s.max() / 60:g} min from "
            "injection)", path=path, fix="choose a static window inside the acquisition") from None
    return weights, f"frame-duration-weighted mean over {start_min:g}-{end_min:g} min"


@dataclass
class PETImage:
    """A (dynamic) PET image on disk with its timing and SUV scaling.

    Attributes
    ----------
    path : Path
        The NIfTI file (3-D static or 4-D dynamic, activity in `units`).
    sidecar : dict
        The BIDS JSON sidecar as read.
    timing : FrameTiming
        Frame start and duration (s from injection).
    units : str
        Voxel units as given by the sidecar (``Bq/mL`` expected).
    suv_factor : float or None
        Body weight (g) / injected activity (Bq) at injection: multiply activity (Bq/mL),
        decay-corrected to injection, by this to get SUV (body weight). None when it cannot be
        computed (missing weight or dose).
    frame_decay_factors : ndarray or None
        Per-frame factors that bring the stored voxel values to "decay-corrected to injection"
        (docs/conventions.md): all ones when the image is already corrected to injection, a
        constant ``2**((t_ref - t_inj) / T_half)`` when corrected to another reference time,
        and the frame-integrated decay factor when the image is not decay-corrected.
        None means all ones.
    suv_note : str
        How the factor was computed (the decay-correction path taken), or why it is missing.
    tracer : str
        Tracer name (``FDOPA``, ``FET``).
    """

    path: Path
    sidecar: dict[str, Any]
    timing: FrameTiming
    units: str = "Bq/mL"
    suv_factor: float | None = None
    frame_decay_factors: np.ndarray | None = None
    suv_note: str = ""
    tracer: str = ""

    @property
    def n_frames(self) -> int:
        return self.timing.n_frames

    def load(self) -> nib.Nifti1Image:
        """The image, RAS+ canonical, voxels not yet read."""
        return load_nifti(self.path, ensure_ndim=(3, 4))

    def frames(self) -> np.ndarray:
        """Voxel data as float32 (x, y, z, frame) in `units`; a static image gets one frame."""
        data = read_voxels(self.load(), self.path)
        return data[..., np.newaxis] if data.ndim == 3 else data

    def suv_frames(self, frames: np.ndarray | None = None) -> np.ndarray:
        """SUV (body weight) frames, float32 (x, y, z, frame), from `frames` (stored values,
        e.g. the motion-corrected frames; default: this image's voxels). InputError when the SUV
        factor is unknown."""
        if self.suv_factor is None:
            raise InputError(f"SUV cannot be computed: {self.suv_note}", path=self.path,
                             fix="add the weight (kg) to the sessions or participants file and "
                                 "the injected dose to the sidecar")
        return suv_frames(self.frames() if frames is None else frames, self.suv_factor,
                          self.frame_decay_factors)

    def static_image(self, window_min: tuple[float, float], *, frames: np.ndarray | None = None,
                     fallback: Fallback = "raise") -> StaticImage:
        """Static image of `window_min` (min from injection; configuration
        ``quant.static_window_min``): SUV (``g/mL``) when the SUV factor is known, else Bq/mL
        decay-corrected to injection (the note says why SUV is missing).

        `frames`: stored values to use instead of this image's voxels (e.g. motion-corrected);
        `fallback`: see `Fallback`. See the module function `static_image`.
        """
        image = static_image(self.frames() if frames is None else frames, self.timing,
                             window_min, suv_factor=self.suv_factor,
                             frame_decay_factors=self.frame_decay_factors,
                             units=self.units or "Bq/mL", fallback=fallback, path=self.path)
        if self.suv_factor is None:
            image = replace(image, note=f"{image.note}; SUV unavailable ({self.suv_note})")
        return image


@dataclass
class AnatImage:
    """An anatomical MRI on disk (T1w, contrast T1w, T2w, FLAIR)."""

    path: Path
    suffix: str
    sidecar: dict[str, Any] = field(default_factory=dict)

    def load(self) -> nib.Nifti1Image:
        """The image, RAS+ canonical, voxels not yet read."""
        return load_nifti(self.path, ensure_ndim=(3,))

    def voxels(self) -> np.ndarray:
        """Voxel data as float32 (x, y, z)."""
        return read_voxels(self.load(), self.path)


@dataclass
class Session:
    """One imaging session of one subject.

    Attributes
    ----------
    subject, session : str
        BIDS labels without the ``sub-``/``ses-`` prefixes.
    site, scanner : str
        Acquisition site and scanner model (from the sessions file or the sidecar).
    pet : PETImage or None
    anat : dict
        Anatomical images keyed by BIDS suffix (see `ANAT_SUFFIXES`).
    labels : dict
        Subject- and session-level columns of participants.tsv and sessions.tsv
        (session-level values take precedence).
    weight_kg : float or None
        Body weight (kg), from the sessions file or participants.tsv.
    root : Path or None
        The BIDS dataset root.
    """

    subject: str
    session: str
    site: str = ""
    scanner: str = ""
    pet: PETImage | None = None
    anat: dict[str, AnatImage] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    weight_kg: float | None = None
    root: Path | None = None

    @property
    def key(self) -> str:
        """``sub-<id>_ses-<id>``, the prefix of every file of the session."""
        return f"sub-{self.subject}_ses-{self.session}" if self.session else f"sub-{self.subject}"

    def mri_reference(self) -> AnatImage | None:
        """The registration target: contrast T1w when present, else T1w, T2w, FLAIR."""
        for suffix in ANAT_SUFFIXES:
            if suffix in self.anat:
                return self.anat[suffix]
        return None
