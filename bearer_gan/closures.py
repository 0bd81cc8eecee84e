"""Closures: one torchbearer ``base_closure`` per network, and the main closure that steps both.

torchbearer runs ``optimizer.step(closure)`` once per batch. A GAN has two optimizers, so the
trial is given ``optimizer=None`` (torchbearer's mock optimizer then just calls the closure) and
:func:`gan_closure` steps :data:`~bearer_gan.keys.GENERATOR_OPTIMIZER` and
:data:`~bearer_gan.keys.DISCRIMINATOR_OPTIMIZER` itself.

One generator forward serves both networks: the generator step scores ``G(z)`` with the
discriminator frozen (no gradients accumulate in its parameters), then the discriminator step
reuses the same images, detached, concatenated after the real batch for a single forward.

Nothing here depends on the loss, the penalties or on conditioning. The losses are criteria of
state (:mod:`bearer_gan.losses`); a penalty appends its rows to the discriminator's one batch
(:mod:`bearer_gan.penalties`); labels travel as torchbearer's tuple inputs:
:data:`~bearer_gan.keys.NOISE` is ``(z, labels)`` and :data:`~bearer_gan.keys.DISCRIMINATOR_INPUT`
is ``(images, labels)``, which ``base_closure`` unpacks into ``G(z, labels)`` and ``D(images, labels)``.

Each step calls the networks through :data:`~bearer_gan.keys.TRAINING_GENERATOR` and
:data:`~bearer_gan.keys.TRAINING_DISCRIMINATOR` (the networks themselves, or their
DistributedDataParallel wrappers, :mod:`bearer_gan.distributed`), draws everything random per
image (noise, labels, a penalty's interpolation weights) through :data:`~bearer_gan.keys.BATCH_DRAW`
when there is one, and ends with :data:`~bearer_gan.keys.END_OF_STEP` when there is one.
"""
import contextlib
from contextlib import contextmanager

import torch
import torchbearer
from torchbearer.bases import base_closure

from . import keys
from .augment import augmented
from .penalties import plan_penalties
from .sampling import eval_mode

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


def _inputs(value) -> tuple:
    """A state value as the positional inputs of a module call: a tuple stays, a tensor becomes ``(tensor,)``."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _draw(state, sample, rows: int, *shape: int, **options) -> torch.Tensor:
    """``sample(rows, *shape, **options)``, random numbers for each of the batch's ``rows`` images; under
    DistributedDataParallel this process's rows of the global batch's draw (:data:`~bearer_gan.keys.BATCH_DRAW`)."""
    draw = state.get(keys.BATCH_DRAW)
    return sample(rows, *shape, **options) if draw is None else draw(sample, rows, *shape, **options)


def _sample_noise(state):
    """``z`` for the batch, and in a conditional run labels drawn uniformly from the classes, or from
    :data:`~bearer_gan.keys.FAKE_LABEL_PROBABILITIES` where state holds them."""
    real = state[torchbearer.X]
    rows = real.size(0)
    z = _draw(state, torch.randn, rows, state[keys.LATENT_DIM], device=real.device, dtype=real.dtype)
    num_classes, probabilities = state.get(keys.NUM_CLASSES), state.get(keys.FAKE_LABEL_PROBABILITIES)
    if num_classes is None:
        state[keys.NOISE] = z
        return
    if probabilities is None:
        def sample_labels(*size, **options):
            return torch.randint(num_classes, size, **options)
    else:  # the probabilities already live on the batch's device
        def sample_labels(count, **options):
            return torch.multinomial(probabilities, count, replacement=True)
    state[keys.NOISE] = (z, _draw(state, sample_labels, rows, device=real.device))


def _set_discriminator_input(state, penalties=()):
    """Real batch, then detached fakes (then the rows of any penalty due now): one discriminator batch, each
    image augmented first when :data:`~bearer_gan.keys.AUGMENT` holds a policy (``--augment``).

    Where a penalty is due the images get ``requires_grad`` (:data:`~bearer_gan.keys.PENALTY_INPUT`);
    on every other update they need no gradient.
    """
    real, fake = augmented(state, state[torchbearer.X]), augmented(state, state[keys.FAKE_IMAGES].detach())
    extra, due = plan_penalties(penalties, state[keys.STEP], real, fake, draw=state.get(keys.BATCH_DRAW))
    images = torch.cat([real, fake, *extra])
    state[keys.DUE_PENALTIES] = due
    state[keys.PENALTY_INPUT] = images.requires_grad_(True) if due else None
    fake_labels = state[keys.NOISE][1:] if isinstance(state[keys.NOISE], (tuple, list)) else ()
    if fake_labels:  # conditional: real labels, fake labels, the real labels again for each appended block
        labels = torch.cat([state[torchbearer.Y_TRUE], fake_labels[0], *[state[torchbearer.Y_TRUE]] * len(extra)])
        state[keys.DISCRIMINATOR_INPUT] = (images, labels)
    else:
        state[keys.DISCRIMINATOR_INPUT] = images


def gan_closure(d_steps: int = 1, train_generator: bool = True, train_discriminator: bool = True,
                precision: str = 'fp32'):
    """The main closure, a function of state: one generator update, then ``d_steps`` discriminator updates.

    The first discriminator update reuses the generator step's images; each further one draws new
    noise and generates new images (without gradients) against the same real batch. A network
    that is not trained is only evaluated, in eval mode and without gradients, so that its
    parameters *and buffers* (batch norm's running statistics, spectral norm's power iteration)
    stay bit-identical while the losses and D(x) / D(G(z)) are still reported.

    Args:
        d_steps: discriminator updates per generator update, at least 1.
        train_generator: False to train the discriminator only.
        train_discriminator: False to train the generator only.
        precision: ``'bf16'`` runs both networks under :func:`torch.autocast` with bfloat16 (faster
            on GPUs and on CPUs with bfloat16 instructions; the weights stay float32).

    Raises:
        ValueError: for ``d_steps < 1``, an unknown precision, or when neither network would be trained.

    State Requirements:
        - reads :data:`torchbearer.X` (real images ``(B, C, H, W)`` in ``[-1, 1]``), :data:`torchbearer.Y_TRUE`
          (their labels, in a conditional run), :data:`~bearer_gan.keys.LATENT_DIM`,
          :data:`~bearer_gan.keys.NUM_CLASSES` (None or absent: unconditional),
          :data:`~bearer_gan.keys.PENALTIES` (none when absent), :data:`~bearer_gan.keys.DISCRIMINATOR`
          (frozen in the generator step), :data:`~bearer_gan.keys.BATCH_DRAW` and
          :data:`~bearer_gan.keys.END_OF_STEP` and :data:`~bearer_gan.keys.AUGMENT` when present, and
          everything :func:`generator_closure` and :func:`discriminator_closure` read
        - writes :data:`~bearer_gan.keys.NOISE`, :data:`~bearer_gan.keys.DISCRIMINATOR_INPUT`,
          :data:`~bearer_gan.keys.DUE_PENALTIES`, :data:`~bearer_gan.keys.PENALTY_INPUT`, and what
          they write; adds one to :data:`~bearer_gan.keys.STEP`
    """
    if not isinstance(d_steps, int) or d_steps < 1:
        raise ValueError(f'd_steps must be a positive integer, got {d_steps!r}')
    if not (train_generator or train_discriminator):
        raise ValueError('train_generator_only and train_discriminator_only exclude each other: nothing would be trained')
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    generator_step, discriminator_step = generator_closure(), discriminator_closure()

    def closure(state):
        with contextlib.ExitStack() as fixed:
            if not train_generator:  # an untrained network is a fixed function: eval mode, buffers untouched
                fixed.enter_context(eval_mode(state[torchbearer.MODEL]))
            if not train_discriminator:
                fixed.enter_context(eval_mode(state[keys.DISCRIMINATOR]))
            with torch.autocast(state[torchbearer.X].device.type, dtype=torch.bfloat16, enabled=precision == 'bf16'):
                _update(state)
        state[keys.STEP] += 1
        if keys.END_OF_STEP in state:
            state[keys.END_OF_STEP](state)

    def _update(state):
        penalties = state.get(keys.PENALTIES) or ()
        _sample_noise(state)
        if train_generator:
            with _frozen(state[keys.DISCRIMINATOR]):
                generator_step(state)
            state[keys.GENERATOR_OPTIMIZER].step()
        else:  # evaluated without gradients, so through the plain generator: no DDP reducer is involved
            with torch.no_grad():
                state[keys.FAKE_IMAGES] = state[torchbearer.MODEL](*_inputs(state[keys.NOISE]))
                state[keys.GENERATOR_LOSS] = state[keys.GENERATOR_CRITERION](state)

        if not train_discriminator:
            with torch.no_grad():
                _set_discriminator_input(state)
                state[keys.DISCRIMINATOR_LOGITS] = state[keys.DISCRIMINATOR](*_inputs(state[keys.DISCRIMINATOR_INPUT]))
                state[keys.DISCRIMINATOR_LOSS] = state[keys.DISCRIMINATOR_CRITERION](state)
            return
        for step in range(d_steps):
            if step > 0:
                _sample_noise(state)
                with torch.no_grad():
                    state[keys.FAKE_IMAGES] = state[torchbearer.MODEL](*_inputs(state[keys.NOISE]))
            _set_discriminator_input(state, penalties)
            discriminator_step(state)
            state[keys.DISCRIMINATOR_OPTIMIZER].step()

    return closure
