"""Starting the encoder from a general model's checkpoint (``--init``, issue 12, item 5).

Recognised key layouts (a ``state_dict`` / ``model`` wrapper and ``module.`` prefixes are
unwrapped first):

=============  ==============================================  ===================================
layout         keys                                            maps onto
=============  ==============================================  ===================================
monai-vit      ``patch_embedding.patch_embeddings.weight``,    tokenisers (3D kernel), position
               ``patch_embedding.position_embeddings``,        embedding (same patch count only),
               ``blocks.N.{norm1,attn.qkv,attn.out_proj,       ``blocks.N.*`` unchanged, ``norm``
               norm2,mlp.linear1,mlp.linear2}``, ``norm``
monai-unetr    the same under ``vit.``; decoder keys skipped   as monai-vit
swin           SwinUNETR (``swinViT.``) or its self-supervised tokenisers (2-voxel patches: re-
               checkpoint (``module.``): ``patch_embed.proj``, initialised unless the patch size
               ``layersS.0.blocks.J.{norm1,attn.qkv,attn.proj, matches); stage-1 blocks J ->
               norm2,mlp.fc1|linear1,mlp.fc2|linear2}``        ``blocks.J`` when widths match;
                                                               relative position tables, later
                                                               stages, downsampling skipped
timm-vit       2D ViT: ``patch_embed.proj`` (D, 3, p, p),      tokenisers by inflation (RGB mean,
               ``pos_embed``, ``cls_token``, ``blocks.N.{norm1, repeated over the first axis / P);
               attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``,    ``attn.proj`` -> ``attn.out_proj``,
               ``norm``                                        ``fc1/fc2`` -> ``linear1/linear2``;
                                                               2D positions and cls token skipped
gliopet        a ``gliopet pretrain`` checkpoint               ``model.encoder.*``
=============  ==============================================  ===================================

Every qkv projection above orders its outputs (q/k/v, head, channel), as MONAI's SABlock
does, so they load unchanged. A tokeniser whose source kernel has another width or patch size is
re-initialised; another channel count is adapted (channel mean, repeated, divided by the
channels). The report lists what was loaded, skipped (source tensors with no place in the
encoder), re-initialised (places whose source did not fit) and left at initialisation.
Nothing is downloaded: the weights come from the local file.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from gliopet.errors import InputError

TOKENISER = "<tokeniser>"
POSITION = "<position>"
_BLOCK_PARTS = {"norm1": "norm1", "norm2": "norm2", "norm_cross_attn": "norm_cross_attn",
                "attn.qkv": "attn.qkv",
                "attn.out_proj": "attn.out_proj", "attn.proj": "attn.out_proj",
                "mlp.linear1": "mlp.linear1", "mlp.fc1": "mlp.linear1",
                "mlp.linear2": "mlp.linear2", "mlp.fc2": "mlp.linear2"}
_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")
_SWIN_BLOCK = re.compile(r"^layers(\d)\.0\.blocks\.(\d+)\.(.+)\.(weight|bias)$")


@dataclass
class InitReport:
    """What `initialise_encoder` did, tensor by tensor."""

    source: str
    layout: str
    loaded: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    reinitialised: list[dict[str, str]] = field(default_factory=list)
    left_at_initialisation: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The printed report: a summary line, then one line per re-initialised tensor."""
        head = (f"--init {self.source} ({self.layout}): {len(self.loaded)} tensors loaded, "
                f"{len(self.skipped)} skipped, {len(self.reinitialised)} re-initialised, "
                f"{len(self.left_at_initialisation)} left at initialisation")
        return [head, *[f"  re-initialised {r['target']}: {r['reason']}"
                        for r in self.reinitialised]]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped (``state_dict``/``model``, ``module.``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("--init checkpoint not found", path=path, fix="give a local file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors alike
        raise InputError(f"not a readable weights file ({exc.__class__.__name__})", path=path,
                         fix="give a torch checkpoint holding tensors only") from None
    if isinstance(raw, dict) and raw.get("gliopet_format"):
        return {k: v for k, v in raw["state_dict"].items() if torch.is_tensor(v)}
    for key in ("state_dict", "model", "net"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not any(torch.is_tensor(v) for v in raw.values()):
        raise InputError("no tensors in the --init file", path=path,
                         fix="give a state dict or a checkpoint with a state_dict")
    return {k.removeprefix("module."): v for k, v in raw.items() if torch.is_tensor(v)}


def detect_layout(state: dict[str, torch.Tensor]) -> str:
    """The layout of a state dict (see the module's table); InputError when none fits."""
    keys = set(state)
    if any(k.startswith("model.encoder.") for k in keys):
        return "gliopet"
    if "vit.patch_embedding.patch_embeddings.weight" in keys:
        return "monai-unetr"
    if "patch_embedding.patch_embeddings.weight" in keys:
        return "monai-vit"
    if any(k.removeprefix("swinViT.").startswith("layers1.0.blocks.") for k in keys):
        return "swin"
    if "patch_embed.proj.weight" in keys and state["patch_embed.proj.weight"].dim() == 4:
        return "timm-vit"
    raise InputError("unrecognised checkpoint layout (expected MONAI ViT/UNETR, SwinUNETR or "
                     "timm ViT keys)", fix="convert the weights to one of the layouts of "
                                           "gliopet.foundation.init_weights")


def _target(layout: str, key: str) -> str | None:
    """Destination of a source key in the encoder (None: no place), before shape checks."""
    if layout == "gliopet":
        return key.removeprefix("model.encoder.") if key.startswith("model.encoder.") else None
    if layout == "monai-unetr":
        if not key.startswith("vit."):
            return None
        key, layout = key.removeprefix("vit."), "monai-vit"
    if layout == "swin":
        return _swin_target(key.removeprefix("swinViT."))
    if key in ("patch_embedding.patch_embeddings.weight", "patch_embed.proj.weight"):
        return f"{TOKENISER}.weight"
    if key in ("patch_embedding.patch_embeddings.bias", "patch_embed.proj.bias"):
        return f"{TOKENISER}.bias"
    if key == "patch_embedding.position_embeddings":
        return POSITION
    if key in ("norm.weight", "norm.bias"):
        return key
    match = _BLOCK.match(key)
    if match and match.group(2) in _BLOCK_PARTS:
        return f"blocks.{match.group(1)}.{_BLOCK_PARTS[match.group(2)]}.{match.group(3)}"
    return None


def _swin_target(key: str) -> str | None:
    if key.startswith("patch_embed.proj."):
        return f"{TOKENISER}.{key.rsplit('.', 1)[1]}"
    match = _SWIN_BLOCK.match(key)
    if match and match.group(1) == "1" and match.group(3) in _BLOCK_PARTS:
        return f"blocks.{match.group(2)}.{_BLOCK_PARTS[match.group(3)]}.{match.group(4)}"
    return None


def _skip_reason(layout: str, key: str) -> str:
    if "relative_position" in key:
        return "windowed-attention position table: no counterpart in a global-attention ViT"
    if layout == "swin" and key.removeprefix("swinViT.").startswith("layers"):
        return "Swin stage after the first (other width) or its patch merging"
    if key in ("pos_embed", "cls_token"):
        return "2D position embedding / class token: no 3D counterpart"
    if key.startswith("blocks."):
        return "block deeper than the encoder, or a part it does not have"
    return "no counterpart in the encoder (head, decoder or other network part)"


def _tokeniser_weight(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor | None,
                                                                             str]:
    """The source kernel adapted to one modality's tokeniser, or None and the reason."""
    if source.shape[0] != target.shape[0]:
        return None, f"width {source.shape[0]} vs {target.shape[0]}"
    p = target.shape[-1]
    if source.dim() == 4:  # timm 2D kernel (D, C, p, p): inflated over the first axis
        if tuple(source.shape[-2:]) != (p, p):
            return None, f"2D patch {tuple(source.shape[-2:])} vs {p}^3"
        source = source[:, :, None].repeat(1, 1, p, 1, 1) / p
        note = "inflated from 2D"
    elif tuple(source.shape[-3:]) != tuple(target.shape[-3:]):
        return None, f"patch {tuple(source.shape[-3:])} vs {tuple(target.shape[-3:])}"
    else:
        note = "copied"
    c, given = target.shape[1], source.shape[1]
    if given != c:
        source = source.mean(1, keepdim=True).repeat(1, c, 1, 1, 1) * (given / c)
        note += f", channels {given} -> {c} by mean"
    return source, note


def _position(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    """A MONAI ViT position table (1, N, D) as the encoder's (1, D, gx, gy, gz)."""
    grid = target.shape[2:]
    if source.shape[1] != grid.numel() or source.shape[2] != target.shape[1]:
        return None, (f"{source.shape[1]} positions x {source.shape[2]} vs "
                      f"{grid.numel()} x {target.shape[1]}")
    return source[0].T.reshape(target.shape[1:])[None], "copied"


def _assign(report: InitReport, key: str, target: str, source: torch.Tensor,
            own: dict[str, torch.Tensor], new: dict[str, torch.Tensor]) -> None:
    """Place one source tensor (or record why not)."""
    if target.startswith(TOKENISER):
        part = target.split(".", 1)[1]
        for name in [k for k in own if k.startswith("tokenisers.") and k.endswith(part)]:
            if part == "bias":
                value, note = (source, "copied") if source.shape == own[name].shape else (
                    None, f"width {tuple(source.shape)} vs {tuple(own[name].shape)}")
            else:
                value, note = _tokeniser_weight(source, own[name])
            _record(report, key, name, value, note, new)
        return
    if target == POSITION:
        value, note = _position(source, own["position_embedding"])
        _record(report, key, "position_embedding", value, note, new)
        return
    if target not in own:
        report.skipped.append({"source": key, "reason": _skip_reason(report.layout, key)})
    elif own[target].shape != source.shape:
        _record(report, key, target, None,
                f"shape {tuple(source.shape)} vs {tuple(own[target].shape)}", new)
    else:
        _record(report, key, target, source, "copied", new)


def _record(report: InitReport, key: str, target: str, value: torch.Tensor | None, note: str,
            new: dict[str, torch.Tensor]) -> None:
    if value is None:
        report.reinitialised.append({"source": key, "target": target, "reason": note})
    else:
        new[target] = value.to(torch.float32)
        report.loaded.append({"source": key, "target": target, "how": note})


def _pair_tokeniser_biases(report: InitReport, new: dict[str, torch.Tensor]) -> None:
    """A tokeniser whose kernel was re-initialised keeps a fresh bias too."""
    fresh = {r["target"].removesuffix(".weight") for r in report.reinitialised
             if r["target"].startswith("tokenisers.") and r["target"].endswith(".weight")}
    for entry in [e for e in report.loaded if e["target"].removesuffix(".bias") in fresh]:
        report.loaded.remove(entry)
        new.pop(entry["target"])
        report.reinitialised.append({**{k: entry[k] for k in ("source", "target")},
                                     "reason": "bias of a re-initialised tokeniser"})


def initialise_encoder(encoder: torch.nn.Module, path: str | Path) -> InitReport:
    """Load what fits of a general model's checkpoint into `encoder` (a `ModalityViT`).

    Returns the report; the encoder's other tensors keep their initialisation.
    """
    state = read_state_dict(path)
    layout = detect_layout(state)
    report = InitReport(str(path), layout)
    own = encoder.state_dict()
    new: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        target = _target(layout, key)
        if target is None:
            report.skipped.append({"source": key, "reason": _skip_reason(layout, key)})
        else:
            _assign(report, key, target, tensor, own, new)
    _pair_tokeniser_biases(report, new)
    encoder.load_state_dict({**own, **new})
    reinit = {r["target"] for r in report.reinitialised}
    report.left_at_initialisation = [k for k in own if k not in new and k not in reinit]
    return report
