"""Data-parallel training under ``torchrun``: process group set-up and gradient averaging.

``torchrun --nproc_per_node N -m defocus_cli train ...`` sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``; :func:`init` then joins the process group (``nccl`` on CUDA, ``gloo`` on
CPU). Each rank draws its own slice of every global batch; gradients are averaged with
:func:`average_gradients` before each optimiser step and the initial weights are broadcast
from rank 0, which is what DistributedDataParallel does (see
:mod:`defocus_cli.training.template` for why the wrapper itself is not used). Without
``torchrun`` every function is a no-op for a single process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str) -> torch.device:
    """Join the process group if launched by ``torchrun``; returns this rank's device."""
    if launched_by_torchrun() and not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device(device)


def wait_for_all() -> None:
    """Block until every rank gets here (no-op when not distributed). Called before shutdown
    so no rank tears down the process group while rank 0 still validates and checkpoints."""
    if is_distributed():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (identical starting weights)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Average ``.grad`` of ``params`` across ranks in one flat all-reduce (a no-op alone).

    Parameters without a gradient on this rank count as zero, so ranks never disagree on
    the bucket layout (every rank passes the same parameter list).
    """
    if not is_distributed():
        return
    params = [p for p in params if p.requires_grad or p.grad is not None]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_reduce_mean(values: dict[str, float]) -> dict[str, float]:
    """Average scalar logs across ranks (same keys on every rank)."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist(), strict=True)}
