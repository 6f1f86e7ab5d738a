"""Data-parallel training on several processes: torchrun, DistributedDataParallel, sharded data.

    torchrun --nproc_per_node 4 tools/ddp_train.py --data mnist --model lenet --batch-size 256

torchrun starts ``W`` processes (one per GPU, or CPU workers) and gives each the environment
variables ``RANK`` (0 .. W-1 over all machines), ``LOCAL_RANK`` (0 .. on this machine),
``WORLD_SIZE`` (= W), ``MASTER_ADDR`` and ``MASTER_PORT``. ``setup()`` joins the process group
(NCCL on CUDA, gloo on the CPU). Every process holds a full replica of the model. The sampler
deals one permutation of the ``N`` training examples out to the ranks, rank ``r`` taking
``perm[r], perm[r + W], ...``; with a global batch of ``B = W b`` examples, the ``k``-th batches
of all ranks together are exactly ``perm[kB : (k+1)B]``, the ``k``-th batch of one process. In
``backward`` DistributedDataParallel averages the gradients over the processes (all-reduce), so
every replica takes the same step::

    g = (1 / W) sum_r grad L_r,   L_r = mean loss over rank r's b examples
      = grad of the mean loss over the global batch of B examples

which is the gradient of single-process training with batch ``B`` (for models without batch
statistics or randomness; batch norm sees only ``b`` examples per rank). Without torchrun (no
``WORLD_SIZE`` or ``WORLD_SIZE=1``) every function here is the single-process identity: rank 0
of a world of 1.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from .i18n import CourseError


def active() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Number of processes ``W`` (1 when not distributed)."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """True on rank 0, the one process that writes checkpoints and prints."""
    return rank() == 0


def setup(backend: str | None = None, environ=None, device: str = "auto") -> torch.device:
    """Join torchrun's process group if there is one; return this process's device.

    ``device="auto"`` takes GPU ``LOCAL_RANK`` where CUDA is available, else the CPU;
    ``device="cpu"`` the CPU in any case. ``backend`` defaults to ``nccl`` on GPUs and ``gloo``
    on the CPU. Outside torchrun nothing is initialized.
    """
    environ = os.environ if environ is None else environ
    cuda = device == "auto" and torch.cuda.is_available()
    device = torch.device("cuda", int(environ.get("LOCAL_RANK", 0))) if cuda else torch.device(
        "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if int(environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"),
                                device_id=device if cuda else None)
    return device


def teardown() -> None:
    """Leave the process group (at the end of a torchrun script), after every process has
    arrived: a process that tears down while a peer still talks to it can abort in gloo."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel inside a process group, else ``model`` itself.

    DDP broadcasts rank 0's parameters and buffers at construction, so all replicas start equal.
    """
    if not active() or isinstance(model, DistributedDataParallel):
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the processes, in place, and return it (unchanged when alone)."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    """Wait until every process reaches this point (nothing when alone)."""
    if active():
        dist.barrier()


def sampler(dataset: Dataset, seed: int = 0, shuffle: bool = True) -> DistributedSampler:
    """This rank's share of ``dataset``: ``perm[rank::W]`` of a permutation seeded by
    ``seed + epoch`` (``fit`` calls ``set_epoch``). With ``W = 1`` it is the whole permutation,
    the single-process order that ``W`` processes reproduce together."""
    return DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle,
                              seed=seed)


def per_rank_batch(batch_size: int, lang: str | None = None) -> int:
    """Batch size of one process, ``b = B / W``, for the global batch size ``B``."""
    size = world_size()
    if batch_size < size or batch_size % size:
        raise CourseError("training.batch_not_divisible", lang=lang, batch_size=batch_size,
                          world_size=size)
    return batch_size // size
