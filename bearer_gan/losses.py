"""The GAN losses: pure functions of logits in generator / discriminator pairs, a registry of them, and criteria of state.

Each loss is a :class:`GANLoss`: two pure functions of the discriminator's logits (as in
Mimicry: trivially testable on tiny tensors) and what its discriminator outputs mean, so that the
metrics report D(x) and D(G(z)) as probabilities only where they are. :data:`LOSSES` holds them by
name (``--loss``); :func:`register_loss` adds one. :func:`generator_criterion` and
:func:`discriminator_criterion` turn any of them into the criteria of state that the closures
call, so the closures stay the same for every loss.

* ``bce``: the non-saturating loss of Goodfellow et al. (2014), written with ``softplus`` /
  ``binary_cross_entropy_with_logits``: ``-log(sigmoid(l)) = softplus(-l)`` is finite for every
  finite logit, where ``Sigmoid + BCELoss`` clamps ``log(0)`` and stops learning once the
  discriminator saturates. Its discriminator takes ``real_label`` (one-sided label smoothing).
* ``hinge``: the hinge loss of SNGAN / BigGAN (Lim & Ye, 2017; Miyato et al., 2018).
* ``lsgan``: least squares (Mao et al., 2017), targets 1 for real and 0 for fake.
* ``wgan-gp``: the Wasserstein critic loss with the gradient penalty of Gulrajani et al. (2017)
  (:class:`~bearer_gan.penalties.GradientPenalty`, weight 10).
"""
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
import torchbearer

from . import keys
from .augment import augmented
from .penalties import GradientPenalty, Penalty, R1Penalty

__all__ = ['GANLoss', 'LOSSES', 'register_loss', 'get_loss', 'loss_penalties',
           'generator_loss_from_logits', 'discriminator_loss_from_logits',
           'hinge_generator_loss', 'hinge_discriminator_loss',
           'least_squares_generator_loss', 'least_squares_discriminator_loss',
           'wasserstein_generator_loss', 'wasserstein_discriminator_loss',
           'fake_conditioning', 'real_and_fake_logits', 'generator_criterion', 'discriminator_criterion',
           'generator_loss', 'discriminator_loss']


# --- pure functions of logits -----------------------------------------------------------------------------------------

def generator_loss_from_logits(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-log D(G(z))``, the mean over the batch.

    Args:
        fake_logits: discriminator logits for generated images, any shape.
    """
    return F.softplus(-fake_logits).mean()


def discriminator_loss_from_logits(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                                   real_label: float = 1.0) -> torch.Tensor:
    """Discriminator loss: the mean of the real term ``BCE(D(x), real_label)`` and the fake term ``-log(1 - D(G(z)))``.

    Args:
        real_logits: logits for real images.
        fake_logits: logits for generated images.
        real_label: target for real images; below 1.0 is one-sided label smoothing.
    """
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake_term = F.softplus(fake_logits).mean()
    return 0.5 * (real_term + fake_term)


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss ``-mean D(G(z))``."""
    return -fake_logits.mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss ``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``: no gradient once a logit is past its margin."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def least_squares_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss ``mean (D(G(z)) - 1)^2 / 2``: fakes are pulled towards the real target."""
    return 0.5 * (fake_logits - 1.0).pow(2).mean()


def least_squares_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss ``mean (D(x) - 1)^2 / 2 + mean D(G(z))^2 / 2`` (targets 1 and 0)."""
    return 0.5 * (real_logits - 1.0).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()


def wasserstein_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Wasserstein generator loss ``-mean D(G(z))``."""
    return -fake_logits.mean()


def wasserstein_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss ``mean D(G(z)) - mean D(x)``, minus the Wasserstein estimate (without its penalty)."""
    return fake_logits.mean() - real_logits.mean()


# --- the registry -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GANLoss:
    """A GAN loss: a generator / discriminator pair of pure functions of logits, and what the logits mean.

    Attributes:
        generator: ``generator(fake_logits) -> scalar``.
        discriminator: ``discriminator(real_logits, fake_logits) -> scalar``; with ``real_label``
            as a keyword when :attr:`takes_real_label`.
        outputs: maps logits to the D(x) / D(G(z)) the metrics report: :func:`torch.sigmoid` where
            the discriminator estimates a probability, the identity (mean raw outputs) elsewhere.
        probabilities: whether :attr:`outputs` are probabilities in ``[0, 1]`` (plots clamp their axis then).
        takes_real_label: whether the discriminator has a target for real images (``real_label``).
        penalty: a penalty that belongs to the loss, built from its weight (WGAN-GP's
            :class:`~bearer_gan.penalties.GradientPenalty`); None for none.
        penalty_weight: the weight the loss's penalty has unless another is given.
        wasserstein: report the Wasserstein estimate ``mean D(x) - mean D(G(z))``.
        description: one line for listings.
    """
    generator: Callable[[torch.Tensor], torch.Tensor]
    discriminator: Callable[..., torch.Tensor]
    outputs: Callable[[torch.Tensor], torch.Tensor]
    probabilities: bool = False
    takes_real_label: bool = False
    penalty: Optional[Callable[[float], object]] = None
    penalty_weight: Optional[float] = None
    wasserstein: bool = False
    description: str = ''


def _raw(logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's raw outputs, as they are."""
    return logits


_REGISTRY: Dict[str, GANLoss] = {}

#: The losses by name (read-only; add one with :func:`register_loss`). ``--loss`` chooses among them.
LOSSES: Mapping[str, GANLoss] = MappingProxyType(_REGISTRY)


def register_loss(name: str, loss: GANLoss) -> GANLoss:
    """Add ``loss`` to :data:`LOSSES` under ``name`` (then ``gan_trial(loss=name)`` trains with it).

    Raises:
        ValueError: when ``name`` is taken or ``loss`` is not a :class:`GANLoss`.
    """
    if not isinstance(loss, GANLoss):
        raise ValueError(f'a loss must be a GANLoss, got {type(loss).__name__}')
    if name in _REGISTRY:
        raise ValueError(f'a loss named {name!r} is already registered')
    _REGISTRY[name] = loss
    return loss


def get_loss(loss) -> Tuple[str, GANLoss]:
    """``(name, GANLoss)`` for a registered name or a :class:`GANLoss` (named ``'custom'`` when unregistered).

    Raises:
        ValueError: for a name that is not registered.
    """
    if isinstance(loss, GANLoss):
        return next((name for name, known in _REGISTRY.items() if known is loss), 'custom'), loss
    if loss not in _REGISTRY:
        raise ValueError(f"unknown loss {loss!r}; choose one of: {', '.join(_REGISTRY)}")
    return loss, _REGISTRY[loss]


def _gradient_penalty(weight: float) -> GradientPenalty:
    return GradientPenalty(weight)


register_loss('bce', GANLoss(generator_loss_from_logits, discriminator_loss_from_logits, torch.sigmoid,
                             probabilities=True, takes_real_label=True,
                             description='non-saturating binary cross-entropy (the default)'))
register_loss('hinge', GANLoss(hinge_generator_loss, hinge_discriminator_loss, _raw,
                               description='hinge (SNGAN, BigGAN)'))
register_loss('lsgan', GANLoss(least_squares_generator_loss, least_squares_discriminator_loss, _raw,
                               description='least squares (LSGAN)'))
register_loss('wgan-gp', GANLoss(wasserstein_generator_loss, wasserstein_discriminator_loss, _raw,
                                 penalty=_gradient_penalty, penalty_weight=10.0, wasserstein=True,
                                 description='Wasserstein critic with gradient penalty (WGAN-GP)'))


# --- criteria of state ------------------------------------------------------------------------------------------------

def fake_conditioning(state) -> tuple:
    """What the generator was given besides ``z`` (the labels of a class-conditional run), for D to see with the fakes.

    :data:`~bearer_gan.keys.NOISE` is ``z`` or a tuple ``(z, labels)``; this is ``()`` or ``(labels,)``.
    """
    noise = state[keys.NOISE]
    return tuple(noise[1:]) if isinstance(noise, (tuple, list)) else ()


def real_and_fake_logits(state) -> Tuple[torch.Tensor, torch.Tensor]:
    """The logits of the real batch and of the fakes: the first ``B`` and the next ``B`` rows of
    :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS` (rows after them belong to penalties)."""
    logits, batch = state[keys.DISCRIMINATOR_LOGITS], state[torchbearer.X].size(0)
    return logits[:batch], logits[batch:2 * batch]


def generator_criterion(loss) -> Callable:
    """The generator criterion of ``loss`` (a :class:`GANLoss` or a registered name), a function of state.

    It scores :data:`~bearer_gan.keys.FAKE_IMAGES` (with their graph) with the discriminator.

    State Requirements:
        - reads :data:`~bearer_gan.keys.DISCRIMINATOR`, :data:`~bearer_gan.keys.FAKE_IMAGES`,
          :data:`~bearer_gan.keys.NOISE` (for the labels of a conditional run), :data:`~bearer_gan.keys.AUGMENT`
          and :data:`~bearer_gan.keys.BATCH_DRAW` when present
        - writes :data:`~bearer_gan.keys.D_FAKE`, detached (a discriminator step after it overwrites it)
    """
    _, loss = get_loss(loss)

    def criterion(state) -> torch.Tensor:
        fake = augmented(state, state[keys.FAKE_IMAGES])  # as the discriminator sees them (--augment)
        fake_logits = state[keys.DISCRIMINATOR](fake, *fake_conditioning(state))
        state[keys.D_FAKE] = loss.outputs(fake_logits.detach()).mean()
        return loss.generator(fake_logits)
    return criterion


def discriminator_criterion(loss) -> Callable:
    """The discriminator criterion of ``loss`` (a :class:`GANLoss` or a registered name), a function of state.

    It splits :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS` into the real and fake rows
    (:func:`real_and_fake_logits`). Penalties are added by the trial
    (:func:`~bearer_gan.penalties.with_penalties`), not here.

    State Requirements:
        - reads :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS`, :data:`torchbearer.X` (for the batch size),
          :data:`~bearer_gan.keys.REAL_LABEL` (default 1.0) when the loss takes a real label
        - writes :data:`~bearer_gan.keys.D_REAL`, :data:`~bearer_gan.keys.D_FAKE` and, for a
          Wasserstein loss, :data:`~bearer_gan.keys.WASSERSTEIN_ESTIMATE`, all detached
    """
    _, loss = get_loss(loss)

    def criterion(state) -> torch.Tensor:
        real_logits, fake_logits = real_and_fake_logits(state)
        real_outputs, fake_outputs = loss.outputs(real_logits.detach()).mean(), loss.outputs(fake_logits.detach()).mean()
        state[keys.D_REAL], state[keys.D_FAKE] = real_outputs, fake_outputs
        if loss.wasserstein:
            state[keys.WASSERSTEIN_ESTIMATE] = real_outputs - fake_outputs
        if loss.takes_real_label:
            real_label = state[keys.REAL_LABEL] if state.get(keys.REAL_LABEL) is not None else 1.0
            return loss.discriminator(real_logits, fake_logits, real_label=real_label)
        return loss.discriminator(real_logits, fake_logits)
    return criterion


#: The default (``bce``) generator criterion, a function of state (see :func:`generator_criterion`).
generator_loss = generator_criterion('bce')
generator_loss.__name__ = generator_loss.__qualname__ = 'generator_loss'
#: The default (``bce``) discriminator criterion, a function of state (see :func:`discriminator_criterion`).
discriminator_loss = discriminator_criterion('bce')
discriminator_loss.__name__ = discriminator_loss.__qualname__ = 'discriminator_loss'


def loss_penalties(loss, gp_weight: Optional[float] = None, r1_gamma: float = 0.0, r1_interval: int = 1) -> List[Penalty]:
    """The penalties of a run with ``loss`` (a :class:`~bearer_gan.losses.GANLoss` or a registered name):
    the loss's own (WGAN-GP's gradient penalty, weighted ``gp_weight`` or its default) and R1 when
    ``r1_gamma > 0``.

    Raises:
        ValueError: for a ``gp_weight`` given to a loss without a penalty, or a negative ``r1_gamma``.
    """
    name, loss = get_loss(loss)
    if gp_weight is not None and loss.penalty is None:
        raise ValueError(f'gp_weight belongs to the wgan-gp loss; the {name} loss has no gradient penalty')
    if r1_gamma < 0:
        raise ValueError(f'r1_gamma must be at least 0, got {r1_gamma}')
    own = [loss.penalty(loss.penalty_weight if gp_weight is None else gp_weight)] if loss.penalty is not None else []
    return own + ([R1Penalty(r1_gamma, r1_interval)] if r1_gamma > 0 else [])
