"""Training on several processes, GPUs and machines: torchrun's environment, DDP, and the ranks' agreement.

``torchrun`` starts one process per GPU (or per CPU worker) and tells each where it stands in
environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
This module is the one place in bearer_gan that knows about ranks; the rest of the package calls
its small functions, which do nothing (or the one-process thing) when there is one process, so a
run without torchrun is exactly the run it always was.

One run, several processes:

* :func:`start` joins the process group (NCCL on CUDA with one GPU per local rank, gloo on CPU)
  with an explicit collective timeout, :func:`collective_timeout`; :func:`stop` leaves it.
* :func:`one_rank_first`: rank 0 loads (and downloads) the data while the others wait;
  :func:`check_same` then checks that every rank loaded the same data set.
* The global batch is cut into contiguous rank slices
  (:class:`~bearer_gan.data.ShuffledBatchSampler`'s ``rank`` and ``world_size``), and every rank
  draws what is random per image (the noise, a conditional run's labels, the gradient penalty's
  interpolation weights) for the whole global batch and keeps its slice (:func:`global_draws`), so
  every rank's random state stays the same and a checkpoint holds one.
* :func:`data_parallel` wraps the generator and the discriminator in DistributedDataParallel
  separately. The generator step scores its images through the plain discriminator with every
  parameter frozen (:func:`bearer_gan.closures.gan_closure`), so the discriminator's DDP wrapper
  takes no part in it: no gradient reaches a discriminator parameter, no reducer hook fires and
  nothing is all-reduced for it. ``no_sync`` would instead let the generator step accumulate
  discriminator gradients locally, only to throw them away. The plain networks stay in state for
  the moving average, sampling, saving and checkpoints, so no ``module.`` key reaches a file.
* :func:`synchronise_step`: one all-reduce per step of the losses, D(x), D(G(z)), the Wasserstein
  estimate and the penalties' values, and a stop flag,
  so the history, the non-finite stop and a SIGTERM / Ctrl-C stop agree on every rank, at the same step.
* Rank 0 writes every output; after each checkpoint all ranks pass a :func:`barrier`.
* :func:`guarded`: a collective that fails because a rank died or hung becomes one
  :class:`RankFailure` naming that rank, within the collective timeout.

Gradient penalties: a criterion that differentiates with :func:`torch.autograd.grad` (R1, lazy or
not, and WGAN-GP, :mod:`bearer_gan.penalties`) is correct under DDP when its penalty is a term of
the loss that the step's one ``backward()`` reduces, computed on this rank's slice as a mean:
:func:`torch.autograd.grad` itself then leaves the parameters' ``.grad`` alone, and DDP's hooks
all-reduce the parameter gradients of the whole loss once, in that ``backward()``. Every rank has
done the same steps, so a lazy penalty falls due on all of them at once. A criterion that cannot
meet this (a penalty with its own ``backward()``) says why in an attribute named
:data:`UNSUPPORTED_ATTRIBUTE`, on itself or on the criterion it wraps (its ``criterion``
attribute, as :func:`~bearer_gan.penalties.with_penalties` keeps it), and :func:`data_parallel`
refuses it in one line.
"""
import contextlib
import datetime
import hashlib
import os
import signal
import threading
import time
import warnings
from typing import Callable, List, Optional, Sequence, TypeVar

import torch
import torch.distributed as dist
import torchbearer
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from . import keys

__all__ = ['COLLECTIVE_TIMEOUT', 'TIMEOUT_VARIABLE', 'DATA_TIMEOUT', 'ROLL_CALL_SECONDS', 'UNSUPPORTED_ATTRIBUTE',
           'DistributedError', 'UnsupportedUnderDDP', 'RankFailure',
           'collective_timeout', 'launched_world_size', 'active', 'rank', 'world_size', 'is_main_process',
           'check_global_batch', 'start', 'stop', 'barrier', 'one_rank_first', 'check_same', 'global_draws',
           'data_parallel', 'synchronise_step', 'fingerprint', 'check_replicas', 'lost_ranks', 'guarded']

#: How long a collective (a gradient all-reduce, the step's all-reduce, a barrier) may wait for the
#: other ranks before the run fails: five minutes. A healthy run never waits that long (the longest
#: wait is rank 0 writing a checkpoint, or ranks compiling at different speeds), and a hung rank
#: frees every GPU of the job within minutes, not after NCCL's 10 or gloo's 30 minute defaults.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=5)
#: Environment variable that overrides :data:`COLLECTIVE_TIMEOUT`, in seconds.
TIMEOUT_VARIABLE = 'BEARER_GAN_COLLECTIVE_TIMEOUT'
#: How long the other ranks wait for rank 0 to load (and perhaps download) the data.
DATA_TIMEOUT = datetime.timedelta(minutes=30)
#: After a failed collective, how long the surviving ranks wait for each other before naming the missing ones.
ROLL_CALL_SECONDS = 10.0
#: A criterion (a function of state) with this attribute, a reason, cannot train under DDP.
UNSUPPORTED_ATTRIBUTE = 'ddp_unsupported'

#: Phrases of the errors that gloo, NCCL and c10d raise when a collective fails (a dead or hung peer).
_COLLECTIVE_ERRORS = ('gloo', 'NCCL', 'ProcessGroup', 'c10d', 'Connection closed by peer', 'Connection reset by peer')

_data_group = None

T = TypeVar('T')


class DistributedError(RuntimeError):
    """A multi-process run cannot go on."""


class UnsupportedUnderDDP(DistributedError, ValueError):
    """A configuration that cannot train under DistributedDataParallel; the message says what to change."""


class RankFailure(DistributedError):
    """Another rank died, hung or failed; the message names it.

    Attributes:
        report: whether this rank should print the message (only the lowest surviving rank does).
    """

    def __init__(self, message: str, report: bool = True):
        super().__init__(message)
        self.report = report


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


def barrier():
    """Wait until every rank gets here (nothing with one process)."""
    if active():
        dist.barrier()


def one_rank_first(load: Callable[[], T]) -> T:
    """``load()`` on rank 0 first, then on the others: rank 0 downloads what is missing while the rest
    wait (up to :data:`DATA_TIMEOUT`), and then find it on disk.

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
            dist.broadcast_object_list(loaded, src=0, group=_data_group)
        return result
    dist.broadcast_object_list(loaded, src=0, group=_data_group)
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


class _WithoutState:
    """Call a DDP-wrapped network the way torchbearer calls models, ``model(x, state=state)``, without
    passing ``state`` on: DDP's forward would hand it to the network, fail, and torchbearer would retry."""

    def __init__(self, module: DistributedDataParallel):
        self.module = module

    def __call__(self, *inputs, state=None):
        return self.module(*inputs)


def _refuse_unsupported_criteria(state):
    for key, network in ((keys.GENERATOR_CRITERION, 'generator'), (keys.DISCRIMINATOR_CRITERION, 'discriminator')):
        criterion = state[key] if key in state else None
        while criterion is not None:  # the criterion, then the one it wraps (with_penalties keeps it as .criterion)
            reason = getattr(criterion, UNSUPPORTED_ATTRIBUTE, None)
            if reason:
                name = getattr(criterion, '__name__', type(criterion).__name__)
                raise UnsupportedUnderDDP(f'the {network} criterion {name} cannot train under '
                                          f'DistributedDataParallel: {reason}; train it on one process')
            criterion = getattr(criterion, 'criterion', None)


def data_parallel(trial: torchbearer.Trial, sync_batch_norm: bool = True) -> bool:
    """Train ``trial`` (built by :func:`~bearer_gan.trial.gan_trial`) with DistributedDataParallel, when
    this process is in a process group; otherwise change nothing.

    The generator and the discriminator get a DDP wrapper each, under
    :data:`~bearer_gan.keys.TRAINING_GENERATOR` and :data:`~bearer_gan.keys.TRAINING_DISCRIMINATOR`;
    :data:`torchbearer.MODEL` and :data:`~bearer_gan.keys.DISCRIMINATOR` stay the plain networks. Each
    step draws the global batch's noise (:func:`global_draws`) and ends with :func:`synchronise_step`.
    Batch norm becomes :class:`torch.nn.SyncBatchNorm` on CUDA with several processes, unless
    ``sync_batch_norm`` is False. On CPU, where SyncBatchNorm is unsupported, a model with batch norm
    trains with each rank's own batch statistics, and rank 0 warns once.

    Returns:
        whether the trial now trains with DDP.

    Raises:
        UnsupportedUnderDDP: for a criterion that cannot train under DDP (:data:`UNSUPPORTED_ATTRIBUTE`).
    """
    if not active():
        return False
    state = trial.state
    _refuse_unsupported_criteria(state)
    networks = (state[torchbearer.MODEL], state[keys.DISCRIMINATOR])
    device = torch.device(state[torchbearer.DEVICE])
    batch_norm = any(isinstance(module, _BatchNorm) for network in networks for module in network.modules())
    if batch_norm and world_size() > 1:
        if device.type == 'cuda' and sync_batch_norm:
            for network in networks:  # swaps the children in place, keeping the parameters the optimizers hold
                nn.SyncBatchNorm.convert_sync_batchnorm(network)
        elif device.type != 'cuda' and is_main_process():
            warnings.warn(f'SyncBatchNorm is unsupported on CPU: each of the {world_size()} processes normalises '
                          'its batch norm layers by the statistics of its own slice of the batch, so this run is '
                          'not the one-process run (use a model without batch norm for that)')
    device_ids = [device.index] if device.type == 'cuda' else None
    state[keys.TRAINING_GENERATOR] = _WithoutState(DistributedDataParallel(networks[0], device_ids=device_ids))
    state[keys.TRAINING_DISCRIMINATOR] = _WithoutState(DistributedDataParallel(networks[1], device_ids=device_ids))
    state[keys.BATCH_DRAW] = global_draws(rank(), world_size())
    state[keys.END_OF_STEP] = synchronise_step
    return True


_REDUCED = (keys.GENERATOR_LOSS, keys.DISCRIMINATOR_LOSS, keys.D_REAL, keys.D_FAKE, keys.WASSERSTEIN_ESTIMATE)


def synchronise_step(state):
    """The step's one all-reduce: the losses, D(x), D(G(z)), the Wasserstein estimate and each penalty's
    value become their mean over the ranks, and :data:`~bearer_gan.keys.STOP_AGREED` says whether any
    rank was asked to stop.

    Each rank's values are means over its slice, so their mean is the global batch's value (up to
    the order of float additions). A lazy penalty's value between two computations is already the mean.

    State Requirements:
        - reads :data:`~bearer_gan.keys.GENERATOR_LOSS`, :data:`~bearer_gan.keys.DISCRIMINATOR_LOSS`,
          :data:`~bearer_gan.keys.D_REAL`, :data:`~bearer_gan.keys.D_FAKE`,
          :data:`~bearer_gan.keys.WASSERSTEIN_ESTIMATE`, the key of each of :data:`~bearer_gan.keys.PENALTIES`
          (those present), :data:`~bearer_gan.keys.STOP_REQUESTED`, :data:`torchbearer.X`
        - writes the same values, averaged, and :data:`~bearer_gan.keys.STOP_AGREED`
    """
    penalty_keys = tuple(penalty.key for penalty in state.get(keys.PENALTIES) or ())
    present = [key for key in _REDUCED + penalty_keys if key in state]
    device = state[torchbearer.X].device
    stop_requested = keys.STOP_REQUESTED in state and state[keys.STOP_REQUESTED].is_set()
    values = [state[key].detach().float().reshape(()) for key in present]
    packed = torch.stack(values + [torch.tensor(float(stop_requested), device=device)])
    dist.all_reduce(packed)
    means = packed[:-1] / dist.get_world_size()
    for key, mean in zip(present, means):
        state[key] = mean.to(state[key].dtype)
    state[keys.STOP_AGREED] = bool(packed[-1] > 0)


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
    """Around training under DDP: SIGTERM asks for a clean stop (torchrun forwards it to every rank,
    and the step's all-reduce makes them stop together), and a collective that fails because a rank
    died or hung becomes a :class:`RankFailure` that names it. With one process it changes nothing.

    Raises:
        RankFailure: after a roll call of the ranks (:func:`lost_ranks`), from the failed collective.
    """
    if not active():
        yield
        return
    stop_requested = trial.state[keys.STOP_REQUESTED]
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.set()) if main_thread else None
    try:
        yield
    except Exception as error:
        if not _is_collective_failure(error):
            raise
        failure = _rank_failure(error, trial.state[keys.STEP])
        if failure is None:
            raise
        raise failure from error
    # Only a run that ended normally gets SIGTERM's previous handler back. After a stop or a failure the
    # process is on its way out, and a late SIGTERM (torchrun ends the other ranks as soon as one has
    # exited) must not cut that short: its exit code would be -15 instead of 130.
    if main_thread:
        signal.signal(signal.SIGTERM, previous)
