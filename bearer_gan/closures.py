"""Closures: one torchbearer ``base_closure`` per network, and the main closure that steps both.

torchbearer runs ``optimizer.step(closure)`` once per batch. A GAN has two optimizers, so the
trial is given ``optimizer=None`` (torchbearer's mock optimizer then just calls the closure) and
:func:`gan_closure` steps :data:`~bearer_gan.keys.GENERATOR_OPTIMIZER` and
:data:`~bearer_gan.keys.DISCRIMINATOR_OPTIMIZER` itself.

One generator forward serves both networks: the generator step scores ``G(z)`` with the
discriminator frozen (no gradients accumulate in its parameters), then the discriminator step
reuses the same images, detached, concatenated after the real batch for a single forward.

Each step calls the networks through :data:`~bearer_gan.keys.TRAINING_GENERATOR` and
:data:`~bearer_gan.keys.TRAINING_DISCRIMINATOR` (the networks themselves, or their
DistributedDataParallel wrappers, :mod:`bearer_gan.distributed`), draws its noise from
:data:`~bearer_gan.keys.BATCH_DRAW` when there is one, and ends with
:data:`~bearer_gan.keys.END_OF_STEP` when there is one.
"""
from contextlib import contextmanager

import torch
import torchbearer
from torchbearer.bases import base_closure

from . import keys

__all__ = ['PRECISIONS', 'generator_closure', 'discriminator_closure', 'gan_closure']

#: Arithmetic the closures can run in: ``fp32``, or ``bf16`` autocast (matrix products in bfloat16,
#: losses, reductions and the optimizer state in float32).
PRECISIONS = ('fp32', 'bf16')


def generator_closure():
    """``base_closure`` for the generator: ``G(NOISE) -> FAKE_IMAGES``, ``GENERATOR_CRITERION -> GENERATOR_LOSS``, backward.

    State Requirements:
        - reads :data:`~bearer_gan.keys.NOISE`, :data:`~bearer_gan.keys.TRAINING_GENERATOR` (the generator, or its
          DDP wrapper; :func:`~bearer_gan.trial.gan_trial` sets it),
          :data:`~bearer_gan.keys.GENERATOR_CRITERION`, :data:`~bearer_gan.keys.GENERATOR_OPTIMIZER`
        - writes :data:`~bearer_gan.keys.FAKE_IMAGES`, :data:`~bearer_gan.keys.GENERATOR_LOSS`
    """
    return base_closure(keys.NOISE, keys.TRAINING_GENERATOR, keys.FAKE_IMAGES, torchbearer.Y_TRUE,
                        keys.GENERATOR_CRITERION, keys.GENERATOR_LOSS, keys.GENERATOR_OPTIMIZER)


def discriminator_closure():
    """``base_closure`` for the discriminator on ``DISCRIMINATOR_INPUT`` (real batch, then fakes).

    State Requirements:
        - reads :data:`~bearer_gan.keys.DISCRIMINATOR_INPUT`, :data:`~bearer_gan.keys.TRAINING_DISCRIMINATOR` (the
          discriminator, or its DDP wrapper), :data:`~bearer_gan.keys.DISCRIMINATOR_CRITERION`,
          :data:`~bearer_gan.keys.DISCRIMINATOR_OPTIMIZER`
        - writes :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS`, :data:`~bearer_gan.keys.DISCRIMINATOR_LOSS`
    """
    return base_closure(keys.DISCRIMINATOR_INPUT, keys.TRAINING_DISCRIMINATOR, keys.DISCRIMINATOR_LOGITS,
                        torchbearer.Y_TRUE, keys.DISCRIMINATOR_CRITERION, keys.DISCRIMINATOR_LOSS,
                        keys.DISCRIMINATOR_OPTIMIZER)


@contextmanager
def _frozen(module: torch.nn.Module):
    """Stop gradients flowing into ``module``'s parameters; they still flow *through* it."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


def _sample_noise(state):
    real = state[torchbearer.X]
    size = (real.size(0), state[keys.LATENT_DIM])
    if keys.BATCH_DRAW in state:  # under DDP: this process's rows of the global batch's noise
        state[keys.NOISE] = state[keys.BATCH_DRAW](torch.randn, *size, device=real.device, dtype=real.dtype)
    else:
        state[keys.NOISE] = torch.randn(*size, device=real.device, dtype=real.dtype)


def _set_discriminator_input(state):
    state[keys.DISCRIMINATOR_INPUT] = torch.cat([state[torchbearer.X], state[keys.FAKE_IMAGES].detach()])


def gan_closure(d_steps: int = 1, train_generator: bool = True, train_discriminator: bool = True,
                precision: str = 'fp32'):
    """The main closure, a function of state: one generator update, then ``d_steps`` discriminator updates.

    The first discriminator update reuses the generator step's images; each further one draws new
    noise and generates new images (without gradients) against the same real batch. A network
    that is not trained is only evaluated, without gradients, so that its parameters stay
    bit-identical while the losses and D(x) / D(G(z)) are still reported.

    Args:
        d_steps: discriminator updates per generator update, at least 1.
        train_generator: False to train the discriminator only.
        train_discriminator: False to train the generator only.
        precision: ``'bf16'`` runs both networks under :func:`torch.autocast` with bfloat16 (faster
            on GPUs and on CPUs with bfloat16 instructions; the weights stay float32).

    Raises:
        ValueError: for ``d_steps < 1``, an unknown precision, or when neither network would be trained.

    State Requirements:
        - reads :data:`torchbearer.X` (real images, ``(B, 1, 28, 28)`` in ``[-1, 1]``), :data:`~bearer_gan.keys.LATENT_DIM`,
          :data:`~bearer_gan.keys.DISCRIMINATOR` (frozen in the generator step), :data:`~bearer_gan.keys.BATCH_DRAW`
          and :data:`~bearer_gan.keys.END_OF_STEP` when present, and everything :func:`generator_closure` and
          :func:`discriminator_closure` read
        - writes :data:`~bearer_gan.keys.NOISE`, :data:`~bearer_gan.keys.DISCRIMINATOR_INPUT`, and what they write;
          adds one to :data:`~bearer_gan.keys.STEP`
    """
    if not isinstance(d_steps, int) or d_steps < 1:
        raise ValueError(f'd_steps must be a positive integer, got {d_steps!r}')
    if not (train_generator or train_discriminator):
        raise ValueError('train_generator_only and train_discriminator_only exclude each other: nothing would be trained')
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    generator_step, discriminator_step = generator_closure(), discriminator_closure()

    def closure(state):
        with torch.autocast(state[torchbearer.X].device.type, dtype=torch.bfloat16, enabled=precision == 'bf16'):
            _update(state)
        state[keys.STEP] += 1
        if keys.END_OF_STEP in state:
            state[keys.END_OF_STEP](state)

    def _update(state):
        _sample_noise(state)
        if train_generator:
            with _frozen(state[keys.DISCRIMINATOR]):
                generator_step(state)
            state[keys.GENERATOR_OPTIMIZER].step()
        else:  # evaluated without gradients, so through the plain generator: no DDP reducer is involved
            with torch.no_grad():
                state[keys.FAKE_IMAGES] = state[torchbearer.MODEL](state[keys.NOISE])
                state[keys.GENERATOR_LOSS] = state[keys.GENERATOR_CRITERION](state)

        if not train_discriminator:
            with torch.no_grad():
                _set_discriminator_input(state)
                state[keys.DISCRIMINATOR_LOGITS] = state[keys.DISCRIMINATOR](state[keys.DISCRIMINATOR_INPUT])
                state[keys.DISCRIMINATOR_LOSS] = state[keys.DISCRIMINATOR_CRITERION](state)
            return
        for step in range(d_steps):
            if step > 0:
                _sample_noise(state)
                with torch.no_grad():
                    state[keys.FAKE_IMAGES] = state[torchbearer.MODEL](state[keys.NOISE])
            _set_discriminator_input(state)
            discriminator_step(state)
            state[keys.DISCRIMINATOR_OPTIMIZER].step()

    return closure
