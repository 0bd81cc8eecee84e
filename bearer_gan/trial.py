"""The builder: a configured :class:`torchbearer.Trial` for a GAN in one call, and a runner that survives Ctrl-C.

The generator is the trial's model; the discriminator, both optimizers and both criteria live
in state under :mod:`bearer_gan.keys`. The trial's own optimizer is ``None``, so torchbearer's
mock optimizer just runs :func:`~bearer_gan.closures.gan_closure`, which steps both networks.
The loss is chosen by name from a registry (:mod:`bearer_gan.losses`), penalties are added to the
discriminator's criterion (:mod:`bearer_gan.penalties`), and a class-conditional run differs only
by :data:`~bearer_gan.keys.NUM_CLASSES` in state. Any torchbearer metric or callback can be added
as usual, except the few that cannot work on a GAN trial (:mod:`bearer_gan.compatibility`); a
:class:`~bearer_gan.safety.TrainingGuard` always comes first, to stop cleanly at a step boundary.
"""
from typing import Callable, Iterable, Optional, Sequence, Union

import torch
import torchbearer
from torch import nn

from . import keys
from . import losses as loss_criteria
from .checkpoint import GANCheckpoint
from .closures import gan_closure
from .compatibility import check_callbacks
from .losses import GANLoss, get_loss, loss_penalties
from .metrics import gan_metrics, reported_quantities
from .penalties import Penalty, with_penalties
from .safety import NonFiniteLossError, TrainingGuard, stop_requests
from .tb_internals import callbacks_of

__all__ = ['default_device', 'gan_adam', 'gan_trial', 'run_gan']


def default_device() -> str:
    """``'cuda'`` when a GPU is available, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def gan_adam(parameters, lr: float = 2e-4, beta1: float = 0.5, beta2: float = 0.999) -> torch.optim.Adam:
    """Adam as GANs train best with it: betas ``(beta1, beta2)`` with ``beta1`` 0.5 (the DCGAN recipe: less
    momentum than the default 0.9; WGAN-GP uses ``(0, 0.9)``), in its fused implementation, one kernel for
    all parameters: about 3x faster than the default for-each Adam on CPU for the tutorial's MLPs, the same maths.
    """
    return torch.optim.Adam(parameters, lr=lr, betas=(beta1, beta2), fused=True)


def gan_trial(generator: nn.Module, discriminator: nn.Module,
              generator_optimizer: torch.optim.Optimizer, discriminator_optimizer: torch.optim.Optimizer,
              latent_dim: int, *, loss: Union[str, GANLoss] = 'bce',
              generator_criterion: Optional[Callable] = None, discriminator_criterion: Optional[Callable] = None,
              real_label: Optional[float] = None, gp_weight: Optional[float] = None, r1_gamma: float = 0.0,
              r1_interval: int = 1, penalties: Sequence[Penalty] = (), num_classes: Optional[int] = None,
              d_steps: int = 1, train_generator_only: bool = False, train_discriminator_only: bool = False,
              precision: str = 'fp32', compile: bool = False, metrics: Sequence = (),
              callbacks: Sequence = (), device: Optional[str] = None, verbose: int = 2) -> torchbearer.Trial:
    """Build a :class:`torchbearer.Trial` that trains ``generator`` against ``discriminator``.

    Args:
        generator: maps ``(N, latent_dim)`` noise (and ``(N,)`` labels when ``num_classes`` is set) to
            images ``(N, C, H, W)`` in ``[-1, 1]``.
        discriminator: maps images (and their labels when ``num_classes`` is set) to logits ``(N, 1)``.
        generator_optimizer: optimizer over the generator's parameters.
        discriminator_optimizer: optimizer over the discriminator's parameters.
        latent_dim: size of the noise vectors.
        loss: a name from :data:`~bearer_gan.losses.LOSSES` (``bce``, ``hinge``, ``lsgan``,
            ``wgan-gp``) or a :class:`~bearer_gan.losses.GANLoss`.
        generator_criterion: a function of state returning the generator loss, instead of the loss's own.
        discriminator_criterion: a function of state returning the discriminator loss, instead of
            the loss's own; the penalties are added to it either way.
        real_label: discriminator target for real images (0.9 is one-sided label smoothing); only
            for a loss that has one (``bce``, where None means 1.0).
        gp_weight: weight of the loss's own penalty (``wgan-gp``: the gradient penalty, 10 when None).
        r1_gamma: add R1 on real images with this ``gamma`` (any loss); 0 for none.
        r1_interval: compute R1 every this many steps, times this many (lazy R1); 1 for every step.
        penalties: further :class:`~bearer_gan.penalties.Penalty` objects.
        num_classes: train a class-conditional pair on the batches' labels, in ``[0, num_classes)``;
            None for an unconditional one.
        d_steps: discriminator updates per generator update.
        train_generator_only: leave the discriminator's parameters and buffers untouched (no penalties then).
        train_discriminator_only: leave the generator's parameters and buffers untouched.
        precision: ``'fp32'`` or ``'bf16'`` (autocast; see :func:`~bearer_gan.closures.gan_closure`).
        compile: compile both networks in place with :meth:`torch.nn.Module.compile` (TorchInductor
            fuses their element-wise work into fewer kernels). Their ``state_dict`` keys, and so
            checkpoints and saved models, stay those of the eager networks. The first steps are slow
            while it compiles (seconds to a minute); it pays where kernel launches dominate, as on a
            GPU, and was slower than eager for the MLPs on a 2-core CPU (docs: Performance).
        metrics: extra torchbearer metrics, after the GAN's running means.
        callbacks: torchbearer callbacks, run in this order; those that cannot work on a GAN trial
            are refused (:mod:`bearer_gan.compatibility`).
        device: where to train; :func:`default_device` when None.
        verbose: torchbearer verbosity: 2 a progress bar per epoch, 1 per run, 0 silent.

    Raises:
        ValueError: for inconsistent options (see :func:`~bearer_gan.closures.gan_closure`), an
            option the loss does not have (``real_label`` for any loss but ``bce``, ``gp_weight``
            for a loss without a penalty), ``compile`` with a penalty (torch.compile has no double
            backward), or a callback that would not work on a GAN trial.
    """
    loss_name, gan_loss = get_loss(loss)
    if train_generator_only and train_discriminator_only:
        raise ValueError('train_generator_only and train_discriminator_only exclude each other: nothing would be trained')
    if real_label is not None and not gan_loss.takes_real_label:
        raise ValueError(f'real_label belongs to the bce loss; the {loss_name} loss has no target for real images')
    if real_label is not None and not 0.0 < real_label <= 1.0:
        raise ValueError(f'real_label must be in (0, 1], got {real_label}')
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f'num_classes must be a positive integer or None, got {num_classes!r}')
    check_callbacks(callbacks)
    all_penalties = loss_penalties(gan_loss, gp_weight, r1_gamma, r1_interval) + list(penalties)
    all_penalties = [] if train_generator_only else all_penalties
    if compile and all_penalties:
        raise ValueError('the penalties differentiate the discriminator twice (double backward), which torch.compile '
                         'does not support; train without compile, or without the gradient penalty and R1')
    device = default_device() if device is None else device
    if compile:
        generator.compile()
        discriminator.compile()
    guard = TrainingGuard()
    quantities = reported_quantities(gan_loss, all_penalties)
    trial = torchbearer.Trial(generator, None, metrics=gan_metrics(quantities=quantities) + list(metrics),
                              callbacks=[guard] + list(callbacks), verbose=verbose)
    trial.with_closure(gan_closure(d_steps, train_generator=not train_discriminator_only,
                                   train_discriminator=not train_generator_only, precision=precision))
    trial.state.update({
        keys.DISCRIMINATOR: discriminator.to(device),
        keys.TRAINING_GENERATOR: generator,  # bearer_gan.distributed.data_parallel swaps in DDP wrappers
        keys.TRAINING_DISCRIMINATOR: discriminator,
        keys.GENERATOR_OPTIMIZER: generator_optimizer,
        keys.DISCRIMINATOR_OPTIMIZER: discriminator_optimizer,
        keys.GENERATOR_CRITERION: generator_criterion or loss_criteria.generator_criterion(gan_loss),
        keys.DISCRIMINATOR_CRITERION: with_penalties(
            discriminator_criterion or loss_criteria.discriminator_criterion(gan_loss)),
        keys.PENALTIES: all_penalties,
        keys.LATENT_DIM: latent_dim,
        keys.NUM_CLASSES: num_classes,
        keys.REAL_LABEL: real_label,
        keys.STEP: 0,
        keys.STOP_REQUESTED: guard.stop_requested,
    })
    return trial.to(device)


def run_gan(trial: torchbearer.Trial, train_batches: Iterable, steps: int):
    """Train until ``steps`` updates have been made in all (one torchbearer epoch per call), cycling through ``train_batches``.

    A trial restored from a checkpoint (:func:`~bearer_gan.checkpoint.restore_checkpoint`) has
    already made some steps and only makes the rest; ``train_batches`` must then start at that
    step (:func:`~bearer_gan.data.image_batches`'s ``start_step``).

    The first Ctrl-C or SIGTERM stops training after the current step; every callback's
    ``on_end`` runs (GIF, history, models, checkpoint), then :class:`KeyboardInterrupt` is raised.
    A second Ctrl-C interrupts mid-step: ``on_end`` still writes the outputs, but no checkpoint.

    Returns:
        the trial's history: a dict of metrics per call, also when a callback stopped training early
        (torchbearer's ``STOP_TRAINING``, e.g. :class:`~torchbearer.callbacks.EarlyStopping`), each
        with ``'step'``, the updates made when it ended.

    Raises:
        NonFiniteLossError: after a clean stop at the first step whose losses are not finite.
        KeyboardInterrupt: after a stop requested by SIGINT or SIGTERM.
    """
    if steps < 1:
        raise ValueError(f'steps must be a positive integer, got {steps}')
    remaining = steps - trial.state[keys.STEP]
    if remaining < 1:
        return trial.state[torchbearer.HISTORY]
    guard = TrainingGuard.of(trial)
    trial.with_train_generator(train_batches, steps=remaining)
    try:
        with stop_requests(guard):
            trial.run(epochs=len(trial.state[torchbearer.HISTORY]) + 1)
    except KeyboardInterrupt:
        state = guard.run_state if guard.run_state is not None else trial.state
        for callback in callbacks_of(state):
            if not isinstance(callback, GANCheckpoint):  # the networks may be half-way through a step
                callback.on_end(state)
        raise
    finally:
        if guard.run_state is not None:
            trial.state[keys.STEP] = guard.run_state[keys.STEP]
    history = trial.state[torchbearer.HISTORY]
    _record_epoch(trial, guard)
    if keys.NON_FINITE in guard.run_state:
        raise NonFiniteLossError(*guard.run_state[keys.NON_FINITE])
    if guard.stopped_by_request:
        raise KeyboardInterrupt(f'stopped after step {trial.state[keys.STEP]}')
    return history


def _record_epoch(trial: torchbearer.Trial, guard: TrainingGuard) -> None:
    """Give the epoch just run its history entry, with the step it ended at.

    torchbearer appends an epoch's metrics to the history only when the epoch runs to its end; an
    epoch that a callback stopped (``STOP_TRAINING``) has its final metrics in the run's state but
    no entry (:meth:`~bearer_gan.tb_internals.RunStateKeeper.unrecorded_epoch`), so a run stopped
    early would return an empty history.
    """
    history = trial.state[torchbearer.HISTORY]
    entry = guard.unrecorded_epoch(trial)
    if entry is not None:
        history.append(entry)
    history[-1]['step'] = guard.run_state[keys.STEP]
