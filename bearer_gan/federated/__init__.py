"""Federated GAN training: data owners train the project's trial on their own shards; only networks travel.

Import it explicitly (``import bearer_gan.federated``); ``import bearer_gan`` does not load it.
Nothing here imports Flower except :mod:`bearer_gan.federated.app`, so shards, rounds,
averaging and the server's bookkeeping work (and are tested) without it:

* :mod:`~bearer_gan.federated.split`: which images each owner holds (``iid``,
  ``classes-per-owner K``, ``dirichlet ALPHA``), computed on every node.
* :mod:`~bearer_gan.federated.rounds`: :func:`train_round`, one owner's round, weights in and out,
  built from a :class:`~bearer_gan.config.RunConfig` by :mod:`bearer_gan.recipe` as every run is,
  and :func:`node_round`, the same as a node runs it from the server's config and its node config.
* :mod:`~bearer_gan.federated.aggregate`: the weighted mean of the owners' networks, or a robust
  coordinate-wise median or trimmed mean.
* :mod:`~bearer_gan.federated.checks`: what a reply must pass before it is used.
* :mod:`~bearer_gan.federated.drill`: a rehearsal of a faulty owner.
* :mod:`~bearer_gan.federated.server_optimizer`: how the server steps from the global networks towards that
  mean (FedAvg, FedAvgM, FedAdam, FedYogi), parameters only.
* :mod:`~bearer_gan.federated.config`: every setting (the owners' recipe: RunConfig's fields), and its Flower form.
* :mod:`~bearer_gan.federated.flags`: the command line of a federation (``bearer-gan federate``, the example), a
  flag per setting; :mod:`~bearer_gan.federated.run_folder`: its ``--out`` folder and the resume policy.
* :mod:`~bearer_gan.federated.server`: the global networks, their moving average, the per-round
  scores, grids, GIFs, history and checkpoints.
* :mod:`~bearer_gan.federated.launch`: a federation's steps from its settings to its summary (what
  ``bearer-gan federate`` and the example run).
* :mod:`~bearer_gan.federated.app`: Flower's ``ServerApp`` and ``ClientApp`` (needs ``bearer_gan[federated]``).
* :mod:`~bearer_gan.federated.deployment`: a SuperLink and SuperNodes as separate local
  processes, the app submitted with ``flwr run``.
* :mod:`~bearer_gan.federated.credentials`: a deployment's TLS certificates and SuperNode keys
  (needs ``cryptography``, which the ``federated`` extra installs).
"""
from .aggregate import AGGREGATIONS, aggregate, coordinate_median, trimmed_mean, weighted_average
from .checks import RoundRejected, check_replies
from .config import OPTIMIZER_STATES, RECIPE_FIELDS, FederatedConfig, recipe_from_flower
from .drill import DRILL_KINDS, corrupt_reply, parse_drill
from .rounds import (RoundConfig, RoundResult, Shard, Weights, as_shard, federation_data, load_optimizer_tensors,
                     load_shard, node_round, optimizer_tensors, owner_seed, pack_weights, train_round, unpack_weights,
                     without_optimizer_state)
from .server import FederatedServer, load_federated_checkpoint, read_history
from .server_optimizer import SERVER_OPTIMIZERS, ServerOptimizer, parameter_keys
from .split import SPLITS, Split, owner_shard, parse_split, split_indices

__all__ = [
    'AGGREGATIONS', 'aggregate', 'coordinate_median', 'trimmed_mean', 'weighted_average',
    'RoundRejected', 'check_replies',
    'DRILL_KINDS', 'corrupt_reply', 'parse_drill',
    'OPTIMIZER_STATES', 'RECIPE_FIELDS', 'FederatedConfig', 'recipe_from_flower',
    'RoundConfig', 'RoundResult', 'Shard', 'Weights', 'as_shard', 'federation_data', 'load_optimizer_tensors',
    'load_shard', 'node_round', 'optimizer_tensors', 'owner_seed', 'pack_weights', 'train_round', 'unpack_weights',
    'without_optimizer_state',
    'FederatedServer', 'load_federated_checkpoint', 'read_history',
    'SERVER_OPTIMIZERS', 'ServerOptimizer', 'parameter_keys',
    'SPLITS', 'Split', 'owner_shard', 'parse_split', 'split_indices',
]
