"""One data owner's round of federated training, as a pure function: weights in, weights out.

A round starts from the global generator and discriminator, trains them on the owner's shard
for ``local_steps`` updates, and returns the new weights and what the server wants to know
(losses, D outputs, shard size). The owner builds its run as every run is built, from a
:class:`~bearer_gan.config.RunConfig` through :mod:`bearer_gan.recipe` (:func:`~bearer_gan.recipe.make_spec`,
:func:`~bearer_gan.recipe.build_trial`): the same networks, optimizers, closures, losses,
penalties and label smoothing as ``bearer-gan train`` for the same fields, so every flag of the
recipe (the loss, R1, a conditional pair, spectral norm, ...) means the same federated. Only the
run's own outputs are left out (``run_callbacks=False``): an owner writes nothing and keeps no
moving average; the server keeps one.

Everything Flower carries is a flat ``{name: tensor}`` mapping (:data:`Weights`): the
generator's ``state_dict`` under ``generator.``, the discriminator's under ``discriminator.``,
batch-norm buffers (and spectral norm's vectors) included. What must stay with the owner between
rounds (its Adam moments and the position of its noise generator) is a second flat mapping, the
*local state*, which the caller keeps (Flower's ``context.state``) and may pass back in the next round.

Determinism: the data order is a function of ``(owner_seed(seed, owner), step)`` and the round
starts at step ``(server_round - 1) * local_steps``; the noise continues from the carried
generator state, or, without one, starts from ``owner_seed(seed, owner, server_round)``. The
networks the recipe builds are overwritten by the global weights, so its seeding does not matter;
the noise state is set after them. So the same arguments give the same result, and one owner
holding all the data with its state carried makes exactly the updates of centralized training.
"""
import functools
import time
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch
import torchbearer
from torch import nn

from bearer_gan import keys
from bearer_gan.callbacks import AdaptiveAugment
from bearer_gan.config import ConfigError, RunConfig
from bearer_gan.data import ImageData, dataset_batches
from bearer_gan.recipe import build_trial, make_augmentation, make_data, make_spec
from bearer_gan.trial import run_gan

from .config import FederatedConfig, recipe_from_flower
from .drill import corrupt_reply, parse_drill
from .split import owner_shard, parse_split

__all__ = ['Weights', 'Shard', 'RoundConfig', 'RoundResult', 'owner_seed', 'pack_weights', 'unpack_weights',
           'optimizer_tensors', 'load_optimizer_tensors', 'without_optimizer_state', 'as_shard', 'train_round',
           'federation_data', 'load_shard', 'node_round']

#: A flat mapping of tensor names to CPU tensors: the unit that travels and is averaged.
Weights = Dict[str, torch.Tensor]
NETWORKS = ('generator', 'discriminator')
RNG = 'rng'
ADA = 'ada'  # an owner's ADA state between its rounds: p, then its counts of real images judged real and seen

#: An owner's images: an :class:`~bearer_gan.data.ImageData` (``uint8`` ``(N, C, H, W)``, labels, class
#: names), or ``(images, labels)`` of MNIST digits as :func:`~bearer_gan.data.load_mnist` returns them.
Shard = Union[ImageData, Tuple[torch.Tensor, Optional[torch.Tensor]]]
MNIST_DIGITS = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class RoundConfig:
    """What one owner's round needs to know besides the weights and its shard.

    Attributes:
        recipe: what the owner trains, every field as ``bearer-gan train`` reads it (its device is where the
            owner trains). Not used: ``steps`` (the round makes ``local_steps``) and what the run's own
            callbacks do (samples, checkpoints, the moving average: the server's); a schedule is refused.
        local_steps: generator updates this round.
        owner: this owner's number, from 0.
        server_round: the round being trained, from 1.
    """
    recipe: RunConfig = field(default_factory=RunConfig)
    local_steps: int = FederatedConfig.local_steps
    owner: int = 0
    server_round: int = 1

    def __post_init__(self):
        if self.local_steps < 1 or self.owner < 0 or self.server_round < 1:
            raise ValueError(f'need local_steps >= 1, owner >= 0 and server_round >= 1, got {self.local_steps}, '
                             f'{self.owner} and {self.server_round}')
        if self.recipe.lr_schedule != 'constant':  # a schedule spans one run's steps; each round is a new trial
            raise ConfigError(f'--lr-schedule {self.recipe.lr_schedule}: an owner\'s round trains at a constant rate')

    @property
    def noise_size(self) -> int:
        """The latent size actually used (the recipe's, resolved to the model's default)."""
        return self.recipe.latent_dim

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], *, owner: int = 0, server_round: Optional[int] = None,
                     device: Optional[str] = None) -> 'RoundConfig':
        """Build from a flat config, as the server sends it (:meth:`FederatedConfig.client_config`, hyphenated
        or underscored keys): its recipe (:func:`~bearer_gan.federated.config.recipe_from_flower`, on
        ``device``), ``local-steps`` and, unless given, ``server-round``. Other keys are ignored."""
        given = {key.replace('-', '_'): value for key, value in values.items()}
        server_round = given.get('server_round', 1) if server_round is None else server_round
        return cls(recipe_from_flower(values, device), int(given.get('local_steps', cls.local_steps)), owner,
                   int(server_round))


@dataclass(frozen=True)
class RoundResult:
    """What :func:`train_round` returns.

    Attributes:
        weights: the trained networks (:data:`Weights`), to send to the server.
        metrics: plain numbers: ``owner`` (its number), ``num-examples`` (the shard size, FedAvg's weight), ``steps``,
            ``g_loss``, ``d_loss``, ``d_x``, ``d_g_z`` (means over the round's steps) and
            ``train_seconds``.
        local_state: what stays with the owner (Adam moments of both networks, noise generator
            state, and with ``--augment ada`` its ADA ``p`` under ``'ada'``), a flat tensor mapping to pass to
            the next round.
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


def as_shard(shard: Shard) -> ImageData:
    """``shard`` as an :class:`~bearer_gan.data.ImageData`; ``(images, labels)`` are MNIST digits (10 classes)."""
    if isinstance(shard, ImageData):
        return shard
    images, labels = shard
    return ImageData(images.unsqueeze(1) if images.dim() == 3 else images, labels,
                     None if labels is None else MNIST_DIGITS, 'shard')


def train_round(weights: Mapping[str, torch.Tensor], config: RoundConfig, shard: Shard,
                local_state: Optional[Mapping[str, torch.Tensor]] = None) -> RoundResult:
    """Train the global networks on one owner's shard for ``config.local_steps`` updates.

    Pure in effect: the caller's random state is left as it was (the round runs in a
    :func:`torch.random.fork_rng`), the inputs are not changed, and the same arguments give the
    same result on the same device.

    Args:
        weights: the global networks (:data:`Weights`), of the pair ``config.recipe`` builds for this data.
        config: the recipe and the owner's identity (:class:`RoundConfig`).
        shard: the owner's images and labels (:data:`Shard`). A conditional recipe trains on these labels,
            with as many classes as the data set has (not only those in the shard), and draws its generated
            images' labels from the shard's class frequencies.
        local_state: this owner's :attr:`RoundResult.local_state` from an earlier round, or None.
            Its Adam moments are loaded when present (leave them out for a fresh optimizer);
            its noise generator state is continued when present.

    Raises:
        ConfigError: for a conditional recipe on a shard without labels.
        ValueError: for inconsistent options, or weights of another pair.
        NonFiniteLossError: when a loss stops being finite.
    """
    local_state, recipe, data = dict(local_state or {}), config.recipe, as_shard(shard)
    if recipe.conditional and data.labels is None:
        raise ConfigError('--conditional trains on class labels and this shard has none')
    device = torch.device(recipe.device)
    start = time.perf_counter()
    # the recipe seeds torch (every CUDA device too): all of them are restored once CUDA is in use here
    cuda_devices = range(torch.cuda.device_count()) if device.type == 'cuda' or torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=list(cuda_devices)):
        # the recipe's seeded networks and optimizers; the global weights replace the networks' values
        augmentation = make_augmentation(recipe)  # --augment, as bearer-gan train's; ADA's p is this owner's own
        for callback in augmentation:
            if ADA in local_state and isinstance(callback, AdaptiveAugment):
                ada = local_state[ADA].tolist()
                callback.load_state_dict({'p': ada[0], 'counts': ada[1:]})
        trial = build_trial(recipe, make_spec(recipe, data), augmentation, run_callbacks=False, quiet=True)
        if recipe.conditional:  # fakes of the owner's own classes only (keys.FAKE_LABEL_PROBABILITIES says why)
            counts = torch.bincount(data.labels, minlength=trial.state[keys.NUM_CLASSES]).double()
            trial.state[keys.FAKE_LABEL_PROBABILITIES] = (counts / counts.sum()).float().to(device)
        generator, discriminator = trial.state[torchbearer.MODEL], trial.state[keys.DISCRIMINATOR]
        optimizers = (trial.state[keys.GENERATOR_OPTIMIZER], trial.state[keys.DISCRIMINATOR_OPTIMIZER])
        unpack_weights(weights, generator, discriminator)
        for name, optimizer in zip(NETWORKS, optimizers):  # after gan_trial moved the networks to the device
            load_optimizer_tensors(optimizer, local_state, f'{name}_optimizer')
        batches = dataset_batches(data, min(recipe.batch_size, len(data)), device,
                                  seed=owner_seed(recipe.seed, config.owner),
                                  start_step=(config.server_round - 1) * config.local_steps)
        noise_state = local_state.get(RNG)
        if noise_state is None:
            noise_state = _seeded_rng_state(device, owner_seed(recipe.seed, config.owner, config.server_round))
        _set_rng_state(device, noise_state)  # last: what the noise draws depends only on this state
        history = run_gan(trial, batches, config.local_steps)
        noise_state = _rng_state(device)
    metrics = {'owner': config.owner, 'num-examples': len(data), 'steps': config.local_steps,
               **{key: float(history[-1][key]) for key in ('g_loss', 'd_loss', 'd_x', 'd_g_z')},
               'train_seconds': time.perf_counter() - start}
    local = {RNG: noise_state.cpu().clone()}
    for callback in augmentation:
        if isinstance(callback, AdaptiveAugment):
            ada = callback.state_dict()
            local[ADA] = torch.tensor([ada['p'], *ada['counts']], dtype=torch.float64)
    for name, optimizer in zip(NETWORKS, optimizers):
        local.update(optimizer_tensors(optimizer, f'{name}_optimizer'))
    return RoundResult(pack_weights(generator, discriminator), metrics, local)


@functools.lru_cache(maxsize=1)
def federation_data(dataset: str, data_dir: str) -> ImageData:
    """The data set the federation cuts, as :func:`bearer_gan.recipe.make_data` loads it: once per process
    (a simulation's worker serves many owners; the server reads its shape and classes)."""
    return make_data(RunConfig(dataset=dataset, data_dir=data_dir, device='cpu'))


def load_shard(dataset: str, data_dir: str, owners: int, owner: int, split: str, seed: int) -> ImageData:
    """Owner ``owner``'s images and labels (with the data set's class names), cut on the node from its own
    copy of the data. A data set without labels can only be cut ``iid``.

    Raises:
        ValueError: for a split that cannot be made (see :func:`~bearer_gan.federated.split.split_indices`).
    """
    data = federation_data(dataset, data_dir)
    labels = data.labels
    if labels is None:
        if parse_split(split).name != 'iid':
            raise ValueError(f'split {split} cuts by class and {data.name!r} has no labels: use iid')
        labels = torch.zeros(len(data), dtype=torch.int64)
    indices = owner_shard(labels, owners, owner, split, seed)
    return ImageData(data.images[indices], None if data.labels is None else data.labels[indices], data.classes,
                     data.name, data.source)


def node_round(config: Mapping[str, object], node_config: Mapping[str, object], weights: Mapping[str, torch.Tensor],
               local_state: Optional[Mapping[str, torch.Tensor]] = None) -> RoundResult:
    """One round as a node runs it, from the round's config and the node's own config.

    Args:
        config: what the server sent (hyphenated keys, as
            :meth:`~bearer_gan.federated.config.FederatedConfig.client_config` writes them, plus
            ``server-round``): the recipe, ``local-steps``, and ``owners``, ``split`` and ``optimizer-state``.
        node_config: the node's own settings: ``partition-id`` (which owner it is) and optionally
            ``device``.
        weights: the global networks.
        local_state: what this node kept from its previous round, or None. With
            ``optimizer-state`` ``reset`` its Adam moments are dropped first.

    With ``drill-faulty-owner`` naming this owner (a rehearsal, :mod:`~bearer_gan.federated.drill`), the
    trained networks are spoilt before they are returned.
    """
    owner = int(node_config['partition-id'])
    round_config = RoundConfig.from_mapping(config, owner=owner, server_round=int(config['server-round']),
                                            device=str(node_config.get('device', '')))
    recipe = round_config.recipe
    shard = load_shard(recipe.dataset, recipe.data_dir, int(config['owners']), owner, str(config['split']),
                       recipe.seed)
    local = dict(local_state or {})
    if config['optimizer-state'] == 'reset':
        local = without_optimizer_state(local)  # a fresh Adam each round; the noise generator goes on
    result = train_round(weights, round_config, shard, local)
    drill = parse_drill(str(config.get('drill-faulty-owner', '')), int(config['owners']))
    if drill is not None and drill[0] == owner:
        result = RoundResult(corrupt_reply(result.weights, weights, drill[1]), result.metrics, result.local_state)
    return result
