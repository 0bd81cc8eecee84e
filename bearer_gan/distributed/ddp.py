"""DistributedDataParallel for a GAN trial: the wrappers, the step's one all-reduce, and what cannot train under it.

:func:`data_parallel` wraps the generator and the discriminator in DistributedDataParallel
separately. The generator step scores its images through the plain discriminator with every
parameter frozen (:func:`bearer_gan.closures.gan_closure`), so the discriminator's DDP wrapper
takes no part in it: no gradient reaches a discriminator parameter, no reducer hook fires and
nothing is all-reduced for it. ``no_sync`` would instead let the generator step accumulate
discriminator gradients locally, only to throw them away. The plain networks stay in state for
the moving average, sampling, saving and checkpoints, so no ``module.`` key reaches a file.

:func:`synchronise_step` is one all-reduce per step of the losses, D(x), D(G(z)), the Wasserstein
estimate and the penalties' values, and a stop flag, so the history, the non-finite stop and a
SIGTERM / Ctrl-C stop agree on every rank, at the same step.

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
import warnings

import torch
import torch.distributed as dist
import torchbearer
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from .. import keys
from ..tb_internals import WithoutState
from .agreement import global_draws
from .errors import UnsupportedUnderDDP
from .group import active, is_main_process, rank, world_size

__all__ = ['UNSUPPORTED_ATTRIBUTE', 'data_parallel', 'synchronise_step']

#: A criterion (a function of state) with this attribute, a reason, cannot train under DDP.
UNSUPPORTED_ATTRIBUTE = 'ddp_unsupported'


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
    :data:`~bearer_gan.keys.TRAINING_GENERATOR` and :data:`~bearer_gan.keys.TRAINING_DISCRIMINATOR`
    (called through :class:`~bearer_gan.tb_internals.WithoutState`, so torchbearer's ``state``
    keyword never reaches DDP); :data:`torchbearer.MODEL` and :data:`~bearer_gan.keys.DISCRIMINATOR`
    stay the plain networks. Each step draws the global batch's noise
    (:func:`~bearer_gan.distributed.global_draws`) and ends with :func:`synchronise_step`.
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
    state[keys.TRAINING_GENERATOR] = WithoutState(DistributedDataParallel(networks[0], device_ids=device_ids))
    state[keys.TRAINING_DISCRIMINATOR] = WithoutState(DistributedDataParallel(networks[1], device_ids=device_ids))
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
