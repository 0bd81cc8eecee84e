"""What every rank must agree on for several processes to train one run, and the checks that they do.

Several processes train the one-process run only when they start from the same data, split the
global batch between them, draw the same random numbers and end with the same weights:

* :func:`check_global_batch`: the global batch divides into one equal slice per process.
* :func:`one_rank_first`: rank 0 loads (and downloads) the data while the others wait;
  :func:`check_same` then checks that every rank loaded the same data set.
* The global batch is cut into contiguous rank slices
  (:class:`~bearer_gan.data.ShuffledBatchSampler`'s ``rank`` and ``world_size``), and every rank
  draws what is random per image (the noise, a conditional run's labels, the gradient penalty's
  interpolation weights) for the whole global batch and keeps its slice (:func:`global_draws`), so
  every rank's random state stays the same and a checkpoint holds one.
* :func:`check_replicas`: at the end, every rank holds bit-identical weights (:func:`fingerprint`).
"""
import hashlib
from typing import Callable, Optional, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .errors import DistributedError, RankFailure, UnsupportedUnderDDP
from .group import active, data_group, launched_world_size, rank

__all__ = ['check_global_batch', 'one_rank_first', 'check_same', 'global_draws', 'fingerprint', 'check_replicas',
           'sum_across_ranks', 'from_main_process']

T = TypeVar('T')


def check_global_batch(batch_size: int, processes: Optional[int] = None):
    """Check that the global batch divides into one equal slice per process.

    Raises:
        UnsupportedUnderDDP: with the nearest sizes that would divide.
    """
    processes = launched_world_size() if processes is None else processes
    if batch_size % processes:
        below = batch_size - batch_size % processes
        options = f'{below} or {below + processes}' if below else f'{processes}'
        raise UnsupportedUnderDDP(f'the batch size {batch_size} is the global batch and must divide by the '
                                  f'{processes} processes (e.g. {options})')


def one_rank_first(load: Callable[[], T]) -> T:
    """``load()`` on rank 0 first, then on the others: rank 0 downloads what is missing while the rest
    wait (up to :data:`~bearer_gan.distributed.DATA_TIMEOUT`), and then find it on disk.

    Raises:
        RankFailure: on the other ranks, when rank 0's ``load()`` raised (rank 0 says why).
    """
    if not active():
        return load()
    loaded = [False]
    if rank() == 0:
        try:
            result = load()
            loaded[0] = True
        finally:
            dist.broadcast_object_list(loaded, src=0, group=data_group())
        return result
    dist.broadcast_object_list(loaded, src=0, group=data_group())
    if not loaded[0]:
        raise RankFailure('rank 0 could not load the data', report=False)
    return load()


def check_same(what: str, value):
    """Check that every rank has the same ``value`` (nothing with one process): for example the data set each
    loaded, which differs when a machine without the files fell back to another.

    Raises:
        UnsupportedUnderDDP: listing each rank's value, when they differ.
    """
    if not active():
        return
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    if any(other != values[0] for other in values):
        listing = ', '.join(f'rank {index} {other}' for index, other in enumerate(values))
        raise UnsupportedUnderDDP(f'the ranks have different {what}: {listing}')


def global_draws(rank: int, world_size: int) -> Callable[..., torch.Tensor]:
    """A :data:`~bearer_gan.keys.BATCH_DRAW`: random numbers per image drawn for the whole global batch, this rank's rows kept.

    ``draw(torch.randn, rows, latent_dim, device=..., dtype=...)`` draws ``(world_size * rows,
    latent_dim)`` on every rank and returns rows ``rank * rows`` to ``(rank + 1) * rows``: the random
    state advances the same everywhere, as in one process, and the ranks' rows, in order, are what
    one process draws. Anything drawn per image (noise, labels, a penalty's interpolation weights) can use it.
    """
    def draw(sample: Callable[..., torch.Tensor], rows: int, *shape: int, **options) -> torch.Tensor:
        return sample(world_size * rows, *shape, **options)[rank * rows:(rank + 1) * rows]
    return draw


def fingerprint(modules: Sequence[nn.Module]) -> str:
    """A digest of the parameters of ``modules``: equal exactly when every parameter is bit-identical."""
    digest = hashlib.sha256()
    for module in modules:
        for parameter in module.parameters():
            digest.update(parameter.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_replicas(*modules: nn.Module):
    """Check that every rank holds bit-identical parameters of ``modules``, as DDP promises (nothing with one process).

    Buffers are left out: with batch norm on CPU each rank's running statistics are its own.

    Raises:
        DistributedError: naming the ranks whose parameters differ from rank 0's.
    """
    if not active():
        return
    digests = [None] * dist.get_world_size()
    dist.all_gather_object(digests, fingerprint(modules))
    differing = [index for index, digest in enumerate(digests) if digest != digests[0]]
    if differing:
        raise DistributedError(f'ranks {differing} hold different weights from rank 0 after training')


def sum_across_ranks(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over every rank (in place, and returned); unchanged with one process. A statistic
    that steers training (ADA's count of real images judged real) must be the same on every rank."""
    if active():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def from_main_process(values: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``values`` on every rank (in place, and returned); unchanged with one process. Only rank 0
    restores the callbacks' states from a checkpoint: a value that steers training is sent from there."""
    if active():
        dist.broadcast(values, src=0)
    return values
