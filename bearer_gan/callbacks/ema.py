"""A moving average of the generator's weights, which samples are drawn from.

The average is updated after every step, so its cost is paid on every step: it is one fused
:func:`torch._foreach_lerp_` over all floating-point tensors (the kernel behind
:func:`torch.optim.swa_utils.get_ema_multi_avg_fn`), with the decay computed on the host from
a step count kept in Python. :meth:`torch.optim.swa_utils.AveragedModel.update_parameters` with
a per-tensor ``avg_fn`` runs several small operations per tensor and reads its counter back
from the device every step; for the tutorial's generator it was about 70 times slower.
"""
from typing import List

import torch
import torchbearer
from torch.optim.swa_utils import AveragedModel
from torchbearer.callbacks import Callback

from .. import keys

__all__ = ['GeneratorEMA', 'ema_decay']


def ema_decay(decay: float, updates: int) -> float:
    """The decay of update number ``updates + 1`` (``updates`` made before it): ``min(decay, (1 + n) / (10 + n))``.

    The warm-up makes the average follow the generator early in a run instead of remembering its
    random initial weights; after about ``10 / (1 - decay)`` updates the decay is ``decay``.
    """
    return min(decay, (1 + updates) / (10 + updates))


class GeneratorEMA(Callback):
    """Keep an exponential moving average of the generator's weights (and batch-norm statistics) for sampling.

    GAN generators oscillate around a good solution; the average of recent weights gives
    smoother, less noisy samples at no training cost. The first update copies the generator;
    update ``n + 1`` (``n >= 1`` made before it) moves every floating-point tensor ``a`` of the
    average towards the generator's ``g`` as ``a <- a + (1 - d_n) (g - a)`` with
    ``d_n = min(decay, (1 + n) / (10 + n))`` (:func:`ema_decay`); integer buffers (batch norm's
    step counter) are copied. The average lives in a
    :class:`torch.optim.swa_utils.AveragedModel` (its ``module`` and its ``n_averaged`` count),
    so its ``state_dict`` is that class's, and a resumed run continues the same sequence.

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
        self.updates = 0  # n_averaged, kept on the host: reading the device's copy would synchronise every step
        self._resumed = None
        self._average: List[torch.Tensor] = []
        self._current: List[torch.Tensor] = []
        self._counters: List[tuple] = []

    def on_start(self, state):
        model = state[torchbearer.MODEL]
        if self.averaged is None:
            self.averaged = AveragedModel(model, use_buffers=True)
            if self._resumed is not None:
                self.averaged.load_state_dict(self._resumed)
                self._resumed = None
        self.updates = int(self.averaged.n_averaged)
        pairs = list(zip(_tensors(self.averaged.module), _tensors(model)))
        self._average = [average for average, current in pairs if average.is_floating_point()]
        self._current = [current for average, current in pairs if average.is_floating_point()]
        self._counters = [(average, current) for average, current in pairs if not average.is_floating_point()]
        state[keys.EMA_GENERATOR] = self.averaged

    @torch.no_grad()
    def on_step_training(self, state):
        if self.updates == 0:
            torch._foreach_copy_(self._average, self._current)
        else:
            torch._foreach_lerp_(self._average, self._current, 1.0 - ema_decay(self.decay, self.updates))
        for average, current in self._counters:
            average.copy_(current)
        self.updates += 1

    def state_dict(self):
        if self.averaged is None:
            return {'averaged': None}
        self.averaged.n_averaged.fill_(self.updates)
        return {'averaged': self.averaged.state_dict()}

    def load_state_dict(self, state_dict):
        if self.averaged is not None and state_dict['averaged'] is not None:
            self.averaged.load_state_dict(state_dict['averaged'])
            self.updates = int(self.averaged.n_averaged)
        else:
            self._resumed = state_dict['averaged']
        return self


def _tensors(module: torch.nn.Module) -> List[torch.Tensor]:
    """The parameters (detached) and buffers of ``module``, in a fixed order."""
    return [parameter.detach() for parameter in module.parameters()] + list(module.buffers())
