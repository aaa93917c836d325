"""Synthetic data for the signature tests: tumours with a planted aggressive habitat, written as
quantification would write them, and fast feature/marker tables for the association tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.io import derivatives as d
from gliopet.io.bids_write import write_image
from gliopet.signature.features import SessionVoxels

#: Feature values (mean, sd) of ordinary tumour voxels and of the planted aggressive habitat.
ORDINARY = {"SUV": (2.6, 0.25), "TBR1to10min": (1.9, 0.2), "TBR10to30min": (2.2, 0.2),
            "TTP": (27.0, 3.0), "slope": (0.25, 0.12), "earlylate": (0.85, 0.06)}
AGGRESSIVE = {"SUV": (3.4, 0.25), "TBR1to10min": (3.4, 0.25), "TBR10to30min": (2.9, 0.2),
              "TTP": (4.0, 1.5), "slope": (-0.6, 0.12), "earlylate": (1.35, 0.08)}
SHAPE = (24, 24, 24)
VOXEL_MM = 2.0


def planted_session(subject: str, fraction: float, seed: int, *, radius_vox: float = 7.0,
                    session: str = "diagnosis") -> tuple[SessionVoxels, np.ndarray]:
    """A spherical tumour whose `fraction` of voxels nearest a random point inside it form the
    aggressive habitat; returns the session's voxels and the planted region (bool, grid)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), -1)
    centre = np.array(SHAPE) / 2 + rng.uniform(-1.5, 1.5, 3)
    tumour = np.linalg.norm(grid - centre, axis=-1) <= radius_vox
    points = np.argwhere(tumour)
    seed_point = points[rng.integers(len(points))]
    order = np.argsort(np.linalg.norm(points - seed_point, axis=1))
    aggressive = np.zeros(SHAPE, dtype=bool)
    n_aggr = int(round(fraction * len(points)))
    aggressive[tuple(points[order[:n_aggr]].T)] = True
    planted = aggressive[tumour]
    features = {}
    for name, (mean, sd) in ORDINARY.items():
        values = rng.normal(mean, sd, len(points))
        a_mean, a_sd = AGGRESSIVE[name]
        values[planted] = rng.normal(a_mean, a_sd, int(planted.sum()))
        features[name] = values
    affine = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    affine[:3, 3] = -VOXEL_MM * np.array(SHAPE) / 2
    return SessionVoxels(subject, session, tumour, affine, features), aggressive


def write_quant_session(root: Path, voxels: SessionVoxels, tracer: str = "FDOPA") -> None:
    """Write the session's tumour mask and maps as quantification does (values outside the
    tumour: SUV 1, TBR 1, the rest NaN as quantification writes them outside the brain)."""
    ids = voxels.ids
    write_image(d.TUMOUR_MASK.path(root, ids), voxels.tumour.astype(np.uint8), voxels.affine,
                np.uint8)
    for name, values in voxels.features.items():
        image = np.full(voxels.tumour.shape, np.nan if name in ("TTP", "slope", "earlylate")
                        else 1.0, dtype=np.float32)
        image[voxels.tumour] = values
        if name == "SUV":
            path = d.STATIC_SUV.path(root, ids, tracer=tracer)
        elif name.startswith("TBR"):
            path = d.TBR_MAP.path(root, ids, tracer=tracer, desc=name.removeprefix("TBR"))
        else:
            path = d.VOXEL_MAP.path(root, ids, tracer=tracer, stat=name)
        write_image(path, image, voxels.affine, np.float32)
    d.QUANT.session_provenance(root, ids).write_text("{}")


def marker_table(n: int, seed: int, *, effect: float = 0.0, n_null: int = 9) -> pd.DataFrame:
    """Rows with a binary ``IDH`` marker (mutant/wildtype, balanced), a ``planted`` feature
    shifted by `effect` SDs in the mutant rows, `n_null` pure-noise features and ``grade``."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    table = pd.DataFrame({"participant_id": [f"sub-{i:03d}" for i in range(n)],
                          "IDH": np.where(y == 1, "mutant", "wildtype"),
                          "planted": rng.normal(size=n) + effect * y})
    for j in range(n_null):
        table[f"noise{j}"] = rng.normal(size=n)
    table["grade"] = rng.choice([2, 3, 4], size=n)
    return table
