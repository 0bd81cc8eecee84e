"""The non-saturating GAN loss: pure functions of logits, and the criteria of state built on them.

The discriminator outputs logits, so both losses use ``softplus`` / ``binary_cross_entropy_with_logits``:
``-log(sigmoid(l)) = softplus(-l)`` is finite for every finite logit, where ``Sigmoid + BCELoss``
clamps ``log(0)`` and stops learning once the discriminator saturates.
"""
import torch
import torch.nn.functional as F

from . import keys

__all__ = ['generator_loss_from_logits', 'discriminator_loss_from_logits', 'generator_loss', 'discriminator_loss']


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


def generator_loss(state) -> torch.Tensor:
    """Generator criterion, a function of state: scores :data:`~bearer_gan.keys.FAKE_IMAGES` with the discriminator.

    State Requirements:
        - reads :data:`~bearer_gan.keys.DISCRIMINATOR`, :data:`~bearer_gan.keys.FAKE_IMAGES`
        - writes :data:`~bearer_gan.keys.D_FAKE`, detached (a discriminator step after it overwrites it)
    """
    fake_logits = state[keys.DISCRIMINATOR](state[keys.FAKE_IMAGES])
    state[keys.D_FAKE] = torch.sigmoid(fake_logits.detach()).mean()
    return generator_loss_from_logits(fake_logits)


def discriminator_loss(state) -> torch.Tensor:
    """Discriminator criterion, a function of state: splits :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS` into real and fake halves.

    State Requirements:
        - reads :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS`, :data:`~bearer_gan.keys.REAL_LABEL` (default 1.0)
        - writes :data:`~bearer_gan.keys.D_REAL` and :data:`~bearer_gan.keys.D_FAKE`, detached
    """
    real_logits, fake_logits = state[keys.DISCRIMINATOR_LOGITS].chunk(2)
    real_probability, fake_probability = torch.sigmoid(state[keys.DISCRIMINATOR_LOGITS].detach()).chunk(2)
    state[keys.D_REAL], state[keys.D_FAKE] = real_probability.mean(), fake_probability.mean()
    real_label = state[keys.REAL_LABEL] if keys.REAL_LABEL in state else 1.0
    return discriminator_loss_from_logits(real_logits, fake_logits, real_label)
