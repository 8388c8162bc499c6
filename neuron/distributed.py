"""Multi-process training with ``torchrun`` and DistributedDataParallel.

Launch (one process per GPU; NCCL on CUDA, gloo on CPU)::

    torchrun --standalone --nproc_per_node=8 scripts/ddp_train.py params/runs/utd_mhad_quick.yaml

Inside the processes :func:`init_from_env` reads ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` /
``MASTER_ADDR`` / ``MASTER_PORT`` (set by ``torchrun``) and initialises the process group; without
them everything here degrades to the single-process case (rank 0 of 1), so the same code runs
unchanged under plain ``python``.

Semantics used by :func:`neuron.train.fit` when a process group is initialised:

* ``cfg.batch_size`` stays the *global* batch; each rank gets ``batch_size // world_size``
  samples per step (must divide evenly).
* The epoch's sample order is the single-process one (``torch.randperm`` from the generator
  seeded with ``(seed, epoch)``), cut into global batches, and each global batch is split into
  contiguous per-rank slices (:class:`ShardedBatchSampler`), so a DDP run with the same global
  batch sees the same batches as the single-process run -- the loss matches up to floating-point
  summation order (BatchNorm statistics are per rank, as with any non-synchronised DDP).
* Gradients are averaged by DDP; the logged loss is all-reduced (sample-weighted mean).
* Only rank 0 writes checkpoints and reports (:func:`is_main`).
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Sampler

__all__ = [
    "ShardedBatchSampler",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "cleanup",
    "distributed_sampler",
    "epoch_order",
    "init_from_env",
    "is_distributed",
    "is_main",
    "local_rank",
    "rank",
    "unwrap",
    "world_size",
    "wrap_ddp",
]


def is_distributed() -> bool:
    """True when a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Rank 0 (or not distributed): the only process that writes files."""
    return rank() == 0


def init_from_env(backend: str | None = None, device: str = "auto",
                  timeout_s: float = 1800.0) -> torch.device:
    """Initialise the process group from torchrun's environment variables; return this rank's device.

    Does nothing but pick the device when ``WORLD_SIZE`` is unset or 1.  ``backend`` defaults to
    ``nccl`` when CUDA is used and ``gloo`` otherwise; ``device='auto'`` picks ``cuda:LOCAL_RANK``
    when CUDA is available.
    """
    use_cuda = torch.cuda.is_available() if device == "auto" else str(device).startswith("cuda")
    if use_cuda:
        dev = torch.device("cuda", local_rank())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    if ws > 1 and not dist.is_initialized():
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s),
                                device_id=dev if dev.type == "cuda" else None)
    return dev


def cleanup() -> None:
    """Destroy the process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def wrap_ddp(model: nn.Module, device: torch.device | None = None, **kwargs) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` unchanged.

    Frozen sub-modules (no trainable parameters) are fine; ``find_unused_parameters`` defaults
    to False (pass it in ``kwargs`` for models with conditionally used branches).
    """
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device is not None and device.type == "cuda":
        kwargs.setdefault("device_ids", [device.index])
        kwargs.setdefault("output_device", device.index)
    return DDP(model, **kwargs)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP (or ``torch.compile``) wrapper; what to ``state_dict()``."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _collective_tensor(values: Sequence[float] | Tensor) -> Tensor:
    t = torch.as_tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":  # NCCL reduces device tensors only
        t = t.to(torch.device("cuda", torch.cuda.current_device()))
    return t


def all_reduce_sum(values: Sequence[float] | Tensor) -> Tensor:
    """Element-wise sum of ``values`` over ranks (float64, on CPU); identity when single-process."""
    if not is_distributed():
        return torch.as_tensor(values, dtype=torch.float64)
    t = _collective_tensor(values)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def all_reduce_mean(value: float, weight: float = 1.0) -> float:
    """Weighted mean over ranks: ``sum(value * weight) / sum(weight)``."""
    s = all_reduce_sum([value * weight, weight])
    return float(s[0] / s[1]) if float(s[1]) else float("nan")


def epoch_order(n: int, generator_seed: int) -> list[int]:
    """The sample order of ``DataLoader(shuffle=True, generator=Generator().manual_seed(seed))``.

    The DataLoader iterator first draws its worker base seed from the generator, then the
    ``RandomSampler`` draws ``randperm(n)``; both are replayed here (checked in ``tests/test_ddp.py``).
    """
    gen = torch.Generator().manual_seed(int(generator_seed))
    torch.empty((), dtype=torch.int64).random_(generator=gen)  # DataLoader's _base_seed draw
    return torch.randperm(int(n), generator=gen).tolist()


class ShardedBatchSampler(Sampler[list[int]]):
    """Per-rank batches of a seeded global order that reproduce the single-process batches.

    The epoch's permutation is :func:`epoch_order` -- identical to ``DataLoader(shuffle=True,
    generator=...)`` with a fresh generator of that seed -- cut into global batches of ``batch_size`` (last partial batch dropped when ``drop_last``),
    and rank ``r`` takes the ``r``-th contiguous slice of ``batch_size // world_size`` of each.
    """

    def __init__(self, n: int, batch_size: int, generator_seed: int, drop_last: bool,
                 num_replicas: int | None = None, rank_: int | None = None) -> None:
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.seed = int(generator_seed)
        self.drop_last = bool(drop_last)
        self.world = world_size() if num_replicas is None else int(num_replicas)
        self.rank = rank() if rank_ is None else int(rank_)
        if self.batch_size % self.world:
            raise ValueError(f"global batch {self.batch_size} is not divisible by world size {self.world}")
        self.local = self.batch_size // self.world

    def __iter__(self) -> Iterator[list[int]]:
        order = epoch_order(self.n, self.seed)
        stop = (self.n // self.batch_size) * self.batch_size if self.drop_last else self.n
        for i in range(0, stop, self.batch_size):
            batch = order[i:i + self.batch_size]
            per = -(-len(batch) // self.world)  # ceil: a short last batch is split as evenly as possible
            part = batch[self.rank * per:(self.rank + 1) * per]
            if part:
                yield part
            else:  # more ranks than samples in a short last batch: repeat one sample (weight 0 is not possible)
                yield batch[-1:]

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)


def distributed_sampler(n: int, batch_size: int, generator_seed: int, drop_last: bool) -> ShardedBatchSampler:
    """The batch sampler :func:`neuron.train.fit` uses under DDP (see :class:`ShardedBatchSampler`).

    For an unseeded order, ``torch.utils.data.DistributedSampler`` would do; this one keeps the
    project's "epoch e order = f(seed, e)" determinism and the single-process batches.
    """
    return ShardedBatchSampler(n, batch_size, generator_seed, drop_last)
