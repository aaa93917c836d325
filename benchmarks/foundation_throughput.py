"""Training throughput and peak memory of the foundation model (issue 12, benchmarks).

Modes, each measured in its own spawned process (so that its peak memory is its own), on the
same synthetic input (a batch of crops of the configuration's size, the whole crop as the grid):

* ``monai-mae``: MONAI's ``MaskedAutoEncoderViT`` with the same width, depth, heads, MLP, patch,
  decoder, mask ratio and input (one channel), MSE on the masked patches;
* ``mae``: ours in MAE-only mode (one modality, inpainting only, one view);
* ``static``: ours on every modality, inpainting only; ``+cross_modal``, ``+dynamic``,
  ``+contrastive``: one objective added at a time (the overhead of each); ``all``: all four.

A step is forward, backward and an AdamW update (masks drawn inside the step for both models).
CPU peak memory: the process's resident peak over the warm-up and timed steps (VmHWM, reset
before them) minus its resident size after building the model and the input; GPU:
``torch.cuda.max_memory_allocated``.

Usage::

    .venv/bin/python benchmarks/foundation_throughput.py --config tiny --threads 2
    python benchmarks/foundation_throughput.py --config base --device cuda --modes monai-mae,mae,all

Prints a Markdown table (for docs/benchmarks.md); ``--out FILE`` writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

MODES = ("monai-mae", "mae", "static", "+cross_modal", "+dynamic", "+contrastive", "all")
OBJECTIVES = ("inpainting", "cross_modal", "dynamic", "contrastive")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)
    except OSError:
        pass


def _objectives(mode: str) -> set[str]:
    if mode in ("mae", "static"):
        return {"inpainting"}
    if mode == "all":
        return set(OBJECTIVES)
    return {"inpainting", mode[1:]}


def _ours(config, mode: str, device: str):
    """Our model and a step function (one batch, masks drawn inside)."""
    import torch

    from gliopet.foundation.data import MODALITY_CHANNELS
    from gliopet.foundation.masking import sample_plan
    from gliopet.foundation.pretext import PretextModel
    from gliopet.foundation.views import View, make_view

    crop = tuple(config.train.crop_size)
    channels = {"t1w": 1} if mode == "mae" else dict(MODALITY_CHANNELS)
    on = _objectives(mode)
    model = PretextModel(channels, crop, config).to(device)
    b = config.train.batch_size
    images = {m: torch.randn(b, c, *crop, device=device) for m, c in channels.items()}
    batch = {"images": images, "present": torch.ones(b, len(channels), dtype=torch.bool,
                                                     device=device),
             "brain_mask": torch.ones(b, 1, *crop, device=device)}
    n = 1
    for s in crop:
        n *= s // config.model.patch_size
    generator = torch.Generator().manual_seed(0)

    def step():
        views = []
        for _ in range(2 if "contrastive" in on else 1):
            if "contrastive" in on:
                views.append(make_view(batch, crop, config.model.patch_size,
                                       config.train.augment, generator))
            else:
                views.append(View(images, batch["present"], batch["brain_mask"],
                                  torch.zeros(b, 3, dtype=torch.long)))
        plans = [sample_plan(batch["present"].cpu(), tuple(channels), n, config.pretext,
                             generator) for _ in views]
        plans = [type(p)(p.dropped.to(device), p.masked.to(device)) for p in plans]
        return model(views, plans)["loss"]

    return model, step


def _monai(config, device: str):
    import torch
    from monai.networks.nets import MaskedAutoEncoderViT

    from gliopet.foundation.pretext import patchify

    m, crop = config.model, tuple(config.train.crop_size)
    model = MaskedAutoEncoderViT(
        in_channels=1, img_size=crop, patch_size=m.patch_size, hidden_size=m.hidden_size,
        mlp_dim=m.mlp_dim, num_layers=m.depth, num_heads=m.num_heads,
        masking_ratio=config.pretext.inpainting.mask_ratio,
        decoder_hidden_size=m.decoder_hidden_size, decoder_mlp_dim=2 * m.decoder_hidden_size,
        decoder_num_layers=m.decoder_depth, decoder_num_heads=m.decoder_num_heads,
        pos_embed_type="learnable", decoder_pos_embed_type="learnable",
        qkv_bias=m.qkv_bias).to(device)
    # Under bf16 autocast MONAI's forward writes the bf16 decoder tokens into a float32 copy of
    # its mask token (index_put: "source and destination dtypes match"); its decoder embedding's
    # output is cast to float32 so it runs. The decoder's matrix products stay bf16 (autocast).
    model.decoder_embed.register_forward_hook(lambda module, args, out: out.float())
    x = torch.randn(config.train.batch_size, 1, *crop, device=device)
    target = patchify(x, m.patch_size)

    def step():
        pred, mask = model(x)
        error = ((pred - target) ** 2).mean(-1)
        return (error * mask).sum() / mask.sum()

    return model, step


def measure(spec: str, mode: str, device: str, steps: int, warmup: int, threads: int) -> dict:
    """One mode's samples/s and peak memory (run in a fresh process)."""
    import torch

    from gliopet.foundation.config import load_foundation_config

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = load_foundation_config(spec, pretext={k: {"enabled": k in _objectives(mode)}
                                                   for k in OBJECTIVES})
    model, step = _monai(config, device) if mode == "monai-mae" else _ours(config, mode, device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gpu = device.startswith("cuda")
    dtype = torch.bfloat16 if config.train.precision.startswith("bf16") else torch.float32

    def run(n: int) -> None:
        for _ in range(n):
            with torch.autocast(device_type="cuda" if gpu else "cpu", dtype=dtype,
                                enabled=dtype != torch.float32):
                loss = step()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if gpu:
            torch.cuda.synchronize()

    before = _rss_kib("VmRSS")
    _reset_peak()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    run(warmup)
    start = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if gpu
            else (_rss_kib("VmHWM") - before) / 1024)
    return {"mode": mode, "samples_per_s": steps * config.train.batch_size / seconds,
            "s_per_step": seconds / steps, "peak_MiB": peak,
            "parameters": sum(p.numel() for p in model.parameters()),
            "batch": config.train.batch_size, "crop": list(config.train.crop_size),
            "device": device, "threads": threads, "precision": config.train.precision}


def _median(rows: list[dict]) -> dict:
    """The run with the median throughput (its memory with it)."""
    ranked = sorted(rows, key=lambda r: r["samples_per_s"])
    return {**ranked[len(ranked) // 2], "runs": len(rows)}


def _table(rows: list[dict]) -> str:
    reference = {r["mode"]: r for r in rows}
    lines = ["| mode | samples/s | s/step | peak memory (MiB) | parameters | vs reference |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        base = (reference.get("monai-mae") if r["mode"] == "mae" else
                reference.get("static") if r["mode"].startswith("+") or r["mode"] == "all"
                else None)
        ratio = (f"{r['samples_per_s'] / base['samples_per_s']:.2f} x "
                 f"{'MONAI MAE' if r['mode'] == 'mae' else 'static'}"
                 if base else "")
        lines.append(f"| {r['mode']} | {r['samples_per_s']:.2f} | {r['s_per_step']:.3f} | "
                     f"{r['peak_MiB']:.0f} | {r['parameters']:,} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny", help="tiny, base or a YAML file")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure the modes this many times, interleaved; report medians")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {}
    context = multiprocessing.get_context("spawn")
    for _ in range(args.repeat):
        for mode in args.modes.split(","):
            with context.Pool(1) as pool:
                row = pool.apply(measure, (args.config, mode, args.device, args.steps,
                                           args.warmup, args.threads))
            print(json.dumps(row), flush=True)
            runs.setdefault(mode, []).append(row)
    rows = [_median(found) for found in runs.values()]
    print(_table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
