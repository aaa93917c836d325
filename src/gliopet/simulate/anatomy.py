"""Phantom anatomy: tissue label map from the MNI152 template, warped per subject.

The template label map (`template_labels`) is built once from the nilearn MNI152 2009a maps:
grey/white matter from the probability maps, CSF = brain mask minus GM/WM, ventricles = CSF
deep inside the brain mask, caudate and putamen from `gliopet.templates.striatum_masks`,
thalamus, brainstem and cerebellar cortex from `gliopet.templates.deep_structure_masks`, and a
head shell (scalp + skull) a few mm thick outside the brain mask so that brain extraction has
something to remove.

Each subject is the template under a random affine map (scale +/-5 %, rotation a few degrees)
and a smooth non-linear deformation of a kind the registration code does not use: the site's
``deformation_model`` ("smooth_field": Gaussian-smoothed random displacement field; the held-out
"radial_bumps": a sum of radial basis bumps). The warp is a function of world position, so the
same subject can be sampled on any grid (MRI at 1 mm, PET truth at 2 mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

from gliopet.simulate.geometry import Grid
from gliopet.spatial import apply_affine, rotation_matrix

#: Tissue label codes (written with a JSON legend to the truth folder).
TISSUE_LABELS: dict[int, str] = {
    0: "outside head", 1: "scalp/skull", 2: "CSF", 3: "grey matter", 4: "white matter",
    5: "caudate", 6: "putamen", 7: "ventricles", 8: "thalamus", 9: "brainstem",
    14: "cerebellar grey matter",
    10: "necrosis", 11: "enhancing tumour", 12: "non-enhancing infiltration", 13: "oedema",
}
#: Key of the kinetics helper's tissue classes for each label code.
KINETIC_KEY: dict[int, str] = {
    1: "scalp", 2: "csf", 3: "grey", 4: "white", 5: "striatum", 6: "striatum", 7: "csf",
    8: "thalamus", 9: "brainstem", 14: "cerebellum",
    10: "necrosis", 11: "enhancing", 12: "infiltration", 13: "oedema",
}
BRAIN_LABELS = (2, 3, 4, 5, 6, 7, 8, 9, 14)
PARENCHYMA_LABELS = (3, 4, 5, 6, 8, 9, 14)
TUMOUR_LABELS = (10, 11, 12)          # the tumour proper (oedema is outside it)
LESION_LABELS = (10, 11, 12, 13)

#: Template (MNI) centre of the brain box, RAS mm; subject scaling and rotation act about it.
BRAIN_CENTRE_MM = np.array([0.0, -17.0, 5.0])
#: Field of view of the MRI grid (mm): the head with room for scaling and rotation.
HEAD_EXTENT_MM = (180.0, 216.0, 189.0)

VENTRICLE_DEPTH_MM = 14.0   # CSF deeper than this inside the brain mask counts as ventricle
HEAD_SHELL_MM = 9.0         # scalp + skull thickness outside the brain mask
SKULL_MM = 4.5              # inner part of the shell (dark on MRI), the rest is scalp


@dataclass(frozen=True)
class TemplateAnatomy:
    """Template-space maps at one resolution (RAS canonical MNI grid)."""

    grid: Grid
    labels: np.ndarray      # uint8 tissue codes (`TISSUE_LABELS`, healthy ones)
    gm: np.ndarray          # float32 probabilities (inside the brain mask)
    wm: np.ndarray
    csf: np.ndarray
    shell_depth: np.ndarray  # float32 distance (mm) outside the brain mask, 0 inside


def _template_cache_file(resolution_mm: int) -> Path | None:
    """Disk cache of `template_labels` (None when disabled).

    Folder: ``$GLIOPET_CACHE_DIR`` or ``$XDG_CACHE_HOME/gliopet`` (default ``~/.cache/gliopet``);
    ``GLIOPET_CACHE_DIR=off`` disables it. The file name carries a hash of this module, of
    gliopet.templates and of the nilearn version, so any change of the recipe or of the template
    files gives a new cache entry.
    """
    import hashlib
    import inspect
    import os
    from importlib import metadata

    from gliopet import templates

    setting = os.environ.get("GLIOPET_CACHE_DIR", "")
    if setting.lower() in ("off", "0", "none", "false"):
        return None
    root = (
        Path(setting)
        if setting
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gliopet"
    )
    try:
        nilearn_version = metadata.version("nilearn")
    except metadata.PackageNotFoundError:
        nilearn_version = "unknown"
    digest = hashlib.sha256()
    for text in (
        inspect.getsource(inspect.getmodule(template_labels)),
        inspect.getsource(templates),
        nilearn_version,
        str(resolution_mm),
    ):
        digest.update(text.encode())
    return root / f"phantom-template-{resolution_mm}mm-{digest.hexdigest()[:16]}.npz"


@lru_cache(maxsize=2)
def template_labels(resolution_mm: int = 2) -> TemplateAnatomy:
    """The template tissue label map at 1 or 2 mm, cached in memory and on disk.

    The disk cache is `_template_cache_file`. Building it (nilearn template files, distance
    transforms) takes seconds at 1 mm; the disk copy is loaded in a fraction of that and is
    bit-identical to a fresh build.
    """
    path = _template_cache_file(resolution_mm)
    if path is not None and path.is_file():
        try:
            with np.load(path) as data:
                return TemplateAnatomy(
                    Grid(tuple(int(n) for n in data["shape"]), data["affine"]),
                    data["labels"],
                    data["gm"],
                    data["wm"],
                    data["csf"],
                    data["shell_depth"],
                )
        except (OSError, KeyError, ValueError):
            pass  # unreadable cache entry: rebuild (and overwrite) it
    template = _build_template_labels(resolution_mm)
    if path is not None:
        import os
        import tempfile

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, shape=np.asarray(template.grid.shape), affine=template.grid.affine,
                         labels=template.labels, gm=template.gm, wm=template.wm, csf=template.csf,
                         shell_depth=template.shell_depth)
            os.replace(tmp, path)  # atomic: concurrent builders never see a partial file
        except OSError:
            # read-only or full cache folder: the in-memory copy is enough
            if "tmp" in locals() and Path(tmp).exists():
                Path(tmp).unlink(missing_ok=True)
    return template


def _build_template_labels(resolution_mm: int) -> TemplateAnatomy:
    """Build the template tissue label map at 1 or 2 mm from the nilearn MNI152 maps."""
    from gliopet.templates import deep_structure_masks, load_mni, striatum_masks

    images = load_mni(resolution_mm)
    affine = images["brain_mask"].affine
    brain = np.asarray(images["brain_mask"].dataobj) > 0.5
    gm = np.where(brain, np.asarray(images["gm"].dataobj), 0.0).astype(np.float32)
    wm = np.where(brain, np.asarray(images["wm"].dataobj), 0.0).astype(np.float32)
    csf = np.where(brain, np.clip(1.0 - gm - wm, 0.0, 1.0), 0.0).astype(np.float32)
    labels = np.zeros(brain.shape, dtype=np.uint8)
    tissue = np.argmax(np.stack([csf, gm, wm]), axis=0)
    labels[brain] = np.array([2, 3, 4], dtype=np.uint8)[tissue[brain]]
    depth_in = ndimage.distance_transform_edt(brain, sampling=resolution_mm)
    labels[(labels == 2) & (depth_in > VENTRICLE_DEPTH_MM)] = 7
    deep = deep_structure_masks(resolution_mm)
    labels[deep["cerebellum"] & (labels == 3)] = 14      # cerebellar cortex; its WM stays 4
    for name in ("thalamus_left", "thalamus_right", "brainstem"):
        labels[deep[name] & np.isin(labels, (3, 4))] = 8 if name.startswith("thalamus") else 9
    for name, mask in striatum_masks(resolution_mm).items():
        labels[mask & brain] = 5 if name.startswith("caudate") else 6
    depth_out = ndimage.distance_transform_edt(~brain, sampling=resolution_mm).astype(np.float32)
    labels[~brain & (depth_out <= HEAD_SHELL_MM)] = 1
    grid = Grid(brain.shape, np.asarray(affine, dtype=float))
    return TemplateAnatomy(
        grid, labels, gm, wm, csf, np.where(brain, 0.0, depth_out).astype(np.float32)
    )


@dataclass(frozen=True)
class SubjectWarp:
    """Map from subject world (RAS mm) to template world: ``y = A x + d(A x)``.

    `affine` (4x4) is the inverse of the subject's scale/rotation/shift about the brain centre;
    `model` is ``"smooth_field"`` (displacement sampled from a smoothed random grid, trilinear) or
    ``"radial_bumps"`` (sum of Gaussian bumps, closed form). Displacements in mm.
    """

    affine: np.ndarray
    model: str = "smooth_field"
    field_grid: Grid | None = None
    field: np.ndarray | None = None          # (nx, ny, nz, 3) displacements, smooth_field
    bump_centres: np.ndarray | None = None   # (k, 3) mm, radial_bumps
    bump_vectors: np.ndarray | None = None   # (k, 3) mm
    bump_width_mm: float = 20.0
    info: dict = dataclass_field(default_factory=dict)

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """Displacement (mm) at template-world points (..., 3)."""
        if self.model == "smooth_field":
            flat = points.reshape(-1, 3)
            index = apply_affine(np.linalg.inv(self.field_grid.affine), flat).T
            out = np.stack(
                [
                    ndimage.map_coordinates(self.field[..., c], index, order=1, mode="nearest")
                    for c in range(3)
                ],
                axis=-1,
            )
            return out.reshape(points.shape).astype(points.dtype)
        if self.model == "radial_bumps":
            out = np.zeros_like(points)
            for centre, vector in zip(self.bump_centres, self.bump_vectors, strict=True):
                # a handful of bumps: the loop is over bumps, each step vectorised over voxels
                r2 = np.sum((points - centre.astype(points.dtype)) ** 2, axis=-1)
                out += np.exp(-r2 / (2.0 * self.bump_width_mm**2))[..., None] * vector.astype(
                    points.dtype
                )
            return out
        raise ValueError(f"unknown deformation model {self.model!r}")

    def to_template(self, points: np.ndarray) -> np.ndarray:
        """Template-world coordinates (RAS mm) of subject-world points (..., 3)."""
        linear = apply_affine(self.affine, points)
        return linear + self.displacement(linear)


def random_warp(
    rng: np.random.Generator,
    model: str = "smooth_field",
    *,
    scale_pct: float = 5.0,
    rotation_deg: float = 6.0,
    shift_mm: float = 4.0,
    amplitude_mm: float = 3.0,
) -> SubjectWarp:
    """Draw a subject's warp: per-axis scale within +/- `scale_pct` %, rotation, shift (mm) and
    a smooth deformation of typical amplitude `amplitude_mm` (mm)."""
    scale = 1.0 + rng.uniform(-scale_pct, scale_pct, 3) / 100.0
    rotation = rotation_matrix(rng.uniform(-rotation_deg, rotation_deg, 3))
    shift = rng.uniform(-shift_mm, shift_mm, 3)
    forward = np.eye(4)   # template -> subject: x = R S (y - c) + c + shift
    forward[:3, :3] = rotation @ np.diag(scale)
    forward[:3, 3] = BRAIN_CENTRE_MM - forward[:3, :3] @ BRAIN_CENTRE_MM + shift
    inverse = np.linalg.inv(forward)
    info = {"scale": scale.tolist(), "shift_mm": shift.tolist(), "deformation_model": model,
            "amplitude_mm": amplitude_mm, "template_to_subject_RAS": forward.tolist()}
    if model == "smooth_field":
        spacing = 6.0
        grid = Grid.box(spacing, BRAIN_CENTRE_MM, (240.0, 264.0, 240.0))
        noise = rng.normal(size=(*grid.shape, 3))
        smooth = np.stack(
            [
                ndimage.gaussian_filter(noise[..., c], sigma=18.0 / spacing, mode="reflect")
                for c in range(3)
            ],
            axis=-1,
        )
        rms = np.sqrt(np.mean(np.sum(smooth**2, axis=-1)))
        field_ = (smooth * (amplitude_mm / rms)).astype(np.float32)
        return SubjectWarp(inverse, model, grid, field_, info=info)
    if model == "radial_bumps":
        k = 6
        centres = BRAIN_CENTRE_MM + rng.uniform(-55.0, 55.0, (k, 3))
        vectors = rng.normal(size=(k, 3))
        vectors *= (amplitude_mm * 1.5 / np.linalg.norm(vectors, axis=1))[:, None]
        return SubjectWarp(inverse, model, bump_centres=centres, bump_vectors=vectors,
                           bump_width_mm=22.0, info=info)
    raise ValueError(f"unknown deformation model {model!r}; use 'smooth_field' or 'radial_bumps'")


@dataclass
class SubjectAnatomy:
    """A subject's anatomy sampled on one grid (subject world, RAS mm)."""

    grid: Grid
    labels: np.ndarray        # uint8 `TISSUE_LABELS` codes (tumour codes added by `tumour`)
    gm: np.ndarray            # float32 partial-volume fractions
    wm: np.ndarray
    csf: np.ndarray
    shell_depth: np.ndarray   # mm outside the brain (skull inner, scalp outer), 0 inside
    hemisphere: np.ndarray    # int8: -1 left (template x < 0), +1 right, 0 outside the head

    @property
    def brain(self) -> np.ndarray:
        return np.isin(self.labels, BRAIN_LABELS + LESION_LABELS)


def sample_anatomy(warp: SubjectWarp, grid: Grid, resolution_mm: int = 2) -> SubjectAnatomy:
    """Sample the warped template on `grid`: labels nearest-neighbour, fractions trilinear."""
    template = template_labels(resolution_mm)
    points = warp.to_template(grid.world())
    index = apply_affine(np.linalg.inv(template.grid.affine), points.reshape(-1, 3)).T

    def take(volume: np.ndarray, order: int) -> np.ndarray:
        return ndimage.map_coordinates(volume, index, order=order, mode="constant", cval=0,
                                       prefilter=False).reshape(grid.shape)

    from concurrent.futures import ThreadPoolExecutor

    # five independent interpolations on two threads (map_coordinates releases the GIL)
    jobs = [
        (template.labels, 0),
        (template.gm, 1),
        (template.wm, 1),
        (template.csf, 1),
        (template.shell_depth, 1),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        labels, gm, wm, csf, shell_depth = pool.map(lambda job: take(*job), jobs)
    labels = labels.astype(np.uint8)
    hemisphere = np.where(points[..., 0] < 0, -1, 1).astype(np.int8)
    hemisphere[labels == 0] = 0
    return SubjectAnatomy(grid, labels, gm, wm, csf, shell_depth, hemisphere)


def mri_grid(
    voxel_mm: float, centre_mm: np.ndarray = BRAIN_CENTRE_MM, max_size: int | None = None
) -> Grid:
    """The MRI grid (subject world, RAS): `voxel_mm` isotropic over `HEAD_EXTENT_MM`."""
    return Grid.box(voxel_mm, centre_mm, HEAD_EXTENT_MM, max_size=max_size)
