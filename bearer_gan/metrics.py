"""Metrics for the progress display and the trial history: running means of the GAN's scalars.

Each metric reads one key that the closures and criteria write, detached, so no autograd graph
is kept alive by the aggregators. torchbearer's ``running_mean`` only converts to a Python number
every ``step_size`` steps, so the display costs no host-device synchronisation on the other steps.
"""
from typing import Sequence

import torchbearer
from torchbearer.metrics import Metric, mean, running_mean

from . import keys

__all__ = ['BASE_QUANTITIES', 'StateValue', 'reported_quantities', 'gan_metrics']

#: What every GAN trial reports: the two losses, D(x) and D(G(z)).
BASE_QUANTITIES = (keys.GENERATOR_LOSS, keys.DISCRIMINATOR_LOSS, keys.D_REAL, keys.D_FAKE)


class StateValue(Metric):
    """The (detached) tensor under a state key, as a torchbearer metric named after the key."""

    def __init__(self, key: torchbearer.StateKey):
        super().__init__(str(key))
        self.key = key

    def process(self, state):
        return state[self.key].detach()


def reported_quantities(loss, penalties: Sequence = ()) -> tuple:
    """The state keys a trial with ``loss`` (a :class:`~bearer_gan.losses.GANLoss` or a registered name)
    and ``penalties`` reports at every step: :data:`BASE_QUANTITIES`, the Wasserstein estimate of a
    Wasserstein loss, and each penalty's value."""
    from .losses import get_loss
    _, loss = get_loss(loss)
    wasserstein = (keys.WASSERSTEIN_ESTIMATE,) if loss.wasserstein else ()
    return BASE_QUANTITIES + wasserstein + tuple(penalty.key for penalty in penalties)


def gan_metrics(step_size: int = 10, quantities: Sequence[torchbearer.StateKey] = BASE_QUANTITIES):
    """Running means (shown by the printer) and epoch means (kept in the history) of ``quantities``:
    by default the generator loss, discriminator loss, D(x) and D(G(z)) (:func:`reported_quantities`
    adds those of a loss and its penalties).

    Args:
        step_size: steps between refreshes of the displayed running means.
        quantities: the state keys to report.
    """
    return [running_mean(mean(StateValue(key)), step_size=step_size) for key in quantities]
