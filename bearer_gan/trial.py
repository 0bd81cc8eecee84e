"""The builder: a configured :class:`torchbearer.Trial` for a GAN in one call, and a runner that survives Ctrl-C.

The generator is the trial's model; the discriminator, both optimizers and both criteria live
in state under :mod:`bearer_gan.keys`. The trial's own optimizer is ``None``, so torchbearer's
mock optimizer just runs :func:`~bearer_gan.closures.gan_closure`, which steps both networks.
Any torchbearer metric or callback can be added as usual; a
:class:`~bearer_gan.safety.TrainingGuard` always comes first, to stop cleanly at a step boundary.
"""
from typing import Callable, Iterable, Optional, Sequence

import torch
import torchbearer
from torch import nn

from . import keys
from .checkpoint import GANCheckpoint
from .closures import gan_closure
from .losses import discriminator_loss, generator_loss
from .metrics import gan_metrics
from .safety import NonFiniteLossError, TrainingGuard, stop_requests

__all__ = ['default_device', 'gan_adam', 'gan_trial', 'run_gan']


def default_device() -> str:
    """``'cuda'`` when a GPU is available, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def gan_adam(parameters, lr: float = 2e-4, beta1: float = 0.5) -> torch.optim.Adam:
    """Adam as GANs train best with it: betas ``(beta1, 0.999)`` (the DCGAN recipe: less momentum than
    the default 0.9), in its fused implementation, one kernel for all parameters: about 3x faster
    than the default for-each Adam on CPU for the tutorial's MLPs, the same maths.
    """
    return torch.optim.Adam(parameters, lr=lr, betas=(beta1, 0.999), fused=True)


def gan_trial(generator: nn.Module, discriminator: nn.Module,
              generator_optimizer: torch.optim.Optimizer, discriminator_optimizer: torch.optim.Optimizer,
              latent_dim: int, *,
              generator_criterion: Callable = generator_loss, discriminator_criterion: Callable = discriminator_loss,
              d_steps: int = 1, train_generator_only: bool = False, train_discriminator_only: bool = False,
              real_label: float = 1.0, precision: str = 'fp32', compile: bool = False, metrics: Sequence = (),
              callbacks: Sequence = (), device: Optional[str] = None, verbose: int = 2) -> torchbearer.Trial:
    """Build a :class:`torchbearer.Trial` that trains ``generator`` against ``discriminator``.

    Args:
        generator: maps ``(N, latent_dim)`` noise to images ``(N, 1, 28, 28)`` in ``[-1, 1]``.
        discriminator: maps images to logits ``(N, 1)``.
        generator_optimizer: optimizer over the generator's parameters.
        discriminator_optimizer: optimizer over the discriminator's parameters.
        latent_dim: size of the noise vectors.
        generator_criterion: function of state returning the generator loss.
        discriminator_criterion: function of state returning the discriminator loss.
        d_steps: discriminator updates per generator update.
        train_generator_only: leave the discriminator's parameters untouched.
        train_discriminator_only: leave the generator's parameters untouched.
        real_label: discriminator target for real images (0.9 is one-sided label smoothing).
        precision: ``'fp32'`` or ``'bf16'`` (autocast; see :func:`~bearer_gan.closures.gan_closure`).
        compile: compile both networks in place with :meth:`torch.nn.Module.compile` (TorchInductor
            fuses their element-wise work into fewer kernels). Their ``state_dict`` keys, and so
            checkpoints and saved models, stay those of the eager networks. The first steps are slow
            while it compiles (seconds to a minute); it pays where kernel launches dominate, as on a
            GPU, and was slower than eager for the MLPs on a 2-core CPU (docs: Performance).
        metrics: extra torchbearer metrics, after the GAN's running means.
        callbacks: torchbearer callbacks, run in this order.
        device: where to train; :func:`default_device` when None.
        verbose: torchbearer verbosity: 2 a progress bar per epoch, 1 per run, 0 silent.

    Raises:
        ValueError: for inconsistent options (see :func:`~bearer_gan.closures.gan_closure`).
    """
    if train_generator_only and train_discriminator_only:
        raise ValueError('train_generator_only and train_discriminator_only exclude each other: nothing would be trained')
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f'real_label must be in (0, 1], got {real_label}')
    device = default_device() if device is None else device
    if compile:
        generator.compile()
        discriminator.compile()
    guard = TrainingGuard()
    trial = torchbearer.Trial(generator, None, metrics=gan_metrics() + list(metrics),
                              callbacks=[guard] + list(callbacks), verbose=verbose)
    trial.with_closure(gan_closure(d_steps, train_generator=not train_discriminator_only,
                                   train_discriminator=not train_generator_only, precision=precision))
    trial.state.update({
        keys.DISCRIMINATOR: discriminator.to(device),
        keys.TRAINING_GENERATOR: generator,  # bearer_gan.distributed.data_parallel swaps in DDP wrappers
        keys.TRAINING_DISCRIMINATOR: discriminator,
        keys.GENERATOR_OPTIMIZER: generator_optimizer,
        keys.DISCRIMINATOR_OPTIMIZER: discriminator_optimizer,
        keys.GENERATOR_CRITERION: generator_criterion,
        keys.DISCRIMINATOR_CRITERION: discriminator_criterion,
        keys.LATENT_DIM: latent_dim,
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
        the trial's history (a dict of metrics per completed epoch).

    Raises:
        NonFiniteLossError: after a clean stop at the first step whose losses are not finite.
        KeyboardInterrupt: after a stop requested by SIGINT or SIGTERM.
    """
    if steps < 1:
        raise ValueError(f'steps must be a positive integer, got {steps}')
    remaining = steps - trial.state[keys.STEP]
    if remaining < 1:
        return trial.state[torchbearer.HISTORY]
    guard = next(callback for callback in trial.state[torchbearer.CALLBACK_LIST] if isinstance(callback, TrainingGuard))
    trial.with_train_generator(train_batches, steps=remaining)
    try:
        with stop_requests(guard):
            history = trial.run(epochs=len(trial.state[torchbearer.HISTORY]) + 1)
    except KeyboardInterrupt:
        state = guard.run_state if guard.run_state is not None else trial.state
        for callback in state[torchbearer.CALLBACK_LIST]:
            if not isinstance(callback, GANCheckpoint):  # the networks may be half-way through a step
                callback.on_end(state)
        raise
    finally:
        if guard.run_state is not None:
            trial.state[keys.STEP] = guard.run_state[keys.STEP]
    if keys.NON_FINITE in guard.run_state:
        raise NonFiniteLossError(*guard.run_state[keys.NON_FINITE])
    if guard.stopped_by_request:
        raise KeyboardInterrupt(f'stopped after step {trial.state[keys.STEP]}')
    return history
