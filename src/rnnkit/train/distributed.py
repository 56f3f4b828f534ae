"""Data-parallel training over the processes ``torchrun`` starts (``--distributed``).

Every rank holds a full copy of the model and of the data, builds every batch and keeps its
own contiguous block of rows (its *shard*): the data is not read in parts, but a token file
(``rnnkit data prepare``) is memory-mapped, so the ranks share the page cache, not copies.
After the backward pass the gradients are summed across ranks, each weighted by the
positions its shard's loss averaged over, so the update equals the one a single process
would make on the whole batch::

    g = sum_r n_r * g_r / sum_r n_r        (g_r: mean-loss gradient of rank r, n_r its count)

``n_r`` is the sum of the shard's ``Batch.row_tokens`` (see :func:`shard_batch`): tokens for
a language model or a tagger, one per example for a classifier, target tokens for a
sequence-to-sequence model. Gradients are reduced by hand rather than through
``DistributedDataParallel`` because the trainer also calls ``forward_stream``, which DDP's
wrapper does not see. Rank 0 alone writes checkpoints, metrics and plots. The backend is NCCL
on CUDA and Gloo on the CPU, initialised from torchrun's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``)::

    torchrun --standalone --nproc_per_node 2 -m rnnkit train lm ... --distributed true
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rnnkit.data.batching import Batch

__all__ = [
    "DistributedContext",
    "all_reduce_sum",
    "barrier",
    "broadcast_parameters",
    "gather_tensor",
    "init_distributed",
    "is_main_process",
    "reduce_gradients",
    "shard_batch",
]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank among ``world_size`` and the device collectives use.

    The default is a single process (rank 0 of 1), for which every helper here is a no-op.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        """More than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """This is rank 0, the one that writes files."""
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group described by torchrun's environment variables.

    Args:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``: CUDA selects NCCL and the GPU numbered
            ``LOCAL_RANK``; the CPU selects Gloo.

    Returns:
        The context of this process.

    Raises:
        ValueError: an environment variable torchrun sets is missing, or ``device="cuda"``
            without CUDA.
    """
    missing = [name for name in _ENV if name not in os.environ]
    if missing:
        raise ValueError(
            "Option `distributed` expects the environment torchrun sets up, but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; launch with "
            "`torchrun --standalone --nproc_per_node N ...`."
        )
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("Option `device` is 'cuda' but torch finds no CUDA device.")
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", init_method="env://")
        # A group left alive at interpreter exit tears down its Gloo threads in whatever
        # order the destructors run, which can abort a rank ("terminate called without an
        # active exception") after its work is done. Close it in order instead.
        atexit.register(_destroy_group)
    return DistributedContext(
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        device=f"cuda:{local_rank}" if use_cuda else "cpu",
    )


def is_main_process() -> bool:
    """Whether this process is rank 0 of the process group, or runs alone (no group).

    For what only one process should do outside the trainer, such as printing a summary.

    Example:
        >>> is_main_process()  # no process group here
        True
    """
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def shard_batch(batch: Batch, ctx: DistributedContext) -> Batch:
    """This rank's contiguous block of rows of ``batch``, weighted by the positions they hold.

    Rows are split as evenly as possible (``torch.tensor_split``); a truncated-BPTT stream
    must split evenly, so that row ``b`` of every chunk stays on the same rank. The part's
    ``num_tokens`` -- its weight in the gradient average of :func:`reduce_gradients` -- is
    what its own rows count: the sum of their ``row_tokens`` (a classifier's 1 per row, a
    translation's target lengths), else of their ``lengths``, else ``T`` per row. A batch
    whose ``num_tokens`` none of these explains is taken to count alike on every row, and is
    refused when it cannot. A batch with fewer rows than ranks (an epoch's last, say) leaves
    the last ranks an empty part: zero rows, ``num_tokens`` 0, so that rank only joins the
    gradient average with weight 0 (the trainer runs no forward pass on it).

    Raises:
        ValueError: a stream whose rows do not divide evenly, or a ``num_tokens`` that cannot
            be divided among the rows.

    Example:
        >>> b = Batch(inputs=torch.arange(12).view(4, 3), targets=torch.arange(12).view(4, 3))
        >>> shard_batch(b, DistributedContext(rank=1, world_size=2)).inputs.tolist()
        [[6, 7, 8], [9, 10, 11]]
        >>> b = Batch(inputs=torch.zeros(4, 3), lengths=torch.tensor([3, 3, 2, 1]),
        ...           row_tokens=torch.ones(4, dtype=torch.long))  # one label per row
        >>> shard_batch(b, DistributedContext(rank=0, world_size=2)).num_tokens
        2
    """
    if not ctx.enabled:
        return batch
    rows = batch.batch_size
    if batch.stream and rows % ctx.world_size:
        raise ValueError(
            f"Argument `batch` is a stream chunk, whose {rows} rows must divide evenly over "
            f"{ctx.world_size} processes."
        )

    def part(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else torch.tensor_split(t, ctx.world_size)[ctx.rank]

    return Batch(
        inputs=torch.tensor_split(batch.inputs, ctx.world_size)[ctx.rank],
        targets=part(batch.targets),
        lengths=part(batch.lengths),
        stream=batch.stream,
        row_tokens=part(_row_tokens(batch)),
    )


def _row_tokens(batch: Batch) -> torch.Tensor:
    """How many of ``batch.num_tokens`` each row holds (see :func:`shard_batch`)."""
    if batch.row_tokens is not None:
        return batch.row_tokens
    rows, steps = batch.inputs.shape[0], batch.inputs.shape[1]
    if batch.lengths is not None and int(batch.lengths.sum()) == batch.num_tokens:
        return batch.lengths.to("cpu", torch.long)
    if batch.lengths is None and rows * steps == batch.num_tokens:
        return torch.full((rows,), steps, dtype=torch.long)
    if batch.num_tokens % rows:
        raise ValueError(
            f"Argument `batch` counts num_tokens={batch.num_tokens}, which neither its lengths "
            f"nor its shape {tuple(batch.inputs.shape)} account for and its {rows} rows do not "
            "share evenly; give Batch.row_tokens, each row's count, to split it over processes."
        )
    return torch.full((rows,), batch.num_tokens // rows, dtype=torch.long)


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistributedContext) -> None:
    """Wait until every rank gets here; a single process returns at once."""
    if ctx.enabled:
        dist.barrier()


def all_reduce_sum(values: list[float], ctx: DistributedContext) -> list[float]:
    """Sum each number over all ranks (float64); a single process returns ``values``."""
    if not ctx.enabled:
        return list(values)
    buffer = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    return buffer.tolist()


def reduce_gradients(
    parameters: Iterable[torch.nn.Parameter], num_tokens: int, ctx: DistributedContext
) -> int:
    """Replace every gradient by the token-weighted mean over ranks; return the total tokens.

    Parameters without a gradient on this rank take part with zeros, so every rank sends
    buffers of the same size.
    """
    if not ctx.enabled:
        return num_tokens
    params = [p for p in parameters if p.requires_grad]
    (total,) = all_reduce_sum([float(num_tokens)], ctx)
    grads = [
        p.grad if p.grad is not None else torch.zeros_like(p, memory_format=torch.contiguous_format)
        for p in params
    ]
    flat = torch.cat([g.reshape(-1) for g in grads]) * (num_tokens / total)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        size = p.numel()
        p.grad = flat[offset : offset + size].view_as(p).clone()
        offset += size
    return int(total)


def broadcast_parameters(module: torch.nn.Module, ctx: DistributedContext) -> None:
    """Copy rank 0's parameters and buffers to every rank (a fresh run starts identical)."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def gather_tensor(tensor: torch.Tensor, ctx: DistributedContext) -> list[torch.Tensor]:
    """Every rank's copy of ``tensor`` (same shape everywhere), in rank order."""
    if not ctx.enabled:
        return [tensor]
    local = tensor.detach().to(ctx.device).contiguous()
    parts = [torch.empty_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(parts, local)
    return [p.cpu() for p in parts]
