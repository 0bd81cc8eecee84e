"""When a rank dies or hangs: name it, and stop every rank cleanly on SIGTERM, within the collective timeout.

A collective (a gradient all-reduce, the step's all-reduce, a barrier) that a lost peer never
joins fails on every surviving rank with a backend's message (gloo's, NCCL's, c10d's) that names
no one. :func:`guarded` turns it into one :class:`~bearer_gan.distributed.RankFailure` naming the
missing ranks, found by a roll call through torchrun's store (:func:`lost_ranks`), which outlives
the ranks; only the lowest surviving rank reports it.

SIGTERM has one path, in one process and under torchrun alike: :func:`bearer_gan.safety.stop_requests`
turns it into a stop request. Under torchrun, which forwards SIGTERM to every rank, :func:`guarded`
holds that same handler over the whole DDP section and keeps it after a stop; the cross-rank
agreement is the stop flag in the step's one all-reduce
(:func:`~bearer_gan.distributed.synchronise_step`), so every rank stops at the same step.
"""
import contextlib
import datetime
import os
import signal
import time
from typing import List, Optional

import torch.distributed as dist
import torchbearer

from .. import keys
from ..safety import TrainingGuard, stop_requests
from .errors import RankFailure
from .group import active, rank, world_size

__all__ = ['ROLL_CALL_SECONDS', 'lost_ranks', 'guarded']

#: After a failed collective, how long the surviving ranks wait for each other before naming the missing ones.
ROLL_CALL_SECONDS = 10.0

#: Phrases of the errors that gloo, NCCL and c10d raise when a collective fails (a dead or hung peer).
_COLLECTIVE_ERRORS = ('gloo', 'NCCL', 'ProcessGroup', 'c10d', 'Connection closed by peer', 'Connection reset by peer')


def lost_ranks(store: dist.Store, rank: int, world_size: int, wait: float = ROLL_CALL_SECONDS,
               prefix: str = 'bearer_gan/roll_call') -> List[int]:
    """A roll call through the c10d store: say this rank is alive, then list the ranks that have not
    said so within ``wait`` seconds (the store outlives the ranks: torchrun's agent keeps it)."""
    store.set(f'{prefix}/{rank}', 'alive')
    deadline = time.monotonic() + wait
    while True:
        missing = [other for other in range(world_size) if not store.check([f'{prefix}/{other}'])]
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.05)


def _is_collective_failure(error: BaseException) -> bool:
    return isinstance(error, dist.DistError) or (
        isinstance(error, RuntimeError) and any(phrase in str(error) for phrase in _COLLECTIVE_ERRORS))


def _first_line(error: BaseException, limit: int = 200) -> str:
    text = ' '.join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _rank_failure(error: BaseException, step: int) -> Optional[RankFailure]:
    """Name the ranks missing after a failed collective; None when every rank answered (not a lost rank)."""
    me, processes, cause = rank(), world_size(), _first_line(error)
    try:
        store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), is_master=False,
                              timeout=datetime.timedelta(seconds=ROLL_CALL_SECONDS), wait_for_workers=False)
        prefix = f"bearer_gan/roll_call/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
        missing = lost_ranks(store, me, processes, ROLL_CALL_SECONDS, prefix)
    except Exception as store_error:  # no store to ask (rank 0 hosted it and is gone): say what is known
        return RankFailure(f'rank {me}: a collective after step {step} failed and the other ranks could not be '
                           f'asked ({_first_line(store_error, 80)}): {cause}')
    if not missing:
        return None
    survivors = [other for other in range(processes) if other not in missing]
    ranks = ', '.join(str(other) for other in missing)
    return RankFailure(f'rank{"s" if len(missing) > 1 else ""} {ranks} stopped responding after step {step} '
                       f'({cause})', report=me == survivors[0])


@contextlib.contextmanager
def guarded(trial: torchbearer.Trial):
    """Around training under DDP: SIGTERM asks for a clean stop, and a collective that fails because a
    rank died or hung becomes a :class:`~bearer_gan.distributed.RankFailure` that names it. With one
    process it changes nothing.

    SIGTERM goes to :func:`bearer_gan.safety.stop_requests`, the handler of a one-process run, held
    here over the whole block (torchrun forwards the signal to every rank; the step's all-reduce makes
    them stop together). Only a block that ended normally gets SIGTERM's previous handler back: after a
    stop or a failure the process is on its way out, and a late SIGTERM (torchrun ends the other ranks
    as soon as one has exited) must not cut that short: its exit code would be -15 instead of 130.

    Raises:
        RankFailure: after a roll call of the ranks (:func:`lost_ranks`), from the failed collective.
    """
    if not active():
        yield
        return
    with stop_requests(TrainingGuard.of(trial), signals=(signal.SIGTERM,), keep_after_error=True):
        try:
            yield
        except Exception as error:
            if not _is_collective_failure(error):
                raise
            failure = _rank_failure(error, trial.state[keys.STEP])
            if failure is None:
                raise
            raise failure from error
