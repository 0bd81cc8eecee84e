"""A moving average of the generator's weights, which samples are drawn from."""
import torch
import torchbearer
from torch.optim.swa_utils import AveragedModel
from torchbearer.callbacks import Callback

from .. import keys

__all__ = ['GeneratorEMA']


class GeneratorEMA(Callback):
    """Keep an exponential moving average of the generator's weights (and batch-norm statistics) for sampling.

    GAN generators oscillate around a good solution; the average of recent weights gives
    smoother, less noisy samples at no training cost. Uses :class:`torch.optim.swa_utils.AveragedModel`.
    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so that early
    in a run the average follows the generator instead of remembering its random initial weights.

    Args:
        decay: weight of the old average at each step, in ``(0, 1)``; 0.999 averages over ~1000 steps.

    State Requirements:
        - reads :data:`torchbearer.MODEL`
        - writes :data:`~bearer_gan.keys.EMA_GENERATOR`
    """

    def __init__(self, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f'EMA decay must be in (0, 1), got {decay}')
        self.decay = decay
        self.averaged = None
        self._resumed = None

    def on_start(self, state):
        if self.averaged is None:
            self.averaged = AveragedModel(state[torchbearer.MODEL], avg_fn=self._average, use_buffers=True)
            if self._resumed is not None:
                self.averaged.load_state_dict(self._resumed)
        state[keys.EMA_GENERATOR] = self.averaged

    def _average(self, averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        decay = ((1 + num_averaged) / (10 + num_averaged)).clamp(max=self.decay)  # a tensor: no device sync
        return averaged + (current - averaged) * (1 - decay)

    def on_step_training(self, state):
        self.averaged.update_parameters(state[torchbearer.MODEL])

    def state_dict(self):
        return {'averaged': self.averaged.state_dict() if self.averaged is not None else None}

    def load_state_dict(self, state_dict):
        if self.averaged is not None and state_dict['averaged'] is not None:
            self.averaged.load_state_dict(state_dict['averaged'])
        else:
            self._resumed = state_dict['averaged']
        return self
