"""The data model: one imaging session of one subject.

A `Session` holds paths and metadata; voxels are read only when asked (`PETImage.load`,
`AnatImage.load`), so a cohort of hundreds of sessions can be listed without loading images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from gliopet.errors import InputError
from gliopet.io.nifti import load_nifti, read_voxels
from gliopet.io.timing import FrameTiming

#: BIDS suffixes (with entities) of the anatomical images gliopet uses, in order of preference
#: as registration target.
ANAT_SUFFIXES = ("ce-gadolinium_T1w", "T1w", "T2w", "FLAIR")


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

    def suv_frames(self) -> np.ndarray:
        """Voxel data in SUV (body weight); raises if the SUV factor is unknown."""
        if self.suv_factor is None:
            raise InputError(f"SUV cannot be computed: {self.suv_note}", path=self.path,
                             fix="add the weight (kg) to the sessions or participants file and the injected dose to the sidecar")
        data = self.frames()
        data *= np.float32(self.suv_factor)
        if self.frame_decay_factors is not None:
            data *= np.asarray(self.frame_decay_factors, dtype=np.float32)
        return data


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
