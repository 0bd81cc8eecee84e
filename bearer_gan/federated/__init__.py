"""Federated GAN training: data owners train the project's trial on their own shards; only networks travel.

Import it explicitly (``import bearer_gan.federated``); ``import bearer_gan`` does not load it.
Nothing here imports Flower except :mod:`bearer_gan.federated.app`, so shards, rounds,
averaging and the server's bookkeeping work (and are tested) without it:

* :mod:`~bearer_gan.federated.split`: which images each owner holds (``iid``,
  ``classes-per-owner K``, ``dirichlet ALPHA``), computed on every node.
* :mod:`~bearer_gan.federated.rounds`: :func:`train_round`, one owner's round, weights in and out,
  built from a :class:`~bearer_gan.config.RunConfig` by :mod:`bearer_gan.recipe` as every run is,
  and :func:`node_round`, the same as a node runs it from the server's config and its node config.
* :mod:`~bearer_gan.federated.aggregate`: the weighted mean of the owners' networks.
* :mod:`~bearer_gan.federated.config`: every setting (the owners' recipe: RunConfig's fields), and its Flower form.
* :mod:`~bearer_gan.federated.server`: the global networks, their moving average, the per-round
  scores, grids, GIFs, history and checkpoints.
* :mod:`~bearer_gan.federated.app`: Flower's ``ServerApp`` and ``ClientApp`` (needs ``bearer_gan[federated]``).
* :mod:`~bearer_gan.federated.deployment`: a SuperLink and SuperNodes as separate local
  processes, the app submitted with ``flwr run``.
"""
from .aggregate import weighted_average
from .config import FEDERATION_DATASETS, OPTIMIZER_STATES, RECIPE_FIELDS, FederatedConfig, recipe_from_flower
from .rounds import (RoundConfig, RoundResult, Shard, Weights, as_shard, federation_data, load_optimizer_tensors,
                     load_shard, node_round, optimizer_tensors, owner_seed, pack_weights, train_round, unpack_weights,
                     without_optimizer_state)
from .server import FederatedServer, load_federated_checkpoint, read_history
from .split import SPLITS, Split, owner_shard, parse_split, split_indices

__all__ = [
    'weighted_average',
    'FEDERATION_DATASETS', 'OPTIMIZER_STATES', 'RECIPE_FIELDS', 'FederatedConfig', 'recipe_from_flower',
    'RoundConfig', 'RoundResult', 'Shard', 'Weights', 'as_shard', 'federation_data', 'load_optimizer_tensors',
    'load_shard', 'node_round', 'optimizer_tensors', 'owner_seed', 'pack_weights', 'train_round', 'unpack_weights',
    'without_optimizer_state',
    'FederatedServer', 'load_federated_checkpoint', 'read_history',
    'SPLITS', 'Split', 'owner_shard', 'parse_split', 'split_indices',
]
