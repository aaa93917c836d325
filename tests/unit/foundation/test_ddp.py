"""DDP: a 2-process CPU run (gloo) gives the gradients of one process on the whole batch,
the contrastive negatives gathered across the processes included."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from support.foundation_ddp import full_step, gradients, worker
from support.foundation_samples import one_torch_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    out = tmp_path / "rank0.pt"
    mp.spawn(worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    ddp = torch.load(out)
    model, views, plans = full_step()
    losses = model(views, plans)
    losses["loss"].backward()
    single = gradients(model)
    assert set(losses) == {"loss", "inpainting", "cross_modal", "dynamic", "contrastive"}
    assert losses["contrastive"] > 0
    assert set(ddp["grads"]) == set(single)
    projection = [n for n in single if n.startswith("projection.")]
    assert projection and all(single[n].abs().sum() > 0 for n in projection)
    for name, grad in single.items():
        torch.testing.assert_close(ddp["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
