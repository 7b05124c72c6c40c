"""Process-group helpers for training under ``torchrun`` (DistributedDataParallel).

``torchrun`` starts one process per GPU (or per CPU slot) and tells each its place in the
environment variables ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (plus ``MASTER_ADDR`` /
``MASTER_PORT`` for the rendezvous). :func:`distributed_session` reads them, picks the
process's device (``cuda:LOCAL_RANK`` on a GPU machine) and starts the process group with
the ``nccl`` backend on GPUs and ``gloo`` on CPUs; without those variables (a plain
``s2e …``) it is a no-op and training runs as one process. The small helpers around it
(:func:`rank`, :func:`world_size`, :func:`is_main`, :func:`barrier`,
:func:`all_reduce_mean`, :func:`broadcast_object`) work both ways, so training code calls
them unconditionally.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from s2e_lib.errors import InputError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly one-process) training job.

    Attributes
    ----------
    rank : int
        Global rank (0 … world_size - 1); rank 0 logs and writes checkpoints.
    world_size : int
        Number of training processes (1 without torchrun).
    local_rank : int
        Rank on this machine (picks the GPU).
    device : torch.device
        The device this process trains on.
    backend : str or None
        ``nccl``, ``gloo``, or None for one process.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(
            f"environment variable {name}={value!r} is not an integer (set by torchrun)"
        ) from None


def launch_environment() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment (``(0, 1, 0)`` without it)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world or local_rank < 0:
        raise InputError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local_rank


def process_device(device: str | torch.device | None, local_rank: int, world_size: int) -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` for a bare ``cuda`` (or none given, on a
    GPU machine) when several processes share a machine; an explicit index is kept."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and world_size > 1:
        device = torch.device("cuda", local_rank)
    return device


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def distributed_session(device: str | torch.device | None = None) -> Iterator[DistContext]:
    """Join torchrun's process group for the duration of a training run.

    Without torchrun's environment (or with ``WORLD_SIZE=1``) nothing is started. A process
    group already started by the caller is used as it is and left running; one started here
    is destroyed on exit.
    """
    if dist.is_available() and dist.is_initialized():
        world, current = dist.get_world_size(), dist.get_rank()
        _, _, local_rank = launch_environment()
        dev = process_device(device, local_rank, world)
        yield DistContext(current, world, local_rank, dev, dist.get_backend())
        return
    rank_, world, local_rank = launch_environment()
    dev = process_device(device, local_rank, world)
    if world == 1:
        yield DistContext(0, 1, local_rank, dev, None)
        return
    if not dist.is_available():
        raise InputError("this PyTorch build has no torch.distributed: run without torchrun")
    backend = backend_for(dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend=backend, rank=rank_, world_size=world)
    try:
        yield DistContext(rank_, world, local_rank, dev, backend)
        # every process leaves together, and DistributedDataParallel wrappers the run dropped
        # (e.g. one per pix2pixHD phase, kept alive by reference cycles) are freed while the
        # group still exists: either one outliving it aborts the process in gloo at exit
        # ("terminate called without an active exception"). Not on errors, where the other
        # processes may never arrive.
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if _active() else 0


def world_size() -> int:
    """Number of processes in the group (1 without one)."""
    return dist.get_world_size() if _active() else 1


def is_main() -> bool:
    """True on rank 0 (and in a one-process run): the process that logs and writes."""
    return rank() == 0


def barrier() -> None:
    """Wait for every process (no-op for one process)."""
    if _active():
        dist.barrier()


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over the processes (returned unchanged for one process)."""
    if not _active():
        return values
    reduced = values.clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / dist.get_world_size()


def broadcast_object(obj: object, src: int = 0) -> object:
    """``obj`` as rank ``src`` has it, on every process (picklable objects)."""
    if not _active():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (e.g. BatchNorm running statistics) into every process's
    ``module`` so that all processes hold the same model."""
    if not _active():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=src)


def wrap_ddp(
    module: torch.nn.Module, device: torch.device, find_unused_parameters: bool = False
) -> torch.nn.Module:
    """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` when a process group
    of several processes is running, else ``module`` itself. Gradients are then averaged
    over the processes during ``backward``."""
    if not _active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = None
    if device.type == "cuda":
        device_ids = [device.index if device.index is not None else torch.cuda.current_device()]
    return DistributedDataParallel(
        module,
        device_ids=device_ids,
        find_unused_parameters=find_unused_parameters,
    )


__all__ = [
    "DistContext",
    "all_reduce_mean",
    "backend_for",
    "barrier",
    "broadcast_buffers",
    "broadcast_object",
    "distributed_session",
    "is_main",
    "launch_environment",
    "process_device",
    "rank",
    "world_size",
    "wrap_ddp",
]
