"""Feature vectors of every tumour voxel on the PET grid: the signature's feature spaces.

* ``kinetic``: quantification's maps (`gliopet.io.derivatives`): static SUV (STATIC_SUV, g/mL),
  the TBR of each window (TBR_MAP, ``TBR<a>to<b>min``), time to peak (VOXEL_MAP ``TTP``, min),
  late slope (``slope``, SUV/h) and the early/late ratio (``earlylate``). A static PET has no
  TTP/slope/early-late maps: its kinetic space is SUV and TBR only.
* ``embedding``: the foundation model's embedding (EMBEDDING_DENSE, else EMBEDDING_MAP at patch
  resolution) on the 2 mm template grid, sampled (trilinear) at each tumour voxel's centre
  carried PET -> T1w -> template through preprocessing's transforms (the inverse of the chain
  `gliopet.quant.learning` uses to put the PET on the learning grid).
* ``both``: the two side by side.

Values are raw (image units); standardisation is fitted by `gliopet.signature.habitats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.derivatives import IdsLike

#: Feature spaces of `gliopet signature --space`.
SPACES = ("kinetic", "embedding", "both")
#: Voxel maps of quantification used as kinetic features, by their ``stat`` entity.
VOXEL_STATS = ("TTP", "slope", "earlylate")
#: Prefix of the embedding features (``emb000`` ...).
EMBEDDING_PREFIX = "emb"


@dataclass
class SessionVoxels:
    """The tumour voxels of one session and their features.

    Attributes
    ----------
    subject, session : str
        Labels without ``sub-``/``ses-``.
    tumour : ndarray of bool (x, y, z)
        Tumour VOI on the PET grid.
    affine : ndarray (4, 4)
        PET-grid affine (RAS mm).
    features : dict of str to ndarray (n_voxels,)
        One value per tumour voxel (order of ``np.nonzero(tumour)``), image units.
    inputs : list of Path
        Files read.
    """

    subject: str
    session: str | None
    tumour: np.ndarray
    affine: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: list[Path] = field(default_factory=list)

    @property
    def ids(self) -> tuple[str, str | None]:
        """(subject, session)."""
        return self.subject, self.session

    @property
    def voxel_ml(self) -> float:
        """Volume of one PET voxel (mL)."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    @property
    def n_voxels(self) -> int:
        """Tumour voxels."""
        return int(self.tumour.sum())

    def matrix(self, names: list[str]) -> np.ndarray:
        """Features `names` as a (n_voxels, n_features) float64 array.

        Raises
        ------
        InputError
            A feature the model needs is missing for this session.
        """
        missing = [n for n in names if n not in self.features]
        if missing:
            raise InputError(f"feature(s) {', '.join(missing[:5])} missing for this session "
                             "(the model was fitted on them)",
                             path=d.QUANT.session_dir(".", self.ids),
                             fix="rerun `gliopet quantify` (dynamic PET for TTP/slope) or "
                                 "`gliopet embed`, or fit a model on this kind of session")
        return np.column_stack([self.features[n] for n in names]).astype(np.float64)


def check_space(space: str) -> str:
    """`space` when it is one of `SPACES`, else an `InputError`."""
    if space not in SPACES:
        raise InputError(f"unknown feature space {space!r}",
                         fix=f"give --space one of {', '.join(SPACES)}")
    return space


def load_session(root: str | Path, ids: IdsLike, space: str) -> SessionVoxels:
    """The tumour voxels of a session with the features of `space`.

    Raises
    ------
    InputError
        No tumour VOI (quantification not run), or no embedding for the embedding spaces.
    """
    from gliopet.io.nifti import load_nifti

    root = Path(root)
    check_space(space)
    subject, session = d.session_ids(ids)
    path = d.find(root, ids, d.TUMOUR_MASK, what="tumour VOI")
    img = load_nifti(path, ensure_ndim=(3,))
    voxels = SessionVoxels(subject, session, np.asarray(img.dataobj) > 0.5,
                           np.asarray(img.affine, dtype=float), inputs=[path])
    if space in ("kinetic", "both"):
        _add_kinetic(root, voxels)
    if space in ("embedding", "both"):
        _add_embedding(root, voxels)
    return voxels


def _read_on_grid(path: Path, voxels: SessionVoxels, what: str) -> np.ndarray:
    from gliopet.io.nifti import load_nifti

    data = np.asarray(load_nifti(path).dataobj, dtype=np.float64)
    if data.shape[:3] != voxels.tumour.shape:
        raise InputError(f"the {what} is not on the PET grid of the tumour VOI (shape "
                         f"{data.shape[:3]} vs {voxels.tumour.shape})", path=path,
                         fix="rerun `gliopet quantify --force` for this session")
    voxels.inputs.append(path)
    return data[voxels.tumour]


def _add_kinetic(root: Path, voxels: SessionVoxels) -> None:
    """SUV, TBR of each window, TTP, slope, early/late of the tumour voxels."""
    from gliopet.io.bids_names import parse_entities

    ids = voxels.ids
    suv = d.find(root, ids, d.STATIC_SUV, what="static SUV image")
    voxels.features["SUV"] = _read_on_grid(suv, voxels, "static SUV image")
    for path in d.find_all(root, ids, d.TBR_MAP):
        window = parse_entities(path.name).get("desc", "")
        voxels.features[f"TBR{window}"] = _read_on_grid(path, voxels, f"TBR map {window}")
    for stat in VOXEL_STATS:
        path = d.find_or_none(root, ids, d.VOXEL_MAP, stat=stat)
        if path is not None:
            voxels.features[stat] = _read_on_grid(path, voxels, f"{stat} map")


def embedding_missing(root: str | Path, ids: IdsLike) -> InputError:
    """The error of a session without a foundation-model embedding."""
    return InputError("no foundation-model embedding for this session (needed by --space "
                      "embedding or both)", path=d.FOUNDATION.session_dir(root, ids),
                      fix="run `gliopet embed BIDS_DIR --model CHECKPOINT` (preferably with "
                          "--dense) first, or use --space kinetic")


def _add_embedding(root: Path, voxels: SessionVoxels) -> None:
    """The embedding vector at each tumour voxel (trilinear on the template grid)."""
    from scipy.ndimage import map_coordinates

    from gliopet.io.nifti import load_nifti

    ids = voxels.ids
    path = d.find_or_none(root, ids, d.EMBEDDING_DENSE) or d.find_or_none(root, ids,
                                                                           d.EMBEDDING_MAP)
    if path is None:
        raise embedding_missing(root, ids)
    img = load_nifti(path)
    data = np.asarray(img.dataobj, dtype=np.float32)
    points_ras = template_points(root, voxels)
    index = np.linalg.solve(np.asarray(img.affine, dtype=float),
                            np.c_[points_ras, np.ones(len(points_ras))].T)[:3]
    for channel in range(data.shape[-1]):
        voxels.features[f"{EMBEDDING_PREFIX}{channel:03d}"] = map_coordinates(
            data[..., channel], index, order=1, mode="nearest")
    voxels.inputs.append(path)


def template_points(root: str | Path, voxels: SessionVoxels) -> np.ndarray:
    """Centres of the tumour voxels carried PET -> T1w -> template (RAS mm, (n, 3)).

    Preprocessing's ``from-pet_to-T1w`` maps T1w points to PET points and
    ``from-T1w_to-<template>`` maps template points to T1w points (docs/conventions.md); their
    composition, inverted, maps PET points to template points.
    """
    from gliopet import spatial
    from gliopet.preprocess import registration as reg

    ids = voxels.ids
    pet_t1 = d.find(root, ids, d.XFM, from_="pet", to=d.REFERENCE_SPACE,
                    what="PET-to-T1w transform")
    t1_mni = d.find(root, ids, d.XFM, from_=d.REFERENCE_SPACE, to=d.TEMPLATE_SPACE,
                    what="T1w-to-template transform")
    template_to_pet = reg.compose(reg.read_transform(t1_mni), reg.read_transform(pet_t1))
    pet_to_template = reg.invert(template_to_pet)
    centres = spatial.apply_affine(voxels.affine, np.argwhere(voxels.tumour).astype(float))
    moved = reg.transform_points(pet_to_template, spatial.ras_to_lps_points(centres))
    voxels.inputs += [pet_t1, t1_mni]
    return spatial.lps_to_ras_points(moved)
