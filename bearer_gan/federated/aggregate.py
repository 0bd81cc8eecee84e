"""Federated averaging of the owners' networks: one weighted mean per tensor, buffers included.

FedAvg (McMahan et al., 2017) replaces the global networks by the mean of the owners' networks,
each weighted by the number of images it trained on. Here that mean is taken over every entry of
both ``state_dict`` s (:data:`~bearer_gan.federated.rounds.Weights`):

* **parameters**: the weighted mean, computed in float64 and stored in the tensor's own dtype,
  so one owner (weight 1) returns its weights bit for bit.
* **floating buffers** (batch norm's ``running_mean`` and ``running_var``): the same weighted mean.
  In these generators batch norm normalises the generator's own activations on Gaussian noise,
  not the owners' data, so every owner estimates the same statistics of the same network and
  their mean is the better estimate. (Keeping them local, as FedBN does for data-dependent
  statistics, would leave the server's generator, which is sampled in eval mode, without any.)
* **integer buffers** (``num_batches_tracked``): the weighted mean rounded to the nearest
  integer. Every owner adds the same number of local steps, so they agree anyway; the count only
  matters to batch norm layers with ``momentum=None``.

What is not averaged: the optimizers' moments stay with their owners (see
:mod:`bearer_gan.federated.rounds`).

Robust alternatives (``--aggregation``, :data:`AGGREGATIONS`): the coordinate-wise median
(:func:`coordinate_median`, Yin et al., 2018) and the coordinate-wise trimmed mean
(:func:`trimmed_mean`), which one owner's extreme values cannot drag far. They follow Flower's
``FedMedian`` and ``FedTrimmedAvg`` (``flwr.serverapp.strategy``, 1.42): unweighted (shard sizes
do not count), the median of an even number of owners is the mean of the middle two (NumPy's
``median``), and the trimmed mean drops ``int(fraction * owners)`` values at each end of every
coordinate (SciPy's ``trim_mean``, Flower's ``beta``). They are computed here rather than by
Flower's strategies because the server averages torch ``state_dict`` s without Flower
(:class:`~bearer_gan.federated.server.FederatedServer` does not import it, and its replies are
checked first), integer buffers included, which Flower's NumPy versions would turn into floats.
"""
from typing import Dict, Mapping, Sequence

import torch

__all__ = ['AGGREGATIONS', 'weighted_average', 'coordinate_median', 'trimmed_mean', 'trim_count', 'aggregate']

#: How the server combines the owners' networks: FedAvg's weighted mean, or a robust coordinate-wise statistic.
AGGREGATIONS = ('mean', 'median', 'trimmed-mean')


def weighted_average(weights: Sequence[Mapping[str, torch.Tensor]], counts: Sequence[float]) -> Dict[str, torch.Tensor]:
    """The weighted mean of several flat tensor mappings with the same keys, shapes and dtypes.

    Args:
        weights: one mapping per owner.
        counts: each owner's weight (its number of images), positive.

    Raises:
        ValueError: for no owners, mismatched lengths, non-positive counts, or mappings that differ in keys or shapes.
    """
    if not weights or len(weights) != len(counts):
        raise ValueError(f'need one count per mapping and at least one of each, got {len(weights)} and {len(counts)}')
    if any(not count > 0 for count in counts):
        raise ValueError(f'counts must be positive, got {list(counts)}')
    keys = _same_tensors(weights)
    total = float(sum(counts))
    return {key: _as_dtype(sum(mapping[key].double() * (count / total) for mapping, count in zip(weights, counts)),
                           weights[0][key])
            for key in keys}


def _same_tensors(weights: Sequence[Mapping[str, torch.Tensor]]) -> list:
    """The keys every mapping has, in order; a ``ValueError`` naming the first owner whose keys or shapes differ."""
    if not weights:
        raise ValueError('need at least one mapping')
    keys = list(weights[0])
    for index, mapping in enumerate(weights[1:], 1):
        if list(mapping) != keys:
            raise ValueError(f'owner {index} sent different tensors: {sorted(set(mapping) ^ set(keys))[:5]}')
        for key in keys:
            if mapping[key].shape != weights[0][key].shape:
                raise ValueError(f'owners sent {key!r} with different shapes: {tuple(mapping[key].shape)} from owner '
                                 f'{index}, {tuple(weights[0][key].shape)} from owner 0')
    return keys


def _stacked(weights: Sequence[Mapping[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Each key's tensors stacked along a new first dimension, in float64, sorted along it (per coordinate)."""
    return {key: torch.stack([mapping[key].double() for mapping in weights]).sort(dim=0).values
            for key in _same_tensors(weights)}


def _as_dtype(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Floating results in the tensor's own dtype, integer ones rounded to the nearest integer first."""
    return (values if like.is_floating_point() else values.round()).to(like.dtype)


def coordinate_median(weights: Sequence[Mapping[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """The median of every coordinate over the owners (the mean of the middle two for an even number), unweighted."""
    count = len(weights)
    return {key: _as_dtype((values[(count - 1) // 2] + values[count // 2]) / 2, weights[0][key])
            for key, values in _stacked(weights).items()}


def trim_count(owners: int, fraction: float) -> int:
    """How many values :func:`trimmed_mean` drops at each end of a coordinate: ``int(fraction * owners)``, as Flower."""
    return int(fraction * owners)


def trimmed_mean(weights: Sequence[Mapping[str, torch.Tensor]], fraction: float = 0.2) -> Dict[str, torch.Tensor]:
    """The mean of every coordinate after dropping its :func:`trim_count` largest and smallest values, unweighted.

    Args:
        weights: one mapping per owner, same keys and shapes.
        fraction: the share cut at each end, in ``[0, 0.5)`` (Flower's ``beta``); with too few owners to cut
            anything it is the plain mean.
    """
    if not 0 <= fraction < 0.5:
        raise ValueError(f'the trimmed fraction must be in [0, 0.5), got {fraction}')
    cut = trim_count(len(weights), fraction)
    return {key: _as_dtype(values[cut:len(weights) - cut].mean(dim=0), weights[0][key])
            for key, values in _stacked(weights).items()}


def aggregate(weights: Sequence[Mapping[str, torch.Tensor]], counts: Sequence[float], method: str = 'mean',
              fraction: float = 0.2) -> Dict[str, torch.Tensor]:
    """Combine the owners' networks by ``method`` (one of :data:`AGGREGATIONS`); ``counts`` weigh only the mean,
    ``fraction`` is the trimmed mean's cut at each end."""
    if method == 'mean':
        return weighted_average(weights, counts)
    if method == 'median':
        return coordinate_median(weights)
    if method == 'trimmed-mean':
        return trimmed_mean(weights, fraction)
    raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {method!r}")
