"""Where this process stands among torchrun's processes, and joining and leaving their process group.

``torchrun`` starts one process per GPU (or per CPU worker) and tells each where it stands in
environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
This module reads them and owns the process group: :func:`start` joins it (NCCL on CUDA with one
GPU per local rank, gloo on CPU) with an explicit collective timeout, :func:`stop` leaves it, and
:func:`process_group` does both around a block, in one place. Everything else in
:mod:`bearer_gan.distributed` asks this module which rank it is, and every function here does the
one-process thing when there is one process, so a run without torchrun is the run it always was.
"""
import contextlib
import datetime
import functools
import os
from typing import Callable, Iterator, Optional, TypeVar

import torch
import torch.distributed as dist

from .errors import RankFailure, UnsupportedUnderDDP

__all__ = ['COLLECTIVE_TIMEOUT', 'TIMEOUT_VARIABLE', 'DATA_TIMEOUT',
           'collective_timeout', 'launched_world_size', 'active', 'rank', 'world_size', 'is_main_process',
           'main_process_only', 'start', 'stop', 'process_group', 'barrier', 'data_group']

#: How long a collective (a gradient all-reduce, the step's all-reduce, a barrier) may wait for the
#: other ranks before the run fails: five minutes. A healthy run never waits that long (the longest
#: wait is rank 0 writing a checkpoint, or ranks compiling at different speeds), and a hung rank
#: frees every GPU of the job within minutes, not after NCCL's 10 or gloo's 30 minute defaults.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=5)
#: Environment variable that overrides :data:`COLLECTIVE_TIMEOUT`, in seconds.
TIMEOUT_VARIABLE = 'BEARER_GAN_COLLECTIVE_TIMEOUT'
#: How long the other ranks wait for rank 0 to load (and perhaps download) the data.
DATA_TIMEOUT = datetime.timedelta(minutes=30)

_data_group = None

F = TypeVar('F', bound=Callable)


def collective_timeout() -> datetime.timedelta:
    """:data:`COLLECTIVE_TIMEOUT`, or the seconds in the environment variable :data:`TIMEOUT_VARIABLE`.

    Raises:
        UnsupportedUnderDDP: when the variable is not a positive number.
    """
    text = os.environ.get(TIMEOUT_VARIABLE)
    if not text:
        return COLLECTIVE_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise UnsupportedUnderDDP(f'{TIMEOUT_VARIABLE}={text!r} must be a positive number of seconds')
    return datetime.timedelta(seconds=seconds)


def launched_world_size() -> int:
    """The number of processes torchrun started (``WORLD_SIZE``; 1 without torchrun)."""
    return int(os.environ.get('WORLD_SIZE', '1'))


def active() -> bool:
    """Whether this process is in a process group (:func:`start` made one, or the caller did)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank: from the process group, else from torchrun's ``RANK`` (0 without torchrun)."""
    return dist.get_rank() if active() else int(os.environ.get('RANK', '0'))


def world_size() -> int:
    """The number of processes training together (1 without torchrun)."""
    return dist.get_world_size() if active() else launched_world_size()


def is_main_process() -> bool:
    """Whether this is rank 0, the process that writes every output (always, with one process)."""
    return rank() == 0


def main_process_only(function: F) -> F:
    """Decorator: ``function`` runs on rank 0 only (:func:`is_main_process`) and returns None on the other ranks.

    For what one process does for all of them (write a file, print a line), as Lightning's
    ``rank_zero_only`` and Ignite's ``one_rank_only``. With one process it always runs. The rank is
    asked at each call, not when the function is decorated, so a function decorated at import runs
    on rank 0 of the group the process joins later. It is no barrier: the other ranks do not wait.

    Example::

        @main_process_only
        def report(text):
            print(text)
    """
    @functools.wraps(function)
    def on_rank_zero(*args, **kwargs):
        return function(*args, **kwargs) if is_main_process() else None
    return on_rank_zero


def start(device: str) -> str:
    """Join the process group that torchrun describes, when it describes more than one process.

    NCCL on CUDA, each process on the GPU of its ``LOCAL_RANK``; gloo on CPU. Collectives time out
    after :func:`collective_timeout`. With one process nothing happens.

    Args:
        device: the run's device, ``'cpu'`` or ``'cuda'`` (no index: each process takes its own GPU).

    Returns:
        this process's training device (``'cuda:<LOCAL_RANK>'`` on CUDA).

    Raises:
        UnsupportedUnderDDP: for a GPU index, or fewer GPUs than local ranks.
    """
    global _data_group
    if launched_world_size() <= 1 or active():
        return device
    timeout = collective_timeout()
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    if torch.device(device).type == 'cuda':
        if torch.device(device).index is not None:
            raise UnsupportedUnderDDP(f'under torchrun each process takes the GPU of its LOCAL_RANK; pass --device '
                                      f'cuda, not {device}')
        if local_rank >= torch.cuda.device_count():
            raise UnsupportedUnderDDP(f'LOCAL_RANK {local_rank} has no GPU: this machine has '
                                      f'{torch.cuda.device_count()}; start at most that many processes per node')
        device = f'cuda:{local_rank}'
        torch.cuda.set_device(local_rank)
        dist.init_process_group('nccl', timeout=timeout, device_id=torch.device(device))
    else:
        dist.init_process_group('gloo', timeout=timeout)
    _data_group = dist.new_group(backend='gloo', timeout=DATA_TIMEOUT)  # waits for rank 0's data, on the host
    return device


def stop():
    """Leave the process group (after a run that ended the same way on every rank)."""
    global _data_group
    if active():
        dist.destroy_process_group()
    _data_group = None


@contextlib.contextmanager
def process_group(device: str) -> Iterator[str]:
    """Be in torchrun's process group for the block: :func:`start` on entry, :func:`stop` on the way out.

    The block gets this process's training device (what :func:`start` returns). The group is left
    however the block ends, except by :class:`~bearer_gan.distributed.RankFailure`: a rank is gone
    then, and saying goodbye to a group with a missing member can wait for it. With one process
    nothing is joined or left.

    Example::

        with distributed.process_group('cuda') as device:
            ...  # train on device

    Raises:
        UnsupportedUnderDDP: from :func:`start`.
    """
    device = start(device)
    try:
        yield device
    except RankFailure:
        raise
    except BaseException:
        stop()
        raise
    stop()


def barrier():
    """Wait until every rank gets here (nothing with one process)."""
    if active():
        dist.barrier()


def data_group() -> Optional['dist.ProcessGroup']:
    """The host-side gloo group whose collectives wait up to :data:`DATA_TIMEOUT` (None outside a group
    that :func:`start` made): the ranks wait on it for rank 0's data."""
    return _data_group
