"""Running the SAE trainer under ``torchrun``: process group, devices, and the few collectives it needs.

``torchrun --nproc_per_node N script.py`` starts N copies of a script that calls
:func:`interp.sae.train_sae`; each finds ``RANK``/``WORLD_SIZE`` in its environment
and :func:`init_distributed` joins the process group (``nccl`` on GPUs, ``gloo`` on
CPU). The model is wrapped in ``DistributedDataParallel`` (gradients averaged across
ranks); everything else that must agree across ranks (per-latent firing counts for
dead-latent tracking, logged metrics, the non-finite check, data positions for
checkpoints) goes through the helpers here. Outside ``torchrun`` they are no-ops.

End such a script with ``dist.barrier(); dist.destroy_process_group()``. On gloo a rank
can still abort at interpreter finalization ("terminate called without an active
exception", seen rarely on a loaded 2-core machine, after all work was saved); a script
that must exit 0 can end with ``os._exit(0)`` after flushing its output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def default_device(device: str | None = None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the ``torchrun`` process group if there is one; else a single-process DistInfo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not dist.is_initialized():
        return DistInfo(device=default_device(device))
    dev = default_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return DistInfo(dist.get_rank(), dist.get_world_size(), dev)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``t`` over ranks in place (and return it)."""
    if info.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_ints(values: list[int], info: DistInfo) -> list[list[int]]:
    """Every rank's ``values`` (same length on each), in rank order."""
    t = torch.tensor(values, dtype=torch.long, device=info.device)
    if not info.active:
        return [t.tolist()]
    out = [torch.empty_like(t) for _ in range(info.world_size)]
    dist.all_gather(out, t)
    return [o.tolist() for o in out]


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()
