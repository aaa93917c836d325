"""Worker of the 2-process CPU DDP test (gloo): gradients of one rank's half of a batch.

Both ranks draw the views and mask plans of the whole batch with the same generator and keep
their half, so the two processes together compute exactly the one-process step.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import torch
import torch.distributed as dist

from support.foundation_samples import CHANNELS, collate, small_config, synthetic_sample

GRID = (16, 16, 16)
SUBSETS = [tuple(CHANNELS), ("t1w", "pet", "pet_dynamic"), ("flair", "t2w"), ("t1w", "pet")]


def full_step(seed: int = 0):
    """Model, views and plans of the whole batch (the same in every process)."""
    from gliopet.foundation.pretext import PretextModel, draw_views

    torch.manual_seed(seed)
    model = PretextModel(CHANNELS, GRID, small_config())
    batch = collate([synthetic_sample(i, s, grid=GRID) for i, s in enumerate(SUBSETS)])
    views, plans = draw_views(batch, model, torch.Generator().manual_seed(seed + 1))
    return model, views, plans


def gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()
            if p.grad is not None}


def worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model, views, plans = full_step()
        part = slice(rank * len(SUBSETS) // world, (rank + 1) * len(SUBSETS) // world)
        ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
        out_losses = ddp([v.split(part) for v in views], [p.split(part) for p in plans])
        out_losses["loss"].backward()
        if rank == 0:
            torch.save({"grads": gradients(model),
                        "losses": {k: float(v) for k, v in out_losses.items()}},
                       Path(out))
        # Both ranks leave together: a rank that tears gloo down while the other still
        # works aborts with "terminate called without an active exception" (seen in CI).
        dist.barrier()
        # Drop the autograd graph (the all_gather nodes hold gloo work objects) while the
        # interpreter is alive.
        del ddp, out_losses, model, views, plans
        gc.collect()
    finally:
        dist.destroy_process_group()
    # The result is on disk. Leave without interpreter finalisation: gloo's worker threads
    # can still be destroyed there and abort the process with SIGABRT although the step
    # succeeded (a known PyTorch teardown race, pytorch/pytorch PR 179291); CI saw it once
    # in about 20 runs on a loaded 2-core machine. Reached only when the step succeeded.
    os._exit(0)
