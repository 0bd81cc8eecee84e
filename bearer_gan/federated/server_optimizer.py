"""Server-side optimizers: how the server turns the owners' average into the next global networks.

FedAvg replaces the global networks by the owners' weighted average. Reddi et al. (2021,
"Adaptive Federated Optimization") read ``average - global`` as a *pseudo-gradient* and let a
server optimizer take the step instead; Hsu et al. (2019) add momentum to it (FedAvgM). Averaging
the owners' updates cancels much of each one, so five owners move the global networks about as
far as one owner does; a server step with momentum, or an adaptive one, is meant to let rounds add
up. For this project's GANs none did (``docs/_static/federated_sweep.txt``): every step longer than the
plain average left the generator worse, most of them drawing one or two digits, so ``fedavg`` is the default.

:class:`ServerOptimizer` implements the update rules of Flower 1.42's strategies
(``flwr.serverapp.strategy``), per tensor, with ``delta = average - global``:

* ``fedavg``: the average itself (the tensors it was given, bit for bit).
* ``fedavgm`` (Flower's ``FedAvgM``): ``g = global - average``; ``m = g`` at the first step, then
  ``m = momentum * m + g``; ``new = global - lr * m``. With ``lr == 1`` and ``momentum == 0`` it
  is the average itself, as in Flower.
* ``fedadam`` (Flower's ``FedAdam``): ``m = beta1 * m + (1 - beta1) * delta``,
  ``v = beta2 * v + (1 - beta2) * delta**2``, ``new = global + lr_t * m / (sqrt(v) + tau)`` with
  Flower's bias correction ``lr_t = lr * sqrt(1 - beta2**(t + 1)) / (1 - beta1**(t + 1))``, ``t``
  the server step (1, 2, ...: Flower's ``server_round``); ``m`` and ``v`` start at zero.
* ``fedyogi`` (Flower's ``FedYogi``): ``m`` as FedAdam's, ``v = v - (1 - beta2) * delta**2 *
  sign(v - delta**2)``, ``new = global + lr * m / (sqrt(v) + tau)``, without bias correction.

Why not Flower's strategies themselves: they step every array of the ``ArrayRecord``, so batch
norm's running statistics and ``num_batches_tracked`` would take a momentum or adaptive step too
(an integer count would even turn into a float). Here only the networks' *parameters* take the
step; every buffer (running statistics, counts, spectral norm's vectors) takes the plain weighted
average, as under FedAvg. And the step must run inside :class:`~bearer_gan.federated.server.FederatedServer`,
on torch ``state_dict`` s, with its state (``m``, ``v``, the momentum and the step count) in the
server's checkpoint, so that a resumed federation continues exactly; Flower's strategies keep it in
memory and restart their round count at every ``start``. This module does not import Flower.
"""
import math
from typing import Dict, Iterable, Mapping, Optional, Set

import torch
from torch import nn

__all__ = ['SERVER_OPTIMIZERS', 'DEFAULT_LRS', 'ServerOptimizer', 'parameter_keys']

#: The server optimizers: FedAvg (the average), FedAvgM, FedAdam, FedYogi.
SERVER_OPTIMIZERS = ('fedavg', 'fedavgm', 'fedadam', 'fedyogi')
_MOMENTS = {'fedavg': (), 'fedavgm': ('momentum',), 'fedadam': ('m', 'v'), 'fedyogi': ('m', 'v')}
#: Each optimizer's learning rate when none is given (``--server-lr``): the best of the sweep in
#: ``docs/_static/federated_sweep.txt`` (5 IID owners, 40 rounds, one seed; FedAvg takes none). A FedAdam step moves
#: every weight by up to about ``lr`` whatever the update's size, so its rate is far below FedAvgM's. No server
#: step beat the plain average there: ``fedavg`` stays the default.
DEFAULT_LRS = {'fedavg': 1.0, 'fedavgm': 1.0, 'fedadam': 3e-3, 'fedyogi': 3e-3}


def parameter_keys(networks: Mapping[str, nn.Module]) -> Set[str]:
    """The keys of the networks' *parameters* among their packed weights (``f'{name}.{key}'``, as
    :func:`~bearer_gan.federated.rounds.pack_weights` names them); every other key is a buffer."""
    return {f'{name}.{key}' for name, network in networks.items()
            for key, _ in network.named_parameters(remove_duplicate=False)}


class ServerOptimizer:
    """One server optimizer and its state, stepping flat tensor mappings (``state_dict`` entries).

    Args:
        name: one of :data:`SERVER_OPTIMIZERS`.
        parameters: the keys that take the optimizer's step (:func:`parameter_keys`); every other key,
            and every tensor that is not floating point, takes the average.
        lr: the server's learning rate, positive (``fedavg`` ignores it); None: the optimizer's
            :data:`DEFAULT_LRS`.
        momentum: FedAvgM's momentum, in [0, 1).
        beta1: FedAdam's and FedYogi's first-moment decay, in [0, 1).
        beta2: their second-moment decay, in [0, 1).
        tau: their adaptivity (added to ``sqrt(v)``), positive.

    Raises:
        ValueError: for an unknown name or a setting out of range (one line naming the flag).
    """

    def __init__(self, name: str = 'fedavg', parameters: Iterable[str] = (), lr: Optional[float] = None,
                 momentum: float = 0.5, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3):
        if name not in SERVER_OPTIMIZERS:
            raise ValueError(f"server-optimizer must be one of {', '.join(SERVER_OPTIMIZERS)}, got {name!r}")
        lr = DEFAULT_LRS[name] if lr is None else lr
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f'server-lr must be a positive number, got {lr}')
        for flag, value in (('server-momentum', momentum), ('server-beta1', beta1), ('server-beta2', beta2)):
            if not 0 <= value < 1:
                raise ValueError(f'{flag} must be in [0, 1), got {value}')
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(f'server-tau must be a positive number, got {tau}')
        self.name, self.parameters = name, frozenset(parameters)
        self.lr, self.momentum, self.beta1, self.beta2, self.tau = lr, momentum, beta1, beta2, tau
        self.steps = 0
        self.moments: Dict[str, Dict[str, torch.Tensor]] = {moment: {} for moment in _MOMENTS[name]}

    @classmethod
    def from_config(cls, config, parameters: Iterable[str] = ()) -> 'ServerOptimizer':
        """The optimizer a :class:`~bearer_gan.federated.config.FederatedConfig` asks for."""
        return cls(config.server_optimizer, parameters, lr=config.server_lr, momentum=config.server_momentum,
                   beta1=config.server_beta1, beta2=config.server_beta2, tau=config.server_tau)

    def step(self, current: Mapping[str, torch.Tensor], average: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The new global tensors from the current ones and the owners' average (same keys, shapes, dtypes).

        Raises:
            ValueError: when the two mappings differ in keys.
        """
        new = dict(average)
        if self.name == 'fedavg':
            return new
        if set(current) != set(average):
            raise ValueError(f'the average and the global weights differ in {sorted(set(current) ^ set(average))[:5]}')
        self.steps += 1
        for key in average:
            if key in self.parameters and average[key].is_floating_point():
                new[key] = self._step(key, current[key], average[key])
        return new

    def _step(self, key: str, current: torch.Tensor, average: torch.Tensor) -> torch.Tensor:
        delta = average - current  # the pseudo-gradient's descent direction
        if self.name == 'fedavgm':
            if self.lr == 1.0 and self.momentum == 0.0:  # Flower's FedAvgM: no server optimizer then
                return average
            gradient = -delta
            if self.momentum > 0:
                previous = self.moments['momentum'].get(key)
                gradient = gradient if previous is None else self.momentum * previous + gradient
                self.moments['momentum'][key] = gradient
            return current - self.lr * gradient
        m = self.moments['m'].get(key, torch.zeros_like(delta))
        v = self.moments['v'].get(key, torch.zeros_like(delta))
        m = self.beta1 * m + (1 - self.beta1) * delta
        square = delta * delta
        if self.name == 'fedadam':
            v = self.beta2 * v + (1 - self.beta2) * square
            lr = self.lr * math.sqrt(1 - self.beta2 ** (self.steps + 1)) / (1 - self.beta1 ** (self.steps + 1))
        else:  # fedyogi
            v = v - (1 - self.beta2) * square * torch.sign(v - square)
            lr = self.lr
        self.moments['m'][key], self.moments['v'][key] = m, v
        return current + lr * m / (v.sqrt() + self.tau)

    def state_dict(self) -> dict:
        """The optimizer's state (name, step count, moments as CPU tensors), for the server's checkpoint."""
        return {'name': self.name, 'steps': self.steps,
                'moments': {moment: {key: value.detach().cpu().clone() for key, value in tensors.items()}
                            for moment, tensors in self.moments.items()}}

    def load_state_dict(self, state: Optional[Mapping[str, object]]) -> None:
        """Continue from :meth:`state_dict`; None (a checkpoint written before server optimizers) starts afresh.

        Raises:
            ValueError: for the state of another optimizer.
        """
        if state is None:
            self.steps, self.moments = 0, {moment: {} for moment in _MOMENTS[self.name]}
            return
        if state['name'] != self.name:
            raise ValueError(f"the checkpoint holds the state of {state['name']}, not {self.name}")
        self.steps = int(state['steps'])
        self.moments = {moment: {key: value.clone() for key, value in state['moments'].get(moment, {}).items()}
                        for moment in _MOMENTS[self.name]}
