"""The images of one session that the report shows, read through the derivatives contract.

Every image is on the PET grid of preprocessing and quantification (the static SUV, the MRI
resampled onto it, the tumour VOI, the background and striatum masks, and, when WP2 ran, the
aggressiveness map and the aggressive subregion). A map on another grid (a saliency map on the
learning grid) is resampled onto the PET grid (nilearn, linear). Every array is brought to the
closest RAS+ orientation (nibabel), so that axis 0 runs to the patient's right, axis 1 to
anterior and axis 2 to superior whatever the stored orientation; the figures then place the
orientation labels from that fact (`gliopet.report.figures`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from gliopet.io import derivatives as d

#: MRI sequences shown under the PET, in order of preference (the contrast T1w first).
MRI_PREFERENCE = (("T1w", "gadolinium"), ("T1w", None), ("FLAIR", None), ("T2w", None))


@dataclass
class SessionImages:
    """Arrays of one session on the PET grid, RAS+ oriented (axis 0 right, 1 anterior, 2 up).

    Attributes
    ----------
    suv : numpy.ndarray
        Static-window SUV (g/mL).
    zooms : tuple of float
        Voxel size (mm) along the three axes.
    affine : numpy.ndarray
        The RAS+ voxel-to-world matrix (mm).
    mri, mri_name : numpy.ndarray or None, str
        The MRI under the PET and its sequence (``contrast T1w``).
    masks : dict
        Boolean masks by name: tumour, background, striatum, aggressive (present ones only).
    maps : dict
        Other maps by name: aggressiveness (unitless), saliency (unitless).
    target_voxel : numpy.ndarray or None
        The biopsy target as a (fractional) voxel index of this grid.
    """

    suv: np.ndarray
    zooms: tuple[float, float, float]
    affine: np.ndarray
    mri: np.ndarray | None = None
    mri_name: str = ""
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    target_voxel: np.ndarray | None = None

    @property
    def has_tumour(self) -> bool:
        """Whether the tumour VOI holds at least one voxel."""
        return bool(self.masks.get("tumour") is not None and self.masks["tumour"].any())

    def focus(self) -> tuple[int, int, int]:
        """Voxel of the tumour's maximum SUV; without a tumour, of the striatum's (else the
        brain's) maximum SUV."""
        for name in ("tumour", "striatum"):
            mask = self.masks.get(name)
            if mask is not None and mask.any():
                values = np.where(mask, self.suv, -np.inf)
                return tuple(int(i) for i in np.unravel_index(np.argmax(values), values.shape))
        finite = np.nan_to_num(self.suv, nan=-np.inf)
        return tuple(int(i) for i in np.unravel_index(np.argmax(finite), finite.shape))


def _canonical(image: nib.Nifti1Image) -> nib.Nifti1Image:
    return nib.as_closest_canonical(image)


def _array(path: Path, reference: nib.Nifti1Image | None = None) -> np.ndarray:
    """The image at `path` (resampled onto `reference` when its grid differs), RAS+."""
    image = nib.load(path)
    if image.ndim == 4 and image.shape[3] == 1:
        image = nib.funcs.four_to_three(image)[0]
    if reference is not None and (image.shape[:3] != reference.shape[:3]
                                  or not np.allclose(image.affine, reference.affine, atol=1e-3)):
        from nilearn.image import resample_to_img

        image = resample_to_img(image, reference, interpolation="continuous",
                                force_resample=True, copy_header=True)
    return np.asarray(_canonical(image).dataobj, dtype=np.float32)


def _mri(root: Path, ids: d.IdsLike) -> tuple[Path | None, str]:
    for suffix, contrast in MRI_PREFERENCE:
        path = d.find_or_none(root, ids, d.MRI_ON_PET, suffix=suffix, ce=contrast)
        if path is not None:
            return path, ("contrast " if contrast else "") + suffix
    return None, ""


def _optional_masks(root: Path, ids: d.IdsLike) -> dict[str, Path]:
    found = {
        "tumour": d.find_or_none(root, ids, d.TUMOUR_MASK),
        "background": d.find_or_none(root, ids, d.BACKGROUND_MASK),
        "striatum": d.find_or_none(root, ids, d.PET_MASK, desc="striatum"),
        "aggressive": d.find_or_none(root, ids, d.AGGRESSIVE_MASK),
    }
    return {name: path for name, path in found.items() if path is not None}


def biopsy_target(root: Path, ids: d.IdsLike) -> dict | None:
    """The biopsy target record of `gliopet biopsy` (JSON), or None when it did not run."""
    path = d.find_or_none(root, ids, d.BIOPSY_TARGET)
    return json.loads(path.read_text()) if path is not None else None


def load_session_images(bids_root: str | Path, ids: d.IdsLike,
                        saliency: Path | None = None) -> SessionImages:
    """The session's report images (static SUV required: `d.find` names the command to run)."""
    root = Path(bids_root)
    suv_path = d.find(root, ids, d.STATIC_SUV, what="static SUV")
    reference = nib.load(suv_path)
    canonical = _canonical(reference)
    images = SessionImages(_array(suv_path), tuple(float(z) for z in canonical.header.get_zooms()
                                                   [:3]), canonical.affine)
    mri_path, images.mri_name = _mri(root, ids)
    if mri_path is not None:
        images.mri = _array(mri_path, reference)
    for name, path in _optional_masks(root, ids).items():
        images.masks[name] = _array(path, reference) > 0.5
    aggressiveness = d.find_or_none(root, ids, d.AGGRESSIVENESS_MAP)
    if aggressiveness is not None:
        images.maps["aggressiveness"] = _array(aggressiveness, reference)
    if saliency is not None and Path(saliency).is_file():
        images.maps["saliency"] = _array(Path(saliency), reference)
    target = biopsy_target(root, ids)
    if target is not None and target.get("target_ras_mm") is not None:
        world = np.append(np.asarray(target["target_ras_mm"], dtype=float), 1.0)
        images.target_voxel = (np.linalg.inv(images.affine) @ world)[:3]
    return images
