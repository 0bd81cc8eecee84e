"""One data owner's round of federated training, as a pure function: weights in, weights out.

A round starts from the global generator and discriminator, trains them on the owner's shard
for ``local_steps`` updates with the project's recipe (:func:`~bearer_gan.trial.gan_trial`:
the same closures, losses and label smoothing as centralized training, no moving average), and
returns the new weights and what the server wants to know (losses, D outputs, shard size).

Everything Flower carries is a flat ``{name: tensor}`` mapping (:data:`Weights`): the
generator's ``state_dict`` under ``generator.``, the discriminator's under ``discriminator.``,
batch-norm buffers included. What must stay with the owner between rounds (its Adam moments
and the position of its noise generator) is a second flat mapping, the *local state*, which
the caller keeps (Flower's ``context.state``) and may pass back in the next round.

Determinism: the data order is a function of ``(owner_seed(seed, owner), step)`` and the round
starts at step ``(server_round - 1) * local_steps``; the noise continues from the carried
generator state, or, without one, starts from ``owner_seed(seed, owner, server_round)``. So the
same arguments give the same result, and one owner holding all the data with its state carried
makes exactly the updates of centralized training.
"""
import functools
import time
from dataclasses import dataclass, fields
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import nn

import bearer_gan

from .split import owner_shard

__all__ = ['Weights', 'RoundConfig', 'RoundResult', 'owner_seed', 'pack_weights', 'unpack_weights',
           'optimizer_tensors', 'load_optimizer_tensors', 'without_optimizer_state', 'train_round', 'load_shard',
           'node_round']

#: A flat mapping of tensor names to CPU tensors: the unit that travels and is averaged.
Weights = Dict[str, torch.Tensor]
NETWORKS = ('generator', 'discriminator')
RNG = 'rng'


@dataclass(frozen=True)
class RoundConfig:
    """What one owner's round needs to know besides the weights and its shard.

    Attributes:
        model: the network pair, a key of :data:`bearer_gan.MODELS`.
        latent_dim: size of ``z``; 0 for the pair's own default.
        local_steps: generator updates this round.
        batch_size: real images per step (capped at the shard's size).
        lr: Adam learning rate of both networks.
        beta1: Adam's first-moment decay.
        d_steps: discriminator updates per generator update.
        real_label: discriminator target for real images (0.9: one-sided label smoothing).
        train_generator_only: leave the discriminator as it came.
        train_discriminator_only: leave the generator's parameters as they came.
        precision: ``'fp32'`` or ``'bf16'``.
        seed: the federation's seed.
        owner: this owner's number, from 0.
        server_round: the round being trained, from 1.
        device: where to train; the default device when empty.
    """
    model: str = 'tutorial'
    latent_dim: int = 0
    local_steps: int = 100
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    d_steps: int = 1
    real_label: float = 0.9
    train_generator_only: bool = False
    train_discriminator_only: bool = False
    precision: str = 'fp32'
    seed: int = 0
    owner: int = 0
    server_round: int = 1
    device: str = ''

    @property
    def noise_size(self) -> int:
        """The latent size actually used (``latent_dim``, or the model's default)."""
        return self.latent_dim or bearer_gan.DEFAULT_LATENT_DIM[self.model]

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], **overrides) -> 'RoundConfig':
        """Build from a mapping with these field names (or their hyphenated forms, as Flower
        configs write them); unknown keys are ignored."""
        known = {field.name: field.type for field in fields(cls)}
        picked = {key.replace('-', '_'): value for key, value in values.items() if key.replace('-', '_') in known}
        picked.update(overrides)
        return cls(**{key: _typed(value, getattr(cls, key)) for key, value in picked.items()})


def _typed(value, default):
    """``value`` as the type of ``default`` (configs carry ints as floats and bools as ints)."""
    if isinstance(default, bool):
        return bool(value)
    return type(default)(value)


@dataclass(frozen=True)
class RoundResult:
    """What :func:`train_round` returns.

    Attributes:
        weights: the trained networks (:data:`Weights`), to send to the server.
        metrics: plain numbers: ``num-examples`` (the shard size, FedAvg's weight), ``steps``,
            ``g_loss``, ``d_loss``, ``d_x``, ``d_g_z`` (means over the round's steps) and
            ``train_seconds``.
        local_state: what stays with the owner (Adam moments of both networks, noise generator
            state), a flat tensor mapping to pass to the next round.
    """
    weights: Weights
    metrics: Dict[str, float]
    local_state: Dict[str, torch.Tensor]


def owner_seed(seed: int, owner: int, server_round: int = 0) -> int:
    """A 63-bit seed for ``(seed, owner, server_round)``, from :class:`numpy.random.SeedSequence`.

    Round 0 seeds an owner's data order; round ``r >= 1`` seeds its noise in a round that starts
    without a carried generator state.
    """
    return int(np.random.SeedSequence([seed, owner, server_round]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def pack_weights(generator: nn.Module, discriminator: nn.Module) -> Weights:
    """Both networks' ``state_dict`` (parameters and buffers) as one flat mapping of CPU tensor copies."""
    return {f'{name}.{key}': value.detach().cpu().clone()
            for name, network in zip(NETWORKS, (generator, discriminator))
            for key, value in network.state_dict().items()}


def unpack_weights(weights: Mapping[str, torch.Tensor], generator: nn.Module, discriminator: nn.Module) -> None:
    """Load :data:`Weights` into the two networks (strictly: every key must match)."""
    for name, network in zip(NETWORKS, (generator, discriminator)):
        prefix = f'{name}.'
        network.load_state_dict({key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)})


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> Dict[str, torch.Tensor]:
    """An optimizer's per-parameter state (Adam: ``step``, ``exp_avg``, ``exp_avg_sq``) as flat CPU tensors
    named ``prefix.<parameter index>.<name>``. The hyper-parameters are not kept: they come from the config."""
    return {f'{prefix}.{index}.{name}': value.detach().cpu().clone()
            for index, state in optimizer.state_dict()['state'].items() for name, value in state.items()}


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], prefix: str) -> bool:
    """Load what :func:`optimizer_tensors` wrote under ``prefix``; returns False (and leaves the
    optimizer fresh) when there is nothing under it."""
    state: Dict[int, Dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition('.')
        if head == prefix:
            index, _, name = rest.partition('.')
            state.setdefault(int(index), {})[name] = value
    if not state:
        return False
    optimizer.load_state_dict({'state': state, 'param_groups': optimizer.state_dict()['param_groups']})
    return True


def without_optimizer_state(local_state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A local state without the Adam moments (``--optimizer-state reset``): the next round starts a fresh
    optimizer, while the noise generator goes on."""
    prefixes = tuple(f'{name}_optimizer.' for name in NETWORKS)
    return {key: value for key, value in local_state.items() if not key.startswith(prefixes)}


def _rng_state(device: torch.device) -> torch.Tensor:
    return torch.cuda.get_rng_state(device) if device.type == 'cuda' else torch.get_rng_state()


def _set_rng_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == 'cuda':
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


def _seeded_rng_state(device: torch.device, seed: int) -> torch.Tensor:
    return torch.Generator(device).manual_seed(seed).get_state()


def train_round(weights: Mapping[str, torch.Tensor], config: RoundConfig, shard: Tuple[torch.Tensor, torch.Tensor],
                local_state: Optional[Mapping[str, torch.Tensor]] = None) -> RoundResult:
    """Train the global networks on one owner's shard for ``config.local_steps`` updates.

    Pure in effect: the caller's random state is left as it was (the round runs in a
    :func:`torch.random.fork_rng`), the inputs are not changed, and the same arguments give the
    same result on the same device.

    Args:
        weights: the global networks (:data:`Weights`).
        config: the recipe and the owner's identity (:class:`RoundConfig`).
        shard: the owner's images, ``uint8`` ``(N, 28, 28)`` in ``[0, 255]`` as
            :func:`bearer_gan.load_mnist` returns them, and their labels ``(N,)``.
        local_state: this owner's :attr:`RoundResult.local_state` from an earlier round, or None.
            Its Adam moments are loaded when present (leave them out for a fresh optimizer);
            its noise generator state is continued when present.

    Raises:
        ValueError: for inconsistent options (see :func:`bearer_gan.gan_trial`).
        NonFiniteLossError: when a loss stops being finite.
    """
    local_state = dict(local_state or {})
    device = torch.device(config.device or bearer_gan.default_device())
    images, labels = shard
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == 'cuda' else []):
        generator, discriminator = bearer_gan.build_models(config.model, config.noise_size)
        unpack_weights(weights, generator, discriminator)
        optimizers = [bearer_gan.gan_adam(network.parameters(), config.lr, config.beta1)
                      for network in (generator, discriminator)]
        trial = bearer_gan.gan_trial(
            generator, discriminator, *optimizers, latent_dim=config.noise_size, d_steps=config.d_steps,
            train_generator_only=config.train_generator_only, train_discriminator_only=config.train_discriminator_only,
            real_label=config.real_label, precision=config.precision, device=str(device), verbose=0)
        for name, optimizer in zip(NETWORKS, optimizers):  # after gan_trial moved the networks to the device
            load_optimizer_tensors(optimizer, local_state, f'{name}_optimizer')
        batches = bearer_gan.image_batches(
            bearer_gan.to_unit_range(images).to(device), labels.to(device), min(config.batch_size, len(images)),
            seed=owner_seed(config.seed, config.owner), start_step=(config.server_round - 1) * config.local_steps)
        noise_state = local_state.get(RNG)
        if noise_state is None:
            noise_state = _seeded_rng_state(device, owner_seed(config.seed, config.owner, config.server_round))
        _set_rng_state(device, noise_state)
        history = bearer_gan.run_gan(trial, batches, config.local_steps)
        noise_state = _rng_state(device)
    metrics = {'num-examples': len(images), 'steps': config.local_steps,
               **{key: float(history[-1][key]) for key in ('g_loss', 'd_loss', 'd_x', 'd_g_z')},
               'train_seconds': time.perf_counter() - start}
    local = {RNG: noise_state.cpu().clone()}
    for name, optimizer in zip(NETWORKS, optimizers):
        local.update(optimizer_tensors(optimizer, f'{name}_optimizer'))
    return RoundResult(pack_weights(generator, discriminator), metrics, local)



@functools.lru_cache(maxsize=1)
def _dataset(dataset: str, data_dir: str) -> Tuple[torch.Tensor, torch.Tensor]:
    return bearer_gan.load_mnist(dataset, data_dir)  # once per process: a simulation's worker serves many owners


def load_shard(dataset: str, data_dir: str, owners: int, owner: int, split: str,
               seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Owner ``owner``'s images (``uint8`` ``(N, 28, 28)``) and labels, cut on the node from its own copy of the data."""
    images, labels = _dataset(dataset, data_dir)
    indices = owner_shard(labels, owners, owner, split, seed)
    return images[indices], labels[indices]


def node_round(config: Mapping[str, object], node_config: Mapping[str, object], weights: Mapping[str, torch.Tensor],
               local_state: Optional[Mapping[str, torch.Tensor]] = None) -> RoundResult:
    """One round as a node runs it, from the round's config and the node's own config.

    Args:
        config: what the server sent (hyphenated keys, as
            :meth:`~bearer_gan.federated.config.FederatedConfig.client_config` writes them, plus
            ``server-round``): the recipe, and ``owners``, ``split``, ``seed``, ``dataset``,
            ``data-dir`` and ``optimizer-state``.
        node_config: the node's own settings: ``partition-id`` (which owner it is) and optionally
            ``device``.
        weights: the global networks.
        local_state: what this node kept from its previous round, or None. With
            ``optimizer-state`` ``reset`` its Adam moments are dropped first.
    """
    owner = int(node_config['partition-id'])
    shard = load_shard(str(config['dataset']), str(config['data-dir']), int(config['owners']), owner,
                       str(config['split']), int(config['seed']))
    local = dict(local_state or {})
    if config['optimizer-state'] == 'reset':
        local = without_optimizer_state(local)  # a fresh Adam each round; the noise generator goes on
    round_config = RoundConfig.from_mapping(config, owner=owner, server_round=int(config['server-round']),
                                            device=str(node_config.get('device', '')))
    return train_round(weights, round_config, shard, local)
