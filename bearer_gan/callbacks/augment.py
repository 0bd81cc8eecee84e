"""``--augment``: the callbacks that put an augmentation policy into the trial, and ADA's that steers it.

:class:`DiffAugment` applies a fixed policy (every operation to every image the discriminator
sees); :class:`AdaptiveAugment` (ADA, Karras et al. 2020) applies each operation with a probability
``p`` that it adapts: when the discriminator judges more than ``target`` of the real images real
(the sign of its raw outputs), it is overfitting, and ``p`` rises; below, ``p`` falls. The
transforms themselves are :mod:`bearer_gan.augment`'s. Both work under DistributedDataParallel:
the transforms draw per image through :data:`~bearer_gan.keys.BATCH_DRAW`, and ADA's count is
summed over the ranks, so ``p`` is the same everywhere. A resumed run continues bit for bit: the
transforms draw from the global random state, which the checkpoint holds, and ADA's ``p`` and its
count are its ``state_dict``.
"""
from typing import Sequence

import torch
import torchbearer
from torchbearer.callbacks import Callback

from .. import distributed, keys
from ..augment import Policy
from .progress import steps_done

__all__ = ['DiffAugment', 'AdaptiveAugment', 'ADA_TARGET', 'ADA_INTERVAL', 'ADA_SPEED_IMAGES']

#: The share of real images the discriminator may judge real before ADA augments more (Karras et al.'s 0.6).
ADA_TARGET = 0.6
#: Steps between adjustments of ``p``.
ADA_INTERVAL = 4
#: Images over which ``p`` can go from 0 to 1 at the fastest (Karras et al.'s 500k).
ADA_SPEED_IMAGES = 500_000


class DiffAugment(Callback):
    """Augment every image the discriminator sees, real and fake, in both networks' steps, with ``operations``.

    State Requirements:
        - writes :data:`~bearer_gan.keys.AUGMENT` (a :class:`~bearer_gan.augment.Policy` with ``p = 1``)
    """

    def __init__(self, operations: Sequence[str]):
        self.policy = Policy(tuple(operations))

    def on_start(self, state):
        state[keys.AUGMENT] = self.policy


class AdaptiveAugment(Callback):
    """ADA: augment with probability ``p``, raised or lowered every ``interval`` steps toward ``target``.

    Every ``interval`` steps, with ``r`` the share of real images (over those steps, on every rank) to
    which the discriminator gave a positive raw output, ``p`` moves by ``sign(r - target)`` times the
    images seen over ``speed_images``, clamped to ``[0, 1]``.

    Args:
        operations: the policy's operations (:data:`~bearer_gan.augment.OPERATIONS`).
        target: the ``r`` ADA steers to.
        interval: steps between adjustments.
        speed_images: images over which ``p`` can move from 0 to 1.
        p: the starting probability.

    State Requirements:
        - reads :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS` (the real rows come first), :data:`torchbearer.X`,
          :data:`torchbearer.DEVICE`, :data:`~bearer_gan.keys.STEP`
        - writes :data:`~bearer_gan.keys.AUGMENT` (its :class:`~bearer_gan.augment.Policy`),
          :data:`~bearer_gan.keys.AUGMENT_PROBABILITY` (the ``p`` of each step, for the history) and
          ``'augment_p'`` into :data:`torchbearer.METRICS` (the progress line, TensorBoard)
    """

    def __init__(self, operations: Sequence[str], target: float = ADA_TARGET, interval: int = ADA_INTERVAL,
                 speed_images: int = ADA_SPEED_IMAGES, p: float = 0.0):
        if not 0 <= target <= 1 or interval < 1 or speed_images < 1 or not 0 <= p <= 1:
            raise ValueError('ADA needs a target and p in [0, 1], and a positive interval and speed')
        self.policy = Policy(tuple(operations), p)
        self.target, self.interval, self.speed_images = target, interval, speed_images
        self.counts = torch.zeros(2, dtype=torch.float64)  # real images judged real, real images seen

    @property
    def p(self) -> float:
        return self.policy.p

    def on_start(self, state):
        device = state[torchbearer.DEVICE]
        p = distributed.from_main_process(torch.tensor([self.policy.p], dtype=torch.float64, device=device))
        self.policy.p = float(p.item())  # only rank 0 restored a checkpoint's p
        self.counts = self.counts.to(device)
        state[keys.AUGMENT] = self.policy

    def on_sample(self, state):
        state[keys.AUGMENT_PROBABILITY] = torch.tensor(self.policy.p, device=state[torchbearer.DEVICE])

    def on_step_training(self, state):
        real = state[keys.DISCRIMINATOR_LOGITS][:state[torchbearer.X].size(0)].detach()
        self.counts += torch.stack([(real > 0).sum(), torch.tensor(real.numel(), device=real.device)]).to(
            self.counts)
        if steps_done(state) % self.interval == 0:
            judged_real, seen = distributed.sum_across_ranks(self.counts).tolist()
            if seen:
                step = seen / self.speed_images
                self.policy.p = min(1.0, max(0.0, self.policy.p + step * (1 if judged_real / seen > self.target
                                                                           else -1)))
            self.counts.zero_()
        state[torchbearer.METRICS]['augment_p'] = self.policy.p  # the progress line and TensorBoard

    def state_dict(self):
        return {'p': self.policy.p, 'counts': self.counts.cpu().tolist()}

    def load_state_dict(self, state_dict):
        self.policy.p = state_dict['p']
        self.counts = torch.tensor(state_dict['counts'], dtype=torch.float64)
        return self
