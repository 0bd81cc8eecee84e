"""Training on several processes, GPUs and machines: torchrun's environment, DDP, and the ranks' agreement.

This package is the one place in bearer_gan that knows about ranks; the rest of the package calls
its small functions, which do nothing (or the one-process thing) when there is one process, so a
run without torchrun is exactly the run it always was. One idea per module:

* :mod:`~bearer_gan.distributed.group`: where this process stands (:func:`rank`, :func:`world_size`,
  :func:`is_main_process`, :func:`main_process_only`) and the process group: :func:`start` joins it
  (NCCL on CUDA with one GPU per local rank, gloo on CPU) with an explicit collective timeout,
  :func:`collective_timeout`; :func:`stop` leaves it; :func:`process_group` does both around a
  block; :func:`barrier`. Rank 0 writes every output; after each checkpoint all ranks pass a barrier.
* :mod:`~bearer_gan.distributed.agreement`: what the ranks must agree on: the global batch's rank
  slices (:func:`check_global_batch`), the data (:func:`one_rank_first`, :func:`check_same`), the
  random draws (:func:`global_draws`), the weights at the end (:func:`check_replicas`), and statistics
  that steer training (:func:`sum_across_ranks`, :func:`from_main_process`).
* :mod:`~bearer_gan.distributed.ddp`: :func:`data_parallel` wraps both networks in
  DistributedDataParallel; :func:`synchronise_step` is each step's one all-reduce.
* :mod:`~bearer_gan.distributed.failures`: :func:`guarded`: SIGTERM stops every rank at one step, and
  a collective that fails because a rank died or hung becomes one :class:`RankFailure` naming it.
* :mod:`~bearer_gan.distributed.errors`: :class:`DistributedError`, :class:`UnsupportedUnderDDP`,
  :class:`RankFailure`.

Every name is importable from ``bearer_gan.distributed`` itself.
"""
from .agreement import (check_global_batch, check_replicas, check_same, fingerprint, from_main_process, global_draws,
                        one_rank_first, sum_across_ranks)
from .ddp import UNSUPPORTED_ATTRIBUTE, data_parallel, synchronise_step
from .errors import DistributedError, RankFailure, UnsupportedUnderDDP
from .failures import ROLL_CALL_SECONDS, guarded, lost_ranks
from .group import (COLLECTIVE_TIMEOUT, DATA_TIMEOUT, TIMEOUT_VARIABLE, active, barrier, collective_timeout,
                    is_main_process, launched_world_size, main_process_only, process_group, rank, start, stop,
                    world_size)

__all__ = ['COLLECTIVE_TIMEOUT', 'TIMEOUT_VARIABLE', 'DATA_TIMEOUT', 'ROLL_CALL_SECONDS', 'UNSUPPORTED_ATTRIBUTE',
           'DistributedError', 'UnsupportedUnderDDP', 'RankFailure',
           'collective_timeout', 'launched_world_size', 'active', 'rank', 'world_size', 'is_main_process',
           'main_process_only', 'check_global_batch', 'start', 'stop', 'process_group', 'barrier', 'one_rank_first',
           'check_same', 'global_draws', 'data_parallel', 'synchronise_step', 'fingerprint', 'check_replicas',
           'lost_ranks', 'guarded', 'sum_across_ranks', 'from_main_process']
