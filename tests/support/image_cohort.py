"""Learning-grid images for the image families of `gliopet classify cohort` tests.

Each session gets the two files the image families need at least, written through the
derivatives contract on the real learning grid: the brain mask and the static PET. The PET is
1 inside an ellipsoidal brain (0 outside) plus a ball of radius 4 voxels (8 mm) of height
`amplitude` at a seeded position: the label is carried by the ball's height.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def write_pet_sessions(root, sessions: Sequence[tuple[str, str]], amplitudes: Sequence[float],
                       seed: int = 0) -> None:
    """Write brain mask + learning-grid static PET for every (participant_id, session_id)."""
    from gliopet.foundation.data import learning_grid_geometry
    from gliopet.io import derivatives as d
    from gliopet.io.bids_write import write_image

    shape, affine = learning_grid_geometry()
    axes = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    brain = sum(a**2 for a in axes) < 0.7
    voxels = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    rng = np.random.default_rng(seed)
    for (subject, session), amplitude in zip(sessions, amplitudes, strict=True):
        centre = np.array(shape) / 2 + rng.uniform(-8, 8, 3)
        ball = sum((v - c) ** 2 for v, c in zip(voxels, centre, strict=True)) <= 16
        pet = (brain * (1.0 + amplitude * ball)).astype(np.float32)
        ids = (subject, session)
        write_image(d.LEARNING_MASK.path(root, ids), brain, affine, np.uint8, None)
        write_image(d.LEARNING_PET.path(root, ids, tracer="FDOPA"), pet, affine, np.float32,
                    None)
