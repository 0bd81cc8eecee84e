"""Metrics for the progress display and the trial history: running means of the GAN's scalars.

Each metric reads one key that the closures and criteria write, detached, so no autograd graph
is kept alive by the aggregators. torchbearer's ``running_mean`` only converts to a Python number
every ``step_size`` steps, so the display costs no host-device synchronisation on the other steps.
"""
import torchbearer
from torchbearer.metrics import Metric, mean, running_mean

from . import keys

__all__ = ['StateValue', 'gan_metrics']


class StateValue(Metric):
    """The (detached) tensor under a state key, as a torchbearer metric named after the key."""

    def __init__(self, key: torchbearer.StateKey):
        super().__init__(str(key))
        self.key = key

    def process(self, state):
        return state[self.key].detach()


def gan_metrics(step_size: int = 10):
    """Running means (shown by the printer) and epoch means (kept in the history) of the generator
    loss, discriminator loss, D(x) and D(G(z)).

    Args:
        step_size: steps between refreshes of the displayed running means.
    """
    return [running_mean(mean(StateValue(key)), step_size=step_size)
            for key in (keys.GENERATOR_LOSS, keys.DISCRIMINATOR_LOSS, keys.D_REAL, keys.D_FAKE)]
