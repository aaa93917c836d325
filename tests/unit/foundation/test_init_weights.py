"""--init: checkpoints in the key layouts of MONAI ViT / UNETR, SwinUNETR (and its
self-supervised checkpoint) and timm 2D ViTs, built here, load with the documented report."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import UNETR, SwinUNETR, ViT

from gliopet.errors import InputError
from gliopet.foundation.encoder import ModalityViT
from gliopet.foundation.init_weights import initialise_encoder
from support.foundation_samples import (
    CHANNELS,
    one_torch_thread,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

D, P = 24, 8


def _encoder(mlp_dim: int = 48, qkv_bias: bool = False) -> ModalityViT:
    torch.manual_seed(0)
    return ModalityViT(CHANNELS, (16, 16, 16), patch_size=P, hidden_size=D, depth=2,
                       num_heads=4, mlp_dim=mlp_dim, qkv_bias=qkv_bias)


def _targets(report, how=None):
    return {e["target"] for e in report.loaded if how is None or e["how"].startswith(how)}


def test_monai_vit_loads_blocks_tokenisers_and_positions(tmp_path):
    torch.manual_seed(1)
    vit = ViT(1, (16, 16, 16), P, hidden_size=D, mlp_dim=48, num_layers=3, num_heads=4)
    torch.save(vit.state_dict(), tmp_path / "vit.pt")
    enc = _encoder()
    report = initialise_encoder(enc, tmp_path / "vit.pt")
    assert report.layout == "monai-vit" and not report.reinitialised
    own = enc.state_dict()
    for key, value in vit.state_dict().items():
        if key.startswith(("blocks.0.", "blocks.1.", "norm.")):
            torch.testing.assert_close(own[key], value)
    torch.testing.assert_close(own["tokenisers.t1w.weight"],
                               vit.state_dict()["patch_embedding.patch_embeddings.weight"])
    # 8 positions (1, N, D) -> (1, D, 2, 2, 2), in the conv's flattening order
    table = vit.state_dict()["patch_embedding.position_embeddings"][0]
    torch.testing.assert_close(own["position_embedding"].flatten(2)[0].T, table)
    # the 3-channel dynamic PET: channel mean, so a channel-constant input gives the same tokens
    x = torch.randn(1, 1, P, P, P)
    torch.testing.assert_close(enc.tokenisers["pet_dynamic"](x.repeat(1, 3, 1, 1, 1)),
                               vit.patch_embedding.patch_embeddings(x), rtol=1e-4, atol=1e-5)
    assert {e["source"][:9] for e in report.skipped} == {"blocks.2."}  # deeper than ours
    assert report.left_at_initialisation == ["modality_embedding"]
    assert report.lines()[0].endswith("(monai-vit): 41 tensors loaded, 13 skipped, "
                                      "0 re-initialised, 1 left at initialisation")


def test_unetr_loads_its_vit_and_reinitialises_the_16_voxel_patch_embedding(tmp_path):
    unetr = UNETR(1, 2, (16, 16, 16), feature_size=8, hidden_size=D, mlp_dim=48, num_heads=4)
    torch.save({"state_dict": unetr.state_dict(), "epoch": 3}, tmp_path / "unetr.pt")
    enc = _encoder()
    report = initialise_encoder(enc, tmp_path / "unetr.pt")
    assert report.layout == "monai-unetr"
    assert "blocks.1.attn.qkv.weight" in _targets(report)
    reasons = {r["target"]: r["reason"] for r in report.reinitialised}
    assert reasons["tokenisers.t1w.weight"] == "patch (16, 16, 16) vs (8, 8, 8)"
    assert reasons["tokenisers.t1w.bias"] == "bias of a re-initialised tokeniser"
    assert reasons["position_embedding"] == "1 positions x 24 vs 8 x 24"
    decoder = [k for k in unetr.state_dict() if not k.startswith("vit.")]
    assert {e["source"] for e in report.skipped} >= set(decoder)
    assert "  re-initialised tokenisers.pet.weight: patch (16, 16, 16) vs (8, 8, 8)" in (
        report.lines())


def test_swin_self_supervised_checkpoint_layout(tmp_path):
    """The SwinUNETR pretraining checkpoint: ``module.``, ``mlp.fc1``/``fc2``, heads."""
    swin = SwinUNETR(in_channels=1, out_channels=2, feature_size=D, depths=(2, 1, 1, 1),
                     num_heads=(4, 4, 4, 4))
    ssl = {"module." + k.removeprefix("swinViT.").replace("mlp.linear", "mlp.fc"): v
           for k, v in swin.state_dict().items() if k.startswith("swinViT.")}
    ssl["module.rotation_head.weight"] = torch.zeros(4, 8 * D)
    torch.save({"state_dict": ssl}, tmp_path / "model_swinvit.pt")
    enc = _encoder(mlp_dim=4 * D, qkv_bias=True)
    report = initialise_encoder(enc, tmp_path / "model_swinvit.pt")
    assert report.layout == "swin"
    torch.testing.assert_close(enc.state_dict()["blocks.1.attn.out_proj.weight"],
                               ssl["module.layers1.0.blocks.1.attn.proj.weight"])
    torch.testing.assert_close(enc.state_dict()["blocks.0.mlp.linear1.weight"],
                               ssl["module.layers1.0.blocks.0.mlp.fc1.weight"])
    skipped = {e["source"]: e["reason"] for e in report.skipped}
    assert skipped["layers1.0.blocks.0.attn.relative_position_bias_table"].startswith("windowed")
    assert skipped["rotation_head.weight"].startswith("no counterpart")
    assert skipped["layers2.0.blocks.0.attn.qkv.weight"].startswith("Swin stage")
    assert {r["target"] for r in report.reinitialised} >= {"tokenisers.flair.weight"}


def test_timm_2d_vit_inflates_its_patch_embedding(tmp_path):
    torch.manual_seed(2)
    state = {"cls_token": torch.randn(1, 1, D), "pos_embed": torch.randn(1, 1 + 4, D),
             "patch_embed.proj.weight": torch.randn(D, 3, P, P),
             "patch_embed.proj.bias": torch.randn(D), "norm.weight": torch.randn(D),
             "norm.bias": torch.randn(D), "head.weight": torch.randn(10, D)}
    for i in range(2):
        b = f"blocks.{i}."
        state.update({b + "norm1.weight": torch.randn(D), b + "norm1.bias": torch.randn(D),
                      b + "attn.qkv.weight": torch.randn(3 * D, D),
                      b + "attn.qkv.bias": torch.randn(3 * D),
                      b + "attn.proj.weight": torch.randn(D, D),
                      b + "attn.proj.bias": torch.randn(D),
                      b + "norm2.weight": torch.randn(D), b + "norm2.bias": torch.randn(D),
                      b + "mlp.fc1.weight": torch.randn(48, D), b + "mlp.fc1.bias": torch.randn(48),
                      b + "mlp.fc2.weight": torch.randn(D, 48), b + "mlp.fc2.bias": torch.randn(D)})
    torch.save({"model": state}, tmp_path / "timm.pth")
    enc = _encoder(qkv_bias=True)
    report = initialise_encoder(enc, tmp_path / "timm.pth")
    assert report.layout == "timm-vit" and not report.reinitialised
    own = enc.state_dict()
    torch.testing.assert_close(own["blocks.1.attn.qkv.bias"], state["blocks.1.attn.qkv.bias"])
    torch.testing.assert_close(own["blocks.0.attn.out_proj.weight"],
                               state["blocks.0.attn.proj.weight"])
    torch.testing.assert_close(own["blocks.0.mlp.linear2.weight"], state["blocks.0.mlp.fc2.weight"])
    # a grey image constant along the inflated axis gives the 2D model's tokens
    image = torch.randn(1, 1, P, P)
    flat = torch.nn.functional.conv2d(image.repeat(1, 3, 1, 1), state["patch_embed.proj.weight"],
                                      state["patch_embed.proj.bias"], stride=P)
    volume = image[:, :, None].repeat(1, 1, P, 1, 1)
    torch.testing.assert_close(enc.tokenisers["t1w"](volume)[..., 0, :, :], flat,
                               rtol=1e-4, atol=1e-4)
    assert _targets(report, "inflated from 2D") >= {"tokenisers.t1w.weight"}
    assert {e["source"] for e in report.skipped} == {"cls_token", "pos_embed", "head.weight"}


def test_unusable_files_are_one_line_errors(tmp_path):
    torch.save({"conv.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="unrecognised checkpoint layout"):
        initialise_encoder(_encoder(), tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(InputError, match="not a readable weights file"):
        initialise_encoder(_encoder(), tmp_path / "junk.pt")
    with pytest.raises(InputError, match="not found"):
        initialise_encoder(_encoder(), tmp_path / "absent.pt")
