"""Data-parallel training under ``torchrun``: process group, sharding, collectives.

``galmorph train`` started by ``torchrun --nproc_per_node N`` (which sets the
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` environment variables) trains with
:class:`~torch.nn.parallel.DistributedDataParallel`: gloo on the CPU, NCCL on
GPUs (one per process, ``cuda:LOCAL_RANK``). Every process draws the same
global batch indices and augmentation parameters and keeps its share (every
N-th sample), so the global batch keeps the configured size and -- for
models without batch normalisation or dropout -- training follows the
single-process run up to floating-point summation order. Rank 0 alone writes
files.

Without those variables every helper here degrades to the single-process
no-op, so the training loop has one code path.
"""
from __future__ import annotations

import datetime
import os
import signal
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist

from galmorph.errors import GalmorphError

__all__ = ["DistContext", "StopFlag", "init_distributed", "shard"]


@dataclass
class DistContext:
    """Where this process sits in a (possibly one-process) training job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self):
        """True under torchrun with more than one process."""
        return self.backend is not None

    @property
    def is_main(self):
        """True for the process that writes checkpoints, metrics and messages."""
        return self.rank == 0

    def all_reduce_sum(self, tensor):
        """Sum ``tensor`` over processes, in place; returns it."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any(self, flag, device):
        """True on every process when ``flag`` is true on any of them.

        Parameters
        ----------
        flag : bool
            This process's flag.
        device : torch.device or str
            Where the reduced tensor lives: the process's training device (a CUDA
            device under NCCL).

        Returns
        -------
        bool
            The logical OR of ``flag`` over all processes.
        """
        if not self.enabled:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` on every process."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_objects(self, obj):
        """List of every rank's ``obj`` (on every process)."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def on_main(self, fn, share=True):
        """Run ``fn`` on rank 0 and hand its galmorph error -- and, if ``share``, its
        result -- to every rank, so that all processes fail alike instead of hanging.

        Parameters
        ----------
        fn : callable
            Called without arguments, on rank 0 only.
        share : bool
            Broadcast the result to the other ranks (default True); it must then be
            picklable.

        Returns
        -------
        object
            ``fn()``'s result on rank 0; on the other ranks the same result if
            ``share``, else None.

        Raises
        ------
        galmorph.errors.GalmorphError
            On every rank, of the type and with the message ``fn`` raised on rank 0.
        """
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except GalmorphError as exc:
                if not self.enabled:
                    raise
                error = (type(exc), str(exc))
        shared, error = self.broadcast_object((result if share else None, error))
        if error is not None:
            raise error[0](error[1])
        return result if self.is_main or not share else shared

    def close(self):
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


class StopFlag:
    """Context manager catching SIGINT/SIGTERM: the loop then stops at the next batch
    boundary and checkpoints, as for ``--time-limit`` (cluster schedulers send SIGTERM
    before killing a job). A second signal interrupts at once."""

    def __init__(self):
        self.reason, self._old = None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.reason is not None:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def init_distributed(device):
    """Join the torchrun process group when launched by torchrun.

    Parameters
    ----------
    device : torch.device
        The resolved device; CUDA means NCCL and one GPU per process
        (``cuda:LOCAL_RANK``), anything else gloo.

    Returns
    -------
    (DistContext, torch.device)
        The context and the device this process uses.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(), device
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        # A generous timeout: rank 0 may build the preprocessing cache while the others wait.
        dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    return DistContext(rank=rank, world_size=world, local_rank=local, backend=backend), device


def shard(positions, ctx):
    """This process's share of a global batch: every ``world_size``-th entry from ``rank``.

    Parameters
    ----------
    positions : numpy.ndarray or torch.Tensor, shape (B,)
        The global batch (positions, row numbers or per-sample parameters).
    ctx : DistContext
        This process's place in the job.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``positions[ctx.rank::ctx.world_size]``; all of it in a single process.
    """
    return positions[ctx.rank::ctx.world_size]
