"""The embedding feature space: the template-grid embedding sampled at each tumour voxel
carried PET -> T1w -> template through preprocessing's transforms (known translations and a
linear embedding: exact values), and a `both`-space model with embedding principal components."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gliopet import spatial
from gliopet.io import derivatives as d
from gliopet.io.bids_write import write_image
from gliopet.io.transforms import write_transform
from gliopet.signature.features import load_session
from gliopet.signature.model import SignatureModel
from support.signature_synth import planted_session, write_quant_session

A_LPS = (3.0, -2.0, 1.5)   # from-pet_to-T1w: T1w point + A = PET point (LPS mm)
B_LPS = (-4.0, 5.0, -2.5)  # from-T1w_to-template: template point + B = T1w point (LPS mm)


def _write_embedding(root, ids, channels: int = 4) -> None:
    """A 2 mm template-grid embedding whose channels are x, y, z (RAS mm) and x + y."""
    shape = (40, 40, 40)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -40.0
    world = spatial.world_coordinates(shape, affine)
    data = np.stack([world[..., 0], world[..., 1], world[..., 2],
                     world[..., 0] + world[..., 1]][:channels], -1).astype(np.float32)
    write_image(d.EMBEDDING_DENSE.path(root, ids), data, affine)
    write_transform(d.XFM.path(root, ids, from_="pet", to=d.REFERENCE_SPACE),
                    sitk.TranslationTransform(3, A_LPS), source="pet", target=d.REFERENCE_SPACE)
    write_transform(d.XFM.path(root, ids, from_=d.REFERENCE_SPACE, to=d.TEMPLATE_SPACE),
                    sitk.TranslationTransform(3, B_LPS), source=d.REFERENCE_SPACE,
                    target=d.TEMPLATE_SPACE)


def test_embedding_sampled_through_the_transforms(tmp_path):
    voxels, _ = planted_session("05", 0.2, seed=5)
    write_quant_session(tmp_path, voxels)
    ids = ("05", "diagnosis")
    _write_embedding(tmp_path, ids)
    loaded = load_session(tmp_path, ids, "both")
    centres = spatial.apply_affine(voxels.affine, np.argwhere(voxels.tumour).astype(float))
    # PET (RAS) -> template (RAS): x and y shift by +A+B (LPS signs flipped), z by -(A+B)
    shift = np.array([A_LPS[0] + B_LPS[0], A_LPS[1] + B_LPS[1], -(A_LPS[2] + B_LPS[2])])
    expected = centres + shift
    for axis in range(3):
        np.testing.assert_allclose(loaded.features[f"emb{axis:03d}"], expected[:, axis],
                                   atol=1e-3)
    assert "SUV" in loaded.features and "TTP" in loaded.features  # both spaces


def test_both_space_model_uses_embedding_pcs(tmp_path):
    sessions = []
    for i in range(3):
        voxels, _ = planted_session(f"0{i}", 0.2, seed=20 + i)
        write_quant_session(tmp_path, voxels)
        _write_embedding(tmp_path, voxels.ids)
        sessions.append(load_session(tmp_path, voxels.ids, "both"))
    features = sorted(sessions[0].features)
    model = SignatureModel("both", features, seed=0, k_range=(2, 3)).fit(sessions)
    assert model.habitats_.pca_ is not None
    names = model.summary_names()
    assert any(n.startswith("embpc") for n in names) and "TTP" in names
    assert not any(n.startswith("emb0") for n in names)
    row = model.signature(sessions[0])
    assert sum(row[f"hab{k}_fraction"] for k in range(1, model.k + 1)) == pytest.approx(1.0)
